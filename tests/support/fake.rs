//! A scriptable fake HTTP service on 127.0.0.1:0 for the Graph client tests: it records every
//! request (with its arrival time, so waits are asserted from the server's side) and answers with
//! whatever the test's handler says, including failures: throttling, hangs past the client's
//! timeout, lost answers.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use appreg::graph::auth::{AccessToken, AuthError, BoxFuture, Scope, TokenSource};
use appreg::graph::{GraphClient, GraphConfig, Secret};
use axum::body::Body;
use axum::http::{HeaderMap, Response, StatusCode};
use serde_json::Value;

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub at: Instant,
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: String,
}

impl Seen {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The body as `application/x-www-form-urlencoded` pairs.
    pub fn form(&self) -> HashMap<String, String> {
        url::form_urlencoded::parse(self.body.as_bytes())
            .into_owned()
            .collect()
    }

    pub fn query_param(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    pub fn bearer(&self) -> Option<String> {
        self.header("authorization")
            .and_then(|v| v.strip_prefix("Bearer ").map(str::to_string))
    }

    /// `http://host:port` as the client addressed it.
    pub fn base(&self) -> String {
        format!("http://{}", self.header("host").unwrap_or_default())
    }
}

/// What the fake answers.
pub enum Reply {
    Json(u16, Value),
    Status(u16),
    Full(u16, Vec<(&'static str, String)>, Option<Value>),
    /// Wait (past the client's timeout, typically), then answer 200 `{}`.
    Hang(Duration),
}

type Handler = dyn Fn(&Seen, usize) -> Reply + Send + Sync;

struct State {
    handler: Box<Handler>,
    log: Mutex<Vec<Seen>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

pub struct Fake {
    pub url: String,
    state: Arc<State>,
}

impl Fake {
    /// Start a fake whose `handler` gets each request and how many earlier requests had the same
    /// method and path.
    pub async fn start(handler: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> Fake {
        let state = Arc::new(State {
            handler: Box::new(handler),
            log: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        let shared = state.clone();
        let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let state = shared.clone();
            async move { handle(state, request).await }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Fake { url, state }
    }

    pub fn log(&self) -> Vec<Seen> {
        self.state.log.lock().unwrap().clone()
    }

    /// Requests whose path ends with `suffix`.
    pub fn seen(&self, method: &str, suffix: &str) -> Vec<Seen> {
        self.log()
            .into_iter()
            .filter(|s| s.method == method && s.path.ends_with(suffix))
            .collect()
    }

    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }

    pub fn url(&self) -> url::Url {
        url::Url::parse(&self.url).unwrap()
    }
}

async fn handle(state: Arc<State>, request: axum::extract::Request) -> Response<Body> {
    let at = Instant::now();
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let seen = Seen {
        at,
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let prior = {
        let mut log = state.log.lock().unwrap();
        let n = log
            .iter()
            .filter(|s| s.method == seen.method && s.path == seen.path)
            .count();
        log.push(seen.clone());
        n
    };
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let reply = (state.handler)(&seen, prior);
    let response = match reply {
        Reply::Json(status, body) => build(status, vec![], Some(body)),
        Reply::Status(status) => build(status, vec![], None),
        Reply::Full(status, headers, body) => build(status, headers, body),
        Reply::Hang(d) => {
            tokio::time::sleep(d).await;
            build(200, vec![], Some(serde_json::json!({})))
        }
    };
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    response
}

fn build(status: u16, headers: Vec<(&'static str, String)>, body: Option<Value>) -> Response<Body> {
    let mut builder = Response::builder().status(StatusCode::from_u16(status).unwrap());
    for (k, v) in headers {
        builder = builder.header(k, v);
    }
    match body {
        Some(b) => builder
            .header("content-type", "application/json")
            .body(Body::from(b.to_string()))
            .unwrap(),
        None => builder.body(Body::empty()).unwrap(),
    }
}

/// A token endpoint answer.
pub fn token_reply(token: &str, expires_in: u64) -> Reply {
    Reply::Json(
        200,
        serde_json::json!({"token_type": "Bearer", "expires_in": expires_in, "ext_expires_in": expires_in, "access_token": token}),
    )
}

/// Graph's error envelope.
pub fn graph_error(status: u16, code: &str, message: &str) -> Reply {
    Reply::Json(
        status,
        serde_json::json!({"error": {"code": code, "message": message,
            "innerError": {"date": "2024-01-01T00:00:00", "request-id": "req-123", "client-request-id": "c"}}}),
    )
}

/// A token source that always hands out the same token.
pub struct FixedToken(pub &'static str);

impl TokenSource for FixedToken {
    fn token<'a>(&'a self, _: &'a Scope) -> BoxFuture<'a, Result<AccessToken, AuthError>> {
        Box::pin(async move {
            Ok(AccessToken::new(
                Secret::new(self.0),
                Some(Duration::from_secs(3600)),
            ))
        })
    }
}

/// Fast settings for tests: small backoff, short timeouts.
pub fn test_config(url: url::Url) -> GraphConfig {
    let mut config = GraphConfig::new(url);
    config.request_timeout = Duration::from_millis(500);
    config.connect_timeout = Duration::from_millis(500);
    config.retry_budget = Duration::from_secs(5);
    config.backoff = appreg::graph::Backoff {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(100),
    };
    config
}

pub fn client_for(fake: &Fake) -> GraphClient {
    GraphClient::new(test_config(fake.url()), Arc::new(FixedToken("test-token"))).unwrap()
}

/// Gap between two logged requests.
pub fn gap(earlier: &Seen, later: &Seen) -> Duration {
    later.at.duration_since(earlier.at)
}
