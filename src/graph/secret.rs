//! A string that must never be shown: access tokens, client secrets, client assertions, the
//! `secretText` Graph returns once from `addPassword`.
//!
//! `Debug` and `Display` print a fixed placeholder, and the type deliberately does not implement
//! `Serialize`, so a secret cannot reach a log line, an error message, a panic message or a JSON
//! document by accident. The one way to the value is [`Secret::expose`], which call sites use only
//! where the value must leave the process (an HTTP header or form field, a delivery sink).

use std::fmt;

use serde::{Deserialize, Deserializer};

/// What a [`Secret`] looks like in any formatted output.
pub const REDACTED: &str = "<redacted>";

/// A secret value with redacting `Debug` and `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself. Call only where it leaves the process on purpose.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({REDACTED})")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_never_shows_the_value() {
        let s = Secret::new("hunter2-canary");
        for shown in [
            format!("{s}"),
            format!("{s:?}"),
            format!("{s:#?}"),
            format!("{:?}", Some(&s)),
        ] {
            assert!(!shown.contains("hunter2"), "{shown}");
        }
        assert_eq!(s.expose(), "hunter2-canary");
    }

    #[test]
    fn deserializes_from_a_json_string() {
        let s: Secret = serde_json::from_str("\"abc\"").unwrap();
        assert_eq!(s.expose(), "abc");
    }
}
