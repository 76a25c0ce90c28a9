//! Trust tests whose defence lives in src/catalogue/ and manifest validation of permissions (see SECURITY.md).
