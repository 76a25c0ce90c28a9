//! The sandbox tenant's directory: every object, soft-deleted object, role assignment and grant,
//! and beside it the tenant's Key Vault secrets (saved and reset with the directory).
//!
//! Objects are kept as Graph JSON (the full property set, defaults filled in at creation) plus the
//! hidden bookkeeping Graph keeps server-side (owners, secret hashes, write times for replication
//! lag). The store never sees HTTP; routes translate requests into these operations. It is one value
//! behind one lock, so every request sees a consistent directory.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::ids::IdGen;
use super::key_vault::KeyVaults;

/// Kinds of directory objects the sandbox holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Kind {
    Application,
    ServicePrincipal,
    User,
    Group,
}

impl Kind {
    /// Entity set name in URLs and `@odata.context`.
    pub fn set_name(self) -> &'static str {
        match self {
            Kind::Application => "applications",
            Kind::ServicePrincipal => "servicePrincipals",
            Kind::User => "users",
            Kind::Group => "groups",
        }
    }

    /// Qualified type name as used in casts and `@odata.type` (without the leading '#').
    pub fn type_name(self) -> &'static str {
        match self {
            Kind::Application => "microsoft.graph.application",
            Kind::ServicePrincipal => "microsoft.graph.servicePrincipal",
            Kind::User => "microsoft.graph.user",
            Kind::Group => "microsoft.graph.group",
        }
    }

    /// Resource name as it appears in the directory's error messages.
    pub fn resource_name(self) -> &'static str {
        match self {
            Kind::Application => "Application",
            Kind::ServicePrincipal => "ServicePrincipal",
            Kind::User => "User",
            Kind::Group => "Group",
        }
    }

    pub fn from_type_name(name: &str) -> Option<Kind> {
        [
            Kind::Application,
            Kind::ServicePrincipal,
            Kind::User,
            Kind::Group,
        ]
        .into_iter()
        .find(|k| k.type_name().eq_ignore_ascii_case(name))
    }
}

/// A directory object: its Graph JSON and the server-side state Graph never returns.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub kind: Kind,
    pub body: Map<String, Value>,
    /// When the object was created (ms since epoch); replication lag hides it until it is old enough.
    pub created_ms: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owners: Vec<Uuid>,
    /// Applications: federatedIdentityCredentials (a contained collection, not directory objects).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub federated: Vec<Map<String, Value>>,
    /// Credentials by keyId with the time they were added, so reads can lag behind writes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub credential_added_ms: BTreeMap<String, i64>,
    /// SHA-256 (hex) of each password credential's secretText, by keyId, for the token endpoint.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secret_hashes: BTreeMap<String, String>,
    /// Service principals: the tags set on the principal itself (reads show these plus the app's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub own_tags: Vec<String>,
}

impl Record {
    pub fn new(kind: Kind, body: Map<String, Value>, created_ms: i64) -> Self {
        Record {
            kind,
            body,
            created_ms,
            owners: Vec::new(),
            federated: Vec::new(),
            credential_added_ms: BTreeMap::new(),
            secret_hashes: BTreeMap::new(),
            own_tags: Vec::new(),
        }
    }

    pub fn str(&self, property: &str) -> Option<&str> {
        self.body.get(property).and_then(Value::as_str)
    }

    pub fn id(&self) -> Uuid {
        self.str("id")
            .and_then(|s| Uuid::parse_str(s).ok())
            .unwrap_or_default()
    }
}

/// A relationship object (appRoleAssignment, oAuth2PermissionGrant): JSON plus its write time.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Link {
    pub body: Map<String, Value>,
    pub created_ms: i64,
}

impl Link {
    pub fn str(&self, property: &str) -> Option<&str> {
        self.body.get(property).and_then(Value::as_str)
    }
}

/// The sandbox's own admin application, whose client credentials the standalone server prints.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminApp {
    pub app_id: Uuid,
    pub object_id: Uuid,
    pub service_principal_id: Uuid,
    pub client_secret: String,
}

impl std::fmt::Debug for AdminApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminApp")
            .field("app_id", &self.app_id)
            .field("object_id", &self.object_id)
            .field("service_principal_id", &self.service_principal_id)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}

/// The whole tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Store {
    pub tenant_id: Uuid,
    pub domain: String,
    pub ids: IdGen,
    pub admin: AdminApp,
    /// Id of the tenant's app-management policy named in lifetime refusals.
    pub policy_id: Uuid,
    pub objects: BTreeMap<Uuid, Record>,
    pub deleted: BTreeMap<Uuid, Record>,
    pub assignments: BTreeMap<String, Link>,
    pub grants: BTreeMap<String, Link>,
    /// RSA key (PKCS#8, base64) the sandbox signs its access tokens with; persisted so tokens
    /// survive restarts.
    #[serde(default)]
    pub token_key: String,
    /// Domains verified in the tenant besides its initial `domain` (`--verified-domain`): the hosts
    /// https identifierUris may use, listed by `/domains` and `/organization`.
    #[serde(default)]
    pub custom_domains: Vec<String>,
    /// Bumped on every write; persistence skips snapshots older than the last one written.
    #[serde(default)]
    pub version: u64,
    /// Key Vault secrets by vault; files saved before the sandbox had Key Vault have none.
    #[serde(default, skip_serializing_if = "KeyVaults::is_empty")]
    pub key_vaults: KeyVaults,
    #[serde(skip)]
    apps_by_app_id: HashMap<String, Uuid>,
    #[serde(skip)]
    sps_by_app_id: HashMap<String, Uuid>,
}

impl Store {
    pub fn new(
        tenant_id: Uuid,
        domain: String,
        ids: IdGen,
        admin: AdminApp,
        policy_id: Uuid,
    ) -> Self {
        Store {
            tenant_id,
            domain,
            ids,
            admin,
            policy_id,
            objects: BTreeMap::new(),
            deleted: BTreeMap::new(),
            assignments: BTreeMap::new(),
            grants: BTreeMap::new(),
            token_key: String::new(),
            custom_domains: Vec::new(),
            version: 0,
            key_vaults: KeyVaults::default(),
            apps_by_app_id: HashMap::new(),
            sps_by_app_id: HashMap::new(),
        }
    }

    /// Every verified domain, the initial one first.
    pub fn verified_domains(&self) -> Vec<String> {
        let mut domains = vec![self.domain.clone()];
        domains.extend(self.custom_domains.iter().cloned());
        domains
    }

    /// Verifies a domain (no-op when it already is).
    pub fn verify_domain(&mut self, domain: &str) {
        let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
        if !domain.is_empty()
            && !self
                .verified_domains()
                .iter()
                .any(|d| d.eq_ignore_ascii_case(&domain))
        {
            self.custom_domains.push(domain);
        }
    }

    /// Rebuilds the appId indexes (they are not persisted).
    pub fn reindex(&mut self) {
        self.apps_by_app_id.clear();
        self.sps_by_app_id.clear();
        let entries: Vec<(Kind, String, Uuid)> = self
            .objects
            .values()
            .filter_map(|r| Some((r.kind, r.str("appId")?.to_lowercase(), r.id())))
            .collect();
        for (kind, app_id, id) in entries {
            self.index(kind, app_id, id);
        }
    }

    fn index(&mut self, kind: Kind, app_id: String, id: Uuid) {
        match kind {
            Kind::Application => {
                self.apps_by_app_id.insert(app_id, id);
            }
            Kind::ServicePrincipal => {
                self.sps_by_app_id.insert(app_id, id);
            }
            Kind::User | Kind::Group => {}
        }
    }

    pub fn new_id(&mut self) -> Uuid {
        self.ids.next_id()
    }

    pub fn insert(&mut self, record: Record) {
        let id = record.id();
        if let Some(app_id) = record.str("appId") {
            let app_id = app_id.to_lowercase();
            self.index(record.kind, app_id, id);
        }
        self.objects.insert(id, record);
    }

    pub fn remove(&mut self, id: Uuid) -> Option<Record> {
        let record = self.objects.remove(&id)?;
        if let Some(app_id) = record.str("appId") {
            let app_id = app_id.to_lowercase();
            match record.kind {
                Kind::Application => self.apps_by_app_id.remove(&app_id),
                Kind::ServicePrincipal => self.sps_by_app_id.remove(&app_id),
                Kind::User | Kind::Group => None,
            };
        }
        Some(record)
    }

    pub fn app_by_app_id(&self, app_id: &str) -> Option<Uuid> {
        self.apps_by_app_id.get(&app_id.to_lowercase()).copied()
    }

    pub fn sp_by_app_id(&self, app_id: &str) -> Option<Uuid> {
        self.sps_by_app_id.get(&app_id.to_lowercase()).copied()
    }

    pub fn get(&self, kind: Kind, id: Uuid) -> Option<&Record> {
        self.objects.get(&id).filter(|r| r.kind == kind)
    }

    pub fn get_mut(&mut self, kind: Kind, id: Uuid) -> Option<&mut Record> {
        self.objects.get_mut(&id).filter(|r| r.kind == kind)
    }

    /// First live object of `kind` whose string `property` equals `value` (case-insensitively, as
    /// directory string comparisons are).
    pub fn find_by(&self, kind: Kind, property: &str, value: &str) -> Option<Uuid> {
        self.objects
            .values()
            .find(|r| {
                r.kind == kind
                    && r.str(property)
                        .is_some_and(|v| v.eq_ignore_ascii_case(value))
            })
            .map(Record::id)
    }

    pub fn touch(&mut self) {
        self.version += 1;
    }
}

/// Whether something written at `written_ms` is visible to reads at `now_ms` under `lag_ms`.
pub fn replicated(written_ms: i64, now_ms: i64, lag_ms: i64) -> bool {
    lag_ms <= 0 || written_ms <= now_ms - lag_ms
}
