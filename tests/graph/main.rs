//! The Graph client on its own: authentication, paging, retries, `$batch`, redaction and the
//! request bodies' agreement with the Graph v1.0 schema, against fakes on loopback and the
//! sandbox emulator.
//!
//! One test binary for the group (see tests/cli/main.rs).

#[path = "../support/fake.rs"]
mod fake;

mod auth;
mod batch;
mod client;
mod emulator;
mod redaction;
