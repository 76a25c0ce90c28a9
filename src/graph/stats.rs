//! Per-run accounting of what the client asked of Graph: what `-v` shows at the end of a run and
//! what benchmarks read through [`crate::graph::GraphClient::stats`]. Counters only: it never
//! influences what is sent.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use super::request::Method;

/// Counters of one run (or since the last [`crate::graph::GraphClient::reset_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RequestStats {
    /// HTTP exchanges with Graph (a `$batch` is one).
    pub round_trips: u64,
    /// Graph requests, counting each item of a batch and each retry, not the `$batch` envelope.
    pub graph_requests: u64,
    /// Requests (or batch items) sent again after a throttle, a transient failure, replication
    /// lag or an expired token.
    pub retries: u64,
    /// 429 answers, batch items included.
    pub throttled: u64,
    /// Graph resource units: `x-ms-resource-unit` when Graph sends it, otherwise estimated with
    /// GRAPH.md's costs (GET applications 2, other requests 1, `$select` -1, `$expand` +1).
    pub resource_units: u64,
    /// Graph requests that read (GET).
    pub reads: u64,
    /// Graph requests that write (POST, PATCH, PUT, DELETE).
    pub writes: u64,
    /// Milliseconds the run was held up waiting to retry (overlapping waits count once).
    pub retry_wait_ms: u64,
}

impl fmt::Display for RequestStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} round trips, {} Graph requests ({} reads, {} writes), {} retries, {} throttled, \
             {} resource units, {:.1}s waiting to retry",
            self.round_trips,
            self.graph_requests,
            self.reads,
            self.writes,
            self.retries,
            self.throttled,
            self.resource_units,
            self.retry_wait_ms as f64 / 1000.0
        )
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) round_trips: AtomicU64,
    pub(crate) graph_requests: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) throttled: AtomicU64,
    pub(crate) resource_units: AtomicU64,
    pub(crate) reads: AtomicU64,
    pub(crate) writes: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

impl Counters {
    /// One Graph request of `method` was sent.
    pub(crate) fn request(&self, method: Method) {
        bump(&self.graph_requests, 1);
        bump(
            if method.is_read() {
                &self.reads
            } else {
                &self.writes
            },
            1,
        );
    }

    pub(crate) fn snapshot(&self) -> RequestStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RequestStats {
            round_trips: get(&self.round_trips),
            graph_requests: get(&self.graph_requests),
            retries: get(&self.retries),
            throttled: get(&self.throttled),
            resource_units: get(&self.resource_units),
            reads: get(&self.reads),
            writes: get(&self.writes),
            retry_wait_ms: 0,
        }
    }

    pub(crate) fn reset(&self) {
        for c in [
            &self.round_trips,
            &self.graph_requests,
            &self.retries,
            &self.throttled,
            &self.resource_units,
            &self.reads,
            &self.writes,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }
}

/// Resource units of one answered request: Graph's `x-ms-resource-unit` header when present,
/// otherwise GRAPH.md's estimate. `path` is relative to `/v1.0`, without the query.
pub(crate) fn resource_units(
    header: Option<&str>,
    method: Method,
    path: &str,
    query: &[(String, String)],
) -> u64 {
    if let Some(n) = header.and_then(|h| h.trim().parse::<u64>().ok()) {
        return n;
    }
    let is_applications = path == "/applications"
        || path.starts_with("/applications/")
        || path.starts_with("/applications(");
    let mut units: i64 = if method.is_read() && is_applications {
        2
    } else {
        1
    };
    if query.iter().any(|(k, _)| k == "$select") {
        units -= 1;
    }
    if query.iter().any(|(k, _)| k == "$expand") {
        units += 1;
    }
    units.max(1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_estimates_follow_graph_md() {
        let q = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        // Each case: header, method, path, query, units, why.
        let cases = [
            (
                Some("5"),
                Method::Get,
                "/applications",
                q(&[]),
                5,
                "the header wins",
            ),
            (
                None,
                Method::Get,
                "/applications",
                q(&[]),
                2,
                "GET applications costs 2",
            ),
            (
                None,
                Method::Get,
                "/applications(uniqueName='x')",
                q(&[("$select", "id")]),
                1,
                "$select takes one off",
            ),
            (
                None,
                Method::Get,
                "/servicePrincipals",
                q(&[("$expand", "owners")]),
                2,
                "$expand adds one",
            ),
            (
                None,
                Method::Get,
                "/users",
                q(&[("$select", "id")]),
                1,
                "never below one",
            ),
            (
                None,
                Method::Patch,
                "/applications/1",
                q(&[]),
                1,
                "writes cost one",
            ),
            (
                Some("junk"),
                Method::Delete,
                "/applications/1",
                q(&[]),
                1,
                "an unreadable header falls back to the estimate",
            ),
        ];
        for (header, method, path, query, expected, why) in cases {
            assert_eq!(
                resource_units(header, method, path, &query),
                expected,
                "{why}"
            );
        }
    }
}
