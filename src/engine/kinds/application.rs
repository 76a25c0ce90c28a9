//! The app registration itself. Idempotency: created and updated through the uniqueName upsert, so
//! repeating a create is an update; deleting an app that is gone succeeds.

use serde_json::Value;

use super::{AppContext, Instance, Phase, Requires, ResourceKind, Write, WriteError};
use crate::catalogue::PermissionKind;
use crate::engine::application::{desired_body, keep_ownership_tags, normalize, same_entitlement};
use crate::engine::observed::str_of;
use crate::engine::plan::ResourceType;
use crate::engine::step::AppIds;
use crate::graph::{Request, odata};
use crate::model::{self, DesiredApp};
use serde_json::json;

pub fn desired(ctx: &AppContext) -> Vec<Instance> {
    let mut body = desired_body(ctx.app, ctx.set_name, &ctx.resources);
    keep_ownership_tags(
        &mut body,
        ctx.app,
        ctx.set_name,
        ctx.live.application.as_ref(),
    );
    let body = Value::Object(body);
    let fields = normalize(&body, &ctx.resources, &ctx.app.lifecycle.ignore);
    vec![Instance::new(
        ctx.address(""),
        ResourceType::Application,
        fields,
    )]
}

pub fn live(ctx: &AppContext) -> Vec<Instance> {
    ctx.live
        .application
        .iter()
        .map(|app| {
            let fields = normalize(app, &ctx.resources, &ctx.app.lifecycle.ignore);
            Instance::new(ctx.address(""), ResourceType::Application, fields).observed(app)
        })
        .collect()
}

/// The app registration. Create and update are the same idempotent upsert.
pub struct Application;

impl ResourceKind for Application {
    fn resource(&self) -> ResourceType {
        ResourceType::Application
    }

    fn phase(&self) -> Phase {
        Phase::Application
    }

    fn requires(&self) -> Requires {
        Requires::Nothing
    }

    fn desired(&self, ctx: &AppContext) -> Vec<Instance> {
        desired(ctx)
    }

    fn live(&self, ctx: &AppContext) -> Vec<Instance> {
        live(ctx)
    }

    /// `PATCH /applications(uniqueName='…')` with `Prefer: create-if-missing`: repeating it updates.
    /// Adopting an app without a uniqueName patches it by object id and sets the uniqueName once.
    fn create(&self, ctx: &AppContext, write: &Write) -> Result<Request, WriteError> {
        let app = ctx.app;
        let mut body = desired_body(app, ctx.set_name, &ctx.resources);
        let live = write.live();
        keep_ownership_tags(&mut body, app, ctx.set_name, live);
        Ok(
            match (
                app.adopt.as_ref(),
                live.and_then(|l| str_of(l, "uniqueName")),
            ) {
                (Some(_), None) if live.is_some() => {
                    body.insert("uniqueName".into(), json!(app.unique_name));
                    Request::patch(
                        format!("/applications/{}", write.live_id()?),
                        Value::Object(body),
                    )
                }
                _ => Request::patch(
                    format!("/applications(uniqueName={})", odata::key(&app.unique_name)),
                    Value::Object(body),
                )
                .header("Prefer", "create-if-missing"),
            },
        )
    }

    fn update(&self, ctx: &AppContext, write: &Write) -> Result<Request, WriteError> {
        self.create(ctx, write)
    }

    /// Deleting an app that is gone (404) counts as done.
    fn delete(&self, _: &AppContext, write: &Write) -> Result<Request, WriteError> {
        Ok(Request::delete(format!(
            "/applications/{}",
            write.live_id()?
        )))
    }

    fn before_update(&self, ctx: &AppContext, ids: &AppIds) -> Option<Request> {
        disable_before_change(ctx, ids)
    }

    fn learn(&self, ids: &mut AppIds, body: &Value, created: bool) {
        ids.object_id = str_of(body, "id")
            .map(str::to_string)
            .or(ids.object_id.take());
        ids.app_id = str_of(body, "appId")
            .map(str::to_string)
            .or(ids.app_id.take());
        ids.fresh |= created;
    }

    /// `GET /applications(uniqueName='…')` when the upsert answered 204 without a body.
    fn read_back(&self, app: &DesiredApp, ids: &AppIds) -> Option<Request> {
        ids.object_id.is_none().then(|| {
            Request::get(format!(
                "/applications(uniqueName={})",
                odata::key(&app.unique_name)
            ))
            .query("$select", "id,appId")
            .after_own_write()
        })
    }

    /// A stray app of this set is deleted by its object id; gone (404) counts as done.
    fn delete_unmanaged(&self, live: &Value) -> Option<Request> {
        str_of(live, "id").map(|id| Request::delete(format!("/applications/{id}")))
    }

    /// Settings, platforms, API, roles, claims, informational URLs and requested permissions.
    fn inverse(&self, from: &super::Adopted, app: &mut DesiredApp, out: &mut super::Inverse) {
        inverse(from, app, out)
    }
}

/// Graph refuses to change or remove an enabled app role or scope (CannotDeleteOrUpdateEnabledEntitlement):
/// the live ones that change or go are disabled in one write first.
fn disable_before_change(ctx: &AppContext, ids: &AppIds) -> Option<Request> {
    let live = ctx.live.application.as_ref()?;
    let object_id = ids.object_id.as_ref()?;
    let desired = Value::Object(desired_body(ctx.app, ctx.set_name, &ctx.resources));
    let disable =
        |live_items: Option<&Value>, desired_items: Option<&Value>| -> Option<Vec<Value>> {
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
                    let differs = same.is_none_or(|d| !same_entitlement(d, item));
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

/// The live application's settings as the manifest writes them (the inverse of `desired_body`).
fn inverse(from: &super::Adopted, app: &mut DesiredApp, out: &mut super::Inverse) {
    let Some(live) = from.live.application.as_ref() else {
        return;
    };
    let get = |path: &str| path.split('.').try_fold(live, |v, k| v.get(k));
    let text = |path: &str| get(path).and_then(Value::as_str).map(str::to_string);
    // Empty strings compare as absent (`fields::text`).
    let prose = |path: &str| text(path).filter(|t| !t.is_empty());
    let strings = |path: &str| -> std::collections::BTreeSet<String> {
        crate::engine::fields::strings(get(path))
            .into_iter()
            .map(str::to_string)
            .collect()
    };
    app.display_name = text("displayName").unwrap_or_default();
    app.description = prose("description");
    app.notes = prose("notes");
    app.sign_in_audience = match str_of(live, "signInAudience") {
        Some("AzureADMultipleOrgs") => model::SignInAudience::MultipleOrganizations,
        Some("AzureADandPersonalMicrosoftAccount") => {
            model::SignInAudience::OrganizationsAndPersonalAccounts
        }
        Some("PersonalMicrosoftAccount") => model::SignInAudience::PersonalAccounts,
        _ => model::SignInAudience::MyOrganization,
    };
    app.tags = strings("tags")
        .into_iter()
        .filter(|t| !t.to_ascii_lowercase().starts_with("appreg:"))
        .collect();
    app.identifier_uris = strings("identifierUris");
    app.web = model::WebPlatform {
        redirect_uris: strings("web.redirectUris"),
        home_page_url: prose("web.homePageUrl"),
        logout_url: prose("web.logoutUrl"),
        issue_access_tokens: get("web.implicitGrantSettings.enableAccessTokenIssuance")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        issue_id_tokens: get("web.implicitGrantSettings.enableIdTokenIssuance")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    };
    app.spa_redirect_uris = strings("spa.redirectUris");
    app.public_client_redirect_uris = strings("publicClient.redirectUris");
    app.fallback_public_client = get("isFallbackPublicClient")
        .and_then(Value::as_bool)
        .filter(|on| *on);
    app.group_membership_claims = match str_of(live, "groupMembershipClaims") {
        Some("SecurityGroup") => Some(model::GroupMembershipClaims::SecurityGroup),
        Some("DirectoryRole") => Some(model::GroupMembershipClaims::DirectoryRole),
        Some("ApplicationGroup") => Some(model::GroupMembershipClaims::ApplicationGroup),
        Some("All") => Some(model::GroupMembershipClaims::All),
        None | Some("None") | Some("") => None,
        Some(other) => {
            out.unrepresented.push(format!(
                "groupMembershipClaims `{other}` is not a value the manifest knows"
            ));
            None
        }
    };
    let uuid = |v: &Value, key: &str| str_of(v, key).and_then(|t| uuid::Uuid::parse_str(t).ok());
    let items = |path: &str| -> Vec<Value> {
        get(path)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    app.api.requested_access_token_version = get("api.requestedAccessTokenVersion")
        .and_then(Value::as_u64)
        .filter(|v| *v != 1)
        .and_then(|v| u8::try_from(v).ok());
    app.api.scopes = items("api.oauth2PermissionScopes")
        .iter()
        .filter_map(|s| {
            Some(model::ExposedScope {
                id: uuid(s, "id")?,
                value: str_of(s, "value")?.to_string(),
                admins_only: str_of(s, "type") == Some("Admin"),
                admin_consent_display_name: str_of(s, "adminConsentDisplayName")
                    .unwrap_or_default()
                    .to_string(),
                admin_consent_description: str_of(s, "adminConsentDescription")
                    .unwrap_or_default()
                    .to_string(),
                user_consent_display_name: str_of(s, "userConsentDisplayName").map(str::to_string),
                user_consent_description: str_of(s, "userConsentDescription").map(str::to_string),
                enabled: s.get("isEnabled").and_then(Value::as_bool).unwrap_or(true),
            })
        })
        .collect();
    app.api.scopes.sort_by_key(|s| s.id);
    app.api.pre_authorized_applications = items("api.preAuthorizedApplications")
        .iter()
        .filter_map(|p| {
            let app_id = uuid(p, "appId")?;
            let mut scopes = std::collections::BTreeSet::new();
            for id in crate::engine::fields::strings(p.get("delegatedPermissionIds")) {
                match app.api.scopes.iter().find(|s| s.id.to_string().eq_ignore_ascii_case(id)) {
                    Some(scope) => {
                        scopes.insert(scope.value.clone());
                    }
                    None => out.unrepresented.push(format!(
                        "pre-authorized application {app_id}: permission id {id} is not one of the app's own scopes"
                    )),
                }
            }
            Some(model::PreAuthorizedApplication { app_id, scopes })
        })
        .collect();
    app.app_roles = items("appRoles")
        .iter()
        .filter_map(|r| {
            Some(model::AppRole {
                id: uuid(r, "id")?,
                value: str_of(r, "value")?.to_string(),
                display_name: str_of(r, "displayName").unwrap_or_default().to_string(),
                description: str_of(r, "description").unwrap_or_default().to_string(),
                allowed_member_types: crate::engine::fields::strings(r.get("allowedMemberTypes"))
                    .into_iter()
                    .filter_map(|t| match t {
                        "User" => Some(model::AppRoleMemberType::User),
                        "Application" => Some(model::AppRoleMemberType::Application),
                        _ => None,
                    })
                    .collect(),
                enabled: r.get("isEnabled").and_then(Value::as_bool).unwrap_or(true),
            })
        })
        .collect();
    app.app_roles.sort_by_key(|r| r.id);
    let claims = |token: &str| -> Vec<model::OptionalClaim> {
        items(&format!("optionalClaims.{token}"))
            .iter()
            .filter_map(|c| {
                Some(model::OptionalClaim {
                    name: str_of(c, "name")?.to_string(),
                    source: str_of(c, "source").map(str::to_string),
                    essential: c.get("essential").and_then(Value::as_bool).unwrap_or(false),
                    additional_properties: crate::engine::fields::strings(
                        c.get("additionalProperties"),
                    )
                    .into_iter()
                    .map(str::to_string)
                    .collect(),
                })
            })
            .collect()
    };
    app.optional_claims = model::OptionalClaims {
        id_token: claims("idToken"),
        access_token: claims("accessToken"),
        saml2_token: claims("saml2Token"),
    };
    app.info = model::InfoUrls {
        marketing_url: prose("info.marketingUrl"),
        privacy_statement_url: prose("info.privacyStatementUrl"),
        support_url: prose("info.supportUrl"),
        terms_of_service_url: prose("info.termsOfServiceUrl"),
    };
    app.permissions.clear();
    for entry in items("requiredResourceAccess") {
        let resource_app_id = str_of(&entry, "resourceAppId")
            .unwrap_or_default()
            .to_lowercase();
        let Some((written, api)) = from.resources.get(&resource_app_id) else {
            out.unrepresented.push(format!(
                "permissions of resource {resource_app_id}: the tenant has no service principal for it, so they cannot be named (the first apply removes them from the registration)"
            ));
            continue;
        };
        let requested = app.permissions.entry(written.clone()).or_default();
        for access in entry
            .get("resourceAccess")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let id = str_of(access, "id").unwrap_or_default();
            let (kind, list) = match str_of(access, "type") {
                Some("Role") => (PermissionKind::Application, &mut requested.application),
                _ => (PermissionKind::Delegated, &mut requested.delegated),
            };
            let name = api.name_of(kind, id);
            if name == id {
                out.remarks.push(format!(
                    "{written}: {kind} permission {id} is written by id: the resource names no permission with it"
                ));
            }
            list.insert(name);
        }
    }
}
