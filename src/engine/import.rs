//! Import: apps registered by hand -> desired-state entries that plan clean once adopted.
//!
//! Observation here starts from the apps the selection names instead of a manifest: one listing
//! of the applications (owners expanded), their service principals `appId in (...)` fifteen to a
//! query, then the same per-app sub-object round as plan's (`observe::sub_objects`, twenty to a
//! `$batch`), then the names the tenant gives the ids found (resource APIs, users, groups), also
//! batched. Every kind then writes its piece of the entry through its inverse
//! (`ResourceKind::inverse`); secrets through `secrets::inverse`. Nothing here writes.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use uuid::Uuid;

use super::EngineError;
use super::kinds::{self, Adopted, Inverse, KINDS};
use super::observe::{IN_LIMIT, RESOURCE_SELECT, SP_SELECT, collection, sub_objects};
use super::observed::{Observed, ObservedApp, str_of};
use super::resolve::{ResourceApi, ResourceRef};
use crate::graph::{GraphClient, Request, odata};
use crate::manifest::emit::slug;
use crate::model::{self, DesiredApp};

/// Which apps to import; several selections add up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    AppId(Uuid),
    /// An OData `$filter` on applications, as Graph takes it.
    Filter(String),
    /// Apps owned by a user (userPrincipalName) or a service principal (appId).
    OwnedBy(String),
    All,
}

/// One imported app: its entry, what its inverse reported, and where it came from.
#[derive(Debug, Clone)]
pub struct ImportedApp {
    pub app: DesiredApp,
    pub inverse: Inverse,
    pub app_id: String,
    pub display_name: String,
}

/// Everything an import found.
#[derive(Debug, Clone, Default)]
pub struct Imported {
    pub apps: Vec<ImportedApp>,
    /// Apps selected but not imported, each with why.
    pub skipped: Vec<String>,
    /// App ids asked for with `--app` that the tenant does not have.
    pub missing: Vec<String>,
}

/// Reads the selected apps and turns each into a manifest entry of set `set_name`. `caller` is
/// the appId appreg runs as: never imported, never listed as an owner.
pub async fn import(
    client: &GraphClient,
    selections: &[Selection],
    set_name: &str,
    caller: Option<Uuid>,
) -> Result<Imported, EngineError> {
    let mut imported = Imported::default();
    let applications = select(client, selections, &mut imported).await?;
    let mut chosen = Vec::new();
    for app in applications {
        let app_id = str_of(&app, "appId").unwrap_or_default().to_lowercase();
        if caller.is_some_and(|c| c.to_string() == app_id) {
            imported.skipped.push(format!(
                "{} ({app_id}): the identity appreg runs as is never imported",
                super::ownership::escaped(str_of(&app, "displayName").unwrap_or_default())
            ));
            continue;
        }
        chosen.push(app);
    }

    // Keys: the display name's slug, made unique within this import.
    let mut observed = Observed::default();
    let mut keys = BTreeSet::new();
    let mut order = Vec::new();
    for app in chosen {
        let base = slug(str_of(&app, "displayName").unwrap_or_default(), "app");
        let mut key = base.clone();
        let mut n = 2;
        while !keys.insert(key.clone()) {
            key = format!("{base}-{n}");
            n += 1;
        }
        let entry = ObservedApp {
            owners: app
                .get("owners")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            application: Some(app),
            ..Default::default()
        };
        observed.apps.insert(key.clone(), entry);
        order.push(key);
    }
    service_principals(client, &mut observed).await?;
    // Past a few dozen apps one listing of the tenant's grants costs fewer round trips than a
    // query per app (twenty to a `$batch`).
    let grants_per_app = observed.apps.len() <= GRANTS_LISTED_ABOVE;
    sub_objects(client, &mut observed, grants_per_app, |_, app| {
        KINDS.iter().flat_map(|k| k.import_reads(app)).collect()
    })
    .await?;
    if !grants_per_app {
        all_grants(client, &mut observed).await?;
    }
    let resources = resources(client, &observed).await?;
    let (users, groups) = principals(client, &observed).await?;

    for key in order {
        let Some(live) = observed.apps.get(&key) else {
            continue;
        };
        let Some(application) = live.application.as_ref() else {
            continue;
        };
        let app_id = str_of(application, "appId")
            .unwrap_or_default()
            .to_lowercase();
        let display_name = str_of(application, "displayName")
            .unwrap_or_default()
            .to_string();
        let Ok(parsed_app_id) = Uuid::parse_str(&app_id) else {
            imported
                .skipped
                .push(format!("an application without a valid appId ({key})"));
            continue;
        };
        let mut app = skeleton(&key, application, parsed_app_id, set_name);
        let from = Adopted {
            live: &live,
            resources: &resources,
            users: &users,
            groups: &groups,
            caller,
            key: &key,
        };
        let mut inverse = kinds::inverse(&from, &mut app);
        super::secrets::inverse(&live, &mut app, &mut inverse);
        imported.apps.push(ImportedApp {
            app,
            inverse,
            app_id,
            display_name,
        });
    }
    Ok(imported)
}

/// How many apps an import reads the grants of one by one; above it, the tenant's are listed.
const GRANTS_LISTED_ABOVE: usize = 40;

/// Every oauth2PermissionGrant of the tenant, each given to the app whose service principal is
/// its client.
async fn all_grants(client: &GraphClient, observed: &mut Observed) -> Result<(), EngineError> {
    let grants = client
        .list::<Value>(Request::get("/oauth2PermissionGrants").query("$top", "999"))
        .await?;
    let mut by_client: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for grant in grants {
        if let Some(client_id) = str_of(&grant, "clientId") {
            by_client
                .entry(client_id.to_string())
                .or_default()
                .push(grant);
        }
    }
    observed.apps.for_each_mut(|app| {
        if let Some(sp) = app.service_principal.as_ref().and_then(|s| str_of(s, "id")) {
            app.grants = by_client.remove(sp).unwrap_or_default();
        }
    });
    Ok(())
}

/// The entry's identity before any kind fills it in: key, uniqueName (the app's own when it has
/// one), the adoption, and the model's defaults.
fn skeleton(key: &str, application: &Value, app_id: Uuid, set_name: &str) -> DesiredApp {
    let from_set = match super::ownership::ownership(application, set_name) {
        super::ownership::Ownership::OtherSets(sets) if sets.len() == 1 => Some(sets[0].clone()),
        _ => None,
    };
    DesiredApp {
        key: key.to_string(),
        unique_name: str_of(application, "uniqueName")
            .filter(|u| !u.is_empty())
            .map_or_else(|| key.to_string(), str::to_string),
        adopt: Some(model::Adoption { app_id, from_set }),
        display_name: String::new(),
        description: None,
        notes: None,
        sign_in_audience: model::SignInAudience::MyOrganization,
        tags: BTreeSet::new(),
        owners: BTreeSet::new(),
        identifier_uris: BTreeSet::new(),
        web: model::WebPlatform::default(),
        spa_redirect_uris: BTreeSet::new(),
        public_client_redirect_uris: BTreeSet::new(),
        fallback_public_client: None,
        api: model::ExposedApi::default(),
        app_roles: Vec::new(),
        optional_claims: model::OptionalClaims::default(),
        group_membership_claims: None,
        info: model::InfoUrls::default(),
        permissions: BTreeMap::new(),
        admin_consent: model::AdminConsent::None,
        service_principal: model::ServicePrincipalSettings::default(),
        secrets: Vec::new(),
        certificates: Vec::new(),
        federated_credentials: Vec::new(),
        lifecycle: model::Lifecycle::default(),
    }
}

/// The applications the selections name, each once, with owners expanded.
async fn select(
    client: &GraphClient,
    selections: &[Selection],
    imported: &mut Imported,
) -> Result<Vec<Value>, EngineError> {
    let listing = |filter: Option<&str>| {
        let mut request = Request::get("/applications")
            .query("$expand", "owners")
            .query("$top", "999");
        if let Some(filter) = filter {
            request = request.query("$filter", filter);
        }
        request
    };
    let mut found: BTreeMap<String, Value> = BTreeMap::new();
    let keep = |apps: Vec<Value>, found: &mut BTreeMap<String, Value>| {
        for app in apps {
            if let Some(id) = str_of(&app, "id") {
                found.insert(id.to_string(), app);
            }
        }
    };
    let wants_all = selections
        .iter()
        .any(|s| matches!(s, Selection::All | Selection::OwnedBy(_)));
    let everything = if wants_all {
        client.list::<Value>(listing(None)).await?
    } else {
        Vec::new()
    };
    let mut ids = Vec::new();
    for selection in selections {
        match selection {
            Selection::All => keep(everything.clone(), &mut found),
            Selection::OwnedBy(owner) => {
                let owned: Vec<Value> = everything
                    .iter()
                    .filter(|app| {
                        app.get("owners")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                            .any(|o| {
                                [str_of(o, "userPrincipalName"), str_of(o, "appId")]
                                    .into_iter()
                                    .flatten()
                                    .any(|n| n.eq_ignore_ascii_case(owner))
                            })
                    })
                    .cloned()
                    .collect();
                keep(owned, &mut found);
            }
            Selection::Filter(filter) => keep(
                client.list::<Value>(listing(Some(filter))).await?,
                &mut found,
            ),
            Selection::AppId(id) => ids.push(id.to_string()),
        }
    }
    let requests: Vec<Request> = ids
        .chunks(IN_LIMIT)
        .map(|chunk| listing(Some(&in_filter("appId", chunk))))
        .collect();
    let mut seen = BTreeSet::new();
    for answer in client.batch(requests).await {
        let apps = collection(answer?.body);
        for app in &apps {
            if let Some(app_id) = str_of(app, "appId") {
                seen.insert(app_id.to_lowercase());
            }
        }
        keep(apps, &mut found);
    }
    imported.missing = ids.into_iter().filter(|id| !seen.contains(id)).collect();
    Ok(found.into_values().collect())
}

fn in_filter(property: &str, values: &[String]) -> String {
    let list = values
        .iter()
        .map(|v| odata::quote(v))
        .collect::<Vec<_>>()
        .join(",");
    format!("{property} in ({list})")
}

/// The service principal of each app, `appId in (...)` fifteen to a query, batched.
async fn service_principals(
    client: &GraphClient,
    observed: &mut Observed,
) -> Result<(), EngineError> {
    let app_ids: Vec<String> = observed
        .apps
        .values()
        .filter_map(|a| {
            a.application
                .as_ref()
                .and_then(|a| str_of(a, "appId"))
                .map(str::to_lowercase)
        })
        .collect();
    let requests: Vec<Request> = app_ids
        .chunks(IN_LIMIT)
        .map(|chunk| {
            Request::get("/servicePrincipals")
                .query("$filter", in_filter("appId", chunk))
                .query("$select", format!("{SP_SELECT},servicePrincipalType"))
        })
        .collect();
    let mut by_app_id = BTreeMap::new();
    for answer in client.batch(requests).await {
        for sp in collection(answer?.body) {
            if let Some(app_id) = str_of(&sp, "appId") {
                by_app_id.insert(app_id.to_lowercase(), sp);
            }
        }
    }
    observed.apps.for_each_mut(|app| {
        let app_id = app
            .application
            .as_ref()
            .and_then(|a| str_of(a, "appId"))
            .map(str::to_lowercase)
            .unwrap_or_default();
        app.service_principal = by_app_id.remove(&app_id);
    });
    Ok(())
}

/// Resource APIs the apps request or were granted, by appId, each with the name the manifest
/// writes: the catalogue's name for a well-known API, else the service principal's display name
/// when it names that one service principal and nothing else, else the appId.
async fn resources(
    client: &GraphClient,
    observed: &Observed,
) -> Result<BTreeMap<String, (String, ResourceApi)>, EngineError> {
    let mut app_ids = BTreeSet::new();
    let mut sp_ids = BTreeSet::new();
    for app in observed.apps.values() {
        for entry in app
            .application
            .as_ref()
            .and_then(|a| a.get("requiredResourceAccess"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(id) = str_of(entry, "resourceAppId") {
                app_ids.insert(id.to_lowercase());
            }
        }
        for held in app.grants.iter().chain(&app.app_role_assignments) {
            if let Some(id) = str_of(held, "resourceId") {
                sp_ids.insert(id.to_string());
            }
        }
    }
    let app_ids: Vec<String> = app_ids.into_iter().collect();
    let sp_ids: Vec<String> = sp_ids.into_iter().collect();
    let query = |property: &str, chunk: &[String]| {
        Request::get("/servicePrincipals")
            .query("$filter", in_filter(property, chunk))
            .query("$select", RESOURCE_SELECT)
    };
    let mut requests: Vec<Request> = app_ids
        .chunks(IN_LIMIT)
        .map(|c| query("appId", c))
        .collect();
    requests.extend(sp_ids.chunks(IN_LIMIT).map(|c| query("id", c)));
    let mut apis: BTreeMap<String, ResourceApi> = BTreeMap::new();
    for answer in client.batch(requests).await {
        for sp in collection(answer?.body) {
            if let Some(api) = ResourceApi::from_service_principal(&sp) {
                apis.insert(api.app_id.to_string(), api);
            }
        }
    }
    // A display name is written only when the tenant resolves it back to this one API.
    let candidates: Vec<(String, String)> = apis
        .values()
        .filter(|api| crate::catalogue::resource(&api.app_id.to_string()).is_none())
        .filter(|api| usable_name(&api.display_name))
        .map(|api| (api.app_id.to_string(), api.display_name.clone()))
        .collect();
    let checks: Vec<Request> = candidates
        .iter()
        .map(|(_, name)| {
            Request::get("/servicePrincipals")
                .query("$filter", format!("displayName eq {}", odata::quote(name)))
                .query("$select", "id,appId")
        })
        .collect();
    let mut unique = BTreeSet::new();
    for ((app_id, _), answer) in candidates.iter().zip(client.batch(checks).await) {
        if collection(answer?.body).len() == 1 {
            unique.insert(app_id.clone());
        }
    }
    Ok(apis
        .into_iter()
        .map(|(app_id, api)| {
            let written = match crate::catalogue::resource(&app_id) {
                Some(known) => known.name.to_string(),
                None if unique.contains(&app_id) => api.display_name.clone(),
                None => app_id.clone(),
            };
            (app_id, (written, api))
        })
        .collect())
}

/// Whether a display name can stand for a resource in a manifest: it parses back as a display
/// name (not a GUID or a well-known API's name) and holds nothing hidden.
fn usable_name(name: &str) -> bool {
    !name.trim().is_empty()
        && name.trim() == name
        && !name.chars().any(crate::manifest::diagnostic::is_hidden)
        && ResourceRef::parse(name) == ResourceRef::DisplayName(name.to_string())
}

type Names = (BTreeMap<String, String>, BTreeMap<String, (String, bool)>);

/// userPrincipalNames of assigned users and display names of assigned groups (with whether the
/// name is that group's alone), batched.
async fn principals(client: &GraphClient, observed: &Observed) -> Result<Names, EngineError> {
    let mut user_ids = BTreeSet::new();
    let mut groups: BTreeMap<String, String> = BTreeMap::new();
    for app in observed.apps.values() {
        for assignment in &app.assigned_to {
            let Some(id) = str_of(assignment, "principalId") else {
                continue;
            };
            match str_of(assignment, "principalType") {
                Some("User") => {
                    user_ids.insert(id.to_string());
                }
                Some("Group") => {
                    groups.insert(
                        id.to_string(),
                        str_of(assignment, "principalDisplayName")
                            .unwrap_or_default()
                            .to_string(),
                    );
                }
                _ => {}
            }
        }
    }
    let user_ids: Vec<String> = user_ids.into_iter().collect();
    let requests = user_ids
        .iter()
        .map(|id| {
            Request::get(format!("/users/{}", crate::graph::path_segment(id)))
                .query("$select", "id,userPrincipalName")
        })
        .collect();
    let mut users = BTreeMap::new();
    for (id, answer) in user_ids.iter().zip(client.batch(requests).await) {
        match answer {
            Ok(response) => {
                if let Some(upn) = response
                    .body
                    .as_ref()
                    .and_then(|b| str_of(b, "userPrincipalName"))
                {
                    users.insert(id.clone(), upn.to_string());
                }
            }
            Err(e) if e.status() == Some(404) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let names: Vec<String> = groups
        .values()
        .filter(|n| usable_name(n))
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let requests = names
        .iter()
        .map(|name| {
            Request::get("/groups")
                .query("$filter", format!("displayName eq {}", odata::quote(name)))
                .query("$select", "id")
        })
        .collect();
    let mut alone = BTreeSet::new();
    for (name, answer) in names.iter().zip(client.batch(requests).await) {
        if collection(answer?.body).len() == 1 {
            alone.insert(name.clone());
        }
    }
    let groups = groups
        .into_iter()
        .map(|(id, name)| {
            let only = alone.contains(&name);
            (id, (name, only))
        })
        .collect();
    Ok((users, groups))
}

#[cfg(test)]
mod tests {
    //! Each kind's inverse, table by table: a live app -> its manifest entry -> YAML -> loaded
    //! again -> planned against the same live app: nothing changes but the adoption.

    use super::*;
    use crate::catalogue::PermissionKind;
    use crate::engine::plan::Action;
    use crate::engine::planner::{self, PlanOptions};
    use serde_json::json;

    const APP_ID: &str = "0f1e2d3c-4b5a-4697-8877-665544332211";
    const GRAPH_SP: &str = "sp-graph";
    const ROLE: &str = "5b7c9d1e-0000-4000-8000-00000000aaaa";
    const SCOPE: &str = "5b7c9d1e-0000-4000-8000-00000000bbbb";

    fn graph() -> ResourceApi {
        ResourceApi::from_catalogue("Microsoft Graph", GRAPH_SP)
    }

    fn id(name: &str, kind: PermissionKind) -> String {
        graph().id_of(kind, name).unwrap().to_string()
    }

    fn base() -> ObservedApp {
        ObservedApp {
            application: Some(
                json!({"id": "obj-1", "appId": APP_ID, "displayName": "Bare app",
                "createdDateTime": "2025-01-01T00:00:00Z"}),
            ),
            service_principal: Some(
                json!({"id": "sp-1", "appId": APP_ID, "accountEnabled": true,
                "appRoleAssignmentRequired": false, "tags": []}),
            ),
            ..Default::default()
        }
    }

    /// (why, what the table row changes on the base app)
    fn table() -> Vec<(&'static str, ObservedApp)> {
        let app = |patch: Value| {
            let mut live = base();
            let object = live.application.as_mut().unwrap().as_object_mut().unwrap();
            for (k, v) in patch.as_object().unwrap() {
                object.insert(k.clone(), v.clone());
            }
            live
        };
        let requested = json!([{ "resourceAppId": "00000003-0000-0000-c000-000000000000",
        "resourceAccess": [
            {"id": id("User.Read", PermissionKind::Delegated), "type": "Scope"},
            {"id": id("Calendars.Read", PermissionKind::Delegated), "type": "Scope"},
            {"id": id("Mail.Send", PermissionKind::Application), "type": "Role"},
        ]}]);
        let grant = |scope: &str| {
            json!({"id": "g-1", "clientId": "sp-1", "consentType": "AllPrincipals",
            "resourceId": GRAPH_SP, "scope": scope})
        };
        let held = json!({"id": "a-1", "principalId": "sp-1", "resourceId": GRAPH_SP,
            "appRoleId": id("Mail.Send", PermissionKind::Application)});
        vec![
            ("only a display name", base()),
            (
                "platforms",
                app(json!({
                    "web": {"redirectUris": ["https://a.example.com/cb", "https://b.example.com/cb"],
                        "homePageUrl": "https://a.example.com", "logoutUrl": "https://a.example.com/out",
                        "implicitGrantSettings": {"enableIdTokenIssuance": true, "enableAccessTokenIssuance": false}},
                    "spa": {"redirectUris": ["https://spa.example.com/"]},
                    "publicClient": {"redirectUris": ["http://localhost"]},
                    "isFallbackPublicClient": true,
                })),
            ),
            (
                "an API with scope ids kept",
                app(json!({
                    "identifierUris": [format!("api://{APP_ID}")],
                    "api": {"requestedAccessTokenVersion": 2,
                        "oauth2PermissionScopes": [{"id": SCOPE, "value": "Tasks.Read", "type": "Admin",
                            "isEnabled": true, "adminConsentDisplayName": "Read tasks",
                            "adminConsentDescription": "Reads: tasks", "userConsentDisplayName": null,
                            "userConsentDescription": null}],
                        "preAuthorizedApplications": [{"appId": "11111111-2222-3333-4444-555555555555",
                            "delegatedPermissionIds": [SCOPE]}]},
                })),
            ),
            (
                "roles and prose",
                app(json!({
                    "description": "Syncs ${var:X} \"things\"", "notes": "line one\nline: two",
                    "tags": ["crm", "#hash"], "groupMembershipClaims": "SecurityGroup",
                    "appRoles": [{"id": ROLE, "value": "Admin", "displayName": "Admins", "description": "- yes",
                        "allowedMemberTypes": ["User", "Application"], "isEnabled": false}],
                    "optionalClaims": {"idToken": [{"name": "email", "source": null, "essential": true,
                        "additionalProperties": []}], "accessToken": [], "saml2Token": []},
                    "info": {"supportUrl": "https://help.example.com", "marketingUrl": null},
                })),
            ),
            (
                "permissions without consent",
                app(json!({"requiredResourceAccess": requested})),
            ),
            ("permissions with full consent", {
                let mut live = app(json!({"requiredResourceAccess": requested}));
                live.grants = vec![grant("User.Read Calendars.Read")];
                live.app_role_assignments = vec![held.clone()];
                live
            }),
            ("permissions with partial consent", {
                let mut live = app(json!({"requiredResourceAccess": requested}));
                live.grants = vec![grant("User.Read")];
                live
            }),
            ("service principal settings, owners, assignments", {
                let mut live = app(json!({"appRoles": [{"id": ROLE, "value": "Admin",
                    "displayName": "Admins", "description": "d", "allowedMemberTypes": ["User"],
                    "isEnabled": true}]}));
                live.service_principal = Some(json!({"id": "sp-1", "appId": APP_ID,
                    "accountEnabled": false, "appRoleAssignmentRequired": true,
                    "tags": ["HideApp"], "notificationEmailAddresses": ["ops@contoso.com"]}));
                live.owners = vec![
                    json!({"@odata.type": "#microsoft.graph.user", "id": "u-1", "userPrincipalName": "adele@contoso.com"}),
                    json!({"@odata.type": "#microsoft.graph.servicePrincipal", "id": "sp-9", "appId": "99999999-0000-0000-0000-000000000009"}),
                ];
                live.collections.insert("/servicePrincipals/sp-1/owners".into(), vec![
                    json!({"@odata.type": "#microsoft.graph.user", "id": "u-1", "userPrincipalName": "adele@contoso.com"}),
                ]);
                live.assigned_to = vec![
                    json!({"id": "as-1", "principalId": "u-1", "principalType": "User", "resourceId": "sp-1", "appRoleId": ROLE}),
                    json!({"id": "as-2", "principalId": "g-1", "principalType": "Group", "principalDisplayName": "All staff", "resourceId": "sp-1", "appRoleId": "00000000-0000-0000-0000-000000000000"}),
                ];
                live
            }),
            ("federated credentials", {
                let mut live = base();
                live.federated_credentials = vec![
                    json!({"id": "f-1", "name": "main", "issuer": "https://token.actions.githubusercontent.com",
                        "subject": "repo:c/r:ref:refs/heads/main", "audiences": ["api://AzureADTokenExchange"]}),
                    json!({"id": "f-2", "name": "k8s", "issuer": "https://k8s.example.com",
                        "subject": "system:serviceaccount:ns:sa", "audiences": ["custom"], "description": "cluster: one"}),
                ];
                live
            }),
            (
                "secrets named and unnamed",
                app(json!({"passwordCredentials": [
                    {"keyId": "aaaaaaaa-0000-0000-0000-000000000001", "displayName": null,
                        "startDateTime": "2026-01-01T00:00:00Z", "endDateTime": "2026-12-10T00:00:00Z"},
                    {"keyId": "aaaaaaaa-0000-0000-0000-000000000002", "displayName": "portal",
                        "startDateTime": "2026-01-01T00:00:00Z", "endDateTime": "2028-01-01T00:00:00Z"},
                    {"keyId": "aaaaaaaa-0000-0000-0000-000000000003", "displayName": "portal",
                        "startDateTime": "2026-02-01T00:00:00Z", "endDateTime": "2028-02-01T00:00:00Z"},
                ]})),
            ),
            ("an app without a service principal (az ad app create)", {
                let mut live = base();
                live.service_principal = None;
                live
            }),
            (
                "two secrets of an app open to personal accounts",
                app(
                    json!({"signInAudience": "AzureADandPersonalMicrosoftAccount",
                        "api": {"requestedAccessTokenVersion": 2},
                        "passwordCredentials": [
                        {"keyId": "aaaaaaaa-0000-0000-0000-000000000001", "displayName": null,
                            "startDateTime": "2026-01-01T00:00:00Z", "endDateTime": "2026-12-10T00:00:00Z"},
                        {"keyId": "aaaaaaaa-0000-0000-0000-000000000002", "displayName": "portal",
                            "startDateTime": "2026-01-01T00:00:00Z", "endDateTime": "2028-01-01T00:00:00Z"},
                    ]}),
                ),
            ),
        ]
    }

    #[test]
    fn every_inverse_plans_no_change_but_the_adoption() {
        let graph = graph();
        let resources: BTreeMap<String, (String, ResourceApi)> = [(
            graph.app_id.to_string(),
            ("Microsoft Graph".to_string(), graph.clone()),
        )]
        .into();
        let users: BTreeMap<String, String> = [("u-1".into(), "adele@contoso.com".into())].into();
        let groups: BTreeMap<String, (String, bool)> =
            [("g-1".into(), ("All staff".into(), true))].into();
        let now: chrono::DateTime<chrono::Utc> = "2026-12-07T12:00:00Z".parse().unwrap();
        for (why, live) in table() {
            let application = live.application.clone().unwrap();
            let mut app = skeleton("k", &application, Uuid::parse_str(APP_ID).unwrap(), "set");
            let from = Adopted {
                live: &live,
                resources: &resources,
                users: &users,
                groups: &groups,
                caller: None,
                key: "k",
            };
            let mut inverse = kinds::inverse(&from, &mut app);
            crate::engine::secrets::inverse(&live, &mut app, &mut inverse);
            assert!(
                inverse.unrepresented.is_empty(),
                "{why}: {:?}",
                inverse.unrepresented
            );

            // Through the manifest text and back, the certificate files beside it.
            let dir = tempfile::tempdir().unwrap();
            for (path, pem) in &inverse.files {
                assert!(!pem.contains("PRIVATE"), "{why}");
                std::fs::write(dir.path().join(path), pem).unwrap();
            }
            let text = crate::manifest::emit::manifest(
                "set",
                "appreg.schema.json",
                &[crate::manifest::emit::EmittedApp {
                    app: &app,
                    comments: vec![],
                }],
            )
            .unwrap();
            let loaded = crate::manifest::load_bytes(
                &dir.path().join("import.yaml"),
                text.as_bytes(),
                &|_: &str| Some("INJECTED".into()),
            )
            .unwrap_or_else(|e| panic!("{why}: {:?}\n{text}", e.diagnostics));
            let back = &loaded.state.apps["k"];
            assert_eq!(
                back, &app,
                "{why}: the manifest text reads back otherwise\n{text}"
            );

            // Planned against the same tenant: only the adoption.
            let mut observed = Observed {
                tenant_id: "t".into(),
                ..Default::default()
            };
            observed.apps.insert("k".into(), live.clone());
            for certificate in &loaded.state.apps["k"].certificates {
                observed.certificate_files.insert(
                    certificate.file.resolved(),
                    crate::credentials::CertificateFile::read(&certificate.file),
                );
            }
            observed
                .resources
                .insert("Microsoft Graph".into(), graph.clone());
            observed.users.insert(
                "adele@contoso.com".into(),
                Some(json!({"id": "u-1", "userPrincipalName": "adele@contoso.com"})),
            );
            observed
                .groups
                .insert("All staff".into(), vec![json!({"id": "g-1"})]);
            observed.owner_service_principals.insert(
                "99999999-0000-0000-0000-000000000009".into(),
                Some(json!({"id": "sp-9"})),
            );
            let planned = planner::plan(&loaded.state, &observed, PlanOptions::default(), now)
                .unwrap_or_else(|e| panic!("{why}: {e}"));
            for change in planned
                .plan
                .changes
                .iter()
                .filter(|c| c.action != Action::NoOp)
            {
                assert_eq!(change.address, "app.k", "{why}: {change:?}");
                assert!(
                    change
                        .fields
                        .iter()
                        .all(|f| f.field == "tags" || f.field == "uniqueName"),
                    "{why}: more than the adoption: {change:?}"
                );
            }
        }
    }
}
