//! Answers written straight from the stored objects to JSON bytes: collection pages of
//! applications and service principals, single reads of them, and pages of items shown as stored
//! (relationship objects, users, groups, deleted items).
//!
//! A page used to copy each object into a fresh JSON value (its view, then its projection) and
//! serialise that: thousands of small allocations per item, whose cost grew with the size of the
//! heap (glibc's free lists in a 10,000-app tenant). Here an item is serialised from the record
//! itself, applying the same view rules on the way out ([`super::view`], [`super::project`]):
//! the bytes are the same, only the copies are gone (the tests below compare both ways).
//!
//! Keys come out in the order a `serde_json::Map` (sorted by key) would write them.

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Map, Value};

use super::{Clock, ListedItem};
use crate::emulator::store::{Kind, Record};
use crate::emulator::wire;

const KEY_CREDENTIALS: &str = "keyCredentials";
const PASSWORD_CREDENTIALS: &str = "passwordCredentials";

/// A collection page: its head (`@odata.context`, `@odata.count`, `@odata.nextLink`) and items.
pub struct Page<'a> {
    pub head: &'a Map<String, Value>,
    pub items: &'a [ListedItem],
    pub clock: Clock,
    /// `$select`'s names, sorted and without repeats.
    pub select: Option<&'a BTreeSet<String>>,
}

/// A page of items shown as stored (relationship objects, deleted items, users and groups): for a
/// directory `kind`, what [`super::project`] shows of each; otherwise `$select`'s names alone.
pub struct PlainPage<'a> {
    pub head: &'a Map<String, Value>,
    pub items: &'a [&'a Map<String, Value>],
    pub kind: Option<Kind>,
    /// `$select`'s names, sorted and without repeats.
    pub select: Option<&'a BTreeSet<String>>,
}

impl Serialize for PlainPage<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        page_of(serializer, self.head, &PlainItems(self))
    }
}

/// A collection page: the head's `@odata` annotations, then `value`. The head's keys all start
/// with '@', which sorts before "value", so the page reads as a map in key order.
fn page_of<S: Serializer>(
    serializer: S,
    head: &Map<String, Value>,
    items: &impl Serialize,
) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(None)?;
    for (key, value) in head {
        map.serialize_entry(key, value)?;
    }
    map.serialize_entry("value", items)?;
    map.end()
}

struct PlainItems<'p, 'a>(&'p PlainPage<'a>);

impl Serialize for PlainItems<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let page = self.0;
        let names: Option<Vec<&str>> = match page.select {
            Some(names) => Some(names.iter().map(String::as_str).collect()),
            None => page.kind.and_then(default_names).map(<[&str]>::to_vec),
        };
        let hidden = page.kind.map(wire::select_only_properties).unwrap_or(&[]);
        let mut seq = serializer.serialize_seq(Some(page.items.len()))?;
        for body in page.items {
            seq.serialize_element(&Plain {
                body,
                names: names.as_deref(),
                hidden,
                // `project` keeps an `owners` property of the object besides the names.
                keep_owners: page.kind.is_some(),
            })?;
        }
        seq.end()
    }
}

struct Plain<'a> {
    body: &'a Map<String, Value>,
    names: Option<&'a [&'a str]>,
    hidden: &'a [&'a str],
    keep_owners: bool,
}

impl Serialize for Plain<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        match self.names {
            Some(names) => {
                let owners = self.body.get("owners").filter(|_| self.keep_owners);
                let mut owners_written = false;
                for &name in names {
                    if let Some(owners) = owners
                        && !owners_written
                        && name >= "owners"
                    {
                        map.serialize_entry("owners", owners)?;
                        owners_written = true;
                        if name == "owners" {
                            continue;
                        }
                    }
                    map.serialize_entry(name, self.body.get(name).unwrap_or(&Value::Null))?;
                }
                if let (false, Some(owners)) = (owners_written, owners) {
                    map.serialize_entry("owners", owners)?;
                }
            }
            None => {
                for (name, value) in self.body {
                    if !self.hidden.contains(&name.as_str()) {
                        map.serialize_entry(name, value)?;
                    }
                }
            }
        }
        map.end()
    }
}

/// The properties an object of `kind` shows, in key order, when `$select` names none: `None`
/// for every property but the select-only ones.
fn default_names(kind: Kind) -> Option<&'static [&'static str]> {
    static USER: OnceLock<Vec<&'static str>> = OnceLock::new();
    (kind == Kind::User).then(|| {
        USER.get_or_init(|| {
            let mut names = wire::USER_DEFAULT_PROPERTIES.to_vec();
            names.sort_unstable();
            names.dedup();
            names
        })
        .as_slice()
    })
}

impl Serialize for Page<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        page_of(serializer, self.head, &Items(self))
    }
}

struct Items<'p, 'a>(&'p Page<'a>);

impl Serialize for Items<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let page = self.0;
        let selected: Option<Vec<&str>> = page
            .select
            .map(|names| names.iter().map(String::as_str).collect());
        let mut seq = serializer.serialize_seq(Some(page.items.len()))?;
        for (record, owners) in page.items {
            seq.serialize_element(&Object {
                record,
                clock: page.clock,
                names: selected.as_deref().or_else(|| default_names(record.kind)),
                owners: owners.as_deref(),
                typed: false,
                context: None,
                show_key: false,
            })?;
        }
        seq.end()
    }
}

/// One directory object answered on its own (`GET /applications/{id}`): `@odata.context`, then
/// the object as [`super::view`] (single) and [`super::project`] show it.
pub struct Entity<'a> {
    pub context: &'a str,
    pub record: &'a Record,
    pub clock: Clock,
    /// `$select`'s names, sorted and without repeats.
    pub select: Option<&'a BTreeSet<String>>,
    pub owners: Option<&'a [Arc<Record>]>,
}

impl Serialize for Entity<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let selected: Option<Vec<&str>> = self
            .select
            .map(|names| names.iter().map(String::as_str).collect());
        Object {
            record: self.record,
            clock: self.clock,
            names: selected
                .as_deref()
                .or_else(|| default_names(self.record.kind)),
            owners: self.owners,
            typed: false,
            context: Some(self.context),
            show_key: self.select.is_some_and(|s| s.contains(KEY_CREDENTIALS)),
        }
        .serialize(serializer)
    }
}

/// One directory object as a collection shows it: [`super::render_listed`] then
/// [`super::project`], or with `typed`, [`super::directory_object_view_at`].
struct Object<'a> {
    record: &'a Record,
    clock: Clock,
    /// Exactly the properties shown, in key order (null when missing); `None` for every
    /// property but the select-only ones.
    names: Option<&'a [&'a str]>,
    /// Owners to expand (`$expand=owners`).
    owners: Option<&'a [Arc<Record>]>,
    /// Starts with `@odata.type` (objects inside a polymorphic collection).
    typed: bool,
    /// `@odata.context` of an object answered on its own.
    context: Option<&'a str>,
    /// Certificate bytes shown (a single-object read selecting keyCredentials).
    show_key: bool,
}

impl Object<'_> {
    /// A property as the view shows it: credentials still replicating left out, certificate
    /// bytes never in a collection.
    fn property<'v>(&'v self, name: &str, value: &'v Value) -> Property<'v> {
        match value {
            Value::Array(items) if name == PASSWORD_CREDENTIALS || name == KEY_CREDENTIALS => {
                Property::Credentials {
                    items,
                    record: self.record,
                    clock: self.clock,
                    hide_key: name == KEY_CREDENTIALS && !self.show_key,
                }
            }
            other => Property::Plain(other),
        }
    }
}

impl Serialize for Object<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if let Some(context) = self.context {
            map.serialize_entry("@odata.context", context)?;
        }
        if self.typed {
            map.serialize_entry("@odata.type", &wire::odata_type(self.record.kind))?;
        }
        let body = &self.record.body;
        let owners = self.owners.map(|owners| Owners {
            owners,
            clock: self.clock,
        });
        match self.names {
            // Exactly these names, null when the object lacks one.
            Some(names) => {
                let mut owners_written = false;
                for &name in names {
                    if name == "owners"
                        && let Some(owners) = &owners
                    {
                        map.serialize_entry(name, owners)?;
                        owners_written = true;
                        continue;
                    }
                    if let Some(owners) = &owners
                        && !owners_written
                        && name > "owners"
                    {
                        map.serialize_entry("owners", owners)?;
                        owners_written = true;
                    }
                    match body.get(name) {
                        Some(value) => map.serialize_entry(name, &self.property(name, value))?,
                        None => map.serialize_entry(name, &Value::Null)?,
                    }
                }
                if let (false, Some(owners)) = (owners_written, &owners) {
                    map.serialize_entry("owners", owners)?;
                }
            }
            // Every property but those only `$select` shows.
            None => {
                let hidden = wire::select_only_properties(self.record.kind);
                let mut owners_written = false;
                for (name, value) in body {
                    if hidden.contains(&name.as_str()) {
                        continue;
                    }
                    if let Some(owners) = &owners
                        && !owners_written
                        && name.as_str() >= "owners"
                    {
                        map.serialize_entry("owners", owners)?;
                        owners_written = true;
                        if name == "owners" {
                            continue;
                        }
                    }
                    map.serialize_entry(name, &self.property(name, value))?;
                }
                if let (false, Some(owners)) = (owners_written, &owners) {
                    map.serialize_entry("owners", owners)?;
                }
            }
        }
        map.end()
    }
}

enum Property<'v> {
    Plain(&'v Value),
    Credentials {
        items: &'v [Value],
        record: &'v Record,
        clock: Clock,
        hide_key: bool,
    },
}

impl Serialize for Property<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (items, record, clock, hide_key) = match self {
            Property::Plain(value) => return value.serialize(serializer),
            Property::Credentials {
                items,
                record,
                clock,
                hide_key,
            } => (*items, *record, *clock, *hide_key),
        };
        let visible = |item: &&Value| super::credential_visible(item, record, clock);
        let mut seq = serializer.serialize_seq(None)?;
        for item in items.iter().filter(visible) {
            match item {
                Value::Object(fields) if hide_key => seq.serialize_element(&KeyHidden(fields))?,
                other => seq.serialize_element(other)?,
            }
        }
        seq.end()
    }
}

/// A key credential with its `key` bytes shown as null.
struct KeyHidden<'v>(&'v Map<String, Value>);

impl Serialize for KeyHidden<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        let mut written = false;
        for (name, value) in self.0 {
            if !written && name.as_str() >= "key" {
                map.serialize_entry("key", &Value::Null)?;
                written = true;
                if name == "key" {
                    continue;
                }
            }
            map.serialize_entry(name, value)?;
        }
        if !written {
            map.serialize_entry("key", &Value::Null)?;
        }
        map.end()
    }
}

/// Expanded owners: each as a directory object with its type and default properties.
struct Owners<'a> {
    owners: &'a [Arc<Record>],
    clock: Clock,
}

impl Serialize for Owners<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.owners.len()))?;
        for owner in self.owners {
            seq.serialize_element(&Object {
                record: owner,
                clock: self.clock,
                names: default_names(owner.kind),
                owners: None,
                typed: true,
                context: None,
                show_key: false,
            })?;
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use uuid::Uuid;

    use super::*;
    use crate::emulator::odata::QueryOptions;
    use crate::emulator::routes::{check_select, directory_object_view_at, project, view};

    const NOW: i64 = 1_000_000;

    fn record(kind: Kind, body: Map<String, Value>) -> Arc<Record> {
        Arc::new(Record::new(kind, body, 0))
    }

    /// A clock whose replication lag (100 ms) still hides a secret added 10 ms ago.
    fn lagging() -> Clock {
        Clock {
            now_ms: NOW,
            lag_ms: 100,
        }
    }

    fn ada() -> Arc<Record> {
        record(
            Kind::User,
            wire::user(Uuid::from_u128(1), "Ada", "Ada", "L", "ada@contoso.test", 0),
        )
    }

    fn ops() -> Arc<Record> {
        record(
            Kind::Group,
            wire::group(Uuid::from_u128(4), "ops", "ops", "", 0),
        )
    }

    /// An application with a visible and a still-replicating secret, two certificates (one with
    /// its bytes stored, one without a `key` property at all) and a select-only property.
    fn application() -> Arc<Record> {
        let mut body = wire::application(Uuid::from_u128(7), Uuid::from_u128(8), "x", None, 0);
        body.insert("displayName".into(), json!("billing"));
        body.insert("tags".into(), json!(["appreg:managed", "team:payments"]));
        body.insert(
            "passwordCredentials".into(),
            json!([
                {"keyId": "old", "displayName": "a", "secretText": null},
                {"keyId": "new", "displayName": "b", "secretText": null}
            ]),
        );
        body.insert(
            "keyCredentials".into(),
            json!([
                {"keyId": "cert1", "key": "QUJD", "type": "AsymmetricX509Cert"},
                {"displayName": "no key field", "keyId": "cert2"}
            ]),
        );
        body.insert("authenticationBehaviors".into(), json!({"x": true}));
        let mut app = Record::new(Kind::Application, body, 0);
        app.credential_added_ms.insert("old".into(), 0);
        app.credential_added_ms.insert("new".into(), NOW - 10);
        Arc::new(app)
    }

    /// What a page held before it was written straight to bytes: each item viewed, its owners
    /// expanded, then projected, all as JSON values.
    fn built(
        clock: Clock,
        head: &Map<String, Value>,
        items: &[ListedItem],
        query: &QueryOptions,
    ) -> String {
        let value: Vec<Value> = items
            .iter()
            .map(|(record, owners)| {
                let mut object = view(clock, record, false, query);
                if let Some(owners) = owners {
                    let owners = owners
                        .iter()
                        .map(|owner| Value::Object(directory_object_view_at(clock, owner)))
                        .collect();
                    object.insert("owners".into(), Value::Array(owners));
                }
                Value::Object(project(record.kind, object, query.select.as_deref()).unwrap())
            })
            .collect();
        let mut page = head.clone();
        page.insert("value".into(), Value::Array(value));
        Value::Object(page).to_string()
    }

    fn written(
        clock: Clock,
        head: &Map<String, Value>,
        items: &[ListedItem],
        query: &QueryOptions,
    ) -> String {
        let select: Option<BTreeSet<String>> =
            query.select.as_ref().map(|n| n.iter().cloned().collect());
        let page = Page {
            head,
            items,
            clock,
            select: select.as_ref(),
        };
        String::from_utf8(serde_json::to_vec(&page).unwrap()).unwrap()
    }

    #[test]
    fn pages_written_from_records_equal_pages_built_as_values() {
        // Lag 100 ms: the secret added 10 ms ago is still replicating.
        let clock = lagging();
        let user = ada();
        let owner_sp = record(
            Kind::ServicePrincipal,
            wire::service_principal(Uuid::from_u128(2), "app", Uuid::from_u128(3), None),
        );
        let group = ops();
        let app = application();
        let mut head = Map::new();
        head.insert("@odata.context".into(), json!("https://g/v1.0/$metadata#x"));
        head.insert(
            "@odata.nextLink".into(),
            json!("https://g/v1.0/x?$skiptoken=a"),
        );
        let selects: [Option<&[&str]>; 6] = [
            None,
            Some(&["id"]),
            Some(&["keyCredentials", "displayName", "id", "displayName"]),
            Some(&["owners", "appId", "tags", "passwordCredentials"]),
            Some(&["web", "authenticationBehaviors"]),
            Some(&["accountEnabled", "userPrincipalName"]),
        ];
        let pages: Vec<Vec<ListedItem>> = vec![
            vec![],
            vec![(app.clone(), None)],
            vec![
                (app.clone(), Some(vec![user.clone(), owner_sp.clone()])),
                (app.clone(), Some(vec![])),
            ],
            vec![(owner_sp.clone(), Some(vec![user.clone()]))],
            vec![(user.clone(), None), (user.clone(), Some(vec![owner_sp]))],
            vec![(group, None)],
        ];
        let mut compared = 0;
        for select in selects {
            for items in &pages {
                let query = QueryOptions {
                    select: select.map(|s| s.iter().map(|n| n.to_string()).collect()),
                    ..QueryOptions::default()
                };
                // A name the kind lacks is refused before anything is written.
                if let Some(names) = &query.select
                    && items
                        .iter()
                        .any(|(r, _)| check_select(r.kind, names).is_err())
                {
                    continue;
                }
                assert_eq!(
                    written(clock, &head, items, &query),
                    built(clock, &head, items, &query),
                    "$select {select:?}"
                );
                compared += 1;
            }
        }
        assert!(compared >= 20, "only {compared} pages compared");
    }

    #[test]
    fn objects_written_from_records_equal_objects_built_as_values() {
        let clock = lagging();
        let user = ada();
        let app = application();
        let context = "https://g/v1.0/$metadata#applications/$entity";
        let selects: [Option<&[&str]>; 4] = [
            None,
            Some(&["keyCredentials", "id"]),
            Some(&["passwordCredentials", "owners", "displayName"]),
            Some(&["authenticationBehaviors"]),
        ];
        for select in selects {
            for owners in [None, Some(vec![user.clone()])] {
                let query = QueryOptions {
                    select: select.map(|s| s.iter().map(|n| n.to_string()).collect()),
                    ..QueryOptions::default()
                };
                let mut object = view(clock, &app, true, &query);
                if let Some(owners) = &owners {
                    let owners = owners
                        .iter()
                        .map(|owner| Value::Object(directory_object_view_at(clock, owner)))
                        .collect();
                    object.insert("owners".into(), Value::Array(owners));
                }
                let mut built = Map::new();
                built.insert("@odata.context".into(), json!(context));
                built.extend(project(Kind::Application, object, query.select.as_deref()).unwrap());
                let names: Option<BTreeSet<String>> =
                    query.select.as_ref().map(|n| n.iter().cloned().collect());
                let entity = Entity {
                    context,
                    record: &app,
                    clock,
                    select: names.as_ref(),
                    owners: owners.as_deref(),
                };
                assert_eq!(
                    serde_json::to_string(&entity).unwrap(),
                    Value::Object(built).to_string(),
                    "$select {select:?}"
                );
            }
        }
    }

    /// A user's or a group's single read: the written object is the one `view` and `project`
    /// build, with the user's default property set when nothing is selected.
    #[test]
    fn users_and_groups_written_from_records_equal_values() {
        let clock = lagging();
        let user = ada();
        let group = ops();
        let context = "https://g/v1.0/$metadata#x/$entity";
        let selects: [Option<&[&str]>; 3] = [
            None,
            Some(&["id", "displayName"]),
            Some(&["userPrincipalName", "accountEnabled"]),
        ];
        let mut checked = 0;
        for record in [&user, &group] {
            for select in selects {
                let query = QueryOptions {
                    select: select.map(|s| s.iter().map(|n| n.to_string()).collect()),
                    ..QueryOptions::default()
                };
                // A name the kind does not have is refused before anything is written.
                let Ok(projected) = project(
                    record.kind,
                    view(clock, record, true, &query),
                    query.select.as_deref(),
                ) else {
                    continue;
                };
                let mut built = Map::new();
                built.insert("@odata.context".into(), json!(context));
                built.extend(projected);
                let names: Option<BTreeSet<String>> =
                    query.select.as_ref().map(|n| n.iter().cloned().collect());
                let entity = Entity {
                    context,
                    record,
                    clock,
                    select: names.as_ref(),
                    owners: None,
                };
                assert_eq!(
                    serde_json::to_string(&entity).unwrap(),
                    Value::Object(built).to_string(),
                    "{:?} $select {select:?}",
                    record.kind
                );
                checked += 1;
            }
        }
        assert!(checked >= 5, "only {checked} cases compared");
    }

    #[test]
    fn plain_pages_equal_pages_built_item_by_item() {
        let user = wire::user(Uuid::from_u128(1), "Ada", "Ada", "L", "ada@contoso.test", 0);
        let mut app = application().body.clone();
        app.insert("owners".into(), json!(["someone"]));
        let grant = json!({"clientId": "c", "consentType": "AllPrincipals", "id": "g1", "scope": "User.Read"});
        let grant = grant.as_object().unwrap().clone();
        let mut head = Map::new();
        head.insert("@odata.context".into(), json!("https://g/v1.0/$metadata#x"));
        let cases: [(Option<Kind>, &Map<String, Value>); 3] = [
            (None, &grant),
            (Some(Kind::User), &user),
            (Some(Kind::Application), &app),
        ];
        let selects: [Option<&[&str]>; 4] = [
            None,
            Some(&["id", "scope", "id"]),
            Some(&["displayName", "owners"]),
            Some(&["tags", "id"]),
        ];
        let mut compared = 0;
        for (kind, body) in cases {
            for select in selects {
                let select: Option<Vec<String>> =
                    select.map(|s| s.iter().map(|n| n.to_string()).collect());
                let items = [body, body];
                let built: Result<Vec<Value>, _> = items
                    .iter()
                    .map(|b| super::super::finish_item(kind, select.as_deref(), (*b).clone()))
                    .collect();
                let Ok(built) = built else {
                    continue;
                };
                let built = super::super::with_value(head.clone(), built).to_string();
                let names: Option<BTreeSet<String>> =
                    select.as_ref().map(|n| n.iter().cloned().collect());
                let page = PlainPage {
                    head: &head,
                    items: &items,
                    kind,
                    select: names.as_ref(),
                };
                assert_eq!(
                    serde_json::to_string(&page).unwrap(),
                    built,
                    "{kind:?} {select:?}"
                );
                compared += 1;
            }
        }
        assert!(compared >= 9, "only {compared} pages compared");
    }

    #[test]
    fn collections_hide_certificate_bytes_and_secrets_still_replicating() {
        let clock = lagging();
        let page = written(
            clock,
            &Map::new(),
            &[(application(), None)],
            &QueryOptions::default(),
        );
        let page: Value = serde_json::from_str(&page).unwrap();
        let app = &page["value"][0];
        assert_eq!(app["keyCredentials"][0]["key"], Value::Null);
        assert_eq!(app["keyCredentials"][1]["key"], Value::Null);
        let secrets: Vec<&str> = app["passwordCredentials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["keyId"].as_str().unwrap())
            .collect();
        assert_eq!(secrets, ["old"]);
        assert!(app.get("authenticationBehaviors").is_none());
    }
}
