//! The Microsoft Graph client: authentication, retries, paging, batching, typed errors and request
//! accounting, over reqwest (rustls) and tokio.
//!
//! Why it exists: every command that reaches a tenant goes through Graph, and Graph's failure
//! modes (throttling, replication lag, answers lost in transit) decide whether a run converges or
//! creates duplicates. Those rules live here once, so the engine can state intent (a request, and
//! whether it touches an object it just wrote) and get either an answer or an error it can act on.
//!
//! What it must never do: know about manifests, the engine or the CLI (it imports none of them, nor
//! the emulator); repeat a POST whose outcome is unknown (that is [`GraphError::OutcomeUnknown`],
//! for the engine to resolve by re-reading); send a token anywhere but https or loopback; or let a
//! token, secret, client assertion or `secretText` reach a log line, an error or a panic message.
//!
//! # API
//!
//! - [`GraphClient::new`]`(`[`GraphConfig`]`, Arc<dyn `[`auth::TokenSource`]`>)`; clones are cheap
//!   and share everything (pool, token cache, in-flight bound, retry budget, counters).
//! - [`Request`] values built without IO: `Request::get(path)`, `.patch(path, body)`,
//!   `.post(path, body)`, `.delete(path)`, `Request::upsert(path, body)` (PATCH with
//!   `Prefer: create-if-missing`), then `.query(k, v)`, `.header(k, v)`, `.after_own_write()`,
//!   `.depends_on(index)` (batch only). Paths are relative to `/v1.0`; names go in through
//!   [`odata::key`] / [`odata::segment`] (and [`odata::quote`] for `$filter` values).
//! - [`GraphClient::send`] -> [`Response`] (status, headers, JSON body); [`GraphClient::get_json`],
//!   [`GraphClient::get_optional`] (404 as `None`), [`GraphClient::list`] (follows
//!   `@odata.nextLink`), [`GraphClient::batch`] (one result per request, in input order).
//! - [`GraphClient::stats`] -> [`RequestStats`], [`GraphClient::reset_stats`],
//!   [`GraphClient::log_summary`] (the `-v` line).
//! - Credentials: [`auth::CredentialChain::from_env`] and one struct per kind in [`auth`].
//! - Bodies are `serde_json::Value`s built by the engine's kinds; the planner's tests check every
//!   property they send against the Graph v1.0 schema (tests/fixtures/graph-v1.0-properties.tsv).
//!
//! # Retry rules
//!
//! | answer | retried? |
//! |---|---|
//! | 429, 503 | yes, after `Retry-After` (seconds, fractional seconds or HTTP date), else jittered backoff |
//! | 504 | idempotent methods yes; a POST ends in `OutcomeUnknown` (the backend may have finished) |
//! | 401 | once, with a fresh token (it may have expired mid-run) |
//! | 404 `Request_ResourceNotFound`, 400 `NoBackingApplicationObject`, 409 `Error_MsaAppDoesNotExist` | only for requests marked `after_own_write()` |
//! | connection refused / failed to connect | yes, whatever the method (nothing was sent) |
//! | token endpoint unreachable or silent (reset, timeout) | yes, whatever the method (nothing was sent to Graph) |
//! | reset, timeout or lost answer after sending | GET/PATCH/PUT/DELETE and POSTs marked `repeatable()` yes; other POSTs end in `OutcomeUnknown` |
//!
//! Every wait is charged to the run's retry budget ([`GraphConfig::retry_budget`]); a wait that
//! does not fit, or a request past [`GraphConfig::max_attempts`], ends in [`GraphError::GaveUp`]
//! carrying the last answer.

pub mod auth;
mod batch;
mod client;
pub mod cloud;
mod error;
pub mod odata;
mod request;
mod retry;
pub mod secret;
mod stats;

pub use batch::MAX_BATCH;
pub use client::{GraphClient, GraphConfig};
pub use cloud::{Cloud, Endpoints};
pub use error::{ApiError, GraphError, required_permission};
pub use odata::segment as path_segment;
pub use request::{Method, Request, Response};
pub use retry::{Backoff, parse_retry_after};
pub use secret::Secret;
pub use stats::RequestStats;
