//! Renderers for what users read: diagnostics now, plans later.
pub mod diagnostics;
pub mod plan;
