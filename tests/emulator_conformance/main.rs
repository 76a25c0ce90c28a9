//! Conformance suite of the sandbox Graph emulator: every endpoint it serves, with status codes,
//! bodies, headers and error envelopes as GRAPH.md describes them, its Key Vault secrets endpoint,
//! plus its realism switches.
//! Each test starts its own sandbox on 127.0.0.1:0 and talks only to loopback.

#[path = "../support/raw.rs"]
mod raw;

mod applications;
mod auth;
mod batch;
mod cli;
mod consent;
mod credentials;
mod directory;
mod fidelity;
mod freeze;
mod identity;
mod key_vault;
mod log;
mod policies;
mod queries;
mod realism;
mod service_principals;
mod support;
