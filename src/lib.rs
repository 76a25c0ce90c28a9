//! appreg keeps Microsoft Entra ID app registrations as code.
//!
//! Layers (dependencies point one way): `cli` -> `engine` -> `graph`; `manifest` -> `model`;
//! `output` renders plans and diagnostics; `emulator` is the sandbox tenant and imports none of the
//! client side. `catalogue` is shared reference data about Microsoft's first-party APIs.

// The emulator's resource templates are large `json!` literals.
#![recursion_limit = "256"]

pub mod audit;
pub mod catalogue;
pub mod cli;
pub mod credentials;
pub mod emulator;
pub mod engine;
pub mod graph;
pub mod manifest;
pub mod model;
pub mod output;

#[cfg(test)]
mod layering;
