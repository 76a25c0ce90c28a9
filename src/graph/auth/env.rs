//! Injectable access to environment variables, so tests describe an environment without touching
//! the process's own (which tests running in parallel share).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

type Lookup = dyn Fn(&str) -> Option<String> + Send + Sync;

/// A lookup of environment variables. Empty values count as unset, as in the Azure SDKs.
#[derive(Clone)]
pub struct Env(Arc<Lookup>);

impl Env {
    /// The real process environment.
    pub fn process() -> Self {
        Env(Arc::new(|name| std::env::var(name).ok()))
    }

    /// A fixed set of variables (tests, embedding).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let map: HashMap<String, String> = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Env(Arc::new(move |name| map.get(name).cloned()))
    }

    /// Any lookup function.
    pub fn from_fn(lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        Env(Arc::new(lookup))
    }

    /// The variable's value, `None` when unset or empty.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|v| !v.trim().is_empty())
    }

    pub fn is_set(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

impl fmt::Debug for Env {
    // Values may be secrets (AZURE_CLIENT_SECRET), so an Env never prints its contents.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Env(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_count_as_unset() {
        let env = Env::from_pairs([("A", "1"), ("B", ""), ("C", "  ")]);
        assert_eq!(env.get("A").as_deref(), Some("1"));
        assert!(!env.is_set("B"));
        assert!(!env.is_set("C"));
        assert!(!env.is_set("D"));
        assert_eq!(format!("{env:?}"), "Env(..)");
    }
}
