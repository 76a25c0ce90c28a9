//! Addresses: the stable names plans, reports and `--target` give to what appreg manages.
//!
//! `app.KEY` names an app of the manifest; the objects that hang off it are named under it, such
//! as `app.crm.grant.Microsoft Graph` or `app.crm.secret.primary`. An address is built from its
//! parts and never parsed back by slicing text at `app.`: app keys may hold dots (`crm.sync`), so
//! where an address must be read from text, [`Address::resolve`] reads it against the keys the
//! manifest declares, and [`Address::parse`] against the closed set of [`SEGMENTS`] that start
//! the part under the app.
//!
//! This module holds the name only; it never looks anything up in the tenant.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What every address starts with.
const ROOT: &str = "app.";

/// The first word of the part under an app, one per kind of object that hangs off it. A kind that
/// names its objects under a new word adds it here (`parse` of a saved plan relies on it, and the
/// planner's tests check every address a kind builds parses back to its app).
pub const SEGMENTS: &[&str] = &[
    "service_principal",
    "owner",
    "grant",
    "app_permission",
    "assignment",
    "federated_credential",
    "certificate",
    "secret",
];

/// The name of an app (`app.KEY`) or of an object under it (`app.KEY.REST`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address {
    text: String,
    /// Length of `app.KEY` in `text`.
    app_len: usize,
}

/// Why text is not an address, or names no app of the manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("`{text}` is not an address: addresses start with `app.` followed by an app key")]
    Malformed { text: String },
    #[error("`{text}` names no app of the manifest{}", hint(.suggestion))]
    UnknownApp {
        text: String,
        suggestion: Option<String>,
    },
}

fn hint(suggestion: &Option<String>) -> String {
    suggestion
        .as_ref()
        .map_or_else(String::new, |s| format!("; did you mean `{s}`?"))
}

impl Address {
    /// `app.KEY`.
    pub fn app(key: &str) -> Address {
        let text = format!("{ROOT}{key}");
        Address {
            app_len: text.len(),
            text,
        }
    }

    /// The object `rest` under this address's app (`rest` empty: the app itself).
    pub fn child(&self, rest: &str) -> Address {
        let app = &self.text[..self.app_len];
        if rest.is_empty() {
            Address::app(&app[ROOT.len()..])
        } else {
            Address {
                text: format!("{app}.{rest}"),
                app_len: self.app_len,
            }
        }
    }

    /// The manifest key of the app this address belongs to.
    pub fn key(&self) -> &str {
        &self.text[ROOT.len()..self.app_len]
    }

    /// The part under the app (`grant.Microsoft Graph`), or None for the app itself.
    pub fn within(&self) -> Option<&str> {
        self.text.get(self.app_len + 1..)
    }

    /// The address of the app this one belongs to.
    pub fn app_address(&self) -> Address {
        Address::app(self.key())
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Reads an address from text without the manifest at hand (a saved plan): the app key ends
    /// where the first of [`SEGMENTS`] begins.
    pub fn parse(text: &str) -> Result<Address, AddressError> {
        let malformed = || AddressError::Malformed { text: text.into() };
        let rest = text.strip_prefix(ROOT).ok_or_else(malformed)?;
        let split = rest.match_indices('.').map(|(at, _)| at).find(|&at| {
            let after = &rest[at + 1..];
            SEGMENTS.iter().any(|s| {
                after
                    .strip_prefix(s)
                    .is_some_and(|tail| tail.is_empty() || tail.starts_with('.'))
            })
        });
        let key_len = split.unwrap_or(rest.len());
        if key_len == 0 {
            return Err(malformed());
        }
        Ok(Address {
            text: text.to_string(),
            app_len: ROOT.len() + key_len,
        })
    }

    /// Reads an address the user wrote against the app `keys` of the manifest: the longest key
    /// that the text names (itself or something under it) is the app. An address that names no
    /// app is an error with the closest address as a suggestion.
    pub fn resolve<'a>(
        text: &str,
        keys: impl IntoIterator<Item = &'a str> + Clone,
    ) -> Result<Address, AddressError> {
        let rest = text
            .strip_prefix(ROOT)
            .filter(|r| !r.is_empty())
            .ok_or_else(|| AddressError::Malformed { text: text.into() })?;
        let named = keys
            .clone()
            .into_iter()
            .filter(|key| {
                rest.strip_prefix(key)
                    .is_some_and(|tail| tail.is_empty() || tail.starts_with('.'))
            })
            .max_by_key(|key| key.len());
        match named {
            Some(key) => Ok(Address {
                text: text.to_string(),
                app_len: ROOT.len() + key.len(),
            }),
            None => {
                let candidates: Vec<String> =
                    keys.into_iter().map(|k| format!("{ROOT}{k}")).collect();
                let suggestion = crate::manifest::diagnostic::closest(
                    text,
                    candidates.iter().map(String::as_str),
                )
                .map(str::to_string);
                Err(AddressError::UnknownApp {
                    text: text.into(),
                    suggestion,
                })
            }
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::ops::Deref for Address {
    type Target = str;
    fn deref(&self) -> &str {
        &self.text
    }
}

impl PartialEq<str> for Address {
    fn eq(&self, other: &str) -> bool {
        self.text == other
    }
}

impl PartialEq<&str> for Address {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Address, D::Error> {
        let text = String::deserialize(deserializer)?;
        Address::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Address {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Address".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^app\\.",
            "description": "`app.KEY` for an app of the manifest, `app.KEY.…` for an object under it"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_round_trip_through_text_even_when_the_key_holds_dots() {
        // (key, rest under the app, why)
        let cases = [
            ("crm", "", "the app itself"),
            (
                "crm",
                "grant.Microsoft Graph",
                "a grant named by its resource",
            ),
            (
                "crm.sync",
                "secret.primary",
                "a dotted key: the split is at the segment",
            ),
            ("crm.sync", "", "a dotted key alone"),
            (
                "erp",
                "app_permission.Microsoft Graph.User.Read.All",
                "dots after the segment belong to the object",
            ),
            (
                "odoo",
                "service_principal.owner.alex@contoso.com",
                "nested segments",
            ),
        ];
        for (key, rest, why) in cases {
            let built = Address::app(key).child(rest);
            let parsed = Address::parse(built.as_str()).unwrap();
            assert_eq!(parsed, built, "{why}");
            assert_eq!(parsed.key(), key, "{why}");
            assert_eq!(parsed.within(), (!rest.is_empty()).then_some(rest), "{why}");
        }
    }

    #[test]
    fn resolve_reads_against_the_manifest_keys() {
        let keys = ["crm", "crm.sync", "erp"];
        let longest = Address::resolve("app.crm.sync", keys).unwrap();
        assert_eq!(longest.key(), "crm.sync");
        assert!(longest.within().is_none());
        let under = Address::resolve("app.crm.grant.Microsoft Graph", keys).unwrap();
        assert_eq!(
            (under.key(), under.within()),
            ("crm", Some("grant.Microsoft Graph"))
        );
        match Address::resolve("app.ERP2", keys) {
            Err(AddressError::UnknownApp { suggestion, .. }) => {
                assert_eq!(suggestion.as_deref(), Some("app.erp"))
            }
            other => panic!("{other:?}"),
        }
        for bad in ["crm", "app.", ""] {
            assert!(matches!(
                Address::resolve(bad, keys),
                Err(AddressError::Malformed { .. })
            ));
        }
    }

    #[test]
    fn serializes_as_its_text() {
        let address = Address::app("crm.sync").child("secret.primary");
        let json = serde_json::to_string(&address).unwrap();
        assert_eq!(json, "\"app.crm.sync.secret.primary\"");
        let back: Address = serde_json::from_str(&json).unwrap();
        assert_eq!(back.key(), "crm.sync");
        assert!(serde_json::from_str::<Address>("\"crm\"").is_err());
    }
}
