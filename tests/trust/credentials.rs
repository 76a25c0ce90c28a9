//! Trust tests whose defence lives in src/credentials/ (see SECURITY.md).
