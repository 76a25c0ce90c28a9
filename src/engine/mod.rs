//! The reconciler: observe the tenant, diff it against the desired state, plan, apply, detect drift.
//!
//! The engine never imports `cli` or `output`; it returns plain values that those render.

pub mod application;
pub mod fields;
pub mod kinds;
pub mod observed;
pub mod plan;
pub mod planner;
pub mod resolve;
