//! The OAuth 2.0 plumbing shared by the credentials that talk to the Entra token endpoint: the
//! `oauth2` crate's async HTTP client trait implemented over the project's reqwest client, the
//! client-credentials exchange (with a client secret or a signed/federated client assertion), and
//! the mapping of token-endpoint failures to errors that never quote the response body.

use std::time::Duration;

use oauth2::basic::BasicClient;
use oauth2::{
    AsyncHttpClient, AuthType, ClientId, ClientSecret, HttpRequest, HttpResponse,
    RequestTokenError, TokenResponse, TokenUrl,
};
use url::Url;

use super::{AccessToken, AuthError, AuthMethod, BoxFuture, Scope};
use crate::graph::cloud::Endpoints;
use crate::graph::secret::Secret;

/// The assertion type Entra expects for certificate and federated credentials.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The reqwest client used for every token request: no redirects (a token endpoint that
/// redirects is not followed with credentials in the body) and bounded time.
pub(crate) fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("appreg/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a reqwest client with these settings always builds")
}

/// A transport failure as the `oauth2` crate sees it. The text comes from reqwest and names at
/// most the URL, never a body or header.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct HttpError(String);

/// `oauth2`'s HTTP client trait over reqwest 0.13.
pub(crate) struct OAuthHttp(pub(crate) reqwest::Client);

impl<'c> AsyncHttpClient<'c> for OAuthHttp {
    type Error = HttpError;
    type Future = BoxFuture<'c, Result<HttpResponse, HttpError>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let response = self
                .0
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await
                .map_err(|e| HttpError(transport_reason(&e)))?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response
                .bytes()
                .await
                .map_err(|e| HttpError(transport_reason(&e)))?;
            let mut out = oauth2::http::Response::new(body.to_vec());
            *out.status_mut() = status;
            *out.headers_mut() = headers;
            Ok(out)
        })
    }
}

/// A short description of a reqwest failure without its URL (callers name the endpoint).
pub(crate) fn transport_reason(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {detail}")
    }
}

/// Tenant ids and domains are put into URL paths, so only their own characters are accepted.
pub(crate) fn check_tenant(method: AuthMethod, tenant: &str) -> Result<(), AuthError> {
    let ok = !tenant.is_empty()
        && tenant.len() <= 256
        && tenant
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(AuthError::failed(
            method,
            format!("{tenant:?} is not a tenant id or domain name"),
        ))
    }
}

/// `{authority}{tenant}/oauth2/v2.0/{leaf}`.
pub(crate) fn tenant_endpoint(
    method: AuthMethod,
    authority: &Url,
    tenant: &str,
    leaf: &str,
) -> Result<Url, AuthError> {
    check_tenant(method, tenant)?;
    authority
        .join(&format!("{tenant}/oauth2/v2.0/{leaf}"))
        .map_err(|e| AuthError::failed(method, format!("invalid authority URL {authority}: {e}")))
}

/// How a confidential client proves who it is.
pub(crate) enum ClientAuth<'a> {
    Secret(&'a Secret),
    /// A JWT: signed with a certificate's key, or issued by a federated identity provider.
    Assertion(&'a Secret),
}

/// The client-credentials grant against one tenant's v2 token endpoint.
#[derive(Clone)]
pub(crate) struct TokenEndpoint {
    pub(crate) method: AuthMethod,
    pub(crate) url: Url,
    pub(crate) client_id: String,
    pub(crate) endpoints: Endpoints,
    pub(crate) http: reqwest::Client,
}

impl TokenEndpoint {
    pub(crate) fn new(
        method: AuthMethod,
        endpoints: &Endpoints,
        tenant: &str,
        client_id: &str,
        http: reqwest::Client,
    ) -> Result<Self, AuthError> {
        Ok(TokenEndpoint {
            method,
            url: tenant_endpoint(method, &endpoints.authority, tenant, "token")?,
            client_id: client_id.to_string(),
            endpoints: endpoints.clone(),
            http,
        })
    }

    pub(crate) async fn client_credentials(
        &self,
        scope: &Scope,
        auth: ClientAuth<'_>,
    ) -> Result<AccessToken, AuthError> {
        let mut client = BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_token_uri(TokenUrl::from_url(self.url.clone()))
            .set_auth_type(AuthType::RequestBody);
        if let ClientAuth::Secret(secret) = &auth {
            client = client.set_client_secret(ClientSecret::new(secret.expose().to_string()));
        }
        let mut request = client
            .exchange_client_credentials()
            .add_scope(oauth2::Scope::new(self.endpoints.scope_string(*scope)));
        if let ClientAuth::Assertion(assertion) = &auth {
            request = request
                .add_extra_param("client_assertion_type", JWT_BEARER)
                .add_extra_param("client_assertion", assertion.expose().to_string());
        }
        let http = OAuthHttp(self.http.clone());
        let response = request
            .request_async(&http)
            .await
            .map_err(|e| token_error(self.method, &self.url, e))?;
        Ok(AccessToken::new(
            Secret::new(response.access_token().secret().clone()),
            response.expires_in(),
        ))
    }
}

/// Map an `oauth2` failure to an [`AuthError`] naming the OAuth error code, the `AADSTS` number
/// and a hint, but never quoting the body: token endpoint answers are not shown anywhere.
pub(crate) fn token_error<T: oauth2::ErrorResponse + 'static>(
    method: AuthMethod,
    endpoint: &Url,
    err: RequestTokenError<HttpError, T>,
) -> AuthError {
    let endpoint_text = endpoint_without_query(endpoint);
    match err {
        RequestTokenError::ServerResponse(body) => {
            // StandardErrorResponse serializes to {"error", "error_description", ...}; that is the
            // only way to read the code generically, and nothing of it is shown but the code.
            let value = serde_json::to_value(&body).unwrap_or_default();
            let code = value["error"].as_str().unwrap_or("error").to_string();
            let description = value["error_description"].as_str();
            AuthError::Rejected {
                method,
                endpoint: endpoint_text,
                detail: describe_oauth_error(&code, description),
            }
        }
        RequestTokenError::Request(e) => AuthError::Transport {
            method,
            endpoint: endpoint_text,
            reason: e.0,
        },
        RequestTokenError::Parse(_, _) => AuthError::failed(
            method,
            format!("{endpoint_text} answered with something that is not a token response"),
        ),
        RequestTokenError::Other(_) => AuthError::failed(
            method,
            format!("{endpoint_text} answered with an empty or non-JSON error"),
        ),
    }
}

fn endpoint_without_query(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

/// `invalid_client (AADSTS7000215): the client secret is wrong ...`.
pub(crate) fn describe_oauth_error(code: &str, description: Option<&str>) -> String {
    let aadsts = description.and_then(aadsts_number);
    let mut out = code.to_string();
    if let Some(n) = aadsts {
        out.push_str(&format!(" (AADSTS{n})"));
        if let Some(hint) = aadsts_hint(n) {
            out.push_str(": ");
            out.push_str(hint);
        }
    }
    out
}

/// The number in `AADSTS7000215: ...`, the stable part of Entra's error descriptions.
fn aadsts_number(description: &str) -> Option<u32> {
    let start = description.find("AADSTS")? + "AADSTS".len();
    let digits: String = description[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn aadsts_hint(n: u32) -> Option<&'static str> {
    Some(match n {
        7000215 => {
            "the client secret is wrong (AZURE_CLIENT_SECRET must be the secret's value, not its id)"
        }
        7000222 => "the client secret has expired; create a new one",
        700016 => {
            "no application with this client id in the tenant (check AZURE_CLIENT_ID, AZURE_TENANT_ID and --cloud)"
        }
        90002 | 900023 => "the tenant was not found (check AZURE_TENANT_ID / --tenant and --cloud)",
        700027 => "the assertion's signature does not match a certificate registered on the app",
        700024 => {
            "the client assertion is outside its valid time range (check the machine's clock)"
        }
        70021 | 700211 | 700212 | 700213 => {
            "no federated identity credential on the app matches the token's issuer, subject and audience"
        }
        7000218 => "the request needs a client secret or assertion: the app is not a public client",
        65001 => "consent is missing for the requested permissions",
        50076 | 50079 => "multi-factor authentication is required; sign in interactively",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oauth_errors_show_code_number_and_hint_only() {
        let cases = [
            (
                "invalid_client",
                Some("AADSTS7000215: Invalid client secret provided. Trace ID: x"),
                "invalid_client (AADSTS7000215): the client secret is wrong (AZURE_CLIENT_SECRET must be the secret's value, not its id)",
            ),
            (
                "invalid_request",
                Some("AADSTS123: something new"),
                "invalid_request (AADSTS123)",
            ),
            ("invalid_scope", None, "invalid_scope"),
            ("invalid_grant", Some("no number here"), "invalid_grant"),
        ];
        for (code, description, expected) in cases {
            assert_eq!(describe_oauth_error(code, description), expected);
        }
    }

    #[test]
    fn tenants_are_checked_before_reaching_a_path() {
        for ok in [
            "98bfee78-6885-4175-9030-fea76352207b",
            "contoso.onmicrosoft.com",
            "organizations",
        ] {
            assert!(check_tenant(AuthMethod::Secret, ok).is_ok(), "{ok}");
        }
        for bad in ["", "../x", "a/b", "t?x=1", "t#f", "t en"] {
            assert!(check_tenant(AuthMethod::Secret, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn token_endpoint_url_joins_authority_and_tenant() {
        let authority = Url::parse("http://127.0.0.1:9/login/").unwrap();
        let url = tenant_endpoint(AuthMethod::Secret, &authority, "t1", "token").unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9/login/t1/oauth2/v2.0/token"
        );
    }
}
