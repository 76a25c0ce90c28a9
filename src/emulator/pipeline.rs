//! The request pipeline every Graph request goes through, on its own or as a `$batch` item: the
//! state shared by all requests (store, faults, log, signer, saver), its lock, and [`execute`]
//! (throttling and server-error faults, body parsing, dispatch to the routes, persistence).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, Method, StatusCode};
use serde_json::Value;
use tokio::sync::Notify;

use super::caller::Caller;
use super::error::GraphError;
use super::faults::{self, FaultState};
use super::freeze::Freeze;
use super::keys::Signer;
use super::log::RequestLog;
use super::odata;
use super::persist::{self, Persister};
use super::routes::{self, Call, Ctx, Reply};
use super::store::Store;

/// State shared by every request.
pub struct Shared {
    pub store: Mutex<Store>,
    pub faults: Mutex<FaultState>,
    pub log: Mutex<RequestLog>,
    pub graph_url: String,
    pub authority_url: String,
    /// Base URL of the Key Vault listener (`http://127.0.0.1:PORT`).
    pub key_vault_url: String,
    pub tenant_id: String,
    /// Signs the access tokens the token endpoint issues and verifies the bearer tokens sent back.
    pub signer: Signer,
    pub token_lifetime: Duration,
    pub persister: Option<Persister>,
    /// Set by writes, cleared by [`Shared::flush`]; the saver task waits on `saver` for it.
    pub dirty: AtomicBool,
    pub saver: Notify,
    pub freeze: Freeze,
}

/// How long the saver waits after a write so that a burst of writes is saved once.
pub const SAVE_DELAY: Duration = Duration::from_millis(25);

impl Shared {
    /// Asks the saver to write the tenant after a successful write.
    pub fn mark_dirty(&self) {
        if self.persister.is_some() {
            self.dirty.store(true, Ordering::SeqCst);
            self.saver.notify_one();
        }
    }

    /// Saves the tenant if it changed since the last save.
    pub fn flush(&self) {
        let Some(persister) = &self.persister else {
            return;
        };
        let mut last = persister.exclusive();
        if !self.dirty.swap(false, Ordering::SeqCst) {
            return;
        }
        // Only the snapshot is taken under the lock; requests go on while it is written out.
        let snapshot = lock(&self.store).snapshot();
        let (version, bytes) = (snapshot.version, persist::serialize(&snapshot));
        if let Err(error) = persister.save(&mut last, version, &bytes) {
            self.dirty.store(true, Ordering::SeqCst);
            tracing::warn!(path = %persister.path().display(), %error, "could not save the sandbox state");
        }
    }
}

/// Saves the tenant shortly after writes, off the request path. A save rewrites the whole tenant,
/// so the pause before the next one is at least four times the last save's duration: saving takes
/// at most a fifth of the time at any tenant size, and the writes of the pause are saved together
/// (a running sandbox's file lags its memory by at most one pause plus one save).
pub async fn saver(shared: Arc<Shared>) {
    let mut pause = SAVE_DELAY;
    loop {
        shared.saver.notified().await;
        tokio::time::sleep(pause).await;
        let started = Instant::now();
        let saving = shared.clone();
        let _ = tokio::task::spawn_blocking(move || saving.flush()).await;
        pause = SAVE_DELAY.max(started.elapsed() * 4);
    }
}

/// Locks a mutex, recovering the data if a panicking request poisoned it.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Body of a Graph answer.
pub enum Payload {
    None,
    Json(Value),
    /// JSON already written out.
    Rendered(Vec<u8>),
    Text(String),
}

/// A Graph answer before it becomes an HTTP response or a `$batch` item.
pub struct Outcome {
    pub status: StatusCode,
    pub headers: Vec<(String, String)>,
    pub payload: Payload,
}

/// One Graph request as the pipeline sees it.
pub struct Input<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub request_id: &'a str,
    pub client_request_id: &'a str,
    /// Graph's base URL as the client called it (absolute links are built from it).
    pub graph_url: &'a str,
}

pub fn error_outcome(error: &GraphError, request_id: &str, client_request_id: &str) -> Outcome {
    Outcome {
        status: error.status,
        headers: error
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        payload: Payload::Json(error.body(request_id, client_request_id)),
    }
}

pub fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Runs one authenticated Graph request (on its own or as a batch item) through faults and the
/// directory; persists the tenant after a successful write.
pub fn execute(shared: &Shared, caller: &Caller, input: &Input) -> Outcome {
    let eventual = header_text(input.headers, "consistencylevel")
        .is_some_and(|v| v.eq_ignore_ascii_case("eventual"));
    let query = match odata::parse_query(input.query, eventual) {
        Ok(query) => query,
        Err(error) => return error_outcome(&error, input.request_id, input.client_request_id),
    };
    let units = faults::cost(input.method, input.path, &query);
    let (refusal, fault_config) = {
        let mut state = lock(&shared.faults);
        let refusal = state.refuse(&shared.tenant_id, &caller.app_id, units, Instant::now());
        (refusal, state.faults.clone())
    };
    if let Some(error) = refusal {
        return error_outcome(&error, input.request_id, input.client_request_id);
    }
    let body = if input.body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        match serde_json::from_slice::<Value>(input.body) {
            Ok(value) => Some(value),
            Err(_) => {
                let error = GraphError::gateway_bad_request(
                    "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
                );
                return error_outcome(&error, input.request_id, input.client_request_id);
            }
        }
    };
    let prefer = header_text(input.headers, "prefer").is_some_and(|v| {
        v.split(',')
            .any(|p| p.trim().eq_ignore_ascii_case("create-if-missing"))
    });
    let call = Call {
        method: input.method,
        path: input.path,
        query,
        prefer_create_if_missing: prefer,
        body,
        caller,
    };
    let write = *input.method != Method::GET;
    let result = {
        let mut store = lock(&shared.store);
        let mut ctx = Ctx {
            store: &mut store,
            now_ms: now_ms(),
            lag_ms: fault_config.replication_lag.as_millis() as i64,
            graph_url: input.graph_url,
            faults: &fault_config,
        };
        let result = routes::dispatch(&mut ctx, &call);
        if result.is_ok() && write {
            store.touch();
        }
        result
    };
    if result.is_ok() && write {
        shared.mark_dirty();
    }
    // Built here, with the lock released.
    let result = result.and_then(Reply::settled);
    let mut headers = vec![("x-ms-resource-unit".to_string(), units.to_string())];
    match result {
        Ok(Reply::Json(status, value)) => Outcome {
            status,
            headers,
            payload: Payload::Json(value),
        },
        Ok(Reply::Rendered(status, bytes)) => Outcome {
            status,
            headers,
            payload: Payload::Rendered(bytes),
        },
        // (A later reply was settled above.)
        Ok(Reply::NoContent | Reply::Later(_)) => Outcome {
            status: StatusCode::NO_CONTENT,
            headers,
            payload: Payload::None,
        },
        Ok(Reply::Text(text)) => Outcome {
            status: StatusCode::OK,
            headers,
            payload: Payload::Text(text),
        },
        Err(error) => {
            let mut outcome = error_outcome(&error, input.request_id, input.client_request_id);
            headers.append(&mut outcome.headers);
            outcome.headers = headers;
            outcome
        }
    }
}
