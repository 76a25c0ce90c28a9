//! The settings that hold for a whole manifest once its files are merged: the ownership set, the
//! tenant, whether the set prunes.
//!
//! A module of its own because loading produces them and lowering reads them: inside either one,
//! the two would import each other.

/// Settings that hold for the whole manifest after merging files.
pub struct Settings {
    pub name: String,
    pub tenant: Option<String>,
    pub prune: bool,
}
