//! Write semantics shared by POST and PATCH: merging a payload into an object (complex values
//! merge, collections are replaced whole) and the directory's validation rules for applications.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::is_known_property;
use crate::emulator::error::{GraphError, GraphResult};
use crate::emulator::store::{Kind, Pin, Store};
use crate::emulator::wire;

/// Properties no client may set, per kind.
fn read_only(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Application => &[
            "id",
            "appId",
            "createdDateTime",
            "createdByAppId",
            "deletedDateTime",
            "publisherDomain",
            "passwordCredentials",
            "disabledByMicrosoftStatus",
        ],
        Kind::ServicePrincipal => &[
            "id",
            "appId",
            "createdByAppId",
            "deletedDateTime",
            "appOwnerOrganizationId",
            "appDisplayName",
            "passwordCredentials",
            "servicePrincipalType",
            "signInAudience",
        ],
        Kind::User | Kind::Group => &["id", "createdDateTime", "deletedDateTime"],
    }
}

/// Merges `patch` into `target`. Nested complex values merge property by property; collections
/// and scalars are replaced (GRAPH.md: a collection that is sent replaces the whole collection).
/// Annotations (`@odata.type`, `...@odata.bind`) are skipped; the caller handles binds.
pub fn apply(
    kind: Kind,
    target: &mut Map<String, Value>,
    patch: &Map<String, Value>,
) -> GraphResult<()> {
    for (name, value) in patch {
        if name.contains('@') {
            continue;
        }
        if !is_known_property(kind, name) {
            return Err(GraphError::bad_request(format!(
                "Property '{name}' does not exist as a declared property or extension property."
            )));
        }
        if read_only(kind).contains(&name.as_str()) {
            if target.get(name) == Some(value) {
                continue;
            }
            return Err(GraphError::bad_request(format!(
                "Property '{name}' is read-only and cannot be set."
            )));
        }
        if name == "uniqueName" && target.get(name).is_some_and(|v| !v.is_null() && v != value) {
            return Err(GraphError::bad_request(
                "Property 'uniqueName' is read-only and cannot be set.",
            ));
        }
        let existing = target.get(name).cloned().unwrap_or(Value::Null);
        let merged = merge(name, kind, existing, value)?;
        target.insert(name.clone(), merged);
    }
    Ok(())
}

fn merge(path: &str, kind: Kind, existing: Value, patch: &Value) -> GraphResult<Value> {
    let invalid = || GraphError::invalid_value(path, kind.resource_name());
    match (existing, patch) {
        (Value::Array(_), Value::Array(items)) => Ok(Value::Array(without_annotations(items))),
        (Value::Array(_), _) => Err(invalid()),
        (Value::Object(mut current), Value::Object(changes)) => {
            for (name, value) in changes {
                if name.contains('@') {
                    continue;
                }
                let old = current.remove(name).unwrap_or(Value::Null);
                current.insert(
                    name.clone(),
                    merge(&format!("{path}.{name}"), kind, old, value)?,
                );
            }
            Ok(Value::Object(current))
        }
        (Value::Object(_), Value::Null) => Ok(Value::Null),
        (Value::Object(_), _) => Err(invalid()),
        (Value::Bool(_), v) if !v.is_boolean() && !v.is_null() => Err(invalid()),
        (Value::String(_), v) if !v.is_string() && !v.is_null() => Err(invalid()),
        (_, Value::Object(changes)) => Ok(Value::Object(strip_annotations(changes))),
        (_, Value::Array(items)) => Ok(Value::Array(without_annotations(items))),
        (_, v) => Ok(v.clone()),
    }
}

fn strip_annotations(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .filter(|(k, _)| !k.contains('@'))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn without_annotations(items: &[Value]) -> Vec<Value> {
    items
        .iter()
        .map(|item| match item {
            Value::Object(map) => Value::Object(strip_annotations(map)),
            other => other.clone(),
        })
        .collect()
}

const AUDIENCES: &[&str] = &[
    "AzureADMyOrg",
    "AzureADMultipleOrgs",
    "AzureADandPersonalMicrosoftAccount",
    "PersonalMicrosoftAccount",
];

/// Whether the audience admits personal Microsoft accounts.
pub fn allows_personal_accounts(app: &Map<String, Value>) -> bool {
    matches!(
        app.get("signInAudience").and_then(Value::as_str),
        Some("AzureADandPersonalMicrosoftAccount" | "PersonalMicrosoftAccount")
    )
}

fn strings(value: Option<&Value>) -> Vec<&str> {
    value
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn redirect_uri_ok(uri: &str, native: bool) -> bool {
    if uri.len() > 256
        || uri.contains(['!', '$', '\'', '(', ')', ',', ';'])
        || uri.contains("[::1]")
    {
        return false;
    }
    let Ok(url) = url::Url::parse(uri) else {
        return false;
    };
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1"));
    match url.scheme() {
        "https" => true,
        "http" => loopback,
        _ => native,
    }
}

fn conflict(property: &str) -> GraphError {
    let message =
        format!("Another object with the same value for property {property} already exists.");
    GraphError::bad_request(message.clone()).with_detail("ObjectConflict", message, property)
}

/// The directory's rules for an application about to be stored (`old` is `None` on create).
pub fn application(
    store: &Store,
    id: Uuid,
    old: Option<&Map<String, Value>>,
    app: &Map<String, Value>,
) -> GraphResult<()> {
    let invalid = |property: &str| Err(GraphError::invalid_value(property, "Application"));
    let name = app
        .get("displayName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if name.trim().is_empty() || name.chars().count() > 256 {
        return invalid("displayName");
    }
    if app
        .get("description")
        .and_then(Value::as_str)
        .is_some_and(|d| d.chars().count() > 1024)
    {
        return invalid("description");
    }
    let audience = app
        .get("signInAudience")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !AUDIENCES.contains(&audience) {
        return invalid("signInAudience");
    }
    if allows_personal_accounts(app)
        && wire::pointer(app, "/api/requestedAccessTokenVersion").and_then(Value::as_i64) != Some(2)
    {
        return invalid("api.requestedAccessTokenVersion");
    }
    let tags = strings(app.get("tags"));
    let mut seen = std::collections::HashSet::new();
    if tags.iter().any(|t| {
        t.is_empty()
            || t.len() > 256
            || t.contains(char::is_whitespace)
            || !seen.insert(t.to_lowercase())
    }) {
        return invalid("tags");
    }
    for (pointer, property, native) in [
        ("/web/redirectUris", "web.redirectUris", false),
        ("/spa/redirectUris", "spa.redirectUris", false),
        (
            "/publicClient/redirectUris",
            "publicClient.redirectUris",
            true,
        ),
    ] {
        let uris = strings(wire::pointer(app, pointer));
        let limit = if allows_personal_accounts(app) {
            100
        } else {
            256
        };
        if uris.len() > limit || uris.iter().any(|u| !redirect_uri_ok(u, native)) {
            return invalid(property);
        }
    }
    let personal = allows_personal_accounts(app);
    if personal {
        // Apps that sign in personal accounts: no wildcard or query string in redirect URIs, and no
        // app roles. <https://learn.microsoft.com/en-us/entra/identity-platform/reply-url>,
        // <https://learn.microsoft.com/en-us/entra/identity-platform/supported-accounts-validation>
        for (pointer, property) in [
            ("/web/redirectUris", "web.redirectUris"),
            ("/spa/redirectUris", "spa.redirectUris"),
            ("/publicClient/redirectUris", "publicClient.redirectUris"),
        ] {
            if strings(wire::pointer(app, pointer))
                .iter()
                .any(|u| u.contains('*') || u.contains('?'))
            {
                return invalid(property);
            }
        }
        if app
            .get("appRoles")
            .and_then(Value::as_array)
            .is_some_and(|roles| !roles.is_empty())
        {
            return invalid("appRoles");
        }
    }
    required_resource_access(app, personal)?;
    if wire::pointer(app, "/api/oauth2PermissionScopes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|scope| scope.get("value").and_then(Value::as_str))
        .any(|value| value.chars().count() > MAX_SCOPE_VALUE)
    {
        return invalid("api.oauth2PermissionScopes");
    }
    let uris = strings(app.get("identifierUris"));
    identifier_uris(store, &uris, personal)?;
    let unique = app.get("uniqueName").and_then(Value::as_str);
    if !uris.is_empty() || unique.is_some() {
        // Only applications holding one of these values can conflict: ask the indexes for them.
        let mut pins: Vec<Pin> = uris
            .iter()
            .map(|u| Pin::HasItem("identifierUris".into(), u.to_string()))
            .collect();
        pins.extend(unique.map(|u| Pin::Equals("uniqueName".into(), u.to_string())));
        let others = store
            .candidates(Kind::Application, Some(&pins))
            .into_iter()
            .filter(|key| *key != id)
            .filter_map(|key| store.object(&key));
        for other in others {
            let taken = other
                .body
                .get("identifierUris")
                .and_then(Value::as_array)
                .is_some_and(|existing| {
                    existing
                        .iter()
                        .filter_map(Value::as_str)
                        .any(|o| uris.iter().any(|u| o.eq_ignore_ascii_case(u)))
                });
            if taken {
                return Err(conflict("identifierUris"));
            }
            if unique.is_some_and(|u| {
                other
                    .str("uniqueName")
                    .is_some_and(|o| o.eq_ignore_ascii_case(u))
            }) {
                return Err(conflict("uniqueName"));
            }
        }
    }
    if let Some(old) = old {
        entitlements_disabled_first(old.get("appRoles"), app.get("appRoles"))?;
        entitlements_disabled_first(
            wire::pointer(old, "/api/oauth2PermissionScopes"),
            wire::pointer(app, "/api/oauth2PermissionScopes"),
        )?;
    }
    Ok(())
}

/// Longest scope value. <https://learn.microsoft.com/en-us/entra/identity-platform/supported-accounts-validation>
const MAX_SCOPE_VALUE: usize = 120;

/// Limits on requiredResourceAccess: at most 50 resources, and 400 permissions in all (200, and 30
/// per resource, for apps that sign in personal accounts).
/// <https://learn.microsoft.com/en-us/entra/identity-platform/supported-accounts-validation>
fn required_resource_access(app: &Map<String, Value>, personal: bool) -> GraphResult<()> {
    let resources = app
        .get("requiredResourceAccess")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let per_resource: Vec<usize> = resources
        .iter()
        .map(|r| {
            r.get("resourceAccess")
                .and_then(Value::as_array)
                .map_or(0, Vec::len)
        })
        .collect();
    let total: usize = per_resource.iter().sum();
    let (max_total, max_each) = if personal {
        (200, 30)
    } else {
        (400, usize::MAX)
    };
    if resources.len() > 50 || total > max_total || per_resource.iter().any(|n| *n > max_each) {
        return Err(GraphError::invalid_value(
            "requiredResourceAccess",
            "Application",
        ));
    }
    Ok(())
}

/// The directory's rules for identifierUris: no wildcards, at most 255 characters (120, no `urn:`
/// scheme, no query or fragment, and at most 50 URIs for apps that sign in personal accounts),
/// and an http(s) URI's host must be a verified domain of the tenant or a subdomain of one.
/// <https://learn.microsoft.com/en-us/entra/identity-platform/supported-accounts-validation>,
/// <https://learn.microsoft.com/en-us/entra/identity-platform/identifier-uri-restrictions>
fn identifier_uris(store: &Store, uris: &[&str], personal: bool) -> GraphResult<()> {
    let invalid = || GraphError::invalid_value("identifierUris", "Application");
    let max_len = if personal { 120 } else { 255 };
    if personal && uris.len() > 50 {
        return Err(invalid());
    }
    let domains = store.verified_domains();
    for uri in uris {
        if uri.chars().count() > max_len || uri.contains('*') {
            return Err(invalid());
        }
        let lower = uri.to_ascii_lowercase();
        if personal && (lower.starts_with("urn:") || uri.contains('?') || uri.contains('#')) {
            return Err(invalid());
        }
        if !(lower.starts_with("https://") || lower.starts_with("http://")) {
            continue;
        }
        let host = url::Url::parse(uri)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
            .unwrap_or_default();
        let verified = domains.iter().any(|domain| {
            let domain = domain.to_ascii_lowercase();
            host == domain || host.ends_with(&format!(".{domain}"))
        });
        if !verified {
            let message = format!(
                "Values of identifierUris property must use a verified domain of the organization or its subdomain: '{uri}'"
            );
            return Err(GraphError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "HostNameNotOnVerifiedDomain",
                message.clone(),
            )
            .with_detail("HostNameNotOnVerifiedDomain", message, "identifierUris"));
        }
    }
    Ok(())
}

/// An enabled app role or scope must be disabled in one PATCH before it is removed or changed.
fn entitlements_disabled_first(old: Option<&Value>, new: Option<&Value>) -> GraphResult<()> {
    let empty = Vec::new();
    let old = old.and_then(Value::as_array).unwrap_or(&empty);
    let new = new.and_then(Value::as_array).unwrap_or(&empty);
    for before in old
        .iter()
        .filter(|e| e.get("isEnabled") == Some(&Value::Bool(true)))
    {
        let after = new.iter().find(|e| e.get("id") == before.get("id"));
        let changed = match after {
            None => true,
            Some(after) => {
                let strip = |v: &Value| {
                    let mut v = v.clone();
                    if let Some(map) = v.as_object_mut() {
                        map.remove("isEnabled");
                        map.retain(|_, value| !value.is_null());
                    }
                    v
                };
                after.get("isEnabled") == Some(&Value::Bool(true)) && strip(before) != strip(after)
            }
        };
        if changed {
            // The code is the top-level one, as Graph answers it (not only in the details).
            return Err(GraphError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "CannotDeleteOrUpdateEnabledEntitlement",
                "Permission (scope or role) cannot be deleted or updated unless disabled first.",
            )
            .with_detail(
                "CannotDeleteOrUpdateEnabledEntitlement",
                "Permission (scope or role) cannot be deleted or updated unless disabled first.",
                "appRoles",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn complex_values_merge_and_collections_replace() {
        let mut app = crate::emulator::wire::application(Uuid::nil(), Uuid::nil(), "d", None, 0);
        app["web"]["redirectUris"] = json!(["https://a", "https://b"]);
        apply(
            Kind::Application,
            &mut app,
            &map(json!({"web": {"redirectUris": ["https://c"]}})),
        )
        .unwrap();
        assert_eq!(app["web"]["redirectUris"], json!(["https://c"]));
        assert_eq!(
            app["web"]["implicitGrantSettings"]["enableIdTokenIssuance"],
            json!(false)
        );
    }

    #[test]
    fn unknown_and_read_only_properties_are_refused() {
        let mut app = crate::emulator::wire::application(Uuid::nil(), Uuid::nil(), "d", None, 0);
        assert!(apply(Kind::Application, &mut app, &map(json!({"colour": "red"}))).is_err());
        assert!(
            apply(
                Kind::Application,
                &mut app,
                &map(json!({"passwordCredentials": [{}]}))
            )
            .is_err()
        );
        assert!(
            apply(
                Kind::Application,
                &mut app,
                &map(json!({"@odata.type": "#microsoft.graph.application"}))
            )
            .is_ok()
        );
    }

    #[test]
    fn enabled_roles_cannot_be_removed() {
        let role = json!([{"id": "1", "isEnabled": true, "value": "a"}]);
        assert!(entitlements_disabled_first(Some(&role), Some(&json!([]))).is_err());
        let disabled = json!([{"id": "1", "isEnabled": false, "value": "a"}]);
        assert!(entitlements_disabled_first(Some(&role), Some(&disabled)).is_ok());
        assert!(entitlements_disabled_first(Some(&disabled), Some(&json!([]))).is_ok());
    }

    #[test]
    fn redirect_uri_rules() {
        assert!(redirect_uri_ok("https://crm.example.com/cb", false));
        assert!(redirect_uri_ok("http://localhost:8080/cb", false));
        assert!(!redirect_uri_ok("http://crm.example.com/cb", false));
        assert!(redirect_uri_ok("msal123://auth", true));
        assert!(!redirect_uri_ok("https://a.example.com/x;y", false));
    }
}
