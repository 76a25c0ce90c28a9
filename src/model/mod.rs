//! The desired and live domain types the engine works on. No YAML, no HTTP.
