//! Observation: read everything the manifest names from the tenant, in as few round trips as Graph
//! allows, and never write.
//!
//! Round 1 (concurrently): the set's applications (one filtered list with owners expanded), the set's
//! service principals (one filtered list), the permission resources (`appId in (...)`, 15 per query),
//! and the users, groups and owner service principals the manifest names (one `$batch` per 20).
//! Round 2: apps the tag filter did not find (new apps, adopted apps) by uniqueName and, for an
//! entry that adopts, by appId as well, and their service principals, batched. Observation finds;
//! it does not decide whose an app is: `ownership` does, from what is found here. Round 3: per-app sub-objects (grants, app role assignments both
//! ways, federated credentials, and the collections a kind asks for through `ResourceKind::reads`),
//! batched 20 to a round trip.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::StreamExt;
use serde_json::Value;

use super::EngineError;
use super::kinds::{self, DirectoryName, KINDS};
use super::observed::{Observed, ObservedApp, Packed, SecretPolicy, str_of};
use super::ownership;
use super::resolve::{ResourceApi, ResourceRef};
use crate::credentials::{CertificateFile, Holding, Sinks};
use crate::graph::{GraphClient, Request, odata};
use crate::model::{self, DesiredState};

/// Properties read for resource service principals.
pub(super) const RESOURCE_SELECT: &str = "id,appId,displayName,appRoles,oauth2PermissionScopes";
pub(super) const SP_SELECT: &str =
    "id,appId,displayName,accountEnabled,appRoleAssignmentRequired,tags,notificationEmailAddresses";
/// Properties read for the manifest's applications: what the kinds compare, what ownership,
/// secrets, certificates, retirements and outputs read, and the ids. An application object has
/// some 60 properties; holding only these keeps observation of 10,000 apps small. A property a
/// kind reads that is missing here hides drift: `unselected_properties_never_change_a_plan`
/// (tests/engine.rs) changes every other property of a live app and checks the plan stays.
pub const APPLICATION_SELECT: &str = "id,appId,uniqueName,displayName,createdDateTime,\
signInAudience,isFallbackPublicClient,groupMembershipClaims,description,notes,tags,\
identifierUris,appRoles,optionalClaims,info,requiredResourceAccess,api,web,spa,publicClient,\
keyCredentials,passwordCredentials";
/// `in` accepts at most 15 values (GRAPH.md).
pub(super) const IN_LIMIT: usize = 15;

pub async fn observe(
    client: &GraphClient,
    state: &DesiredState,
    tenant_id: &str,
) -> Result<Observed, EngineError> {
    let set_filter = format!(
        "tags/any(t:t eq {})",
        odata::quote(&model::set_tag(&state.set_name))
    );
    let apps_query = Request::get("/applications")
        .query("$filter", &set_filter)
        .query("$select", APPLICATION_SELECT)
        .query("$expand", "owners")
        .query("$top", "999");
    let sps_query = Request::get("/servicePrincipals")
        .query("$filter", &set_filter)
        .query("$select", SP_SELECT)
        .query("$top", "999");
    let (apps, sps, resources, principals, secret_policy) = tokio::join!(
        client.list::<Listed>(apps_query),
        client.list::<Listed>(sps_query),
        resources(client, state),
        principals(client, state),
        secret_policy(client, state),
    );
    let (apps, sps) = (apps?, sps?);
    let mut observed = Observed {
        tenant_id: tenant_id.to_string(),
        resources: resources?,
        secret_policy: secret_policy?,
        ..Default::default()
    };
    let (users, groups, owner_sps) = principals?;
    observed.users = users;
    observed.groups = groups;
    observed.owner_service_principals = owner_sps;

    // The listed apps are held once, packed; the maps point into `listed`, and each app leaves
    // it with the entry that uses it last.
    let mut listed: Vec<Option<Listed>> = apps.into_iter().map(Some).collect();
    let mut by_unique: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_app_id: BTreeMap<String, usize> = BTreeMap::new();
    for (i, app) in listed.iter().enumerate() {
        let Some(app) = app else { continue };
        if let Some(app_id) = &app.app_id {
            by_app_id.insert(app_id.clone(), i);
        }
        if let Some(name) = &app.unique_name {
            by_unique.insert(name.clone(), i);
        }
    }
    let mut sp_by_app_id: BTreeMap<String, Listed> = sps
        .into_iter()
        .filter_map(|sp| Some((sp.app_id.clone()?, sp)))
        .collect();

    // Round 2: apps of the manifest the set filter did not return, by uniqueName and, for an
    // entry that adopts, by appId too: the planner must see both to refuse a takeover the
    // manifest did not ask for (see `ownership`).
    // Names the set filter did not return are asked 15 to a filtered list (`uniqueName in`), so
    // an apply of new apps spends N/300 round trips here, not one item per app.
    let unnamed: Vec<(&str, String)> = state
        .apps
        .values()
        .map(|app| (app.key.as_str(), app.unique_name.to_lowercase()))
        .filter(|(_, name)| !by_unique.contains_key(name))
        .collect();
    let name_queries: Vec<Request> = unnamed
        .chunks(IN_LIMIT)
        .map(|chunk| {
            let list = chunk
                .iter()
                .map(|(_, name)| odata::quote(name))
                .collect::<Vec<_>>()
                .join(",");
            Request::get("/applications")
                .query("$filter", format!("uniqueName in ({list})"))
                .query("$select", APPLICATION_SELECT)
                .query("$expand", "owners")
        })
        .collect();
    let mut named_late: BTreeMap<String, Listed> = BTreeMap::new();
    for answer in client.batch(name_queries).await {
        for app in collection(answer?.body).into_iter().map(Listed::from) {
            if let Some(name) = app.unique_name.clone() {
                named_late.insert(name, app);
            }
        }
    }
    let mut found_late: BTreeMap<(String, Lookup), Listed> = BTreeMap::new();
    for (key, name) in &unnamed {
        if let Some(app) = named_late.get(name).cloned() {
            found_late.insert((key.to_string(), Lookup::UniqueName), app);
        }
    }
    let mut missing = Vec::new();
    for app in state.apps.values() {
        if let Some(adopt) = &app.adopt
            && !by_app_id.contains_key(&adopt.app_id.to_string())
        {
            let path = format!(
                "/applications(appId={})",
                odata::key(&adopt.app_id.to_string())
            );
            missing.push((
                app.key.clone(),
                Lookup::AppId,
                Request::get(&path)
                    .query("$select", APPLICATION_SELECT)
                    .query("$expand", "owners"),
            ));
        }
    }
    let answers = client
        .batch(missing.iter().map(|(_, _, r)| r.clone()).collect())
        .await;
    for ((key, lookup, _), answer) in missing.iter().zip(answers) {
        if let Some(app) = optional(answer)? {
            found_late.insert((key.clone(), *lookup), Listed::from(app));
        }
    }
    let sp_requests: Vec<Request> = found_late
        .values()
        .filter_map(|app| app.app_id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|app_id| !sp_by_app_id.contains_key(app_id))
        .map(|app_id| {
            Request::get(format!("/servicePrincipals(appId={})", odata::key(&app_id)))
                .query("$select", SP_SELECT)
        })
        .collect();
    for answer in client.batch(sp_requests).await {
        if let Some(sp) = optional(answer)?.map(Listed::from)
            && let Some(app_id) = sp.app_id.clone()
        {
            sp_by_app_id.insert(app_id, sp);
        }
    }

    // Which object each entry sees (live) and which holds its uniqueName when it adopts another.
    let object = |found: &Found| -> Option<&Listed> {
        match found {
            Found::Listed(i) => listed[*i].as_ref(),
            Found::Late(key) => found_late.get(key),
        }
    };
    let mut claimed = BTreeSet::new();
    let mut uses = vec![0usize; listed.len()];
    let mut picks = Vec::new();
    for app in state.apps.values() {
        let late = |lookup| {
            let key = (app.key.clone(), lookup);
            found_late.contains_key(&key).then_some(Found::Late(key))
        };
        let named = by_unique
            .get(&app.unique_name.to_lowercase())
            .map(|i| Found::Listed(*i))
            .or_else(|| late(Lookup::UniqueName));
        let adopted = app.adopt.as_ref().and_then(|a| {
            by_app_id
                .get(&a.app_id.to_string())
                .map(|i| Found::Listed(*i))
                .or_else(|| late(Lookup::AppId))
        });
        let id = |found: &Option<Found>| found.as_ref().and_then(&object)?.id.clone();
        let holder = match (&adopted, &named) {
            (Some(_), Some(_)) if id(&adopted) != id(&named) => named.clone(),
            _ => None,
        };
        let live = adopted.or(named);
        for found in live.iter().chain(&holder) {
            if let Some(id) = object(found).and_then(|o| o.id.clone()) {
                claimed.insert(id);
            }
            if let Found::Listed(i) = found {
                uses[*i] += 1;
            }
        }
        picks.push((app.key.clone(), live, holder));
    }
    // Prune candidates are this set's by the exact ownership tags: Graph's tag filter folds case
    // (`appreg:set=Finance` answers for set `finance`), and the set tag alone (typed by hand, or
    // copied with the portal's manifest) does not make an app appreg's to delete (DESIGN.md 3).
    // No entry uses them, so they move out of `listed`.
    for slot in listed.iter_mut() {
        let Some(id) = slot.as_ref().and_then(|a| a.id.clone()) else {
            continue;
        };
        if claimed.contains(&id) {
            continue;
        }
        if let Some(app) = slot.as_ref().map(|a| a.object.open())
            && ownership::is_this_sets(&app, &state.set_name)
        {
            claimed.insert(id);
            observed.strays.push(app);
            *slot = None;
        }
    }
    for (key, live, holder) in picks {
        let mut take = |found: Found| -> Option<Value> {
            match found {
                Found::Listed(i) => {
                    uses[i] -= 1;
                    let app = listed[i].as_ref().map(|a| a.object.open());
                    if uses[i] == 0 {
                        listed[i] = None;
                    }
                    app
                }
                Found::Late(key) => found_late.get(&key).map(|a| a.object.open()),
            }
        };
        let mut entry = ObservedApp {
            unique_name_holder: holder.and_then(&mut take),
            ..ObservedApp::default()
        };
        if let Some(mut live) = live.and_then(&mut take) {
            // Owners are kept apart; the application object need not hold a second copy.
            entry.owners = match live.as_object_mut().and_then(|o| o.remove("owners")) {
                Some(Value::Array(owners)) => owners.into_iter().map(owner_reference).collect(),
                _ => Vec::new(),
            };
            entry.service_principal = str_of(&live, "appId")
                .and_then(|a| sp_by_app_id.get(&a.to_lowercase()))
                .map(|sp| sp.object.open());
            entry.application = Some(live);
        }
        observed.apps.insert(key, entry);
    }

    sub_objects(client, &mut observed, true, |key, app| {
        state
            .apps
            .get(key)
            .map(|desired| KINDS.iter().flat_map(|k| k.reads(desired, app)).collect())
            .unwrap_or_default()
    })
    .await?;
    Ok(observed)
}

/// What planning reads of an owner (`ObservedApp::owners`): an expanded owner is a whole user or
/// service principal, some 30 properties, and the app that creates an app is its owner.
/// (`$expand=owners($select=…)` would spare the bytes, but Graph and the sandbox differ on it.)
fn owner_reference(owner: Value) -> Value {
    only(owner, &["@odata.type", "id", "userPrincipalName", "appId"])
}

/// `object` with only the properties `keys` (a value that is not an object stays as it is).
fn only(object: Value, keys: &[&str]) -> Value {
    match object {
        Value::Object(mut all) => {
            Value::Object(keys.iter().filter_map(|k| all.remove_entry(*k)).collect())
        }
        other => other,
    }
}

/// What planning, import and outputs read of an appRoleAssignment: held 4 to an app at scale,
/// its dates and the resource's display name are a third of it.
const ASSIGNMENT_READ: [&str; 6] = [
    "id",
    "appRoleId",
    "principalId",
    "principalType",
    "principalDisplayName",
    "resourceId",
];

fn assignment(assignment: Value) -> Value {
    only(assignment, &ASSIGNMENT_READ)
}

/// An object as a list gave it: the keys observation matches it by, and the object packed. Each
/// is packed as its page is read, so 10,000 listed applications are held as text, not as 10,000
/// trees of maps (a page's trees go with the page).
#[derive(Debug, Clone)]
struct Listed {
    id: Option<String>,
    /// Lower-cased.
    app_id: Option<String>,
    /// Lower-cased.
    unique_name: Option<String>,
    object: Packed<Value>,
}

impl From<Value> for Listed {
    fn from(object: Value) -> Listed {
        let lower = |key| str_of(&object, key).map(str::to_lowercase);
        Listed {
            id: str_of(&object, "id").map(str::to_string),
            app_id: lower("appId"),
            unique_name: lower("uniqueName"),
            object: Packed::pack(&object),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Listed {
    fn deserialize<D: serde::Deserializer<'de>>(from: D) -> Result<Listed, D::Error> {
        Value::deserialize(from).map(Listed::from)
    }
}

/// Where observation found an app: in the set's list, or by a lookup of round 2.
#[derive(Debug, Clone)]
enum Found {
    Listed(usize),
    Late((String, Lookup)),
}

/// How round 2 looked an app up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Lookup {
    UniqueName,
    AppId,
}

/// A batch answer for a single object: Some(body) on 200, None on 404.
fn optional(
    answer: Result<crate::graph::Response, crate::graph::GraphError>,
) -> Result<Option<Value>, EngineError> {
    match answer {
        Ok(response) => Ok(response.body),
        Err(e) if e.status() == Some(404) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Resource APIs by the name the manifest wrote, each read once.
async fn resources(
    client: &GraphClient,
    state: &DesiredState,
) -> Result<BTreeMap<String, ResourceApi>, EngineError> {
    let written: BTreeSet<&str> = state
        .apps
        .values()
        .flat_map(|a| a.permissions.keys().map(String::as_str))
        .collect();
    let mut by_app_id: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let mut by_name: Vec<&str> = Vec::new();
    for name in written {
        match ResourceRef::parse(name) {
            ResourceRef::AppId(id) => by_app_id.entry(id.to_string()).or_default().push(name),
            ResourceRef::DisplayName(_) => by_name.push(name),
        }
    }
    let app_ids: Vec<&String> = by_app_id.keys().collect();
    let mut requests: Vec<Request> = app_ids
        .chunks(IN_LIMIT)
        .map(|chunk| {
            let list = chunk
                .iter()
                .map(|id| odata::quote(id))
                .collect::<Vec<_>>()
                .join(",");
            Request::get("/servicePrincipals")
                .query("$filter", format!("appId in ({list})"))
                .query("$select", RESOURCE_SELECT)
        })
        .collect();
    requests.extend(by_name.iter().map(|name| {
        Request::get("/servicePrincipals")
            .query("$filter", format!("displayName eq {}", odata::quote(name)))
            .query("$select", RESOURCE_SELECT)
    }));
    let answers = client.batch(requests).await;
    let mut out = BTreeMap::new();
    let mut problems = Vec::new();
    let name_answers = answers.len() - by_name.len();
    for (i, answer) in answers.into_iter().enumerate() {
        let items = collection(answer?.body);
        if i < name_answers {
            for sp in &items {
                let Some(api) = ResourceApi::from_service_principal(sp) else {
                    continue;
                };
                for name in by_app_id.get(&api.app_id.to_string()).into_iter().flatten() {
                    out.insert(name.to_string(), api.clone());
                }
            }
        } else {
            let name = by_name[i - name_answers];
            match items.as_slice() {
                [sp] => {
                    if let Some(api) = ResourceApi::from_service_principal(sp) {
                        out.insert(name.to_string(), api);
                    }
                }
                [] => {}
                several => {
                    let ids: Vec<&str> =
                        several.iter().filter_map(|s| str_of(s, "appId")).collect();
                    problems.push(format!("several service principals are named `{name}` (appIds {}); name the resource by appId", ids.join(", ")));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(EngineError::Ambiguous(problems))
    }
}

pub(super) fn collection(body: Option<Value>) -> Vec<Value> {
    match body {
        Some(Value::Object(mut page)) => match page.remove("value") {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

type Principals = (
    BTreeMap<String, Option<Value>>,
    BTreeMap<String, Vec<Value>>,
    BTreeMap<String, Option<Value>>,
);

/// Users, groups and owner service principals the manifest names.
async fn principals(client: &GraphClient, state: &DesiredState) -> Result<Principals, EngineError> {
    let mut users = BTreeSet::new();
    let mut groups = BTreeSet::new();
    let mut owner_apps = BTreeSet::new();
    for name in kinds::directory_names(state) {
        match name {
            DirectoryName::User(upn) => users.insert(upn.to_lowercase()),
            DirectoryName::Group(name) => groups.insert(name),
            DirectoryName::ServicePrincipal(app_id) => owner_apps.insert(app_id),
        };
    }
    let users: Vec<String> = users.into_iter().collect();
    let groups: Vec<String> = groups.into_iter().collect();
    let owner_apps: Vec<String> = owner_apps.into_iter().collect();
    let mut requests: Vec<Request> = users
        .iter()
        .map(|upn| {
            Request::get(format!("/users/{}", crate::graph::path_segment(upn)))
                .query("$select", "id,userPrincipalName,displayName")
        })
        .collect();
    requests.extend(groups.iter().map(|name| {
        match uuid::Uuid::parse_str(name) {
            Ok(id) => Request::get("/groups")
                .query(
                    "$filter",
                    format!("id eq {}", odata::quote(&id.to_string())),
                )
                .query("$select", "id,displayName"),
            Err(_) => Request::get("/groups")
                .query("$filter", format!("displayName eq {}", odata::quote(name)))
                .query("$select", "id,displayName"),
        }
    }));
    requests.extend(owner_apps.iter().map(|app_id| {
        Request::get(format!("/servicePrincipals(appId={})", odata::key(app_id)))
            .query("$select", "id,appId,displayName")
    }));
    let mut answers = client.batch(requests).await.into_iter();
    let mut user_map = BTreeMap::new();
    for upn in users {
        user_map.insert(
            upn,
            optional(
                answers
                    .next()
                    .ok_or(EngineError::Internal("batch answer missing"))?,
            )?,
        );
    }
    let mut group_map = BTreeMap::new();
    for name in groups {
        let answer = answers
            .next()
            .ok_or(EngineError::Internal("batch answer missing"))?;
        group_map.insert(name, collection(answer?.body));
    }
    let mut owner_map = BTreeMap::new();
    for app_id in owner_apps {
        owner_map.insert(
            app_id,
            optional(
                answers
                    .next()
                    .ok_or(EngineError::Internal("batch answer missing"))?,
            )?,
        );
    }
    Ok((user_map, group_map, owner_map))
}

/// The password-lifetime limit of the tenant's default app-management policy, read only when the
/// manifest declares secrets. Reading it needs Policy.Read.All: without it the limit is unknown
/// (Graph still refuses a too-long secret at apply time) and the run goes on.
async fn secret_policy(
    client: &GraphClient,
    state: &DesiredState,
) -> Result<Option<SecretPolicy>, EngineError> {
    if state.apps.values().all(|a| a.secrets.is_empty()) {
        return Ok(None);
    }
    let policy = match client
        .get_optional::<Value>(Request::get("/policies/defaultAppManagementPolicy"))
        .await
    {
        Ok(policy) => policy,
        Err(e) if matches!(e.status(), Some(401 | 403)) => {
            tracing::warn!(
                "cannot read the tenant's app-management policy ({e}); secret lifetimes are checked by Graph at apply time"
            );
            None
        }
        Err(e) => return Err(e.into()),
    };
    Ok(policy.and_then(|p| parse_secret_policy(&p)))
}

/// The enabled `passwordLifetime` restriction of a tenantAppManagementPolicy.
pub fn parse_secret_policy(policy: &Value) -> Option<SecretPolicy> {
    if policy.get("isEnabled").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    policy
        .pointer("/applicationRestrictions/passwordCredentials")?
        .as_array()?
        .iter()
        .filter(|r| str_of(r, "restrictionType") == Some("passwordLifetime"))
        .find_map(|r| {
            let written = str_of(r, "maxLifetime")?;
            Some(SecretPolicy {
                max_lifetime: written.to_string(),
                max: model::Period::parse(written).ok()?,
                applies_after: str_of(r, "restrictForAppsCreatedAfterDateTime")
                    .and_then(|t| t.parse().ok()),
            })
        })
}

/// What lives outside the tenant: what each secret's sink holds and the certificate files. Sinks
/// are read only for apps that exist (a new app has nothing to hold yet).
pub async fn local(
    sinks: &Sinks,
    state: &DesiredState,
    observed: &mut Observed,
) -> Result<(), EngineError> {
    let tenant_id = observed.tenant_id.clone();
    let mut reads = Vec::new();
    for app in state.apps.values() {
        for certificate in &app.certificates {
            let path = certificate.file.resolved();
            let file = certificate.file.clone();
            let read = tokio::task::spawn_blocking(move || CertificateFile::read(&file))
                .await
                .unwrap_or_else(|e| Err(format!("reading a certificate: {e}")));
            observed.certificate_files.insert(path, read);
        }
        if !app.secrets.iter().any(|s| s.sink.is_some()) {
            continue;
        }
        let Some(app_id) = observed
            .apps
            .get(&app.key)
            .and_then(|o| o.application)
            .and_then(|a| str_of(&a, "appId").map(str::to_lowercase))
        else {
            continue;
        };
        // A secret without a sink holds nothing anywhere: it is kept, never rotated.
        for secret in app.secrets.iter().filter(|s| s.sink.is_some()) {
            let (key, name, app_id, tenant_id) = (
                app.key.clone(),
                secret.name.clone(),
                app_id.clone(),
                tenant_id.clone(),
            );
            reads.push(async move {
                let holding = match &secret.sink {
                    Some(sink) => sinks.holding(sink, &tenant_id, &app_id).await,
                    None => Ok(Holding::WriteOnly),
                };
                (key, name, holding)
            });
        }
    }
    let mut problems = Vec::new();
    for (key, name, holding) in futures_util::future::join_all(reads).await {
        match holding {
            Ok(holding) => {
                if let Some(holdings) = observed.apps.holdings_mut(&key) {
                    holdings.insert(name, holding);
                }
            }
            Err(e) => problems.push(format!("app.{key}.secret.{name}: {e}")),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(EngineError::Sinks(problems))
    }
}

/// Round 3: grants, app role assignments (held and granted), federated credentials and
/// certificate keys per app.
/// `reads` names the collections kinds ask for, per app key. Without `grants_per_app` the
/// caller reads the grants another way (import lists the tenant's once for many apps).
pub(super) async fn sub_objects(
    client: &GraphClient,
    observed: &mut Observed,
    grants_per_app: bool,
    reads: impl Fn(&str, &ObservedApp) -> Vec<String>,
) -> Result<(), EngineError> {
    let mut requests = Vec::new();
    let mut slots = Vec::new();
    for (key, app) in observed.apps.iter() {
        if let Some(application) = app.application.as_ref()
            && let Some(id) = str_of(application, "id")
        {
            requests.push(Request::get(format!(
                "/applications/{id}/federatedIdentityCredentials"
            )));
            slots.push((key.clone(), Slot::Federated));
            // Graph returns a keyCredential's `key` only when keyCredentials is selected by name;
            // replacing the collection needs the keys of the certificates that stay.
            let has_keys = application
                .get("keyCredentials")
                .and_then(Value::as_array)
                .is_some_and(|k| !k.is_empty());
            if has_keys {
                requests.push(
                    Request::get(format!("/applications/{id}")).query("$select", "keyCredentials"),
                );
                slots.push((key.clone(), Slot::Keys));
            }
        }
        for path in reads(key, &app) {
            requests.push(Request::get(path.clone()));
            slots.push((key.clone(), Slot::Collection(path)));
        }
        if let Some(sp) = app.service_principal.as_ref().and_then(|s| str_of(s, "id")) {
            if grants_per_app {
                requests.push(
                    Request::get("/oauth2PermissionGrants")
                        .query("$filter", format!("clientId eq {}", odata::quote(sp))),
                );
                slots.push((key.clone(), Slot::Grants));
            }
            requests.push(Request::get(format!(
                "/servicePrincipals/{sp}/appRoleAssignments"
            )));
            slots.push((key.clone(), Slot::Held));
            requests.push(Request::get(format!(
                "/servicePrincipals/{sp}/appRoleAssignedTo"
            )));
            slots.push((key.clone(), Slot::Granted));
        }
    }
    // Answers are taken in windows, two in flight at a time, so the raw responses held at once
    // are a window's, not every app's (at 10,000 apps they were as large as the observation).
    let mut windows = futures_util::stream::iter(chunked(requests, SUB_OBJECT_WINDOW))
        .map(|window| client.batch(window))
        .buffered(2);
    let mut slots = slots.into_iter();
    // An app's requests were made together, so its answers come together: it is opened at the
    // first and packed again after the last.
    let mut open: Option<(String, ObservedApp)> = None;
    while let Some(answers) = windows.next().await {
        for (answer, (key, slot)) in answers.into_iter().zip(slots.by_ref()) {
            if open.as_ref().is_none_or(|(open_key, _)| *open_key != key) {
                if let Some((done, app)) = open.take() {
                    observed.apps.insert(done, app);
                }
                let app = observed
                    .apps
                    .remove(&key)
                    .ok_or(EngineError::Internal("observed app vanished"))?;
                open = Some((key, app));
            }
            if let Some((_, app)) = open.as_mut() {
                take_sub_objects(client, app, slot, answer?).await?;
            }
        }
    }
    if let Some((done, app)) = open {
        observed.apps.insert(done, app);
    }
    Ok(())
}

/// Requests of round 3 sent and read as one window: 40 envelopes, five waves of eight.
const SUB_OBJECT_WINDOW: usize = 800;

/// `items` cut into vectors of at most `size`, in order.
fn chunked<T>(items: Vec<T>, size: usize) -> Vec<Vec<T>> {
    let mut out = Vec::with_capacity(items.len().div_ceil(size));
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        out.push(items.by_ref().take(size).collect());
    }
    out
}

/// Files one answer of round 3 in its app (following a next page when Graph split it).
async fn take_sub_objects(
    client: &GraphClient,
    app: &mut ObservedApp,
    slot: Slot,
    response: crate::graph::Response,
) -> Result<(), EngineError> {
    if let Slot::Keys = slot {
        let keys = response
            .body
            .as_ref()
            .and_then(|b| b.get("keyCredentials"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        app.key_credentials = keys;
        return Ok(());
    }
    let next = response
        .body
        .as_ref()
        .and_then(|b| str_of(b, "@odata.nextLink"))
        .map(str::to_string);
    let mut items = collection(response.body);
    if let Some(next) = next {
        items.extend(client.list::<Value>(Request::get(next)).await?);
    }
    match slot {
        Slot::Federated => app.federated_credentials = items,
        Slot::Grants => app.grants = items,
        Slot::Held => app.app_role_assignments = items.into_iter().map(assignment).collect(),
        Slot::Granted => app.assigned_to = items.into_iter().map(assignment).collect(),
        Slot::Collection(path) => {
            app.collections.insert(path, items);
        }
        Slot::Keys => {}
    }
    Ok(())
}

enum Slot {
    /// A collection a kind asked for, by its path.
    Collection(String),
    Federated,
    Grants,
    Held,
    Granted,
    Keys,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::application::desired_body;
    use crate::engine::kinds::AppContext;
    use crate::engine::planner::{self, PlanOptions};
    use crate::engine::resolve::ResourceApi;
    use crate::engine::{inventory, retirements};
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    fn resource_api(name: &str) -> ResourceApi {
        ResourceApi::from_catalogue(name, &format!("sp-{name}"))
    }

    /// The examples' apps as live applications that match the manifest, each with every
    /// top-level application property of Graph v1.0 that `APPLICATION_SELECT` leaves out (null).
    fn tenant() -> (DesiredState, Observed, Vec<String>) {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let state = crate::manifest::load(&[root.join("examples")], &|_: &str| None)
            .unwrap()
            .state;
        let properties =
            std::fs::read_to_string(root.join("tests/fixtures/graph-v1.0-properties.tsv")).unwrap();
        let all: Vec<String> = properties
            .lines()
            .find_map(|l| l.strip_prefix("application\t"))
            .unwrap()
            .split(',')
            .map(str::to_string)
            .collect();
        let selected: Vec<&str> = APPLICATION_SELECT.split(',').collect();
        let unselected: Vec<String> = all
            .into_iter()
            // Owners are expanded and held apart, not read as a property.
            .filter(|p| !selected.contains(&p.as_str()) && p != "owners")
            .collect();
        let mut observed = Observed {
            tenant_id: "tenant".into(),
            ..Default::default()
        };
        for app in state.apps.values() {
            for written in app.permissions.keys() {
                observed
                    .resources
                    .insert(written.clone(), resource_api(written));
            }
        }
        // Every user, group and owner the manifest names exists, so the plan goes through.
        for name in kinds::directory_names(&state) {
            match name {
                DirectoryName::User(upn) => {
                    let user = json!({"id": format!("user-{upn}"), "userPrincipalName": upn});
                    observed.users.insert(upn.to_lowercase(), Some(user));
                }
                DirectoryName::Group(group) => {
                    let found = vec![json!({"id": format!("group-{group}"), "displayName": group})];
                    observed.groups.insert(group, found);
                }
                DirectoryName::ServicePrincipal(app_id) => {
                    let sp = json!({"id": format!("sp-{app_id}"), "appId": app_id});
                    observed.owner_service_principals.insert(app_id, Some(sp));
                }
            }
        }
        for (i, app) in state.apps.values().enumerate() {
            let ctx = AppContext::new(&state.set_name, app, &observed);
            let mut body = desired_body(app, &state.set_name, &ctx.resources);
            body.insert(
                "id".into(),
                json!(format!("00000000-0000-0000-0000-{i:012}")),
            );
            body.insert(
                "appId".into(),
                json!(format!("10000000-0000-0000-0000-{i:012}")),
            );
            body.insert("uniqueName".into(), json!(app.unique_name));
            body.insert("createdDateTime".into(), json!("2025-01-01T00:00:00Z"));
            for p in &unselected {
                body.insert(p.clone(), Value::Null);
            }
            let live = ObservedApp {
                application: Some(Value::Object(body)),
                ..Default::default()
            };
            observed.apps.insert(app.key.clone(), live);
        }
        (state, observed, unselected)
    }

    /// Everything read from a live application: the plan (digests aside: they cover the whole
    /// object) or its problems, retirement notices and the credential inventory.
    fn reading(state: &DesiredState, observed: &Observed) -> Result<String, String> {
        let now = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
        let mut planned = planner::plan(state, observed, PlanOptions::default(), now)
            .map_err(|e| format!("{e:?}"))?;
        for change in &mut planned.plan.changes {
            change.live_digest = None;
        }
        Ok(format!(
            "{:?}\n{:?}\n{:?}",
            planned.plan,
            retirements::notices(state, observed, now.date_naive()),
            inventory::inventory(state, observed, now)
        ))
    }

    /// Values of several shapes, so a property read as text, flag, number, list or object
    /// changes when one of them is put in its place.
    fn probes() -> Vec<Value> {
        vec![
            json!("drift"),
            json!(true),
            json!(7),
            json!(["drift"]),
            json!([{"id": "drift", "value": "drift", "displayName": "drift", "keyId": "drift", "isEnabled": true}]),
            json!({"drift": "drift", "redirectUris": ["https://drift.example"], "isEnabled": true}),
        ]
    }

    fn with(observed: &Observed, property: &str, value: &Value) -> Observed {
        let mut changed = observed.clone();
        changed.apps.for_each_mut(|app| {
            if let Some(Value::Object(object)) = app.application.as_mut() {
                object.insert(property.to_string(), value.clone());
            }
        });
        changed
    }

    #[test]
    fn an_owner_keeps_what_the_owner_kinds_read() {
        let owner = json!({"@odata.type": "#microsoft.graph.servicePrincipal", "id": "o1",
            "appId": "a1", "displayName": "deployer", "tags": ["x"], "appRoles": []});
        assert_eq!(
            owner_reference(owner),
            json!({"@odata.type": "#microsoft.graph.servicePrincipal", "id": "o1", "appId": "a1"})
        );
        let user = json!({"@odata.type": "#microsoft.graph.user", "id": "u1",
            "userPrincipalName": "ada@contoso.example", "mail": "ada@contoso.example"});
        assert_eq!(
            owner_reference(user),
            json!({"@odata.type": "#microsoft.graph.user", "id": "u1",
                "userPrincipalName": "ada@contoso.example"})
        );
    }

    #[test]
    fn an_assignment_drops_only_what_nobody_reads() {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let properties =
            std::fs::read_to_string(root.join("tests/fixtures/graph-v1.0-properties.tsv")).unwrap();
        let all: Vec<&str> = properties
            .lines()
            .find_map(|l| l.strip_prefix("appRoleAssignment\t"))
            .unwrap()
            .split(',')
            .collect();
        let full: serde_json::Map<String, Value> = all
            .iter()
            .map(|p| (p.to_string(), json!(format!("v-{p}"))))
            .collect();
        let kept = assignment(Value::Object(full));
        let kept = kept.as_object().unwrap();
        for p in &all {
            match kept.get(*p) {
                Some(v) => assert_eq!(v, &json!(format!("v-{p}"))),
                // A property dropped here must be one no reader of `assigned_to` or
                // `app_role_assignments` looks at: a new one in Graph's schema is kept until
                // someone decides so.
                None => assert!(
                    ["createdDateTime", "deletedDateTime", "resourceDisplayName"].contains(p),
                    "`{p}` is dropped from assignments"
                ),
            }
        }
        assert_eq!(kept.len(), ASSIGNMENT_READ.len());
    }

    #[test]
    fn unselected_properties_never_change_a_plan() {
        let (state, observed, unselected) = tenant();
        assert!(unselected.len() > 20, "{unselected:?}");
        // A plan that fails reads little of the apps: the tenant is made so that it goes through.
        let base = reading(&state, &observed).expect("the examples plan against this tenant");
        for property in &unselected {
            for probe in probes() {
                let changed = reading(&state, &with(&observed, property, &probe));
                assert!(
                    changed.as_ref() == Ok(&base),
                    "`{property}` = {probe} changes what is planned, so APPLICATION_SELECT must name it"
                );
            }
        }
    }

    #[test]
    fn the_probes_change_a_plan_through_each_kind_of_selected_property() {
        // Without this the test above could pass because the probes change nothing.
        let (state, observed, _) = tenant();
        let base = reading(&state, &observed);
        assert!(base.is_ok(), "{base:?}");
        for property in [
            "displayName",
            "isFallbackPublicClient",
            "tags",
            "web",
            "appRoles",
        ] {
            let seen = probes()
                .iter()
                .any(|probe| reading(&state, &with(&observed, property, probe)) != base);
            assert!(seen, "no probe of `{property}` changed the plan");
        }
    }
}
