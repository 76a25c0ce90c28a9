//! The request log and counters tests and benchmarks read: every HTTP round trip and every Graph
//! request (batch items individually), Key Vault requests marked as such, with status and latency.
//! Never bodies, tokens or secrets.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a logged entry was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EntryKind {
    /// A Graph request sent on its own HTTP round trip.
    Graph,
    /// The `$batch` envelope (one HTTP round trip).
    Batch,
    /// One request inside a `$batch`.
    BatchItem,
    /// A token endpoint call.
    Token,
    /// A request to the sandbox's Key Vault (its own listener); `host` names the vault.
    KeyVault,
}

/// One logged request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    pub seq: u64,
    pub timestamp: DateTime<Utc>,
    pub kind: EntryKind,
    pub method: String,
    /// Path and query as sent (for batch items: the item's relative URL).
    pub path: String,
    pub status: u16,
    pub latency_ms: f64,
    /// For batch items: the envelope's `seq` and the item's `id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_item_id: Option<String>,
    /// Client id of the calling application, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// For Key Vault requests: the vault addressed (its host name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

impl LogEntry {
    /// A Graph write (anything but GET), batch items included.
    pub fn is_write(&self) -> bool {
        matches!(self.kind, EntryKind::Graph | EntryKind::BatchItem) && self.method != "GET"
    }
}

/// Totals since the last clear.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    /// HTTP round trips to Graph (a `$batch` counts once).
    pub http_requests: u64,
    /// Graph requests (a `$batch` counts as its items).
    pub graph_requests: u64,
    pub batch_items: u64,
    /// Graph requests other than GET.
    pub writes: u64,
    pub token_requests: u64,
    /// Requests to the sandbox's Key Vault (none of the counters above include them).
    #[serde(default)]
    pub key_vault_requests: u64,
    /// Answers with status 429.
    pub throttled: u64,
    /// Round trips whose connection the reset fault cut after processing (any listener, token
    /// requests included): the answer never arrived.
    #[serde(default)]
    pub resets: u64,
    /// Round trips the slow-answer fault held back by `slow_delay` (any listener).
    #[serde(default)]
    pub slow_answers: u64,
    pub by_status: BTreeMap<u16, u64>,
}

/// Snapshot returned by `GET /_sandbox/requests` and [`super::RunningSandbox::request_log`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestLog {
    pub requests: Vec<LogEntry>,
    pub counters: Counters,
    #[serde(skip)]
    next_seq: u64,
}

impl RequestLog {
    /// Hands out the next sequence number (a `$batch` envelope takes one before its items run).
    pub fn reserve(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Appends an entry and updates the counters; an entry with `seq` 0 gets the next number.
    pub fn record(&mut self, mut entry: LogEntry) {
        if entry.seq == 0 {
            entry.seq = self.reserve();
        }
        let counters = &mut self.counters;
        match entry.kind {
            EntryKind::Graph => {
                counters.http_requests += 1;
                counters.graph_requests += 1;
            }
            EntryKind::Batch => counters.http_requests += 1,
            EntryKind::BatchItem => {
                counters.graph_requests += 1;
                counters.batch_items += 1;
            }
            EntryKind::Token => counters.token_requests += 1,
            EntryKind::KeyVault => counters.key_vault_requests += 1,
        }
        if entry.is_write() {
            counters.writes += 1;
        }
        if entry.status == 429 {
            counters.throttled += 1;
        }
        *counters.by_status.entry(entry.status).or_default() += 1;
        self.requests.push(entry);
    }

    /// Counts a transport fault (they happen outside the Graph pipeline, so no entry records them).
    pub fn transport_fault(&mut self, reset: bool, slow: bool) {
        self.counters.resets += u64::from(reset);
        self.counters.slow_answers += u64::from(slow);
    }

    /// Empties entries and counters; sequence numbers keep increasing.
    pub fn clear(&mut self) {
        self.requests.clear();
        self.counters = Counters::default();
    }
}
