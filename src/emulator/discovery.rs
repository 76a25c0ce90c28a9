//! The identity platform's metadata endpoints, so that MSAL-based clients (MSAL, azure-identity,
//! the Azure CLI) find the sandbox's token endpoint and keys the way they find Entra's:
//!
//! - `/{tenant}/v2.0/.well-known/openid-configuration` and the v1 form
//!   `/{tenant}/.well-known/openid-configuration`
//!   (<https://learn.microsoft.com/en-us/entra/identity-platform/v2-protocols-oidc#find-your-apps-openid-configuration-document-uri>);
//! - instance discovery, `/common/discovery/instance?api-version=1.1&authorization_endpoint=...`,
//!   which MSAL calls before trusting an authority host it does not know;
//! - the signing keys, `/{tenant}/discovery/v2.0/keys` (and `/discovery/keys`), holding the `kid`
//!   every access token names
//!   (<https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens#validate-the-signature>).
//!
//! Endpoint URLs in the documents are built from the address the client called; the issuers are
//! Entra's own (`https://login.microsoftonline.com/{tid}/v2.0`, `https://sts.windows.net/{tid}/`),
//! which is what the `iss` of a token must match. These handlers only read; they never issue a
//! token or reveal the private key.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::origin;
use super::pipeline::{Shared, lock};

/// Tenant names a metadata request may use besides the tenant's id and domains.
const MULTI_TENANT: [&str; 3] = ["common", "organizations", "consumers"];

/// The tenant id a path segment names, `None` when it names none.
fn tenant_of(shared: &Shared, segment: &str) -> Option<String> {
    let store = lock(&shared.store);
    let id = store.tenant_id.to_string();
    let named = segment.eq_ignore_ascii_case(&id)
        || store
            .verified_domains()
            .iter()
            .any(|d| d.eq_ignore_ascii_case(segment))
        || MULTI_TENANT.iter().any(|m| m.eq_ignore_ascii_case(segment));
    named.then_some(id)
}

/// Entra's answer for a tenant it does not know.
fn unknown_tenant(segment: &str) -> Response {
    let body = json!({
        "error": "invalid_tenant",
        "error_description": format!(
            "AADSTS90002: Tenant '{segment}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
        ),
        "error_codes": [90002],
    });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

fn cached(body: Value) -> Response {
    let mut response = Json(body).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=86400, private"),
    );
    response
}

fn listener(shared: &Shared) -> &str {
    shared.authority_url.as_str()
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`
pub async fn openid_v2(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(tid) = tenant_of(&shared, &tenant) else {
        return unknown_tenant(&tenant);
    };
    let base = origin::base(&headers, listener(&shared));
    let at = format!("{base}/{tenant}");
    cached(json!({
        "token_endpoint": format!("{at}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{at}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": format!("https://login.microsoftonline.com/{tid}/v2.0"),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "authorization_endpoint": format!("{at}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{at}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{at}/oauth2/v2.0/logout"),
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "kerberos_endpoint": format!("{at}/kerberos"),
        "tenant_region_scope": "WW",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    }))
}

/// `GET /{tenant}/.well-known/openid-configuration` (the v1 endpoints).
pub async fn openid_v1(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(tid) = tenant_of(&shared, &tenant) else {
        return unknown_tenant(&tenant);
    };
    let base = origin::base(&headers, listener(&shared));
    let at = format!("{base}/{tenant}");
    cached(json!({
        "token_endpoint": format!("{at}/oauth2/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{base}/common/discovery/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
        "scopes_supported": ["openid"],
        "issuer": format!("https://sts.windows.net/{tid}/"),
        "microsoft_multi_refresh_token": true,
        "authorization_endpoint": format!("{at}/oauth2/authorize"),
        "device_authorization_endpoint": format!("{at}/oauth2/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{at}/oauth2/logout"),
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "amr", "nonce", "email", "given_name", "family_name", "nickname"],
        "check_session_iframe": format!("{at}/oauth2/checksession"),
        "userinfo_endpoint": format!("{at}/openid/userinfo"),
        "kerberos_endpoint": format!("{at}/kerberos"),
        "tenant_region_scope": "WW",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    }))
}

/// `GET /{tenant}/discovery/v2.0/keys` and `/{tenant}/discovery/keys`: the key set.
pub async fn keys(State(shared): State<Arc<Shared>>, Path(tenant): Path<String>) -> Response {
    if tenant_of(&shared, &tenant).is_none() {
        return unknown_tenant(&tenant);
    }
    cached(json!({ "keys": [shared.signer.jwk()] }))
}

/// `GET /{tenant}/discovery/instance`: MSAL's instance discovery. It vouches only for the host the
/// client called (the sandbox is its own cloud); any other authority is an unknown instance
/// (AADSTS50049), as Entra answers for a host it does not know.
pub async fn instance(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let base = origin::base(&headers, listener(&shared));
    let called = url::Url::parse(&base).ok();
    let called_host = called
        .as_ref()
        .and_then(|u| u.host_str())
        .unwrap_or_default();
    let invalid = || {
        let body = json!({
            "error": "invalid_instance",
            "error_description": "AADSTS50049: Unknown or invalid instance.",
            "error_codes": [50049],
        });
        (StatusCode::BAD_REQUEST, Json(body)).into_response()
    };
    let Some(endpoint) = query
        .get("authorization_endpoint")
        .and_then(|e| url::Url::parse(e).ok())
    else {
        return invalid();
    };
    // MSAL drops the port from the authorization endpoint it asks about, so hosts are compared.
    if !endpoint
        .host_str()
        .is_some_and(|h| h.eq_ignore_ascii_case(called_host))
    {
        return invalid();
    }
    let host = base
        .split_once("://")
        .map(|(_, h)| h)
        .unwrap_or(&base)
        .to_string();
    let tenant = endpoint
        .path_segments()
        .and_then(|mut s| s.next())
        .filter(|t| !t.is_empty())
        .unwrap_or("common")
        .to_string();
    cached(json!({
        "tenant_discovery_endpoint": format!("{base}/{tenant}/v2.0/.well-known/openid-configuration"),
        "api-version": "1.1",
        "metadata": [{
            "preferred_network": host,
            "preferred_cache": host,
            "aliases": [host],
        }],
    }))
}
