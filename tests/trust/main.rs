//! The trust suite (SECURITY.md): one test per threat, each through the real binary against a
//! sandbox started by the test on 127.0.0.1:0. Every test here failed on the main that the red
//! team's findings were reproduced on, and names the finding it closes.
//!
//! One module per room of the code the defence lives in, so the table in SECURITY.md can point at
//! `trust::<room>::<test>`.

#[path = "../support/raw.rs"]
mod raw;
#[path = "../support/tenant.rs"]
mod tenant;

mod catalogue;
mod cli;
mod credentials;
mod engine;
mod manifest;
