//! Through the real binary: appreg as a person or a pipeline runs it, against a sandbox each test
//! starts on 127.0.0.1:0 (or offline, for validation and schemas).
//!
//! One test binary for the whole group: cargo links each integration-test target on its own, so
//! fewer targets build faster. Run one module with `cargo test --test cli <module>::`.

#[path = "../support/adoption.rs"]
mod adoption;
#[path = "../support/crash.rs"]
mod crash;
#[path = "../support/raw.rs"]
mod raw;
#[path = "../support/registrations.rs"]
mod registrations;
#[path = "../support/tenant.rs"]
mod tenant;

mod credentials;
mod github_action;
mod guardrails;
mod hostile_input;
mod human_output;
mod import;
mod import_e2e;
mod import_properties;
mod machine_interface;
mod schemas;
mod security;
mod targets;
mod terminal;
mod validate_corpus;
