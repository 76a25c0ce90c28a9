//! Apply: carry out a plan's changes in dependency order, in phases that each go out as `$batch`es.
//!
//! Phase 1 upserts applications (by uniqueName), phase 2 upserts their service principals (by
//! appId), phase 3 writes sub-objects (owners, federated credentials, grants, application
//! permissions, assignments), phase 4 deletes what left the manifest, sub-objects before apps.
//! Writes that name an object created moments ago are marked so the client retries Graph's
//! replication-lag answers; a POST whose outcome is unknown is never repeated: the next run
//! re-observes and converges.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::EngineError;
use super::application::NamedResource;
use super::kinds::{self, AppContext, Instance};
use super::observed::{Observed, ObservedApp, str_of};
use super::plan::{Action, ResourceType};
use super::planner::{Planned, Step};
use crate::catalogue::PermissionKind;
use crate::graph::{GraphClient, GraphError, Request, Response, odata};
use crate::model::{DesiredApp, DesiredState, OwnerRef, Principal};

/// Ids of one app in the tenant, learned from observation and from writes.
#[derive(Debug, Clone, Default)]
pub struct AppIds {
    pub object_id: Option<String>,
    pub app_id: Option<String>,
    pub sp_id: Option<String>,
    /// Created in this run: reads and references may lag behind.
    pub fresh: bool,
}

/// What apply did.
#[derive(Debug, Default)]
pub struct ApplyReport {
    /// Address and action of every change carried out.
    pub done: Vec<(String, Action)>,
    /// Changes that failed, with why; dependants of a failed change are skipped and listed too.
    pub failed: Vec<(String, String)>,
    pub ids: BTreeMap<String, AppIds>,
}

pub async fn apply(
    client: &GraphClient,
    state: &DesiredState,
    observed: &Observed,
    planned: &Planned,
) -> Result<ApplyReport, EngineError> {
    let mut report = ApplyReport::default();
    for (key, live) in &observed.apps {
        report.ids.insert(key.clone(), ids_of(live));
    }
    let work: Vec<(usize, &Step)> = planned
        .steps
        .iter()
        .enumerate()
        .filter(|(i, _)| planned.plan.changes[*i].action.is_write())
        .collect();
    let phase = |resources: &[ResourceType], deleting: bool| -> Vec<(usize, &Step)> {
        work.iter()
            .filter(|(i, _)| {
                let change = &planned.plan.changes[*i];
                resources.contains(&change.resource)
                    && (change.action == Action::Delete) == deleting
            })
            .copied()
            .collect()
    };
    let sub_objects = [
        ResourceType::Owner,
        ResourceType::FederatedCredential,
        ResourceType::DelegatedGrant,
        ResourceType::ApplicationPermission,
        ResourceType::Assignment,
    ];

    let phases = [
        phase(&[ResourceType::Application], false),
        phase(&[ResourceType::ServicePrincipal], false),
        phase(&sub_objects, false),
        phase(&sub_objects, true),
        phase(
            &[ResourceType::ServicePrincipal, ResourceType::Application],
            true,
        ),
    ];
    for steps in phases {
        run_phase(client, state, observed, planned, &steps, &mut report).await?;
    }
    Ok(report)
}

pub fn ids_of(live: &ObservedApp) -> AppIds {
    AppIds {
        object_id: live
            .application
            .as_ref()
            .and_then(|a| str_of(a, "id"))
            .map(str::to_string),
        app_id: live
            .application
            .as_ref()
            .and_then(|a| str_of(a, "appId"))
            .map(str::to_string),
        sp_id: live
            .service_principal
            .as_ref()
            .and_then(|s| str_of(s, "id"))
            .map(str::to_string),
        fresh: false,
    }
}

/// One write and how to read its answer.
struct Write {
    index: usize,
    request: Request,
    /// Treat "already exists" answers as success (creates of reference-like objects).
    tolerate_exists: bool,
}

async fn run_phase(
    client: &GraphClient,
    state: &DesiredState,
    observed: &Observed,
    planned: &Planned,
    steps: &[(usize, &Step)],
    report: &mut ApplyReport,
) -> Result<(), EngineError> {
    let mut writes = Vec::new();
    let mut pre_writes = Vec::new();
    for (index, step) in steps {
        let change = &planned.plan.changes[*index];
        let app = step.app_key.as_ref().and_then(|k| state.apps.get(k));
        let ids = step
            .app_key
            .as_ref()
            .and_then(|k| report.ids.get(k))
            .cloned()
            .unwrap_or_default();
        if let Some(reason) = blocked(change.resource, change.action, &ids) {
            report
                .failed
                .push((change.address.clone(), reason.to_string()));
            continue;
        }
        let built = match app {
            Some(app) => {
                let empty = ObservedApp::default();
                let live_app = observed.apps.get(&app.key).unwrap_or(&empty);
                let resources: Vec<NamedResource> = app
                    .permissions
                    .keys()
                    .filter_map(|w| {
                        observed
                            .resources
                            .get_key_value(w)
                            .map(|(written, api)| NamedResource { written, api })
                    })
                    .collect();
                let ctx = AppContext {
                    set_name: &state.set_name,
                    app,
                    observed,
                    live: live_app,
                    resources,
                };
                if change.resource == ResourceType::Application
                    && change.action == Action::Update
                    && let Some(pre) = disable_before_change(&ctx, &ids)
                {
                    pre_writes.push(Write {
                        index: *index,
                        request: pre,
                        tolerate_exists: false,
                    });
                }
                build_write(&ctx, change.resource, change.action, step, &ids)
            }
            None => stray_delete(step),
        };
        match built {
            Ok(request) => writes.push(Write {
                index: *index,
                request,
                tolerate_exists: change.action == Action::Create,
            }),
            Err(reason) => report.failed.push((change.address.clone(), reason)),
        }
    }
    execute(client, planned, pre_writes, report, |_, _, _| {}).await;
    execute(client, planned, writes, report, |report, step, response| {
        learn_ids(report, step, response)
    })
    .await;
    // 204 answers to upserts carry no body: read the ids of apps and service principals created
    // through them (rare: only when observation missed an object that existed).
    let unknown: Vec<(String, Request)> = steps
        .iter()
        .filter_map(|(i, step)| {
            let key = step.app_key.as_ref()?;
            let ids = report.ids.get(key)?;
            let app = state.apps.get(key)?;
            match planned.plan.changes[*i].resource {
                ResourceType::Application if ids.object_id.is_none() => Some((
                    key.clone(),
                    Request::get(format!(
                        "/applications(uniqueName={})",
                        odata::key(&app.unique_name)
                    ))
                    .query("$select", "id,appId")
                    .after_own_write(),
                )),
                ResourceType::ServicePrincipal if ids.sp_id.is_none() => {
                    let app_id = ids.app_id.as_ref()?;
                    Some((
                        key.clone(),
                        Request::get(format!("/servicePrincipals(appId={})", odata::key(app_id)))
                            .query("$select", "id,appId")
                            .after_own_write(),
                    ))
                }
                _ => None,
            }
        })
        .collect();
    let answers = client
        .batch(unknown.iter().map(|(_, r)| r.clone()).collect())
        .await;
    for ((key, _), answer) in unknown.iter().zip(answers) {
        let body = answer?.body.unwrap_or_default();
        let ids = report.ids.entry(key.clone()).or_default();
        if str_of(&body, "@odata.context").is_some_and(|c| c.contains("servicePrincipals")) {
            ids.sp_id = str_of(&body, "id").map(str::to_string);
        } else {
            ids.object_id = str_of(&body, "id").map(str::to_string);
            ids.app_id = str_of(&body, "appId").map(str::to_string);
        }
    }
    Ok(())
}

/// Why a change cannot run yet: the object it hangs off does not exist (its write failed).
fn blocked(resource: ResourceType, action: Action, ids: &AppIds) -> Option<&'static str> {
    match resource {
        ResourceType::Application => None,
        ResourceType::ServicePrincipal if action != Action::Delete && ids.app_id.is_none() => {
            Some("skipped: the application was not written")
        }
        ResourceType::Owner | ResourceType::FederatedCredential if ids.object_id.is_none() => {
            Some("skipped: the application was not written")
        }
        ResourceType::DelegatedGrant
        | ResourceType::ApplicationPermission
        | ResourceType::Assignment
            if ids.sp_id.is_none() =>
        {
            Some("skipped: the service principal was not written")
        }
        _ => None,
    }
}

async fn execute(
    client: &GraphClient,
    planned: &Planned,
    writes: Vec<Write>,
    report: &mut ApplyReport,
    on_success: impl Fn(&mut ApplyReport, &Step, &Response),
) {
    if writes.is_empty() {
        return;
    }
    let answers = client
        .batch(writes.iter().map(|w| w.request.clone()).collect())
        .await;
    for (write, answer) in writes.iter().zip(answers) {
        let change = &planned.plan.changes[write.index];
        let step = &planned.steps[write.index];
        match answer {
            Ok(response) => {
                on_success(report, step, &response);
                report.done.push((change.address.clone(), change.action));
            }
            Err(e) if write.tolerate_exists && already_exists(&e) => {
                report.done.push((change.address.clone(), change.action))
            }
            Err(e) if change.action == Action::Delete && e.status() == Some(404) => {
                report.done.push((change.address.clone(), change.action))
            }
            Err(e) => report.failed.push((change.address.clone(), e.to_string())),
        }
    }
}

/// Graph's answers to adding what is already there (owners, app role assignments).
fn already_exists(error: &GraphError) -> bool {
    let message = error.message().to_lowercase();
    error.status() == Some(400)
        && (message.contains("already exist") || message.contains("already exists"))
}

fn learn_ids(report: &mut ApplyReport, step: &Step, response: &Response) {
    let (Some(key), Some(body)) = (&step.app_key, &response.body) else {
        return;
    };
    let ids = report.ids.entry(key.clone()).or_default();
    match step.desired.as_ref().map(|d| d.resource) {
        Some(ResourceType::Application) => {
            ids.object_id = str_of(body, "id")
                .map(str::to_string)
                .or(ids.object_id.take());
            ids.app_id = str_of(body, "appId")
                .map(str::to_string)
                .or(ids.app_id.take());
            ids.fresh |= response.status == 201;
        }
        Some(ResourceType::ServicePrincipal) => {
            ids.sp_id = str_of(body, "id").map(str::to_string).or(ids.sp_id.take());
            ids.fresh |= response.status == 201;
        }
        _ => {}
    }
}

fn stray_delete(step: &Step) -> Result<Request, String> {
    let id = step
        .live
        .as_ref()
        .and_then(|l| l.live.as_ref())
        .and_then(|v| str_of(v, "id"))
        .ok_or("the app has no id")?;
    Ok(Request::delete(format!("/applications/{id}")))
}

/// Graph refuses to change or remove an enabled app role or scope (CannotDeleteOrUpdateEnabledEntitlement):
/// the live ones that change or go are disabled in one write first.
fn disable_before_change(ctx: &AppContext, ids: &AppIds) -> Option<Request> {
    let live = ctx.live.application.as_ref()?;
    let object_id = ids.object_id.as_ref()?;
    let desired = Value::Object(super::application::desired_body(
        ctx.app,
        ctx.set_name,
        &ctx.resources,
    ));
    let disable = |live_items: Option<&Value>,
                   desired_items: Option<&Value>|
     -> Option<Vec<Value>> {
        let live_items = live_items?.as_array()?;
        let desired_items = desired_items
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut changed = false;
        let items = live_items
            .iter()
            .map(|item| {
                let same = desired_items.iter().find(|d| d.get("id") == item.get("id"));
                let enabled = item
                    .get("isEnabled")
                    .and_then(Value::as_bool)
                    .unwrap_or(true);
                let differs = same.is_none_or(|d| !super::application::same_entitlement(d, item));
                let mut item = item.clone();
                if enabled && differs {
                    item["isEnabled"] = json!(false);
                    changed = true;
                }
                item
            })
            .collect();
        changed.then_some(items)
    };
    let mut body = serde_json::Map::new();
    if let Some(roles) = disable(live.get("appRoles"), desired.get("appRoles")) {
        body.insert("appRoles".into(), Value::Array(roles));
    }
    if let Some(scopes) = disable(
        live.pointer("/api/oauth2PermissionScopes"),
        desired.pointer("/api/oauth2PermissionScopes"),
    ) {
        let mut api = live.get("api").cloned().unwrap_or_else(|| json!({}));
        api["oauth2PermissionScopes"] = Value::Array(scopes);
        body.insert("api".into(), api);
    }
    (!body.is_empty())
        .then(|| Request::patch(format!("/applications/{object_id}"), Value::Object(body)))
}

fn build_write(
    ctx: &AppContext,
    resource: ResourceType,
    action: Action,
    step: &Step,
    ids: &AppIds,
) -> Result<Request, String> {
    let live = step.live.as_ref().and_then(|l| l.live.as_ref());
    let live_id = || {
        live.and_then(|v| str_of(v, "id"))
            .map(str::to_string)
            .ok_or_else(|| "the live object has no id".to_string())
    };
    let object_id = || {
        ids.object_id
            .clone()
            .ok_or_else(|| "the application has no id yet".to_string())
    };
    let sp_id = || {
        ids.sp_id
            .clone()
            .ok_or_else(|| "the service principal has no id yet".to_string())
    };
    let fresh = |r: Request| if ids.fresh { r.after_own_write() } else { r };
    let app = ctx.app;
    Ok(match (resource, action) {
        (ResourceType::Application, Action::Delete) => {
            Request::delete(format!("/applications/{}", live_id()?))
        }
        (ResourceType::Application, _) => {
            let mut body = super::application::desired_body(app, ctx.set_name, &ctx.resources);
            match (app.adopt, live.and_then(|l| str_of(l, "uniqueName"))) {
                // Adopting: set the uniqueName once on the existing object.
                (Some(_), None) if live.is_some() => {
                    body.insert("uniqueName".into(), json!(app.unique_name));
                    Request::patch(format!("/applications/{}", live_id()?), Value::Object(body))
                }
                _ => Request::patch(
                    format!("/applications(uniqueName={})", odata::key(&app.unique_name)),
                    Value::Object(body),
                )
                .header("Prefer", "create-if-missing"),
            }
        }
        (ResourceType::ServicePrincipal, Action::Delete) => {
            Request::delete(format!("/servicePrincipals/{}", live_id()?))
        }
        (ResourceType::ServicePrincipal, _) => {
            let app_id = ids
                .app_id
                .clone()
                .ok_or("the application has no appId yet")?;
            let body = kinds::service_principal::body(ctx);
            fresh(
                Request::patch(
                    format!("/servicePrincipals(appId={})", odata::key(&app_id)),
                    Value::Object(body),
                )
                .header("Prefer", "create-if-missing"),
            )
        }
        (ResourceType::Owner, Action::Delete) => Request::delete(format!(
            "/applications/{}/owners/{}/$ref",
            object_id()?,
            live_id()?
        )),
        (ResourceType::Owner, _) => {
            let owner = app
                .owners
                .iter()
                .find(|o| {
                    step.desired
                        .as_ref()
                        .is_some_and(|d| d.address.ends_with(&kinds::owners::suffix(o)))
                })
                .ok_or("owner not declared")?;
            let id = match owner {
                OwnerRef::User(upn) => ctx
                    .observed
                    .users
                    .get(&upn.to_lowercase())
                    .cloned()
                    .flatten(),
                OwnerRef::ServicePrincipal(app_id) => ctx
                    .observed
                    .owner_service_principals
                    .get(app_id)
                    .cloned()
                    .flatten(),
            }
            .and_then(|o| str_of(&o, "id").map(str::to_string))
            .ok_or("owner not found in the tenant")?;
            let reference = format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}");
            fresh(Request::post(
                format!("/applications/{}/owners/$ref", object_id()?),
                json!({ "@odata.id": reference }),
            ))
        }
        (ResourceType::FederatedCredential, Action::Delete) => Request::delete(format!(
            "/applications/{}/federatedIdentityCredentials/{}",
            object_id()?,
            live_id()?
        )),
        (ResourceType::FederatedCredential, action) => {
            let desired = step.desired.as_ref().ok_or("nothing desired")?;
            let spec = app
                .federated_credentials
                .iter()
                .find(|f| {
                    desired
                        .address
                        .ends_with(&format!("federated_credential.{}", f.name))
                })
                .ok_or("credential not declared")?;
            let body = kinds::federated_credentials::body(spec);
            if action == Action::Create {
                fresh(Request::post(
                    format!(
                        "/applications/{}/federatedIdentityCredentials",
                        object_id()?
                    ),
                    body,
                ))
            } else {
                let mut body = body;
                body.as_object_mut().map(|b| b.remove("name"));
                Request::patch(
                    format!(
                        "/applications/{}/federatedIdentityCredentials/{}",
                        object_id()?,
                        live_id()?
                    ),
                    body,
                )
            }
        }
        (ResourceType::DelegatedGrant, Action::Delete) => {
            Request::delete(format!("/oauth2PermissionGrants/{}", live_id()?))
        }
        (ResourceType::DelegatedGrant, action) => {
            let (resource, requested) = resource_of(ctx, step, "grant.")?;
            let scope = kinds::grants::scope_string(&requested.delegated);
            if action == Action::Create {
                fresh(Request::post(
                    "/oauth2PermissionGrants",
                    kinds::grants::create_body(&sp_id()?, &resource.api.sp_id, &scope),
                ))
            } else {
                Request::patch(
                    format!("/oauth2PermissionGrants/{}", live_id()?),
                    json!({ "scope": scope }),
                )
            }
        }
        (ResourceType::ApplicationPermission, Action::Delete) => {
            let resource_id = live
                .and_then(|v| str_of(v, "resourceId"))
                .ok_or("the assignment has no resource")?;
            Request::delete(format!(
                "/servicePrincipals/{resource_id}/appRoleAssignedTo/{}",
                live_id()?
            ))
        }
        (ResourceType::ApplicationPermission, _) => {
            let desired = step.desired.as_ref().ok_or("nothing desired")?;
            let (resource, role) = ctx
                .resources
                .iter()
                .find_map(|r| {
                    let prefix = ctx.address(&format!("app_permission.{}.", r.written));
                    desired.address.strip_prefix(&prefix).map(|role| (r, role))
                })
                .ok_or("resource not resolved")?;
            let role_id = resource
                .api
                .id_of(PermissionKind::Application, role)
                .ok_or("role not resolved")?;
            let body = json!({ "principalId": sp_id()?, "resourceId": resource.api.sp_id, "appRoleId": role_id });
            fresh(Request::post(
                format!(
                    "/servicePrincipals/{}/appRoleAssignedTo",
                    resource.api.sp_id
                ),
                body,
            ))
        }
        (ResourceType::Assignment, Action::Delete) => Request::delete(format!(
            "/servicePrincipals/{}/appRoleAssignedTo/{}",
            sp_id()?,
            live_id()?
        )),
        (ResourceType::Assignment, _) => {
            let desired = step.desired.as_ref().ok_or("nothing desired")?;
            let spec = app
                .service_principal
                .assignments
                .iter()
                .find(|a| desired.address == ctx.address(&kinds::assignments::suffix(a)))
                .ok_or("assignment not declared")?;
            let principal_id = match &spec.principal {
                Principal::User(upn) => ctx
                    .observed
                    .users
                    .get(&upn.to_lowercase())
                    .cloned()
                    .flatten()
                    .and_then(|u| str_of(&u, "id").map(str::to_string)),
                Principal::Group(name) => ctx
                    .observed
                    .groups
                    .get(name)
                    .and_then(|g| g.first())
                    .and_then(|g| str_of(g, "id").map(str::to_string)),
            }
            .ok_or("principal not found in the tenant")?;
            let role_id = match &spec.role {
                Some(value) => app
                    .app_roles
                    .iter()
                    .find(|r| &r.value == value)
                    .map(|r| r.id.to_string())
                    .ok_or("role not declared")?,
                None => kinds::assignments::DEFAULT_ACCESS.to_string(),
            };
            let body = json!({ "principalId": principal_id, "resourceId": sp_id()?, "appRoleId": role_id });
            fresh(Request::post(
                format!("/servicePrincipals/{}/appRoleAssignedTo", sp_id()?),
                body,
            ))
        }
        (ResourceType::Secret | ResourceType::Certificate, _) => {
            return Err("credentials are not reconciled by this kind".into());
        }
    })
}

/// The resource named in a change's address after `prefix` (`grant.Microsoft Graph`).
fn resource_of<'a>(
    ctx: &'a AppContext,
    step: &Step,
    prefix: &str,
) -> Result<
    (
        &'a NamedResource<'a>,
        &'a crate::model::RequestedPermissions,
    ),
    String,
> {
    let desired: &Instance = step.desired.as_ref().ok_or("nothing desired")?;
    let written = desired
        .address
        .strip_prefix(&ctx.address(prefix))
        .ok_or("unexpected address")?;
    let resource = ctx
        .resources
        .iter()
        .find(|r| r.written == written)
        .ok_or("resource not resolved")?;
    let requested = ctx
        .app
        .permissions
        .get(written)
        .ok_or("resource not declared")?;
    Ok((resource, requested))
}

/// Per-app outputs after apply: what an integration's operator copies to the vendor.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AppOutputs {
    pub app_id: String,
    pub object_id: String,
    pub tenant_id: String,
    pub service_principal_id: Option<String>,
    pub admin_consent_url: String,
    pub user_consent_url: Option<String>,
}

/// Outputs for an app: consent URLs are built on `authority` (the login host) and name Microsoft
/// Graph by `graph_resource`, the cloud's Graph identifier (`https://graph.microsoft.com`).
pub fn outputs(
    app: &DesiredApp,
    ids: &AppIds,
    tenant_id: &str,
    authority: &str,
    graph_resource: &str,
) -> Option<AppOutputs> {
    let app_id = ids.app_id.clone()?;
    let authority = authority.trim_end_matches('/');
    let admin_consent_url = format!("{authority}/{tenant_id}/adminconsent?client_id={app_id}");
    let redirect = app
        .web
        .redirect_uris
        .iter()
        .chain(&app.public_client_redirect_uris)
        .chain(&app.spa_redirect_uris)
        .next();
    // One `.default` scope asks for every delegated permission configured on one resource; the
    // v2 endpoint takes one resource per request, so Microsoft Graph's when the app has any.
    let graph_id = crate::catalogue::MICROSOFT_GRAPH_APP_ID;
    let resources: Vec<uuid::Uuid> = app
        .permissions
        .iter()
        .filter(|(_, p)| !p.delegated.is_empty())
        .filter_map(
            |(written, _)| match super::resolve::ResourceRef::parse(written) {
                super::resolve::ResourceRef::AppId(id) => Some(id),
                super::resolve::ResourceRef::DisplayName(_) => None,
            },
        )
        .collect();
    let scope = if resources.contains(&graph_id) {
        Some(format!("{}/.default", graph_resource.trim_end_matches('/')))
    } else {
        resources.first().map(|id| format!("{id}/.default"))
    };
    let user_consent_url = redirect.zip(scope).map(|(redirect, scope)| {
        let mut url = url::Url::parse(&format!("{authority}/{tenant_id}/oauth2/v2.0/authorize"))
            .expect("authority is a URL");
        url.query_pairs_mut()
            .append_pair("client_id", &app_id)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", redirect)
            .append_pair("response_mode", "query")
            .append_pair("scope", &scope)
            .append_pair("prompt", "consent");
        url.to_string()
    });
    Some(AppOutputs {
        app_id,
        object_id: ids.object_id.clone()?,
        tenant_id: tenant_id.to_string(),
        service_principal_id: ids.sp_id.clone(),
        admin_consent_url,
        user_consent_url,
    })
}
