//! The application object: the Graph body appreg writes for a desired app, and the normalised
//! fields both that body and the live object are compared by.
//!
//! Writes go through the uniqueName upsert (`PATCH /applications(uniqueName='…')` with
//! `Prefer: create-if-missing`), which creates or updates and is safe to repeat: a crash or a
//! retried request can never create a duplicate app.

use serde_json::{Map, Value, json};

use super::fields::{self, Fields};
use super::resolve::ResourceApi;
use crate::catalogue::PermissionKind;
use crate::model::{self, DesiredApp, IgnoredField};

/// A resource API as the manifest named it, resolved in the tenant.
pub struct NamedResource<'a> {
    pub written: &'a str,
    pub api: &'a ResourceApi,
}

/// The desired application as a Graph body. Every managed property is present (an omitted optional
/// field is written as its Graph default), except those `lifecycle.ignore` leaves alone.
pub fn desired_body(
    app: &DesiredApp,
    set_name: &str,
    resources: &[NamedResource],
) -> Map<String, Value> {
    let ignored = |field: IgnoredField| app.lifecycle.ignore.contains(&field);
    let mut tags: Vec<String> = vec![model::MANAGED_TAG.to_string(), model::set_tag(set_name)];
    tags.extend(app.tags.iter().cloned());
    let mut body = Map::new();
    body.insert("displayName".into(), json!(app.display_name));
    body.insert(
        "signInAudience".into(),
        json!(app.sign_in_audience.graph_value()),
    );
    body.insert(
        "isFallbackPublicClient".into(),
        json!(app.fallback_public_client),
    );
    body.insert(
        "groupMembershipClaims".into(),
        json!(app.group_membership_claims.map(group_membership_claims)),
    );
    let optional = [
        (
            IgnoredField::Description,
            "description",
            json!(app.description),
        ),
        (IgnoredField::Notes, "notes", json!(app.notes)),
        (IgnoredField::Tags, "tags", json!(tags)),
        (
            IgnoredField::IdentifierUris,
            "identifierUris",
            json!(app.identifier_uris),
        ),
        (
            IgnoredField::AppRoles,
            "appRoles",
            Value::Array(app.app_roles.iter().map(app_role).collect()),
        ),
        (
            IgnoredField::OptionalClaims,
            "optionalClaims",
            optional_claims(&app.optional_claims),
        ),
        (IgnoredField::Info, "info", info(&app.info)),
        (
            IgnoredField::Permissions,
            "requiredResourceAccess",
            required_resource_access(app, resources),
        ),
        (IgnoredField::Api, "api", api(app)),
    ];
    for (field, name, value) in optional {
        if !ignored(field) {
            body.insert(name.into(), value);
        }
    }
    let mut web = json!({
        "homePageUrl": app.web.home_page_url,
        "logoutUrl": app.web.logout_url,
        "implicitGrantSettings": {
            "enableAccessTokenIssuance": app.web.issue_access_tokens,
            "enableIdTokenIssuance": app.web.issue_id_tokens,
        },
    });
    if !ignored(IgnoredField::WebRedirectUris) {
        web["redirectUris"] = json!(app.web.redirect_uris);
    }
    body.insert("web".into(), web);
    if !ignored(IgnoredField::SpaRedirectUris) {
        body.insert(
            "spa".into(),
            json!({ "redirectUris": app.spa_redirect_uris }),
        );
    }
    if !ignored(IgnoredField::PublicClientRedirectUris) {
        body.insert(
            "publicClient".into(),
            json!({ "redirectUris": app.public_client_redirect_uris }),
        );
    }
    body
}

/// Whether a tag is one of appreg's ownership markers or looks like one (any case).
fn is_appreg_tag(tag: &str) -> bool {
    tag.get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("appreg:"))
}

/// The ownership tags are written even when `lifecycle.ignore` leaves `tags` to other tools: an app
/// without them is not this set's, and the next plan would refuse to manage it. The other tools'
/// tags on the live app are kept as they are (Graph replaces the whole collection).
pub fn keep_ownership_tags(
    body: &mut Map<String, Value>,
    app: &DesiredApp,
    set_name: &str,
    live: Option<&Value>,
) {
    if !app.lifecycle.ignore.contains(&IgnoredField::Tags) {
        return;
    }
    let mut tags = vec![model::MANAGED_TAG.to_string(), model::set_tag(set_name)];
    tags.extend(
        fields::strings(live.and_then(|l| l.get("tags")))
            .into_iter()
            .filter(|t| !is_appreg_tag(t))
            .map(str::to_string),
    );
    body.insert("tags".into(), json!(tags));
}

/// Graph's name for a groupMembershipClaims value (spelled out, never a Rust `Debug` rendering).
fn group_membership_claims(claims: model::GroupMembershipClaims) -> &'static str {
    match claims {
        model::GroupMembershipClaims::None => "None",
        model::GroupMembershipClaims::SecurityGroup => "SecurityGroup",
        model::GroupMembershipClaims::DirectoryRole => "DirectoryRole",
        model::GroupMembershipClaims::ApplicationGroup => "ApplicationGroup",
        model::GroupMembershipClaims::All => "All",
    }
}

/// Graph's name for an app role's allowed member type.
fn member_type(kind: model::AppRoleMemberType) -> &'static str {
    match kind {
        model::AppRoleMemberType::User => "User",
        model::AppRoleMemberType::Application => "Application",
    }
}

fn app_role(role: &model::AppRole) -> Value {
    json!({
        "id": role.id,
        "value": role.value,
        "displayName": role.display_name,
        "description": role.description,
        "isEnabled": role.enabled,
        "allowedMemberTypes": role.allowed_member_types.iter().map(|t| member_type(*t)).collect::<Vec<_>>(),
    })
}

fn api(app: &DesiredApp) -> Value {
    let scopes: Vec<Value> = app
        .api
        .scopes
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "value": s.value,
                "type": if s.admins_only { "Admin" } else { "User" },
                "isEnabled": s.enabled,
                "adminConsentDisplayName": s.admin_consent_display_name,
                "adminConsentDescription": s.admin_consent_description,
                "userConsentDisplayName": s.user_consent_display_name,
                "userConsentDescription": s.user_consent_description,
            })
        })
        .collect();
    let pre_authorized: Vec<Value> = app
        .api
        .pre_authorized_applications
        .iter()
        .map(|p| {
            let ids: Vec<String> = p
                .scopes
                .iter()
                .filter_map(|v| app.api.scopes.iter().find(|s| &s.value == v))
                .map(|s| s.id.to_string())
                .collect();
            json!({ "appId": p.app_id, "delegatedPermissionIds": ids })
        })
        .collect();
    json!({
        "requestedAccessTokenVersion": app.api.requested_access_token_version,
        "oauth2PermissionScopes": scopes,
        "preAuthorizedApplications": pre_authorized,
    })
}

fn optional_claims(claims: &model::OptionalClaims) -> Value {
    let list = |items: &[model::OptionalClaim]| -> Value {
        items
            .iter()
            .map(|c| json!({ "name": c.name, "source": c.source, "essential": c.essential, "additionalProperties": c.additional_properties }))
            .collect()
    };
    json!({ "idToken": list(&claims.id_token), "accessToken": list(&claims.access_token), "saml2Token": list(&claims.saml2_token) })
}

fn info(urls: &model::InfoUrls) -> Value {
    json!({
        "marketingUrl": urls.marketing_url,
        "privacyStatementUrl": urls.privacy_statement_url,
        "supportUrl": urls.support_url,
        "termsOfServiceUrl": urls.terms_of_service_url,
    })
}

/// `requiredResourceAccess` from names: the resources were resolved (and names checked) before.
fn required_resource_access(app: &DesiredApp, resources: &[NamedResource]) -> Value {
    let mut out = Vec::new();
    for (written, requested) in &app.permissions {
        let Some(resource) = resources.iter().find(|r| r.written == written) else {
            continue;
        };
        let mut access = Vec::new();
        for (kind, names, ty) in [
            (PermissionKind::Delegated, &requested.delegated, "Scope"),
            (PermissionKind::Application, &requested.application, "Role"),
        ] {
            for name in names {
                if let Some(id) = resource.api.id_of(kind, name) {
                    access.push(json!({ "id": id, "type": ty }));
                }
            }
        }
        out.push(json!({ "resourceAppId": resource.api.app_id, "resourceAccess": access }));
    }
    Value::Array(out)
}

/// Keeps only `keys` of an object, so properties Graph adds on its own do not read as drift.
fn pick(item: &Value, keys: &[&str]) -> Value {
    let mut object = Map::new();
    for key in keys {
        let value = item.get(*key).cloned().unwrap_or(Value::Null);
        let value = match value {
            Value::Array(items) if items.iter().all(Value::is_string) => {
                fields::string_set(fields::strings(Some(&Value::Array(items))))
            }
            other => other,
        };
        object.insert((*key).to_string(), value);
    }
    Value::Object(object)
}

/// Whether a desired app role or exposed scope equals a live one on the properties appreg manages.
pub fn same_entitlement(desired: &Value, live: &Value) -> bool {
    const KEYS: [&str; 10] = [
        "id",
        "value",
        "type",
        "isEnabled",
        "displayName",
        "description",
        "allowedMemberTypes",
        "adminConsentDisplayName",
        "adminConsentDescription",
        "userConsentDisplayName",
    ];
    pick(desired, &KEYS) == pick(live, &KEYS)
}

fn picked_set(items: Option<&Value>, keys: &[&str], by: &str) -> Value {
    let picked: Vec<Value> = items
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|i| pick(i, keys))
        .collect();
    fields::object_set(Some(&Value::Array(picked)), by)
}

/// The comparable fields of an application body or live object. Permissions are shown by name,
/// keyed by the resource as the manifest writes it; ids no resource names stay raw ids.
pub fn normalize(
    app: &Value,
    resources: &[NamedResource],
    ignore: &std::collections::BTreeSet<IgnoredField>,
) -> Fields {
    let get = |path: &str| path.split('.').try_fold(app, |v, k| v.get(k));
    let mut f = Fields::new();
    // `guard` names the lifecycle.ignore entry that excludes the field; None: always compared.
    let mut put = |guard: Option<IgnoredField>, key: &str, value: Value| {
        if guard.is_none_or(|g| !ignore.contains(&g)) {
            f.insert(key.to_string(), value);
        }
    };
    put(None, "displayName", fields::text(get("displayName")));
    put(
        None,
        "signInAudience",
        json!(
            get("signInAudience")
                .and_then(Value::as_str)
                .unwrap_or("AzureADMyOrg")
        ),
    );
    put(
        None,
        "isFallbackPublicClient",
        fields::flag(get("isFallbackPublicClient")),
    );
    let claims = match get("groupMembershipClaims").and_then(Value::as_str) {
        None | Some("None") | Some("") => Value::Null,
        Some(other) => json!(other),
    };
    put(None, "groupMembershipClaims", claims);
    put(
        None,
        "web.homePageUrl",
        fields::text(get("web.homePageUrl")),
    );
    put(None, "web.logoutUrl", fields::text(get("web.logoutUrl")));
    put(
        None,
        "web.implicitGrant.accessTokens",
        fields::flag(get("web.implicitGrantSettings.enableAccessTokenIssuance")),
    );
    put(
        None,
        "web.implicitGrant.idTokens",
        fields::flag(get("web.implicitGrantSettings.enableIdTokenIssuance")),
    );
    put(
        Some(IgnoredField::Description),
        "description",
        fields::text(get("description")),
    );
    put(
        Some(IgnoredField::Notes),
        "notes",
        fields::text(get("notes")),
    );
    put(
        Some(IgnoredField::Tags),
        "tags",
        fields::string_set(fields::strings(get("tags"))),
    );
    if ignore.contains(&IgnoredField::Tags) {
        // Other tools own the tags, appreg its markers (see `keep_ownership_tags`).
        let markers = fields::strings(get("tags"))
            .into_iter()
            .filter(|t| is_appreg_tag(t));
        put(None, "ownershipTags", fields::string_set(markers));
    }
    put(
        Some(IgnoredField::IdentifierUris),
        "identifierUris",
        fields::string_set(fields::strings(get("identifierUris"))),
    );
    put(
        Some(IgnoredField::WebRedirectUris),
        "web.redirectUris",
        fields::string_set(fields::strings(get("web.redirectUris"))),
    );
    put(
        Some(IgnoredField::SpaRedirectUris),
        "spa.redirectUris",
        fields::string_set(fields::strings(get("spa.redirectUris"))),
    );
    put(
        Some(IgnoredField::PublicClientRedirectUris),
        "publicClient.redirectUris",
        fields::string_set(fields::strings(get("publicClient.redirectUris"))),
    );
    let version = get("api.requestedAccessTokenVersion")
        .and_then(Value::as_u64)
        .unwrap_or(1);
    put(
        Some(IgnoredField::Api),
        "api.requestedAccessTokenVersion",
        json!(version),
    );
    let scope_keys = [
        "id",
        "value",
        "type",
        "isEnabled",
        "adminConsentDisplayName",
        "adminConsentDescription",
        "userConsentDisplayName",
        "userConsentDescription",
    ];
    put(
        Some(IgnoredField::Api),
        "api.scopes",
        picked_set(get("api.oauth2PermissionScopes"), &scope_keys, "id"),
    );
    put(
        Some(IgnoredField::Api),
        "api.preAuthorizedApplications",
        picked_set(
            get("api.preAuthorizedApplications"),
            &["appId", "delegatedPermissionIds"],
            "appId",
        ),
    );
    let role_keys = [
        "id",
        "value",
        "displayName",
        "description",
        "isEnabled",
        "allowedMemberTypes",
    ];
    put(
        Some(IgnoredField::AppRoles),
        "appRoles",
        picked_set(get("appRoles"), &role_keys, "id"),
    );
    let claim_keys = ["name", "source", "essential", "additionalProperties"];
    for token in ["idToken", "accessToken", "saml2Token"] {
        let claims: Vec<Value> = get(&format!("optionalClaims.{token}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|c| {
                let mut c = pick(c, &claim_keys);
                c["essential"] = fields::flag(c.get("essential"));
                c
            })
            .collect();
        put(
            Some(IgnoredField::OptionalClaims),
            &format!("optionalClaims.{token}"),
            fields::object_set(Some(&Value::Array(claims)), "name"),
        );
    }
    for url in [
        "marketingUrl",
        "privacyStatementUrl",
        "supportUrl",
        "termsOfServiceUrl",
    ] {
        put(
            Some(IgnoredField::Info),
            &format!("info.{url}"),
            fields::text(get(&format!("info.{url}"))),
        );
    }
    for (key, value) in permissions(get("requiredResourceAccess"), resources) {
        put(Some(IgnoredField::Permissions), &key, value);
    }
    f
}

/// `permissions.<resource>` -> `{"delegated": [...], "application": [...]}` by name.
fn permissions(required: Option<&Value>, resources: &[NamedResource]) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for entry in required.and_then(Value::as_array).into_iter().flatten() {
        let app_id = entry
            .get("resourceAppId")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let resource = resources
            .iter()
            .find(|r| r.api.app_id.to_string().eq_ignore_ascii_case(app_id));
        let label = resource.map_or_else(|| app_id.to_string(), |r| r.written.to_string());
        let mut delegated = Vec::new();
        let mut application = Vec::new();
        for access in entry
            .get("resourceAccess")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let id = access.get("id").and_then(Value::as_str).unwrap_or_default();
            let (kind, list) = match access.get("type").and_then(Value::as_str) {
                Some("Role") => (PermissionKind::Application, &mut application),
                _ => (PermissionKind::Delegated, &mut delegated),
            };
            list.push(resource.map_or_else(|| id.to_string(), |r| r.api.name_of(kind, id)));
        }
        let delegated = fields::string_set(delegated.iter().map(String::as_str));
        let application = fields::string_set(application.iter().map(String::as_str));
        // Only the kinds that are present, so a plan reads `{"delegated": [...]}`.
        let mut kinds = Map::new();
        for (kind, names) in [("delegated", delegated), ("application", application)] {
            if !names.is_null() {
                kinds.insert(kind.to_string(), names);
            }
        }
        if !kinds.is_empty() {
            out.push((format!("permissions.{label}"), Value::Object(kinds)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::engine::fields::diff;

    fn loaded() -> model::DesiredState {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        crate::manifest::load(&[root.join("examples/multi-file")], &|_: &str| None)
            .unwrap()
            .state
    }

    /// What Graph returns for a body it stored: the body plus server-side properties.
    fn as_graph_returns(body: &Map<String, Value>) -> Value {
        let mut live = Value::Object(body.clone());
        live["id"] = json!("00000000-0000-0000-0000-00000000000a");
        live["appId"] = json!("00000000-0000-0000-0000-00000000000b");
        live["publisherDomain"] = json!("contoso.onmicrosoft.com");
        for role in live["appRoles"].as_array_mut().into_iter().flatten() {
            role["origin"] = json!("Application");
        }
        if let Some(items) = live["tags"].as_array_mut() {
            items.reverse();
        }
        live
    }

    #[test]
    fn a_stored_body_reads_back_as_no_change() {
        let state = loaded();
        for app in state.apps.values() {
            let body = desired_body(app, &state.set_name, &[]);
            let none = BTreeSet::new();
            let changes = diff(
                &normalize(&Value::Object(body.clone()), &[], &none),
                &normalize(&as_graph_returns(&body), &[], &none),
            );
            assert!(changes.is_empty(), "{}: {changes:#?}", app.key);
        }
    }

    #[test]
    fn ignored_fields_are_neither_written_nor_compared() {
        let state = loaded();
        let app = state
            .apps
            .values()
            .find(|a| !a.lifecycle.ignore.is_empty())
            .expect("an example ignores fields");
        let body = desired_body(app, &state.set_name, &[]);
        assert!(app.lifecycle.ignore.contains(&IgnoredField::Notes));
        assert!(!body.contains_key("notes"));
        let mut live = as_graph_returns(&body);
        live["notes"] = json!("edited in the portal");
        live["displayName"] = json!("renamed in the portal");
        let changes = diff(
            &normalize(&Value::Object(body), &[], &app.lifecycle.ignore),
            &normalize(&live, &[], &app.lifecycle.ignore),
        );
        let changed: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(changed, ["displayName"]);
    }
}
