//! The Graph client: sends [`Request`] values with a bearer token, a bound on requests in flight,
//! retries where GRAPH.md allows them, paging, and accounting.
//!
//! It never follows redirects (they would carry the bearer token elsewhere), never sends a token
//! to a host other than the configured Graph URL (next links are rebased onto it), and never logs
//! headers or the bodies of sensitive requests.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::Semaphore;
use url::Url;

use super::auth::{AccessToken, Scope, TokenSource};
use super::cloud::require_secure_transport;
use super::error::{ApiError, GraphError, budget_reason};
use super::odata::encode_query;
use super::request::{Method, Request, Response};
use super::retry::{Backoff, RetryBudget, parse_retry_after};
use super::stats::{Counters, RequestStats, bump, resource_units};

/// How the client behaves; [`GraphConfig::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct GraphConfig {
    /// Graph base URL, e.g. `https://graph.microsoft.com` (a trailing `/v1.0` is accepted).
    /// https, or http only to a loopback address.
    pub graph_url: Url,
    /// Requests (or `$batch` envelopes) in flight at once. Default 4.
    pub max_in_flight: usize,
    /// Total time the run may spend waiting to retry. Default 5 minutes.
    pub retry_budget: Duration,
    /// Bound on one HTTP exchange. Default 60 s.
    pub request_timeout: Duration,
    /// Bound on establishing a connection (a failure here is always safe to retry). Default 10 s.
    pub connect_timeout: Duration,
    /// Sends of one request, first try included, before giving up. Default 8.
    pub max_attempts: u32,
    /// Waits between retries when Graph gives no `Retry-After`.
    pub backoff: Backoff,
}

impl GraphConfig {
    pub fn new(graph_url: Url) -> Self {
        GraphConfig {
            graph_url,
            max_in_flight: 4,
            retry_budget: Duration::from_secs(300),
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            max_attempts: 8,
            backoff: Backoff::default(),
        }
    }
}

/// A Graph client; clones share the connection pool, token cache, in-flight bound, retry budget
/// and counters.
#[derive(Clone)]
pub struct GraphClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    http: reqwest::Client,
    /// `{graph_url}/v1.0`, without a trailing slash.
    base: Url,
    pub(crate) config: GraphConfig,
    credential: Arc<dyn TokenSource>,
    permits: Semaphore,
    pub(crate) stats: Counters,
    pub(crate) budget: RetryBudget,
}

/// A request ready to send: its URL built and checked.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub(crate) method: Method,
    pub(crate) url: Url,
    /// What errors and logs call it: the request's path, relative to `/v1.0`.
    pub(crate) path: String,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Option<Value>,
    pub(crate) idempotent: bool,
    pub(crate) just_written: bool,
    pub(crate) sensitive: bool,
    /// Graph requests this exchange stands for in the accounting (0 for a `$batch` envelope,
    /// whose items are counted one by one).
    pub(crate) counted: bool,
}

/// What to do with an answer.
pub(crate) enum Verdict {
    Done(Response),
    Fail(GraphError),
    /// Try again after Graph's `Retry-After`, or after backoff when `None`.
    Retry {
        after: Option<Duration>,
        error: GraphError,
    },
}

/// The retry rules of GRAPH.md for one answered request (or batch item).
pub(crate) fn classify(
    method: Method,
    path: &str,
    just_written: bool,
    sensitive: bool,
    status: u16,
    headers: &HeaderMap,
    body: Option<Value>,
) -> Verdict {
    if (200..300).contains(&status) {
        return Verdict::Done(Response {
            status,
            headers: headers.clone(),
            body,
            sensitive,
        });
    }
    let error = ApiError::from_parts(method, path, status, headers, body.as_ref(), sensitive);
    let retry_after = headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    match status {
        // Throttled or unavailable: the request was not processed.
        429 | 503 => Verdict::Retry {
            after: retry_after,
            error: GraphError::Api(Box::new(error)),
        },
        // A gateway timeout says nothing about whether the backend finished: a POST may have
        // taken effect, so only idempotent requests are repeated.
        504 if method.is_idempotent() => Verdict::Retry {
            after: retry_after,
            error: GraphError::Api(Box::new(error)),
        },
        504 => Verdict::Fail(GraphError::OutcomeUnknown {
            method,
            path: path.to_string(),
            reason: "HTTP 504 gateway timeout".into(),
        }),
        _ if just_written && error.is_replication_lag() => Verdict::Retry {
            after: None,
            error: GraphError::Api(Box::new(error)),
        },
        _ => Verdict::Fail(GraphError::Api(Box::new(error))),
    }
}

/// Why a single exchange produced no answer.
enum SendFailure {
    Auth(super::auth::AuthError),
    /// `sent`: the request may have reached the server.
    Transport {
        sent: bool,
        reason: String,
    },
}

/// A link from an answer, rebased on the client's Graph URL.
struct Link {
    url: Url,
    path: String,
    query: Vec<(String, String)>,
}

#[derive(Deserialize)]
struct Page<T> {
    value: Vec<T>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
}

impl GraphClient {
    /// A client for `config.graph_url` authenticating with `credential` (normally a
    /// [`super::auth::CredentialChain`], which caches tokens).
    pub fn new(config: GraphConfig, credential: Arc<dyn TokenSource>) -> Result<Self, GraphError> {
        let url = require_secure_transport(config.graph_url.clone(), "Graph URL")
            .map_err(|e| GraphError::Config(e.to_string()))?;
        let trimmed = url.as_str().trim_end_matches('/');
        let base = if trimmed.ends_with("/v1.0") {
            trimmed.to_string()
        } else {
            format!("{trimmed}/v1.0")
        };
        let base = Url::parse(&base).map_err(|e| GraphError::Config(format!("Graph URL: {e}")))?;
        if base.query().is_some() || base.fragment().is_some() {
            return Err(GraphError::Config(format!(
                "Graph URL {url} may not have a query or fragment"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("appreg/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| GraphError::Config(format!("HTTP client: {e}")))?;
        Ok(GraphClient {
            inner: Arc::new(Inner {
                http,
                base,
                permits: Semaphore::new(config.max_in_flight.max(1)),
                budget: RetryBudget::new(config.retry_budget),
                config,
                credential,
                stats: Counters::default(),
            }),
        })
    }

    /// The token source the client authenticates with; Key Vault delivery asks it for its own
    /// scope, so one identity and one token cache serve the whole run.
    pub fn credential(&self) -> Arc<dyn TokenSource> {
        self.inner.credential.clone()
    }

    /// Counters since the client was made or last reset.
    pub fn stats(&self) -> RequestStats {
        RequestStats {
            retry_wait_ms: self.inner.budget.used().as_millis() as u64,
            ..self.inner.stats.snapshot()
        }
    }

    /// Zero the counters (the retry budget keeps what it has used: it is per run).
    pub fn reset_stats(&self) {
        self.inner.stats.reset();
    }

    /// The end-of-run accounting line, at info level (shown with `-v`).
    pub fn log_summary(&self) {
        tracing::info!("Microsoft Graph: {}", self.stats());
    }

    /// Send one request, retrying as GRAPH.md allows; any non-2xx answer is an error.
    pub async fn send(&self, request: Request) -> Result<Response, GraphError> {
        let prepared = self.prepare(&request)?;
        self.execute(&prepared).await
    }

    /// Send and decode the JSON body.
    pub async fn get_json<T: DeserializeOwned>(&self, request: Request) -> Result<T, GraphError> {
        let (method, path) = (request.method, request.path.clone());
        let response = self.send(request).await?;
        decode(method, &path, response.body)
    }

    /// Like [`GraphClient::get_json`], with 404 as `None`.
    pub async fn get_optional<T: DeserializeOwned>(
        &self,
        request: Request,
    ) -> Result<Option<T>, GraphError> {
        match self.get_json(request).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every item of a collection, following `@odata.nextLink` until it is absent.
    pub async fn list<T: DeserializeOwned>(&self, request: Request) -> Result<Vec<T>, GraphError> {
        let mut page = self.prepare(&request)?;
        let mut items = Vec::new();
        loop {
            let response = self.execute(&page).await?;
            let body: Page<T> = decode(page.method, &page.path, response.body)?;
            items.extend(body.value);
            match body.next_link {
                Some(link) => page = self.next_page(&page, &link)?,
                None => return Ok(items),
            }
        }
    }

    /// The URL of a path relative to `/v1.0` plus query.
    pub(crate) fn prepare(&self, request: &Request) -> Result<Prepared, GraphError> {
        let invalid = |reason: &str| GraphError::InvalidRequest {
            path: request.path.clone(),
            reason: reason.to_string(),
        };
        let path = &request.path;
        if path.starts_with("https://") || path.starts_with("http://") {
            // A nextLink taken from an earlier answer (a batch item's, typically).
            if !request.query.is_empty() {
                return Err(invalid("a link already carries its query"));
            }
            let Link { url, path, query } = self.rebase(path).map_err(|reason| invalid(&reason))?;
            return Ok(Prepared {
                method: request.method,
                url,
                path,
                query,
                headers: request.headers.clone(),
                body: request.body.clone(),
                idempotent: request.method.is_idempotent() || request.repeatable,
                just_written: request.just_written,
                sensitive: request.sensitive,
                counted: true,
            });
        }
        if !path.starts_with('/') {
            return Err(invalid(
                "the path must start with `/` (it is relative to /v1.0)",
            ));
        }
        if path.contains(['?', '#']) {
            return Err(invalid(
                "query parameters go through Request::query, not the path",
            ));
        }
        let dot_segment = |s: &str| {
            let s = s.to_ascii_lowercase().replace("%2e", ".");
            s == "." || s == ".."
        };
        if path.split('/').any(dot_segment) {
            return Err(invalid("`.` and `..` path segments are not allowed"));
        }
        let relative = relative_url(path, &request.query);
        let url = Url::parse(&format!("{}{relative}", self.inner.base))
            .map_err(|e| invalid(&format!("not a valid URL: {e}")))?;
        Ok(Prepared {
            method: request.method,
            url,
            path: request.path.clone(),
            query: request.query.clone(),
            headers: request.headers.clone(),
            body: request.body.clone(),
            idempotent: request.method.is_idempotent() || request.repeatable,
            just_written: request.just_written,
            sensitive: request.sensitive,
            counted: true,
        })
    }

    /// The next page of `page`.
    fn next_page(&self, page: &Prepared, link: &str) -> Result<Prepared, GraphError> {
        let Link { url, path, query } = self.rebase(link).map_err(|reason| GraphError::Decode {
            method: page.method,
            path: page.path.clone(),
            reason: format!("@odata.nextLink: {reason}"),
        })?;
        Ok(Prepared {
            url,
            path,
            query,
            ..page.clone()
        })
    }

    /// An absolute Graph link (an `@odata.nextLink`) as a URL on our own base: its path and query
    /// are kept, its scheme and host are not, so the token never goes to a host a link names.
    fn rebase(&self, link: &str) -> Result<Link, String> {
        let parsed = Url::parse(link).map_err(|e| format!("not a URL: {e}"))?;
        let base_path = self.inner.base.path();
        let rest = parsed
            .path()
            .strip_prefix(base_path)
            .filter(|r| r.starts_with('/'))
            .ok_or_else(|| format!("path {} is not under {base_path}", parsed.path()))?;
        let mut url = self.inner.base.clone();
        url.set_path(&format!("{base_path}{rest}"));
        url.set_query(parsed.query());
        Ok(Link {
            url,
            path: rest.to_string(),
            query: parsed.query_pairs().into_owned().collect(),
        })
    }

    /// Send `p` until it succeeds, fails for good, or retrying must stop.
    pub(crate) async fn execute(&self, p: &Prepared) -> Result<Response, GraphError> {
        let mut attempt: u32 = 0;
        let mut refreshed_token = false;
        loop {
            attempt += 1;
            let (after, error) = match self.exchange(p, attempt).await {
                // The token endpoint did not answer: nothing reached Graph yet, and asking for a
                // token again is harmless.
                Err(SendFailure::Auth(e @ super::auth::AuthError::Transport { .. })) => {
                    (None, GraphError::Auth(e))
                }
                Err(SendFailure::Auth(e)) => return Err(GraphError::Auth(e)),
                Err(SendFailure::Transport { sent, reason }) => {
                    if sent && !p.idempotent {
                        return Err(GraphError::OutcomeUnknown {
                            method: p.method,
                            path: p.path.clone(),
                            reason,
                        });
                    }
                    let error = GraphError::Transport {
                        method: p.method,
                        path: p.path.clone(),
                        reason,
                    };
                    (None, error)
                }
                Ok((status, headers, body, token)) => {
                    if status == 401 && !refreshed_token {
                        // The token expired or was revoked mid-run: fetch a new one, once.
                        refreshed_token = true;
                        self.inner.credential.invalidate(&Scope::Graph, &token);
                        bump(&self.inner.stats.retries, 1);
                        tracing::debug!(method = %p.method, path = %p.path, "401: retrying once with a new token");
                        continue;
                    }
                    match classify(
                        p.method,
                        &p.path,
                        p.just_written,
                        p.sensitive,
                        status,
                        &headers,
                        body,
                    ) {
                        Verdict::Done(response) => return Ok(response),
                        Verdict::Fail(e) => return Err(e),
                        Verdict::Retry { after, error } => (after, error),
                    }
                }
            };
            self.wait_to_retry(attempt, after, error).await?;
            bump(&self.inner.stats.retries, 1);
        }
    }

    /// Wait before retry number `attempt`, or give up with `error`.
    pub(crate) async fn wait_to_retry(
        &self,
        attempt: u32,
        after: Option<Duration>,
        error: GraphError,
    ) -> Result<(), GraphError> {
        let config = &self.inner.config;
        if attempt >= config.max_attempts {
            return Err(GraphError::gave_up(
                format!("{attempt} attempts made"),
                error,
            ));
        }
        let wait = after.unwrap_or_else(|| config.backoff.delay(attempt));
        tracing::debug!(attempt, wait_ms = wait.as_millis() as u64, error = %error, "waiting to retry");
        self.inner.budget.wait(wait).await.map_err(|()| {
            GraphError::gave_up(budget_reason(self.inner.budget.total(), wait), error)
        })
    }

    /// One HTTP exchange: status, headers, JSON body, and the token it carried.
    async fn exchange(
        &self,
        p: &Prepared,
        attempt: u32,
    ) -> Result<(u16, HeaderMap, Option<Value>, AccessToken), SendFailure> {
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let token = self
            .inner
            .credential
            .token(&Scope::Graph)
            .await
            .map_err(SendFailure::Auth)?;
        let mut builder = self
            .inner
            .http
            .request(p.method.to_reqwest(), p.url.clone())
            .bearer_auth(token.secret.expose())
            .header("client-request-id", uuid::Uuid::new_v4().to_string())
            .header(reqwest::header::ACCEPT, "application/json");
        for (name, value) in &p.headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = &p.body {
            builder = builder.json(body);
            if !p.sensitive {
                tracing::trace!(method = %p.method, path = %p.path, body = %body, "request body");
            }
        }
        let stats = &self.inner.stats;
        bump(&stats.round_trips, 1);
        if p.counted {
            stats.request(p.method);
        }
        let started = Instant::now();
        let response = builder.send().await.map_err(|e| {
            tracing::debug!(method = %p.method, path = %p.path, attempt, error = %describe(&e), "no answer");
            SendFailure::Transport {
                sent: !e.is_connect(),
                reason: describe(&e),
            }
        })?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(|e| SendFailure::Transport {
            sent: true,
            reason: describe(&e),
        })?;
        let body = if bytes.is_empty() {
            None
        } else {
            serde_json::from_slice::<Value>(&bytes).ok()
        };
        if status == 429 {
            bump(&stats.throttled, 1);
        } else if p.counted {
            let header = headers
                .get("x-ms-resource-unit")
                .and_then(|v| v.to_str().ok());
            bump(
                &stats.resource_units,
                resource_units(header, p.method, &p.path, &p.query),
            );
        }
        tracing::debug!(
            method = %p.method,
            path = %p.path,
            status,
            attempt,
            elapsed_ms = started.elapsed().as_millis() as u64,
            request_id = headers.get("request-id").and_then(|v| v.to_str().ok()).unwrap_or(""),
            "graph"
        );
        if !p.sensitive
            && let Some(body) = &body
        {
            tracing::trace!(method = %p.method, path = %p.path, body = %body, "response body");
        }
        Ok((status, headers, body, token))
    }
}

/// `path?query` relative to `/v1.0`, as both the client and `$batch` items use it.
pub(crate) fn relative_url(path: &str, query: &[(String, String)]) -> String {
    if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", encode_query(query))
    }
}

pub(crate) fn decode<T: DeserializeOwned>(
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<T, GraphError> {
    let body = body.ok_or_else(|| GraphError::Decode {
        method,
        path: path.to_string(),
        reason: "no JSON body".into(),
    })?;
    serde_json::from_value(body).map_err(|e| GraphError::Decode {
        method,
        path: path.to_string(),
        reason: e.to_string(),
    })
}

/// A reqwest failure in words, without the URL (errors name the path themselves).
fn describe(e: &reqwest::Error) -> String {
    super::auth::transport_reason(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::auth::{AuthError, BoxFuture};

    struct NoToken;
    impl TokenSource for NoToken {
        fn token<'a>(&'a self, _: &'a Scope) -> BoxFuture<'a, Result<AccessToken, AuthError>> {
            Box::pin(async { Err(AuthError::NoCredential { tried: vec![] }) })
        }
    }

    fn client(url: &str) -> Result<GraphClient, GraphError> {
        GraphClient::new(
            GraphConfig::new(Url::parse(url).unwrap()),
            Arc::new(NoToken),
        )
    }

    #[test]
    fn base_url_gets_the_version_once() {
        for (url, expected) in [
            (
                "https://graph.microsoft.com",
                "https://graph.microsoft.com/v1.0/applications",
            ),
            (
                "https://graph.microsoft.com/",
                "https://graph.microsoft.com/v1.0/applications",
            ),
            (
                "http://127.0.0.1:9/v1.0",
                "http://127.0.0.1:9/v1.0/applications",
            ),
            (
                "http://127.0.0.1:9/graph/",
                "http://127.0.0.1:9/graph/v1.0/applications",
            ),
        ] {
            let p = client(url)
                .unwrap()
                .prepare(&Request::get("/applications"))
                .unwrap();
            assert_eq!(p.url.as_str(), expected, "{url}");
        }
    }

    #[test]
    fn plain_http_to_a_real_host_is_refused() {
        let err = client("http://graph.microsoft.com").err().unwrap();
        assert!(err.to_string().contains("only for loopback"), "{err}");
    }

    #[test]
    fn paths_are_checked() {
        let c = client("https://graph.microsoft.com").unwrap();
        // Each case: path, accepted, why.
        let cases = [
            ("/applications(uniqueName='a%2Fb')", true, "encoded keys"),
            (
                "applications",
                false,
                "relative to /v1.0 means a leading slash",
            ),
            (
                "/applications?$top=1",
                false,
                "queries go through Request::query",
            ),
            (
                "/applications/../users",
                false,
                "dot segments would escape the addressed object",
            ),
            (
                "/applications/%2E%2E/users",
                false,
                "encoded dot segments too",
            ),
        ];
        for (path, ok, why) in cases {
            assert_eq!(c.prepare(&Request::get(path)).is_ok(), ok, "{why}");
        }
    }

    #[test]
    fn query_is_percent_encoded() {
        let c = client("https://graph.microsoft.com").unwrap();
        let p = c
            .prepare(&Request::get("/applications").query("$filter", "displayName eq 'A&B'"))
            .unwrap();
        assert_eq!(
            p.url.as_str(),
            "https://graph.microsoft.com/v1.0/applications?$filter=displayName%20eq%20%27A%26B%27"
        );
    }

    #[test]
    fn next_links_are_rebased_on_our_own_host() {
        let c = client("http://127.0.0.1:9").unwrap();
        let first = c.prepare(&Request::get("/applications")).unwrap();
        let next = c
            .next_page(
                &first,
                "https://elsewhere.example/v1.0/applications?$skiptoken=abc",
            )
            .unwrap();
        assert_eq!(
            next.url.as_str(),
            "http://127.0.0.1:9/v1.0/applications?$skiptoken=abc"
        );
        assert!(
            c.next_page(&first, "https://elsewhere.example/beta/applications")
                .is_err()
        );
        let link = c
            .prepare(&Request::get(
                "https://graph.microsoft.com/v1.0/servicePrincipals?$skiptoken=x",
            ))
            .unwrap();
        assert_eq!(
            link.url.as_str(),
            "http://127.0.0.1:9/v1.0/servicePrincipals?$skiptoken=x"
        );
        assert_eq!(link.path, "/servicePrincipals");
    }
}
