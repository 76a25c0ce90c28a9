//! What observation found in the tenant: plain data, read-only, as Graph returned it.
//!
//! Observation fills this in with as few round trips as it can; the resource kinds read it to build
//! their live instances. Nothing here writes.
//!
//! Each app's objects are held packed (compact JSON text) and opened one app at a time: as
//! `serde_json::Value` trees, where every object is a B-tree node of some 600 bytes however few
//! properties it has, 10,000 apps of the scale benchmark took about 150 MB (heaptrack), and the
//! plan's peak fell from 356 to 154 MiB once they were packed.

use std::collections::BTreeMap;

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::resolve::ResourceApi;
use super::step::AppIds;
use crate::credentials::{CertificateFile, Holding};
use crate::model::Period;

/// Everything the tenant holds about one app of the manifest.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
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
    /// Held beside the packed text, not in it.
    #[serde(skip)]
    pub holdings: BTreeMap<String, Holding>,
    /// Collections a kind asked to read (`ResourceKind::reads`), by Graph path.
    pub collections: BTreeMap<String, Vec<Value>>,
}

impl ObservedApp {
    /// The ids of the app and its service principal, as far as the tenant has them.
    pub fn ids(&self) -> AppIds {
        let id = |object: &Option<Value>, key| {
            object
                .as_ref()
                .and_then(|o| str_of(o, key))
                .map(str::to_string)
        };
        AppIds {
            object_id: id(&self.application, "id"),
            app_id: id(&self.application, "appId"),
            sp_id: id(&self.service_principal, "id"),
            fresh: false,
        }
    }

    /// The collection read at `path`; empty when it was not read.
    pub fn collection(&self, path: &str) -> &[Value] {
        self.collections.get(path).map_or(&[], Vec::as_slice)
    }
}

/// A value held as its JSON text until it is opened: it opens to what was packed.
#[derive(Debug, Clone)]
pub struct Packed<T> {
    text: Box<[u8]>,
    of: std::marker::PhantomData<T>,
}

impl<T: serde::Serialize + serde::de::DeserializeOwned> Packed<T> {
    pub fn pack(value: &T) -> Packed<T> {
        // Writing JSON values to a buffer fails only on a map key that is not a string, which
        // `Value` cannot hold.
        let text = serde_json::to_vec(value).expect("observed values are JSON");
        Packed {
            text: text.into_boxed_slice(),
            of: std::marker::PhantomData,
        }
    }

    pub fn open(&self) -> T {
        // `pack` wrote it from the same type, and each value sits no deeper in it than in the
        // Graph response it was read from (which passed the same nesting limit).
        serde_json::from_slice(&self.text).expect("a packed value reads back")
    }
}

/// One [`ObservedApp`], packed, with what the sinks hold and its ids beside it (apply and the
/// outputs want every app's ids, not its objects).
#[derive(Debug, Clone)]
struct PackedApp {
    objects: Packed<ObservedApp>,
    holdings: BTreeMap<String, Holding>,
    ids: AppIds,
}

impl PackedApp {
    fn pack(mut app: ObservedApp) -> PackedApp {
        let holdings = std::mem::take(&mut app.holdings);
        PackedApp {
            objects: Packed::pack(&app),
            holdings,
            ids: app.ids(),
        }
    }

    fn open(&self) -> ObservedApp {
        ObservedApp {
            holdings: self.holdings.clone(),
            ..self.objects.open()
        }
    }
}

/// The observed apps of a manifest by manifest key, each held packed: [`ObservedApps::get`]
/// opens one, a copy the caller owns.
#[derive(Debug, Clone, Default)]
pub struct ObservedApps(BTreeMap<String, PackedApp>);

impl ObservedApps {
    pub fn insert(&mut self, key: String, app: ObservedApp) {
        self.0.insert(key, PackedApp::pack(app));
    }

    /// The app observed for `key`, opened.
    pub fn get(&self, key: &str) -> Option<ObservedApp> {
        self.0.get(key).map(PackedApp::open)
    }

    /// Takes the app observed for `key` out, opened (to change it and insert it again).
    pub fn remove(&mut self, key: &str) -> Option<ObservedApp> {
        self.0.remove(key).map(|packed| packed.open())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every app in key order, each opened as the iterator reaches it.
    pub fn iter(&self) -> impl Iterator<Item = (&String, ObservedApp)> {
        self.0.iter().map(|(key, packed)| (key, packed.open()))
    }

    /// Every app's ids, by manifest key, without opening any.
    pub fn ids(&self) -> BTreeMap<String, AppIds> {
        self.0
            .iter()
            .map(|(key, packed)| (key.clone(), packed.ids.clone()))
            .collect()
    }

    /// Every app in key order, opened.
    pub fn values(&self) -> impl Iterator<Item = ObservedApp> {
        self.0.values().map(PackedApp::open)
    }

    /// Opens each app in turn, lets `change` change it, and packs it again.
    pub fn for_each_mut(&mut self, mut change: impl FnMut(&mut ObservedApp)) {
        for packed in self.0.values_mut() {
            let mut app = packed.open();
            change(&mut app);
            *packed = PackedApp::pack(app);
        }
    }

    /// What the sinks hold for the app at `key`; these are held beside the text, so recording one
    /// does not repack the app.
    pub fn holdings_mut(&mut self, key: &str) -> Option<&mut BTreeMap<String, Holding>> {
        self.0.get_mut(key).map(|packed| &mut packed.holdings)
    }

    /// Opens the app at `key`, lets `change` change it, and packs it again.
    pub fn update(&mut self, key: &str, change: impl FnOnce(&mut ObservedApp)) {
        if let Some(mut app) = self.remove(key) {
            change(&mut app);
            self.insert(key.to_string(), app);
        }
    }
}

/// The tenant as far as one manifest is concerned.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub tenant_id: String,
    pub apps: ObservedApps,
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What goes in comes out: every value, numbers and nesting as Graph sent them, and the
    /// holdings kept beside the text.
    #[test]
    fn a_packed_app_opens_to_what_was_packed() {
        // About as deep as a page of Graph's lets an application's property be: the parser stops
        // at 128 levels, and the page and its `value` array take two.
        let mut deep = json!("bottom");
        for _ in 0..62 {
            deep = json!({ "n": [deep] });
        }
        let app = ObservedApp {
            application: Some(json!({
                "id": "1", "appId": "2", "big": u64::MAX, "small": -7, "ratio": 0.1,
                "text": "a\u{0}b \"quoted\" \u{202e}", "deep": deep,
            })),
            owners: vec![json!({"id": "o"})],
            holdings: BTreeMap::from([("mail".to_string(), Holding::WriteOnly)]),
            collections: BTreeMap::from([("/x".to_string(), vec![json!(null), json!([])])]),
            ..Default::default()
        };
        let mut apps = ObservedApps::default();
        apps.insert("crm".into(), app.clone());
        assert_eq!((apps.len(), apps.is_empty()), (1, false));
        let ids = &apps.ids()["crm"];
        assert_eq!(
            (
                ids.object_id.as_deref(),
                ids.app_id.as_deref(),
                ids.sp_id.as_deref()
            ),
            (Some("1"), Some("2"), None)
        );
        let opened = apps.get("crm").unwrap();
        assert_eq!(opened.application, app.application);
        assert_eq!(opened.owners, app.owners);
        assert_eq!(opened.collections, app.collections);
        assert_eq!(opened.holdings, app.holdings);
        assert!(apps.get("erp").is_none());

        apps.update("crm", |crm| crm.grants.push(json!({"id": "g"})));
        *apps.holdings_mut("crm").unwrap() = BTreeMap::new();
        let changed = apps.remove("crm").unwrap();
        assert_eq!(changed.grants, [json!({"id": "g"})]);
        assert!(changed.holdings.is_empty());
        assert_eq!(changed.application, app.application);
        assert!(apps.is_empty());
    }
}
