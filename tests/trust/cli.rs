//! Trust tests whose defence lives in src/cli/ (see SECURITY.md).
