//! The sandbox's Azure Key Vault listener: the secrets part of the Key Vault data plane (REST
//! api-version 7.x), served on a listener of its own so that clients keep Key Vault's real URL
//! shape. The vaults themselves are data in `key_vault`, kept in the tenant's store.
//!
//! Which vault a request addresses comes from its Host header, as at Key Vault's front door: a
//! client sends `PUT /secrets/x` to the sandbox's address with `Host: contoso-kv.vault.azure.net`.
//! Tokens come from the sandbox's token endpoint with Key Vault's audience; a Graph token is
//! refused, as Key Vault refuses it. Vaults live in the tenant's store (saved and reset with it),
//! and their requests go through the same log, latency and freeze faults as Graph's. This module
//! must never touch the directory: a vault knows nothing of applications.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use uuid::Uuid;

use super::auth::{self, KEY_VAULT_AUDIENCE, TokenProblem};
use super::caller::Caller;
use super::key_vault::{self, Answer, Page, Scope, VaultError};
use super::log::{EntryKind, LogEntry};
use super::pipeline::{Shared, lock, now_ms};
use super::server;

/// Data-plane versions whose secrets API matches what the sandbox serves.
const API_VERSIONS: &[&str] = &["7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6"];
const LATEST_API_VERSION: &str = "7.6";

/// The Key Vault listener's routes: one handler, because Key Vault's paths carry optional
/// segments (`/secrets/{name}/` with an empty version means the current one).
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .fallback(handle)
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            server::transport,
        ))
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            server::freeze,
        ))
        .with_state(shared)
}

/// The host part of a Host header or vault URL, lowercased, without scheme or port.
pub fn vault_host(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let url = if raw.contains("://") {
        url::Url::parse(raw)
    } else {
        url::Url::parse(&format!("https://{raw}"))
    };
    url.ok()?
        .host_str()
        .filter(|h| !h.is_empty())
        .map(str::to_ascii_lowercase)
}

/// One operation of the secrets API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation<'a> {
    Set(&'a str),
    Get(&'a str, Option<&'a str>),
    Versions(&'a str),
    Delete(&'a str),
    GetDeleted(&'a str),
    Purge(&'a str),
    Recover(&'a str),
}

impl<'a> Operation<'a> {
    /// Matches a method and decoded path segments; `Err(true)` when the path is served with other
    /// methods, `Err(false)` when the sandbox does not serve it at all.
    fn parse(method: &Method, segments: &'a [String]) -> Result<Operation<'a>, bool> {
        let parts: Vec<&str> = segments.iter().map(String::as_str).collect();
        let operation = match parts[..] {
            ["secrets", name] => match *method {
                Method::GET => Operation::Get(name, None),
                Method::PUT => Operation::Set(name),
                Method::DELETE => Operation::Delete(name),
                _ => return Err(true),
            },
            ["secrets", name, "versions"] if *method == Method::GET => Operation::Versions(name),
            ["secrets", name, version] if *method == Method::GET => {
                Operation::Get(name, Some(version))
            }
            ["deletedsecrets", name] => match *method {
                Method::GET => Operation::GetDeleted(name),
                Method::DELETE => Operation::Purge(name),
                _ => return Err(true),
            },
            ["deletedsecrets", name, "recover"] if *method == Method::POST => {
                Operation::Recover(name)
            }
            ["secrets", _, _] | ["deletedsecrets", _, "recover"] => return Err(true),
            _ => return Err(false),
        };
        Ok(operation)
    }

    fn writes(self) -> bool {
        matches!(
            self,
            Operation::Set(_) | Operation::Delete(_) | Operation::Purge(_) | Operation::Recover(_)
        )
    }

    /// The access-policy permission the operation needs (named in a refusal).
    fn permission(self) -> &'static str {
        match self {
            Operation::Set(_) => "set",
            Operation::Get(..) | Operation::GetDeleted(_) => "get",
            Operation::Versions(_) => "list",
            Operation::Delete(_) => "delete",
            Operation::Purge(_) => "purge",
            Operation::Recover(_) => "recover",
        }
    }
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    // HTTP/1.1 names the vault in Host; HTTP/2 in the URI's authority.
    let host = header_text(&headers, "host")
        .or_else(|| uri.authority().map(|a| a.as_str()))
        .and_then(vault_host);
    let (result, client_id) = match &host {
        Some(host) => answer(&shared, &method, &uri, &headers, &body, host),
        None => (
            Err(VaultError::bad_parameter(
                "The request has no Host header naming the vault it addresses.",
            )),
            None,
        ),
    };
    let status = match &result {
        Ok((status, _)) => *status,
        Err(error) => error.status,
    };
    lock(&shared.log).record(LogEntry {
        seq: 0,
        timestamp: chrono::Utc::now(),
        kind: EntryKind::KeyVault,
        method: method.to_string(),
        path: uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        status: status.as_u16(),
        latency_ms: started.elapsed().as_secs_f64() * 1000.0,
        batch_seq: None,
        batch_item_id: None,
        client_id,
        host,
    });
    tracing::debug!(method = %method, path = %uri.path(), status = status.as_u16(), "key vault request");
    respond(result, &headers)
}

/// Authenticates and runs the request; answers the outcome and the caller's client id when known.
fn answer(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    host: &str,
) -> (Result<Answer, VaultError>, Option<String>) {
    match auth::verify_bearer(
        &shared.signer,
        &shared.tenant_id,
        header_text(headers, "authorization"),
        KEY_VAULT_AUDIENCE,
        now_ms(),
    ) {
        Ok(claims) => {
            let caller = auth::caller(&claims);
            let result = run(shared, &caller, method, uri, body, host);
            (result, Some(caller.app_id))
        }
        Err(problem) => (Err(unauthorized(shared, problem)), None),
    }
}

/// Checks the api-version, routes, applies the refusal fault and runs the operation on the store.
fn run(
    shared: &Shared,
    caller: &Caller,
    method: &Method,
    uri: &Uri,
    body: &[u8],
    host: &str,
) -> Result<Answer, VaultError> {
    let query: HashMap<String, String> =
        form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let option = |name: &str| query.get(name).map(String::as_str);
    let api_version = check_api_version(option("api-version"))?;
    let segments: Vec<String> = uri
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .to_string()
        })
        .collect();
    let operation = Operation::parse(method, &segments)
        .map_err(|served| not_served(method, uri.path(), served))?;
    // Reads stay allowed: the switch stands for an access policy with Get but not Set, the
    // usual way delivery fails after the sink was read at plan time.
    if method != Method::GET && lock(&shared.faults).key_vault_denied() {
        return Err(denied(shared, caller, host, operation));
    }
    let result = {
        let mut store = lock(&shared.store);
        let tenant_id = store.tenant_id;
        let mut scope = Scope {
            vaults: &mut store.key_vaults,
            host,
            tenant_id,
            now_secs: now_ms() / 1000,
        };
        let result = match operation {
            Operation::Set(name) => key_vault::check_name(name)
                .and_then(|()| parse_body(body))
                .and_then(|body| scope.set(name, body.as_ref())),
            Operation::Get(name, version) => scope.get(name, version),
            Operation::Versions(name) => Page::parse(option("maxresults"), option("$skiptoken"))
                .and_then(|page| scope.versions(name, &page, api_version)),
            Operation::Delete(name) => scope.delete(name),
            Operation::GetDeleted(name) => scope.get_deleted(name),
            Operation::Purge(name) => scope.purge(name),
            Operation::Recover(name) => scope.recover(name),
        };
        if result.is_ok() && operation.writes() {
            store.touch();
        }
        result
    };
    if result.is_ok() && operation.writes() {
        shared.mark_dirty();
    }
    result
}

fn check_api_version(version: Option<&str>) -> Result<&str, VaultError> {
    // UNCONFIRMED: Key Vault's wording for a missing or unknown api-version (the code is
    // BadParameter like its other malformed requests).
    match version {
        None | Some("") => Err(VaultError::bad_parameter(
            "The api-version query parameter is required for all requests.",
        )),
        Some(version) if API_VERSIONS.contains(&version) => Ok(version),
        Some(version) => Err(VaultError::bad_parameter(format!(
            "The specified version ({version}) is not recognized. Consider using the latest supported version ({LATEST_API_VERSION})."
        ))),
    }
}

fn parse_body(body: &[u8]) -> Result<Option<Value>, VaultError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body)
        .map(Some)
        // UNCONFIRMED: wording for a body that is not JSON.
        .map_err(|_| VaultError::bad_parameter("The request body is not valid JSON."))
}

/// Key Vault's 401, with the challenge clients use to find the authority and resource.
fn unauthorized(shared: &Shared, problem: TokenProblem) -> VaultError {
    // Only the AKV10000 and AKV10022 texts are confirmed; the others are the sandbox's words.
    let message = match problem {
        TokenProblem::Missing => "AKV10000: Request is missing a Bearer or PoP token.".to_string(),
        TokenProblem::Malformed | TokenProblem::Signature => {
            "The access token could not be validated.".to_string()
        }
        TokenProblem::Audience(found) => {
            format!("AKV10022: Invalid audience. Expected {KEY_VAULT_AUDIENCE}, found: {found}.")
        }
        TokenProblem::Issuer(found) => format!(
            "Invalid issuer. Expected https://sts.windows.net/{}/, found: https://sts.windows.net/{found}/.",
            shared.tenant_id
        ),
        TokenProblem::Expired => "The access token has expired.".to_string(),
    };
    VaultError::new(StatusCode::UNAUTHORIZED, "Unauthorized", message).with_header(
        "WWW-Authenticate",
        format!(
            r#"Bearer authorization="{}/{}", resource="{KEY_VAULT_AUDIENCE}""#,
            shared.authority_url, shared.tenant_id
        ),
    )
}

/// The access-policy refusal the `key_vault_failure_probability` switch produces.
fn denied(shared: &Shared, caller: &Caller, host: &str, operation: Operation) -> VaultError {
    let vault = host.split('.').next().unwrap_or(host);
    VaultError::new(
        StatusCode::FORBIDDEN,
        "Forbidden",
        format!(
            "The user, group or application 'appid={};oid={};iss=https://sts.windows.net/{}/' does not have secrets {} permission on key vault '{vault};location=sandbox'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287",
            caller.app_id,
            caller.service_principal_id,
            shared.tenant_id,
            operation.permission()
        ),
    )
    // UNCONFIRMED: the inner code of an access-policy refusal.
    .with_inner("AccessDenied")
}

fn not_served(method: &Method, path: &str, served_otherwise: bool) -> VaultError {
    if served_otherwise {
        // UNCONFIRMED: Key Vault's answer to a method a path does not take.
        VaultError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "BadParameter",
            format!("The requested resource does not support http method '{method}'."),
        )
    } else {
        // Not a Key Vault answer: the sandbox says plainly what it lacks.
        VaultError::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            format!(
                "The sandbox's Key Vault does not serve {method} {path}; it serves set, get, version lists and delete of secrets, and get, purge and recover of deleted secrets."
            ),
        )
    }
}

fn respond(result: Result<Answer, VaultError>, request: &HeaderMap) -> Response {
    let (status, body, extra) = match result {
        Ok((status, body)) => (status, body, Vec::new()),
        Err(error) => (error.status, Some(error.body()), error.headers),
    };
    let mut builder = Response::builder()
        .status(status)
        .header(header::CACHE_CONTROL, "no-cache")
        .header("x-ms-request-id", Uuid::new_v4().to_string());
    if let Some(id) = header_text(request, "x-ms-client-request-id") {
        builder = builder.header("x-ms-client-request-id", id);
    }
    for (name, value) in extra {
        builder = builder.header(name, value);
    }
    let body = match body {
        Some(body) => {
            builder = builder.header(header::CONTENT_TYPE, "application/json; charset=utf-8");
            Body::from(body.to_string())
        }
        None => Body::empty(),
    };
    builder
        .body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_hosts_from_headers_and_urls() {
        let cases = [
            (
                "contoso-kv.vault.azure.net",
                Some("contoso-kv.vault.azure.net"),
            ),
            // Ports and case do not make another vault.
            (
                "Contoso-KV.vault.azure.net:443",
                Some("contoso-kv.vault.azure.net"),
            ),
            // Manifests name vaults by URL.
            (
                "https://contoso-kv.vault.azure.net/",
                Some("contoso-kv.vault.azure.net"),
            ),
            ("127.0.0.1:8080", Some("127.0.0.1")),
            ("", None),
        ];
        for (raw, expected) in cases {
            assert_eq!(vault_host(raw).as_deref(), expected, "{raw:?}");
        }
    }

    #[test]
    fn paths_map_to_operations() {
        let segments = |path: &str| -> Vec<String> {
            path.split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        };
        let s = segments("/secrets/a/");
        assert_eq!(
            Operation::parse(&Method::GET, &s),
            Ok(Operation::Get("a", None))
        );
        let s = segments("/secrets/a/versions");
        assert_eq!(
            Operation::parse(&Method::GET, &s),
            Ok(Operation::Versions("a"))
        );
        let s = segments("/secrets/a/0123");
        assert_eq!(
            Operation::parse(&Method::GET, &s),
            Ok(Operation::Get("a", Some("0123")))
        );
        let s = segments("/secrets/a");
        assert_eq!(Operation::parse(&Method::POST, &s), Err(true));
        let s = segments("/deletedsecrets/a/recover");
        assert_eq!(
            Operation::parse(&Method::POST, &s),
            Ok(Operation::Recover("a"))
        );
        let s = segments("/keys/a");
        assert_eq!(Operation::parse(&Method::GET, &s), Err(false));
        let s = segments("/secrets");
        assert_eq!(Operation::parse(&Method::GET, &s), Err(false));
    }
}
