//! Trust tests whose defence lives in src/manifest/ (see SECURITY.md).
