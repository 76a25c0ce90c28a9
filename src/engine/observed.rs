//! What observation found in the tenant: plain data, read-only, as Graph returned it.
//!
//! Observation fills this in with as few round trips as it can; the resource kinds read it to build
//! their live instances. Nothing here writes.

use std::collections::BTreeMap;

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::resolve::ResourceApi;
use crate::credentials::{CertificateFile, Holding};
use crate::model::Period;

/// Everything the tenant holds about one app of the manifest.
#[derive(Debug, Clone, Default)]
pub struct ObservedApp {
    /// The application object; None when the tenant has no app with this uniqueName.
    pub application: Option<Value>,
    pub service_principal: Option<Value>,
    /// Another app holding the entry's uniqueName, when `adopt:` found a different one (the
    /// planner refuses such an entry).
    pub unique_name_holder: Option<Value>,
    /// Owners as directory objects (`@odata.type`, `id`, `userPrincipalName` or `appId`).
    pub owners: Vec<Value>,
    /// oauth2PermissionGrants whose client is this app's service principal.
    pub grants: Vec<Value>,
    /// appRoleAssignments held by this app's service principal (its application permissions).
    pub app_role_assignments: Vec<Value>,
    /// appRoleAssignments granted on this app's service principal (users and groups assigned to it).
    pub assigned_to: Vec<Value>,
    pub federated_credentials: Vec<Value>,
    /// keyCredentials with their `key` (read with an explicit `$select`, as Graph requires); empty
    /// when the app has none.
    pub key_credentials: Vec<Value>,
    /// What each declared secret's sink holds, by secret name (read only for apps that exist).
    pub holdings: BTreeMap<String, Holding>,
    /// Collections a kind asked to read (`ResourceKind::reads`), by Graph path.
    pub collections: BTreeMap<String, Vec<Value>>,
}

impl ObservedApp {
    /// The collection read at `path`; empty when it was not read.
    pub fn collection(&self, path: &str) -> &[Value] {
        self.collections.get(path).map_or(&[], Vec::as_slice)
    }
}

/// The tenant as far as one manifest is concerned.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub tenant_id: String,
    /// By manifest key.
    pub apps: BTreeMap<String, ObservedApp>,
    /// Apps of this manifest's set, by the exact ownership tags, that the manifest no longer
    /// declares (prune candidates).
    pub strays: Vec<Value>,
    /// Resource APIs by the name the manifest wrote.
    pub resources: BTreeMap<String, ResourceApi>,
    /// Users by lower-cased userPrincipalName; None when the tenant has no such user.
    pub users: BTreeMap<String, Option<Value>>,
    /// Groups by the name or id the manifest wrote: every match (several = ambiguous).
    pub groups: BTreeMap<String, Vec<Value>>,
    /// Service principals that own apps, by appId.
    pub owner_service_principals: BTreeMap<String, Option<Value>>,
    /// appId of the identity appreg runs as, when known ([`super::PlanOptions::caller`], else the
    /// `appid` of its Graph token): never managed, never pruned (see `super::ownership`).
    pub caller: Option<uuid::Uuid>,
    /// Whether objects that left the manifest are deleted ([`super::PlanOptions::prune`]); a
    /// credential the manifest does not declare is otherwise only reported.
    pub prune: bool,
    /// The tenant's limit on secret lifetimes, when it has one and appreg may read it.
    pub secret_policy: Option<SecretPolicy>,
    /// Certificate files the manifest names, read, by resolved path (or why not).
    pub certificate_files: BTreeMap<PathBuf, Result<CertificateFile, String>>,
}

/// The password-lifetime restriction of the tenant's default app-management policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretPolicy {
    /// `maxLifetime` as Graph wrote it (ISO-8601, e.g. `P365D`).
    pub max_lifetime: String,
    pub max: Period,
    /// Apps created before this date are exempt (`restrictForAppsCreatedAfterDateTime`).
    pub applies_after: Option<DateTime<Utc>>,
}

/// A string property of a Graph object.
pub fn str_of<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object.get(key).and_then(Value::as_str)
}
