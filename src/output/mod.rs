//! Renderers for what users read: diagnostics, plans, and the escaping of text from outside
//! appreg that every command prints through.
pub mod diagnostics;
pub mod machine;
pub mod plan;
pub mod untrusted;
