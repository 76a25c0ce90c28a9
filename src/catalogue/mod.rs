//! Offline catalogue of the permissions of well-known Microsoft resource APIs.
