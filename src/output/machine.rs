//! The machine interface: the JSON documents every reporting command prints with `--json`.
//!
//! One convention for all of them, so a pipeline parses every command the same way: an object
//! (never a bare array) whose first key is `formatVersion`, keys in camelCase as Graph and the
//! Azure tools spell them, and a JSON Schema each (`appreg schema NAME`, schemas/NAME.schema.json).
//! These documents never hold a secret value: credentials appear by name, key id and expiry.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;

use crate::engine::AppOutputs;
use crate::engine::address::Address;
use crate::engine::inventory::CredentialRow;
use crate::engine::plan::Action;
use crate::engine::step::Failure;

/// Version of every `--json` document and of saved plans; bumped on any incompatible change
/// (version 2: camelCase keys everywhere, every document an object).
pub const FORMAT_VERSION: u32 = crate::engine::plan::FORMAT_VERSION;

/// `appreg output --json`, and the file `apply --outputs` writes.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutputsReport<'a> {
    pub format_version: u32,
    /// Each app of the manifest that exists in the tenant, by manifest key.
    pub apps: &'a BTreeMap<String, AppOutputs>,
}

impl<'a> OutputsReport<'a> {
    pub fn new(apps: &'a BTreeMap<String, AppOutputs>) -> Self {
        OutputsReport {
            format_version: FORMAT_VERSION,
            apps,
        }
    }
}

/// `appreg credentials --json`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsReport<'a> {
    pub format_version: u32,
    pub credentials: &'a [CredentialRow],
}

impl<'a> CredentialsReport<'a> {
    pub fn new(credentials: &'a [CredentialRow]) -> Self {
        CredentialsReport {
            format_version: FORMAT_VERSION,
            credentials,
        }
    }
}

/// `appreg apply --json`: what changed, what failed, and each app's outputs afterwards.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplyReport<'a> {
    pub format_version: u32,
    pub set_name: &'a str,
    pub tenant_id: &'a str,
    /// The apps a `--target` apply was limited to; absent when it covered the whole manifest.
    #[serde(default, skip_serializing_if = "<[Address]>::is_empty")]
    pub targets: &'a [Address],
    /// False when any change failed (the exit code is then 1).
    pub complete: bool,
    pub summary: ApplySummary,
    /// Every change carried out, in the order it was made.
    pub changes: Vec<AppliedChange<'a>>,
    /// Changes that failed, with Graph's reason; dependants of a failed change are listed too.
    pub failures: Vec<ApplyFailure<'a>>,
    pub outputs: &'a BTreeMap<String, AppOutputs>,
}

#[derive(Debug, Default, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplySummary {
    pub created: usize,
    /// Updates and rotations.
    pub updated: usize,
    pub deleted: usize,
    /// Objects deleted and created again because a field that never changes in place changed.
    pub replaced: usize,
    pub failed: usize,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppliedChange<'a> {
    pub address: &'a str,
    pub action: Action,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplyFailure<'a> {
    pub address: &'a str,
    /// Why, as apply words it to a person (Graph's message where Graph refused).
    pub error: String,
}

impl<'a> ApplyReport<'a> {
    pub fn new(
        set_name: &'a str,
        tenant_id: &'a str,
        targets: &'a [Address],
        done: &'a [(Address, Action)],
        failed: &'a [Failure],
        outputs: &'a BTreeMap<String, AppOutputs>,
    ) -> Self {
        let count = |wanted: &[Action]| done.iter().filter(|(_, a)| wanted.contains(a)).count();
        ApplyReport {
            format_version: FORMAT_VERSION,
            set_name,
            tenant_id,
            targets,
            complete: failed.is_empty(),
            summary: ApplySummary {
                created: count(&[Action::Create]),
                updated: count(&[Action::Update, Action::Rotate]),
                deleted: count(&[Action::Delete]),
                replaced: count(&[Action::Replace]),
                failed: failed.len(),
            },
            changes: done
                .iter()
                .map(|(address, action)| AppliedChange {
                    address,
                    action: *action,
                })
                .collect(),
            failures: failed
                .iter()
                .map(|failure| ApplyFailure {
                    address: &failure.address,
                    error: failure.reason.to_string(),
                })
                .collect(),
            outputs,
        }
    }
}

/// The documents that have a schema, by the name `appreg schema NAME` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Document {
    Validate,
    Plan,
    Apply,
    Output,
    Credentials,
}

impl Document {
    pub const ALL: [Document; 5] = [
        Document::Validate,
        Document::Plan,
        Document::Apply,
        Document::Output,
        Document::Credentials,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Document::Validate => "validate",
            Document::Plan => "plan",
            Document::Apply => "apply",
            Document::Output => "output",
            Document::Credentials => "credentials",
        }
    }

    /// The JSON Schema (draft 7) of this document, as checked in under schemas/.
    pub fn schema_json(self) -> String {
        match self {
            Document::Validate => schema::<super::diagnostics::JsonReport<'static>>(),
            Document::Plan => crate::engine::plan::schema_json(),
            Document::Apply => schema::<ApplyReport<'static>>(),
            Document::Output => schema::<OutputsReport<'static>>(),
            Document::Credentials => schema::<CredentialsReport<'static>>(),
        }
    }
}

fn schema<T: JsonSchema>() -> String {
    let schema = schemars::generate::SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<T>();
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema always serializes");
    text.push('\n');
    text
}

/// `value` as pretty JSON with a final line break, and bidirectional and invisible characters
/// written as `\uXXXX` escapes: serde escapes control characters inside strings but leaves these,
/// which reorder or hide what a terminal shows. The document means the same.
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> String {
    let text = serde_json::to_string_pretty(value).expect("a report serializes");
    let mut out: String = text
        .chars()
        .map(|c| {
            if crate::manifest::diagnostic::is_hidden(c) && !c.is_control() {
                format!("\\u{:04x}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect();
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keeps_its_meaning_with_hidden_characters_escaped() {
        let rows = serde_json::json!([{"name": "evil\u{202e}txt\u{1b}[2J\n::x"}]);
        let text = to_json(&rows);
        assert!(
            !text.contains('\u{202e}') && !text.contains('\u{1b}'),
            "{text}"
        );
        assert!(
            !text.lines().any(|l| l.trim_start().starts_with("::")),
            "{text}"
        );
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, rows);
    }
}
