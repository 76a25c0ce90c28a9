//! The sandbox's identity platform: the client-credentials token endpoint (client secret or a
//! certificate-signed client assertion) and the bearer check in front of every Graph and Key Vault
//! request.
//!
//! Access tokens are RS256 JWTs signed with the tenant's own key ([`super::keys`]), whose public
//! half the discovery endpoints publish: clients decode and verify them like real Entra tokens
//! (aud, iss, tid, appid, azp, oid, roles, exp), and only tokens this sandbox issued pass.
//! The scope a client asks for picks the audience, and each service accepts only its own: a Graph
//! token is refused by Key Vault and the other way round.

use std::collections::HashMap;

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use uuid::Uuid;

use super::caller::Caller;
use super::cert;
use super::error::GraphError;
use super::keys::Signer;
use super::routes::secret_hash;
use super::store::{End, Kind, Record, Store, replicated};

/// Audience of Graph tokens.
pub const GRAPH_AUDIENCE: &str = "https://graph.microsoft.com";
/// Microsoft Graph's application id.
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
/// Audience of Key Vault tokens (the resource its 401 challenge names).
pub const KEY_VAULT_AUDIENCE: &str = "https://vault.azure.net";
/// Azure Key Vault's application id, which also works as a scope resource.
pub const KEY_VAULT_APP_ID: &str = "cfa8b339-82a2-471a-a3c9-0fc0be7a4093";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Clock skew tolerated on client assertions.
const SKEW_SECS: i64 = 300;

/// An OAuth error answer of the token endpoint, shaped like Entra's.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenError {
    pub status: StatusCode,
    pub error: &'static str,
    pub code: u32,
    pub description: String,
}

impl TokenError {
    fn new(
        status: StatusCode,
        error: &'static str,
        code: u32,
        description: impl Into<String>,
    ) -> Self {
        TokenError {
            status,
            error,
            code,
            description: description.into(),
        }
    }

    fn invalid_client(code: u32, description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            code,
            description,
        )
    }

    /// The JSON body Entra sends with an error.
    pub fn body(&self) -> Value {
        let trace = Uuid::new_v4();
        let correlation = Uuid::new_v4();
        let now = chrono::Utc::now();
        json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {} Trace ID: {trace} Correlation ID: {correlation} Timestamp: {}",
                self.code, self.description, now.format("%Y-%m-%d %H:%M:%SZ")
            ),
            "error_codes": [self.code],
            "timestamp": now.format("%Y-%m-%d %H:%M:%SZ").to_string(),
            "trace_id": trace.to_string(),
            "correlation_id": correlation.to_string(),
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        })
    }
}

/// A token request: the form fields and, when sent, HTTP Basic client credentials.
pub struct TokenRequest<'a> {
    pub tenant: &'a str,
    pub form: HashMap<String, String>,
    pub basic: Option<(String, String)>,
    /// The token endpoint URL as this sandbox serves it (the required assertion audience).
    pub endpoint: String,
    /// Base URL of the sandbox's Key Vault listener: a scope naming it asks for a Key Vault token.
    pub key_vault_url: String,
}

/// The service a token is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    Graph,
    KeyVault,
    /// Another service principal of the tenant (an API registered there, or a first-party one the
    /// sandbox seeds): its object id and the identifier the client named it by.
    Other {
        sp_id: String,
        identifier: String,
    },
}

impl Resource {
    pub fn audience(&self) -> &str {
        match self {
            Resource::Graph => GRAPH_AUDIENCE,
            Resource::KeyVault => KEY_VAULT_AUDIENCE,
            Resource::Other { identifier, .. } => identifier,
        }
    }
}

/// The resource part of a client-credentials scope (`{resource}/.default`), as Entra reads it:
/// trailing slashes do not matter, so `https://graph.microsoft.com//.default` (what the Azure CLI
/// sends) names Graph. `None` when the scope is not a single `/.default` scope.
fn scope_resource(scope: &str) -> Option<&str> {
    if scope.contains(' ') {
        return None;
    }
    let resource = scope.strip_suffix("/.default")?.trim_end_matches('/');
    (!resource.is_empty()).then_some(resource)
}

/// Finds the resource a client-credentials scope names. The sandbox's own loopback URLs count as
/// their service, so a client pointed at the sandbox may use them.
/// <https://learn.microsoft.com/en-us/entra/identity-platform/scopes-oidc#the-default-scope>
fn resolve_resource(
    store: &Store,
    scope: &str,
    key_vault_url: &str,
) -> Result<Resource, TokenError> {
    let Some(resource) = scope_resource(scope) else {
        return Err(TokenError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1002012,
            format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        ));
    };
    let key_vault_url = key_vault_url.trim_end_matches('/');
    let same = |a: &str, b: &str| a.trim_end_matches('/').eq_ignore_ascii_case(b);
    if same(resource, KEY_VAULT_AUDIENCE)
        || same(resource, KEY_VAULT_APP_ID)
        || (!key_vault_url.is_empty() && same(resource, key_vault_url))
    {
        return Ok(Resource::KeyVault);
    }
    if same(resource, GRAPH_AUDIENCE)
        || same(resource, GRAPH_APP_ID)
        || resource.ends_with("/v1.0")
        || [
            "http://127.0.0.1",
            "http://localhost",
            "https://127.0.0.1",
            "https://localhost",
        ]
        .iter()
        .any(|prefix| resource.starts_with(prefix))
    {
        return Ok(Resource::Graph);
    }
    let found = store
        .objects()
        .values()
        .filter(|r| r.kind == Kind::ServicePrincipal)
        .find(|r| {
            r.str("appId").is_some_and(|id| same(id, resource))
                || r.body
                    .get("servicePrincipalNames")
                    .and_then(Value::as_array)
                    .is_some_and(|names| {
                        names
                            .iter()
                            .filter_map(Value::as_str)
                            .any(|name| same(name, resource))
                    })
        });
    match found {
        Some(sp) => Ok(Resource::Other {
            sp_id: sp.str("id").unwrap_or_default().to_string(),
            identifier: resource.to_string(),
        }),
        None => Err(TokenError::new(
            StatusCode::BAD_REQUEST,
            "invalid_resource",
            500011,
            format!(
                "The resource principal named {resource} was not found in the tenant named {}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.",
                store.domain
            ),
        )),
    }
}

/// Decodes an `Authorization: Basic` value into form-decoded client id and secret (RFC 6749 2.3.1).
pub fn basic_credentials(header: &str) -> Option<(String, String)> {
    let encoded = header
        .strip_prefix("Basic ")
        .or_else(|| header.strip_prefix("basic "))?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let decode = |s: &str| {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.to_string())
    };
    Some((decode(id)?, decode(secret)?))
}

/// Handles a client-credentials token request; answers the JSON body of a successful response.
pub fn issue_token(
    store: &Store,
    signer: &Signer,
    lifetime_secs: i64,
    now_ms: i64,
    lag_ms: i64,
    request: &TokenRequest,
) -> Result<Value, TokenError> {
    let tenant = store.tenant_id.to_string();
    if !request.tenant.eq_ignore_ascii_case(&tenant)
        && !store
            .verified_domains()
            .iter()
            .any(|d| d.eq_ignore_ascii_case(request.tenant))
    {
        return Err(TokenError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            format!(
                "Tenant '{}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.",
                request.tenant
            ),
        ));
    }
    let field = |name: &str| {
        request
            .form
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let missing = |name: &str| {
        TokenError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            format!("The request body must contain the following parameter: '{name}'."),
        )
    };
    let grant = field("grant_type").ok_or_else(|| missing("grant_type"))?;
    if grant != "client_credentials" {
        return Err(TokenError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{grant}'."),
        ));
    }
    let client_id = field("client_id")
        .map(str::to_string)
        .or_else(|| request.basic.as_ref().map(|b| b.0.clone()))
        .ok_or_else(|| missing("client_id"))?;
    let scope = field("scope").ok_or_else(|| missing("scope"))?;
    let resource = resolve_resource(store, scope, &request.key_vault_url)?;
    let app = store
        .app_by_app_id(&client_id)
        .and_then(|id| store.get(Kind::Application, id))
        .filter(|r| replicated(r.created_ms, now_ms, lag_ms))
        .ok_or_else(|| {
            TokenError::new(
                StatusCode::BAD_REQUEST,
                "unauthorized_client",
                700016,
                format!("Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."),
            )
        })?;
    let assertion = field("client_assertion");
    let secret = field("client_secret")
        .map(str::to_string)
        .or_else(|| request.basic.as_ref().map(|b| b.1.clone()));
    let acr = match (assertion, secret) {
        (Some(assertion), _) => {
            if field("client_assertion_type") != Some(ASSERTION_TYPE) {
                return Err(TokenError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    50027,
                    "Invalid client_assertion_type.",
                ));
            }
            verify_assertion(
                app,
                &client_id,
                assertion,
                &request.endpoint,
                now_ms,
                lag_ms,
            )?;
            "2"
        }
        (None, Some(secret)) => {
            secret_matches(app, &secret, now_ms, lag_ms).map_err(|expired| {
                if expired {
                    TokenError::invalid_client(7000222, format!("The provided client secret keys for app '{client_id}' are expired."))
                } else {
                    TokenError::invalid_client(
                        7000215,
                        format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."),
                    )
                }
            })?;
            "1"
        }
        (None, None) => {
            return Err(TokenError::invalid_client(
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            ));
        }
    };
    let sp = store
        .sp_by_app_id(&client_id)
        .and_then(|id| store.get(Kind::ServicePrincipal, id))
        .filter(|r| replicated(r.created_ms, now_ms, lag_ms))
        .ok_or_else(|| {
            // UNCONFIRMED: status and code of Entra's refusal when the app has no service principal.
            TokenError::invalid_client(7000229, format!("The client application {client_id} is missing service principal in the tenant {tenant}."))
        })?;
    let sp_id = sp.str("id").unwrap_or_default().to_string();
    let now = now_ms / 1000;
    let mut claims = json!({
        "aud": resource.audience(),
        "iss": format!("https://sts.windows.net/{tenant}/"),
        "iat": now,
        "nbf": now,
        "exp": now + lifetime_secs,
        "app_displayname": app.str("displayName"),
        "appid": client_id,
        "appidacr": acr,
        "idp": format!("https://sts.windows.net/{tenant}/"),
        "idtyp": "app",
        "oid": sp_id,
        "sub": sp_id,
        "tid": tenant,
        "uti": URL_SAFE_NO_PAD.encode(Uuid::new_v4().as_bytes()),
        "ver": "1.0",
    });
    // Key Vault defines no app roles, so its tokens carry none; its access is the vault's business.
    let roles = match &resource {
        Resource::Graph => store
            .sp_by_app_id(GRAPH_APP_ID)
            .map(|id| assigned_roles(store, &sp_id, &id.to_string())),
        Resource::Other { sp_id: api, .. } => Some(assigned_roles(store, &sp_id, api)),
        Resource::KeyVault => None,
    };
    if let Some(roles) = roles.filter(|r| !r.is_empty() || resource == Resource::Graph) {
        claims["roles"] = json!(roles);
    }
    Ok(json!({
        "token_type": "Bearer",
        "expires_in": lifetime_secs,
        "ext_expires_in": lifetime_secs,
        "access_token": signer.sign(&claims),
    }))
}

/// Ok when a replicated, unexpired password credential of `app` has this secret; `Err(true)`
/// when the only match has expired.
fn secret_matches(app: &Record, secret: &str, now_ms: i64, lag_ms: i64) -> Result<(), bool> {
    let hash = secret_hash(secret);
    let now = chrono::DateTime::from_timestamp_millis(now_ms).unwrap_or_default();
    let mut expired = false;
    let credentials = app
        .body
        .get("passwordCredentials")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for credential in credentials {
        let key_id = credential
            .get("keyId")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if app.secret_hashes.get(key_id) != Some(&hash) {
            continue;
        }
        if app
            .credential_added_ms
            .get(key_id)
            .is_some_and(|ms| !replicated(*ms, now_ms, lag_ms))
        {
            continue;
        }
        let end = credential
            .get("endDateTime")
            .and_then(Value::as_str)
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
        if end.is_some_and(|end| end < now) {
            expired = true;
        } else {
            return Ok(());
        }
    }
    Err(expired)
}

/// Values of the app roles of the resource `resource_id` assigned to the service principal `sp_id`.
fn assigned_roles(store: &Store, sp_id: &str, resource_id: &str) -> Vec<String> {
    let Some(resource) = Uuid::parse_str(resource_id)
        .ok()
        .and_then(|id| store.get(Kind::ServicePrincipal, id))
    else {
        return Vec::new();
    };
    let roles = resource
        .body
        .get("appRoles")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut names: Vec<String> = store
        .assignments_at(End::Holder, sp_id)
        .into_iter()
        .map(|(_, a)| a)
        .filter(|a| a.str("resourceId") == Some(resource_id))
        .filter_map(|a| {
            let role = a.str("appRoleId")?;
            roles
                .iter()
                .find(|r| r.get("id").and_then(Value::as_str) == Some(role))?
                .get("value")?
                .as_str()
                .map(str::to_string)
        })
        .collect();
    names.sort();
    names
}

fn decode_part(part: &str) -> Option<Value> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?).ok()
}

fn verify_assertion(
    app: &Record,
    client_id: &str,
    assertion: &str,
    endpoint: &str,
    now_ms: i64,
    lag_ms: i64,
) -> Result<(), TokenError> {
    let invalid = |description: &str| TokenError::invalid_client(700027, description.to_string());
    let parts: Vec<&str> = assertion.split('.').collect();
    let [header, payload, signature] = parts[..] else {
        return Err(invalid("Client assertion failed signature validation."));
    };
    let (Some(header_json), Some(claims)) = (decode_part(header), decode_part(payload)) else {
        return Err(invalid("Client assertion is not a well-formed JWT."));
    };
    if header_json.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err(invalid(
            "Client assertion uses an unsupported signing algorithm; RS256 is required.",
        ));
    }
    let thumbprint_s256 = header_json.get("x5t#S256").and_then(Value::as_str);
    let thumbprint_s1 = header_json.get("x5t").and_then(Value::as_str);
    if thumbprint_s256.is_none() && thumbprint_s1.is_none() {
        return Err(invalid(
            "Client assertion header must carry x5t#S256 or x5t identifying the certificate.",
        ));
    }
    let now = chrono::DateTime::from_timestamp_millis(now_ms).unwrap_or_default();
    let keys = app
        .body
        .get("keyCredentials")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let certificate = keys
        .iter()
        .filter(|k| k.get("usage").and_then(Value::as_str) == Some("Verify"))
        .filter(|k| {
            let key_id = k.get("keyId").and_then(Value::as_str).unwrap_or_default();
            app.credential_added_ms.get(key_id).is_none_or(|ms| replicated(*ms, now_ms, lag_ms))
        })
        .filter(|k| {
            let in_effect = |p: &str, after: bool| {
                k.get(p).and_then(Value::as_str).and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).is_some_and(|t| if after { now >= t } else { now <= t })
            };
            in_effect("startDateTime", true) && in_effect("endDateTime", false)
        })
        .filter_map(|k| cert::parse(&STANDARD.decode(k.get("key")?.as_str()?).ok()?))
        .find(|c| {
            thumbprint_s256 == Some(URL_SAFE_NO_PAD.encode(&c.sha256).as_str()) || thumbprint_s1 == Some(URL_SAFE_NO_PAD.encode(&c.sha1).as_str())
        })
        .ok_or_else(|| invalid(&format!("The certificate with identifier used to sign the client assertion is not registered on application '{client_id}'.")))?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| invalid("Client assertion failed signature validation."))?;
    if !cert::verify_rs256(
        &certificate,
        format!("{header}.{payload}").as_bytes(),
        &signature,
    ) {
        return Err(invalid("Client assertion failed signature validation."));
    }
    let claim = |name: &str| claims.get(name).and_then(Value::as_str);
    if claim("iss") != Some(client_id) || claim("sub") != Some(client_id) {
        return Err(invalid(
            "The issuer and subject of the client assertion must be the client id.",
        ));
    }
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => aud == endpoint,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(endpoint)),
        _ => false,
    };
    if !audience_ok {
        return Err(TokenError::invalid_client(
            700021,
            format!(
                "Client assertion audience claim does not match the token endpoint '{endpoint}'."
            ),
        ));
    }
    let now_secs = now_ms / 1000;
    let exp = claims.get("exp").and_then(Value::as_i64);
    if exp.is_none_or(|exp| exp + SKEW_SECS < now_secs)
        || claims
            .get("nbf")
            .and_then(Value::as_i64)
            .is_some_and(|nbf| nbf - SKEW_SECS > now_secs)
    {
        return Err(TokenError::invalid_client(
            700024,
            "Client assertion is not within its valid time range.",
        ));
    }
    Ok(())
}

/// Why a bearer token was refused; each service words its 401 in its own way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenProblem {
    Missing,
    Malformed,
    /// Not signed by this sandbox (or its payload does not decode).
    Signature,
    /// Issued for another service; carries the audience found.
    Audience(String),
    /// Issued by another tenant; carries the tenant found.
    Issuer(String),
    Expired,
}

/// Checks a bearer token from an Authorization header for `audience` and this tenant; answers its
/// claims.
pub fn verify_bearer(
    signer: &Signer,
    tenant: &str,
    header: Option<&str>,
    audience: &str,
    now_ms: i64,
) -> Result<Value, TokenProblem> {
    let token = header
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(TokenProblem::Missing)?;
    if token.split('.').count() != 3 {
        return Err(TokenProblem::Malformed);
    }
    let (_, payload) = signer.verify(token).map_err(|_| TokenProblem::Signature)?;
    let claims = decode_part(payload).ok_or(TokenProblem::Signature)?;
    let claim = |name: &str| claims.get(name).and_then(Value::as_str).unwrap_or_default();
    if claim("aud") != audience {
        return Err(TokenProblem::Audience(claim("aud").to_string()));
    }
    if claim("tid") != tenant {
        return Err(TokenProblem::Issuer(claim("tid").to_string()));
    }
    if claims
        .get("exp")
        .and_then(Value::as_i64)
        .is_none_or(|exp| exp <= now_ms / 1000)
    {
        return Err(TokenProblem::Expired);
    }
    Ok(claims)
}

/// The application a verified token was issued to.
pub fn caller(claims: &Value) -> Caller {
    let text = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Caller {
        app_id: text("appid"),
        service_principal_id: text("oid"),
        roles: claims
            .get("roles")
            .and_then(Value::as_array)
            .map(|roles| {
                roles
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Checks a Graph bearer token; answers the caller or Graph's 401.
pub fn authenticate(
    signer: &Signer,
    tenant: &str,
    header: Option<&str>,
    now_ms: i64,
) -> Result<Caller, GraphError> {
    let challenge = r#"Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000""#;
    let claims =
        verify_bearer(signer, tenant, header, GRAPH_AUDIENCE, now_ms).map_err(|problem| {
            let message = match problem {
                TokenProblem::Missing => "Access token is empty.",
                TokenProblem::Malformed => "CompactToken parsing failed with error code: 80049217",
                TokenProblem::Signature => "Access token validation failure.",
                TokenProblem::Audience(_) => "Access token validation failure. Invalid audience.",
                TokenProblem::Issuer(_) => "Access token validation failure. Invalid issuer.",
                TokenProblem::Expired => "Lifetime validation failed, the token is expired.",
            };
            GraphError::unauthenticated(message).with_header("WWW-Authenticate", challenge)
        })?;
    Ok(caller(&claims))
}
