//! Trust tests whose defence lives in src/engine/ (see SECURITY.md).
