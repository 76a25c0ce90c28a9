//! The plan: one value that the human, JSON and Markdown views all render, and that `plan --out`
//! saves for `apply` to check against the world before it acts.
//!
//! A plan never holds a secret value: secrets appear by name, key id and expiry only.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::address::Address;

/// Version of the plan JSON format; bumped on any incompatible change.
pub const FORMAT_VERSION: u32 = 2;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub format_version: u32,
    /// Ownership set the plan manages.
    pub set_name: String,
    pub tenant_id: String,
    /// Digest of the manifest as loaded; `apply` refuses a saved plan when it differs.
    pub manifest_digest: String,
    pub created_at: DateTime<Utc>,
    /// Whether apps of the set that left the manifest are deleted.
    #[serde(default)]
    pub prune: bool,
    /// The manifest paths the plan was made from; `apply PLANFILE` loads them again.
    #[serde(default)]
    pub manifest_paths: Vec<String>,
    /// The apps a `--target` run is limited to (empty: every app of the manifest). A targeted
    /// plan never prunes, and applying it saved applies to these apps only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<Address>,
    /// Every object the manifest names, in apply order; no-op changes included.
    pub changes: Vec<Change>,
    /// What apply leaves alone but `drift` reports: credentials the manifest does not declare,
    /// certificates near expiry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<Notice>,
}

/// Something in the tenant worth knowing that is not a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Notice {
    pub address: Address,
    pub message: String,
}

/// One object and what apply will do to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// Stable address, such as `app.crm-calendar-sync.grant.Microsoft Graph`.
    pub address: Address,
    pub resource: ResourceType,
    pub action: Action,
    /// Why, in a few words: "not in the tenant", "2 fields changed", "expires in 12 days".
    pub reason: String,
    /// Field-level differences; empty for no-op and delete.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
    /// Digest of the live object as observed (absent when it does not exist); a saved plan is stale
    /// when a touched object's digest changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_digest: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    /// Manifest-style path of the field, such as `web.redirectUris`.
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

/// What apply does to an object. A closed set: every view knows each one's symbol and words.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    NoOp,
    Create,
    Update,
    Delete,
    Replace,
    Rotate,
}

impl Action {
    /// Terraform-like symbol.
    pub fn symbol(self) -> &'static str {
        match self {
            Action::NoOp => " ",
            Action::Create => "+",
            Action::Update => "~",
            Action::Delete => "-",
            Action::Replace => "-/+",
            Action::Rotate => "↻",
        }
    }

    pub fn verb(self) -> &'static str {
        match self {
            Action::NoOp => "unchanged",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Replace => "replace",
            Action::Rotate => "rotate",
        }
    }

    pub fn is_write(self) -> bool {
        self != Action::NoOp
    }
}

/// The kinds of objects appreg reconciles.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ResourceType {
    Application,
    ServicePrincipal,
    Owner,
    DelegatedGrant,
    ApplicationPermission,
    Assignment,
    FederatedCredential,
    Secret,
    Certificate,
}

/// Counts per action, for summaries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    pub replace: usize,
    pub rotate: usize,
    pub no_op: usize,
}

/// Largest saved plan `apply` reads. A plan for a thousand apps is a few megabytes; this bounds
/// the memory a damaged or hostile file can take.
pub const MAX_PLAN_BYTES: u64 = 64 * 1024 * 1024;

/// Why a saved plan cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanFileError {
    #[error("is not an appreg plan: {0}")]
    NotAPlan(String),
    #[error("has plan format {found}, this appreg reads {FORMAT_VERSION}")]
    WrongVersion { found: String },
}

impl Plan {
    /// Reads a plan saved by `plan --out`. The format version is checked first, so a plan of
    /// another version is named as such rather than as a shape error. Pure: no IO.
    pub fn from_json(text: &str) -> Result<Plan, PlanFileError> {
        // Version 1 spelled its keys in snake_case; its version is found under either spelling.
        #[derive(Deserialize)]
        struct Versioned {
            #[serde(rename = "formatVersion", alias = "format_version")]
            format_version: Value,
        }
        let versioned: Versioned =
            serde_json::from_str(text).map_err(|e| PlanFileError::NotAPlan(e.to_string()))?;
        if versioned.format_version != FORMAT_VERSION {
            let mut found = versioned.format_version.to_string();
            if found.len() > 40 {
                found = format!("{}…", &found[..found.floor_char_boundary(40)]);
            }
            return Err(PlanFileError::WrongVersion { found });
        }
        serde_json::from_str(text).map_err(|e| PlanFileError::NotAPlan(e.to_string()))
    }

    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for change in &self.changes {
            *match change.action {
                Action::NoOp => &mut s.no_op,
                Action::Create => &mut s.create,
                Action::Update => &mut s.update,
                Action::Delete => &mut s.delete,
                Action::Replace => &mut s.replace,
                Action::Rotate => &mut s.rotate,
            } += 1;
        }
        s
    }

    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| c.action.is_write())
    }

    /// Whether `drift` should report: changes, or notices (undeclared credentials, certificates
    /// near expiry).
    pub fn has_drift(&self) -> bool {
        self.has_changes() || !self.notices.is_empty()
    }
}

/// The plan JSON Schema (schemas/plan.schema.json).
pub fn schema_json() -> String {
    let schema = schemars::generate::SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<Plan>();
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema always serializes");
    text.push('\n');
    text
}
