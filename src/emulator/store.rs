//! The sandbox tenant's directory: every object, soft-deleted object, role assignment and grant,
//! and beside it the tenant's Key Vault secrets (saved and reset with the directory).
//!
//! Objects are kept as Graph JSON (the full property set, defaults filled in at creation) plus the
//! hidden bookkeeping Graph keeps server-side (owners, secret hashes, write times for replication
//! lag). The store never sees HTTP; routes translate requests into these operations. It is one value
//! behind one lock, so every request sees a consistent directory.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound::{Excluded, Unbounded};
use std::sync::Arc;

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
    /// Live objects; private so every change goes through the indexes. Shared with snapshots
    /// being saved: a change copies the one object it changes (`Arc::make_mut`).
    #[serde(with = "shared")]
    objects: BTreeMap<Uuid, Arc<Record>>,
    pub deleted: BTreeMap<Uuid, Record>,
    #[serde(with = "shared")]
    assignments: BTreeMap<String, Arc<Link>>,
    #[serde(with = "shared")]
    grants: BTreeMap<String, Arc<Link>>,
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
    index: Index,
}

/// What an index lookup is asked: every object it returns may match, and every object that
/// matches is returned (callers still evaluate their whole filter on what comes back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pin {
    /// `property` equals `value`, case-insensitively.
    Equals(String, String),
    /// `property` starts with `value`, case-insensitively.
    Prefix(String, String),
    /// The string collection `property` holds `value`, case-insensitively.
    HasItem(String, String),
}

/// Lookup structures rebuilt from the objects (never saved). Keys are lower-cased, as directory
/// string comparisons ignore case.
#[derive(Debug, Clone, Default)]
struct Index {
    /// Ids of each kind, in id order (the order collections list in).
    by_kind: [BTreeSet<Uuid>; 4],
    apps_by_app_id: HashMap<String, Uuid>,
    sps_by_app_id: HashMap<String, Uuid>,
    apps_by_unique_name: HashMap<String, Uuid>,
    users_by_upn: HashMap<String, Uuid>,
    display_names: [BTreeMap<String, BTreeSet<Uuid>>; 4],
    tags: [HashMap<String, BTreeSet<Uuid>>; 4],
    /// Applications by each of their identifierUris (unique across the tenant).
    identifier_uris: HashMap<String, BTreeSet<Uuid>>,
    /// Objects handed out mutably since the last [`Store::settle`]: their property entries are
    /// out of the maps above, so lookups check these by value instead.
    pending: BTreeSet<Uuid>,
    /// Assignment ids by principalId and by resourceId; grant ids by clientId and resourceId.
    assignments_by_principal: HashMap<String, BTreeSet<String>>,
    assignments_by_resource: HashMap<String, BTreeSet<String>>,
    grants_by_client: HashMap<String, BTreeSet<String>>,
    grants_by_resource: HashMap<String, BTreeSet<String>>,
}

/// Which end of a relationship object a lookup is by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// appRoleAssignment.principalId / oAuth2PermissionGrant.clientId.
    Holder,
    /// resourceId on both.
    Resource,
}

fn slot(kind: Kind) -> usize {
    match kind {
        Kind::Application => 0,
        Kind::ServicePrincipal => 1,
        Kind::User => 2,
        Kind::Group => 3,
    }
}

fn fold(text: &str) -> String {
    text.to_lowercase()
}

fn string_items(body: &Map<String, Value>, property: &str) -> Vec<String> {
    body.get(property)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(fold)
        .collect()
}

fn drop_id(map: &mut HashMap<String, BTreeSet<Uuid>>, key: String, id: Uuid) {
    if let Some(ids) = map.get_mut(&key) {
        ids.remove(&id);
        if ids.is_empty() {
            map.remove(&key);
        }
    }
}

fn link_key(link: &Link, property: &str) -> Option<String> {
    link.str(property).map(fold)
}

fn add_link(map: &mut HashMap<String, BTreeSet<String>>, key: Option<String>, id: &str) {
    if let Some(key) = key {
        map.entry(key).or_default().insert(id.to_string());
    }
}

fn drop_link(map: &mut HashMap<String, BTreeSet<String>>, key: Option<String>, id: &str) {
    if let Some(key) = key
        && let Some(ids) = map.get_mut(&key)
    {
        ids.remove(id);
        if ids.is_empty() {
            map.remove(&key);
        }
    }
}

impl Index {
    /// Adds the property entries of one object (its kind entry is kept apart: kinds never change).
    fn add(&mut self, id: Uuid, record: &Record) {
        let k = slot(record.kind);
        if let Some(app_id) = record.str("appId") {
            match record.kind {
                Kind::Application => {
                    self.apps_by_app_id.insert(fold(app_id), id);
                }
                Kind::ServicePrincipal => {
                    self.sps_by_app_id.insert(fold(app_id), id);
                }
                Kind::User | Kind::Group => {}
            }
        }
        if record.kind == Kind::Application
            && let Some(name) = record.str("uniqueName")
        {
            self.apps_by_unique_name.insert(fold(name), id);
        }
        if record.kind == Kind::User
            && let Some(upn) = record.str("userPrincipalName")
        {
            self.users_by_upn.insert(fold(upn), id);
        }
        if let Some(name) = record.str("displayName") {
            self.display_names[k]
                .entry(fold(name))
                .or_default()
                .insert(id);
        }
        for tag in string_items(&record.body, "tags") {
            self.tags[k].entry(tag).or_default().insert(id);
        }
        if record.kind == Kind::Application {
            for uri in string_items(&record.body, "identifierUris") {
                self.identifier_uris.entry(uri).or_default().insert(id);
            }
        }
    }

    fn remove(&mut self, id: Uuid, record: &Record) {
        let k = slot(record.kind);
        let unique = |map: &mut HashMap<String, Uuid>, key: Option<&str>| {
            if let Some(key) = key.map(fold)
                && map.get(&key) == Some(&id)
            {
                map.remove(&key);
            }
        };
        match record.kind {
            Kind::Application => {
                unique(&mut self.apps_by_app_id, record.str("appId"));
                unique(&mut self.apps_by_unique_name, record.str("uniqueName"));
            }
            Kind::ServicePrincipal => unique(&mut self.sps_by_app_id, record.str("appId")),
            Kind::User => unique(&mut self.users_by_upn, record.str("userPrincipalName")),
            Kind::Group => {}
        }
        if let Some(name) = record.str("displayName").map(fold)
            && let Some(ids) = self.display_names[k].get_mut(&name)
        {
            ids.remove(&id);
            if ids.is_empty() {
                self.display_names[k].remove(&name);
            }
        }
        for tag in string_items(&record.body, "tags") {
            drop_id(&mut self.tags[k], tag, id);
        }
        if record.kind == Kind::Application {
            for uri in string_items(&record.body, "identifierUris") {
                drop_id(&mut self.identifier_uris, uri, id);
            }
        }
    }

    fn add_assignment(&mut self, id: &str, link: &Link) {
        add_link(
            &mut self.assignments_by_principal,
            link_key(link, "principalId"),
            id,
        );
        add_link(
            &mut self.assignments_by_resource,
            link_key(link, "resourceId"),
            id,
        );
    }

    fn drop_assignment(&mut self, id: &str, link: &Link) {
        drop_link(
            &mut self.assignments_by_principal,
            link_key(link, "principalId"),
            id,
        );
        drop_link(
            &mut self.assignments_by_resource,
            link_key(link, "resourceId"),
            id,
        );
    }

    fn add_grant(&mut self, id: &str, link: &Link) {
        add_link(&mut self.grants_by_client, link_key(link, "clientId"), id);
        add_link(
            &mut self.grants_by_resource,
            link_key(link, "resourceId"),
            id,
        );
    }

    fn drop_grant(&mut self, id: &str, link: &Link) {
        drop_link(&mut self.grants_by_client, link_key(link, "clientId"), id);
        drop_link(
            &mut self.grants_by_resource,
            link_key(link, "resourceId"),
            id,
        );
    }
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
            index: Index::default(),
        }
    }

    /// Every verified domain, the initial one first.
    pub fn verified_domains(&self) -> Vec<String> {
        let mut domains = vec![self.domain.clone()];
        domains.extend(self.custom_domains.iter().cloned());
        domains
    }

    /// A copy of the tenant to save, taken under the lock: it shares every object, assignment
    /// and grant with the store (a later write copies only what it changes), so it costs a walk
    /// over the maps, and serialising it does not hold up requests. Its indexes are empty.
    pub fn snapshot(&self) -> Store {
        Store {
            tenant_id: self.tenant_id,
            domain: self.domain.clone(),
            ids: self.ids.clone(),
            admin: self.admin.clone(),
            policy_id: self.policy_id,
            objects: self.objects.clone(),
            deleted: self.deleted.clone(),
            assignments: self.assignments.clone(),
            grants: self.grants.clone(),
            token_key: self.token_key.clone(),
            custom_domains: self.custom_domains.clone(),
            version: self.version,
            key_vaults: self.key_vaults.clone(),
            index: Index::default(),
        }
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

    /// Rebuilds the indexes (they are not persisted).
    pub fn reindex(&mut self) {
        let mut index = Index::default();
        for (id, record) in &self.objects {
            index.by_kind[slot(record.kind)].insert(*id);
            index.add(*id, record);
        }
        for (id, link) in &self.assignments {
            index.add_assignment(id, link);
        }
        for (id, link) in &self.grants {
            index.add_grant(id, link);
        }
        self.index = index;
    }

    /// Puts the objects changed through [`Store::get_mut`] back into the indexes; called after
    /// each request (lookups are correct before it too, only slower).
    pub fn settle(&mut self) {
        for id in std::mem::take(&mut self.index.pending) {
            if let Some(record) = self.objects.get(&id) {
                self.index.add(id, record);
            }
        }
    }

    pub fn new_id(&mut self) -> Uuid {
        self.ids.next_id()
    }

    pub fn insert(&mut self, record: Record) {
        let id = record.id();
        self.remove(id);
        self.index.by_kind[slot(record.kind)].insert(id);
        self.index.add(id, &record);
        self.objects.insert(id, Arc::new(record));
    }

    pub fn remove(&mut self, id: Uuid) -> Option<Record> {
        let record = self.objects.remove(&id)?;
        self.index.by_kind[slot(record.kind)].remove(&id);
        if !self.index.pending.remove(&id) {
            self.index.remove(id, &record);
        }
        Some(Arc::unwrap_or_clone(record))
    }

    /// Every live object, in id order.
    pub fn objects(&self) -> &BTreeMap<Uuid, Arc<Record>> {
        &self.objects
    }

    /// Any live object by id.
    pub fn object(&self, id: &Uuid) -> Option<&Record> {
        self.objects.get(id).map(Arc::as_ref)
    }

    /// Any live object by id, shared (to read after the lock is released).
    pub fn shared(&self, id: &Uuid) -> Option<Arc<Record>> {
        self.objects.get(id).cloned()
    }

    /// The object with `id` whose unique `key` (lower-cased in `map`) is `value`, else one of the
    /// pending objects holding that value.
    fn unique(
        &self,
        map: &HashMap<String, Uuid>,
        kind: Kind,
        property: &str,
        value: &str,
    ) -> Option<Uuid> {
        let holds =
            |r: &Record| r.kind == kind && r.str(property).is_some_and(|v| fold(v) == fold(value));
        map.get(&fold(value))
            .copied()
            .filter(|id| self.object(id).is_some_and(holds))
            .or_else(|| {
                self.index
                    .pending
                    .iter()
                    .copied()
                    .find(|id| self.object(id).is_some_and(holds))
            })
    }

    pub fn app_by_app_id(&self, app_id: &str) -> Option<Uuid> {
        self.unique(
            &self.index.apps_by_app_id,
            Kind::Application,
            "appId",
            app_id,
        )
    }

    pub fn sp_by_app_id(&self, app_id: &str) -> Option<Uuid> {
        self.unique(
            &self.index.sps_by_app_id,
            Kind::ServicePrincipal,
            "appId",
            app_id,
        )
    }

    pub fn app_by_unique_name(&self, name: &str) -> Option<Uuid> {
        self.unique(
            &self.index.apps_by_unique_name,
            Kind::Application,
            "uniqueName",
            name,
        )
    }

    pub fn user_by_upn(&self, upn: &str) -> Option<Uuid> {
        self.unique(
            &self.index.users_by_upn,
            Kind::User,
            "userPrincipalName",
            upn,
        )
    }

    pub fn get(&self, kind: Kind, id: Uuid) -> Option<&Record> {
        self.objects
            .get(&id)
            .map(Arc::as_ref)
            .filter(|r| r.kind == kind)
    }

    /// An object to change: its property entries leave the indexes until [`Store::settle`].
    pub fn get_mut(&mut self, kind: Kind, id: Uuid) -> Option<&mut Record> {
        let record = self.objects.get(&id).filter(|r| r.kind == kind)?;
        if !self.index.pending.contains(&id) {
            self.index.remove(id, record);
            self.index.pending.insert(id);
        }
        self.objects.get_mut(&id).map(Arc::make_mut)
    }

    /// Ids of the objects of `kind` that may satisfy any of `pins`, in id order; every object of
    /// the kind when `pins` is `None` or names a property without an index.
    pub fn candidates(&self, kind: Kind, pins: Option<&[Pin]>) -> Vec<Uuid> {
        self.candidates_after(kind, pins, None).collect()
    }

    /// Like [`Store::candidates`] but only the ids after `after`, read lazily from the index when
    /// one index set bounds them: a page of a large collection costs what the page holds, not
    /// what the collection holds.
    pub fn candidates_after<'s>(
        &'s self,
        kind: Kind,
        pins: Option<&[Pin]>,
        after: Option<Uuid>,
    ) -> Box<dyn Iterator<Item = Uuid> + 's> {
        let k = slot(kind);
        let from = |set: &'s BTreeSet<Uuid>| -> Box<dyn Iterator<Item = Uuid> + 's> {
            match after {
                Some(after) => Box::new(set.range((Excluded(after), Unbounded)).copied()),
                None => Box::new(set.iter().copied()),
            }
        };
        let Some(pins) = pins else {
            return from(&self.index.by_kind[k]);
        };
        // Each pin names a few single ids or whole index sets.
        let mut ids = BTreeSet::new();
        let mut sets: Vec<&'s BTreeSet<Uuid>> = Vec::new();
        for pin in pins {
            match pin {
                Pin::Equals(property, value) if property == "id" => {
                    if let Ok(id) = Uuid::parse_str(value)
                        && self.get(kind, id).is_some()
                    {
                        ids.insert(id);
                    }
                }
                Pin::Equals(property, value) if property == "appId" => {
                    ids.extend(match kind {
                        Kind::Application => self.app_by_app_id(value),
                        Kind::ServicePrincipal => self.sp_by_app_id(value),
                        Kind::User | Kind::Group => None,
                    });
                }
                Pin::Equals(property, value)
                    if property == "uniqueName" && kind == Kind::Application =>
                {
                    ids.extend(self.app_by_unique_name(value));
                }
                Pin::Equals(property, value)
                    if property == "userPrincipalName" && kind == Kind::User =>
                {
                    ids.extend(self.user_by_upn(value));
                }
                Pin::Equals(property, value) if property == "displayName" => {
                    sets.extend(self.index.display_names[k].get(&fold(value)));
                }
                Pin::Prefix(property, value) if property == "displayName" => {
                    let prefix = fold(value);
                    sets.extend(
                        self.index.display_names[k]
                            .range(prefix.clone()..)
                            .take_while(|(name, _)| name.starts_with(&prefix))
                            .map(|(_, ids)| ids),
                    );
                }
                Pin::HasItem(property, value) if property == "tags" => {
                    sets.extend(self.index.tags[k].get(&fold(value)));
                }
                Pin::HasItem(property, value)
                    if property == "identifierUris" && kind == Kind::Application =>
                {
                    sets.extend(self.index.identifier_uris.get(&fold(value)));
                }
                _ => return from(&self.index.by_kind[k]),
            }
        }
        // Objects being changed are out of the property maps: the caller's filter decides.
        ids.extend(
            self.index
                .pending
                .iter()
                .filter(|id| self.get(kind, **id).is_some()),
        );
        if let ([set], true) = (sets.as_slice(), ids.is_empty()) {
            return from(set);
        }
        for set in sets {
            ids.extend(from(set));
        }
        match after {
            Some(after) => {
                let later = ids.split_off(&after);
                Box::new(later.into_iter().filter(move |id| *id != after))
            }
            None => Box::new(ids.into_iter()),
        }
    }

    pub fn assignment(&self, id: &str) -> Option<&Link> {
        self.assignments.get(id).map(Arc::as_ref)
    }

    /// Assignments whose `end` (principalId or resourceId) is `object`, in id order.
    pub fn assignments_at(&self, end: End, object: &str) -> Vec<(&str, &Link)> {
        let map = match end {
            End::Holder => &self.index.assignments_by_principal,
            End::Resource => &self.index.assignments_by_resource,
        };
        links_at(map, &self.assignments, object)
    }

    pub fn insert_assignment(&mut self, id: String, link: Link) {
        self.remove_assignment(&id);
        self.index.add_assignment(&id, &link);
        self.assignments.insert(id, Arc::new(link));
    }

    pub fn remove_assignment(&mut self, id: &str) -> Option<Link> {
        let link = self.assignments.remove(id)?;
        self.index.drop_assignment(id, &link);
        Some(Arc::unwrap_or_clone(link))
    }

    /// Every oAuth2PermissionGrant, by id.
    pub fn grants(&self) -> &BTreeMap<String, Arc<Link>> {
        &self.grants
    }

    pub fn grant(&self, id: &str) -> Option<&Link> {
        self.grants.get(id).map(Arc::as_ref)
    }

    /// A grant to change; its clientId and resourceId never change, so the indexes stay.
    pub fn grant_scope_mut(&mut self, id: &str) -> Option<&mut Map<String, Value>> {
        self.grants.get_mut(id).map(|g| &mut Arc::make_mut(g).body)
    }

    /// Grants whose `end` (clientId or resourceId) is `object`, in id order.
    pub fn grants_at(&self, end: End, object: &str) -> Vec<(&str, &Link)> {
        let map = match end {
            End::Holder => &self.index.grants_by_client,
            End::Resource => &self.index.grants_by_resource,
        };
        links_at(map, &self.grants, object)
    }

    pub fn insert_grant(&mut self, id: String, link: Link) {
        self.remove_grant(&id);
        self.index.add_grant(&id, &link);
        self.grants.insert(id, Arc::new(link));
    }

    pub fn remove_grant(&mut self, id: &str) -> Option<Link> {
        let link = self.grants.remove(id)?;
        self.index.drop_grant(id, &link);
        Some(Arc::unwrap_or_clone(link))
    }

    /// Removes every assignment and grant that names `object` at either end.
    pub fn remove_links_of(&mut self, object: &str) {
        let ids = |v: Vec<(&str, &Link)>| -> Vec<String> {
            v.into_iter().map(|(id, _)| id.to_string()).collect()
        };
        let mut assignments = ids(self.assignments_at(End::Holder, object));
        assignments.extend(ids(self.assignments_at(End::Resource, object)));
        for id in assignments {
            self.remove_assignment(&id);
        }
        let mut grants = ids(self.grants_at(End::Holder, object));
        grants.extend(ids(self.grants_at(End::Resource, object)));
        for id in grants {
            self.remove_grant(&id);
        }
    }

    pub fn touch(&mut self) {
        self.version += 1;
    }
}

fn links_at<'a>(
    map: &HashMap<String, BTreeSet<String>>,
    links: &'a BTreeMap<String, Arc<Link>>,
    object: &str,
) -> Vec<(&'a str, &'a Link)> {
    map.get(&fold(object))
        .into_iter()
        .flatten()
        .filter_map(|id| links.get_key_value(id))
        .map(|(id, link)| (id.as_str(), link.as_ref()))
        .collect()
}

/// (De)serializes a map of shared values as the plain map (the state file does not change).
mod shared {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<K, V, S>(map: &BTreeMap<K, Arc<V>>, serializer: S) -> Result<S::Ok, S::Error>
    where
        K: Serialize,
        V: Serialize,
        S: Serializer,
    {
        serializer.collect_map(map.iter().map(|(k, v)| (k, v.as_ref())))
    }

    pub fn deserialize<'de, K, V, D>(deserializer: D) -> Result<BTreeMap<K, Arc<V>>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        let plain = BTreeMap::<K, V>::deserialize(deserializer)?;
        Ok(plain.into_iter().map(|(k, v)| (k, Arc::new(v))).collect())
    }
}

/// Whether something written at `written_ms` is visible to reads at `now_ms` under `lag_ms`.
pub fn replicated(written_ms: i64, now_ms: i64, lag_ms: i64) -> bool {
    lag_ms <= 0 || written_ms <= now_ms - lag_ms
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn app(store: &mut Store, name: &str, tags: &[&str]) -> Uuid {
        let id = store.new_id();
        let body = json!({
            "id": id.to_string(),
            "appId": store.new_id().to_string(),
            "displayName": name,
            "uniqueName": name.to_lowercase(),
            "tags": tags,
        });
        store.insert(Record::new(
            Kind::Application,
            body.as_object().cloned().unwrap_or_default(),
            0,
        ));
        id
    }

    fn tag(value: &str) -> Vec<Pin> {
        vec![Pin::HasItem("tags".into(), value.into())]
    }

    #[test]
    fn lookups_follow_changes_made_through_get_mut() {
        let mut store = crate::emulator::seed::tenant(7, 0);
        let first = app(&mut store, "Payroll", &["appreg:set=hr"]);
        let second = app(&mut store, "Payslips", &["appreg:set=finance"]);
        assert_eq!(
            store.candidates(Kind::Application, Some(&tag("APPREG:SET=HR"))),
            vec![first]
        );
        assert_eq!(store.app_by_unique_name("PAYROLL"), Some(first));

        // Renamed and retagged: before settling, lookups check the changed object by value...
        let record = store.get_mut(Kind::Application, first).unwrap();
        record
            .body
            .insert("tags".into(), json!(["appreg:set=finance"]));
        record.body.insert("displayName".into(), json!("Ledger"));
        let finance = store.candidates(Kind::Application, Some(&tag("appreg:set=finance")));
        assert!(finance.contains(&first) && finance.contains(&second));
        // ...and after, the indexes name exactly the matching objects.
        store.settle();
        let mut finance = store.candidates(Kind::Application, Some(&tag("appreg:set=finance")));
        finance.sort();
        let mut both = vec![first, second];
        both.sort();
        assert_eq!(finance, both);
        assert!(
            store
                .candidates(Kind::Application, Some(&tag("appreg:set=hr")))
                .is_empty()
        );
        let prefix = vec![Pin::Prefix("displayName".into(), "pay".into())];
        assert_eq!(
            store.candidates(Kind::Application, Some(&prefix)),
            vec![second]
        );

        store.remove(second);
        assert_eq!(
            store.candidates(Kind::Application, Some(&tag("appreg:set=finance"))),
            vec![first]
        );
        // A property without an index lists every object of the kind.
        let unindexed = vec![Pin::Equals("signInAudience".into(), "AzureADMyOrg".into())];
        assert_eq!(
            store.candidates(Kind::Application, Some(&unindexed)).len(),
            store
                .objects()
                .values()
                .filter(|r| r.kind == Kind::Application)
                .count()
        );
    }

    #[test]
    fn a_snapshot_keeps_the_tenant_as_it_was_while_the_store_changes() {
        let mut store = crate::emulator::seed::tenant(7, 0);
        let first = app(&mut store, "Payroll", &["appreg:set=hr"]);
        let saved = crate::emulator::persist::serialize(&store);
        let snapshot = store.snapshot();
        store
            .get_mut(Kind::Application, first)
            .unwrap()
            .body
            .insert("displayName".into(), json!("Ledger"));
        store.settle();
        let second = app(&mut store, "Payslips", &[]);
        store.remove(first);
        assert_eq!(crate::emulator::persist::serialize(&snapshot), saved);
        assert_eq!(
            snapshot
                .get(Kind::Application, first)
                .unwrap()
                .str("displayName"),
            Some("Payroll")
        );
        assert!(snapshot.get(Kind::Application, second).is_none());
        assert!(store.get(Kind::Application, first).is_none());
    }

    #[test]
    fn links_are_found_from_either_end_and_leave_with_their_object() {
        let mut store = crate::emulator::seed::tenant(7, 0);
        let link = |principal: &str, resource: &str| Link {
            body:
                json!({ "principalId": principal, "resourceId": resource, "clientId": principal })
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            created_ms: 0,
        };
        let (a, b, c) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        store.insert_assignment("x".into(), link(&a.to_string(), &b.to_string()));
        store.insert_assignment("y".into(), link(&c.to_string(), &b.to_string()));
        store.insert_grant("g".into(), link(&a.to_string(), &c.to_string()));
        let ids = |links: Vec<(&str, &Link)>| {
            links
                .iter()
                .map(|(id, _)| id.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            ids(store.assignments_at(End::Resource, &b.to_string())),
            ["x", "y"]
        );
        assert_eq!(
            ids(store.assignments_at(End::Holder, &a.to_string().to_uppercase())),
            ["x"]
        );
        assert_eq!(ids(store.grants_at(End::Resource, &c.to_string())), ["g"]);
        store.remove_links_of(&a.to_string());
        assert_eq!(
            ids(store.assignments_at(End::Resource, &b.to_string())),
            ["y"]
        );
        assert!(store.grants_at(End::Holder, &a.to_string()).is_empty());
        assert!(store.grant("g").is_none() && store.assignment("x").is_none());
    }
}
