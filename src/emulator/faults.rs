//! Realism switches: latency, replication lag, throttling, server errors, page-size caps, the
//! tenant's secret-lifetime policy, connection resets and slow answers, Key Vault refusals, and the
//! freeze point crash tests stop the sandbox at.
//!
//! Random decisions come from a generator seeded with the sandbox seed, so a test run with faults
//! is repeatable when its requests arrive in the same order.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::error::GraphError;
use super::odata::QueryOptions;

/// Identity & access budgets are counted over this window (GRAPH.md: resource units per 10 s).
pub const BUDGET_WINDOW: Duration = Duration::from_secs(10);

/// The switches. `Faults::default()` is a well-behaved tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// Added to every HTTP answer.
    pub latency: Duration,
    /// Uniform extra latency in `0..=jitter`.
    pub jitter: Duration,
    /// Objects and credentials written less than this long ago are invisible to reads.
    pub replication_lag: Duration,
    /// Chance that a Graph request (batch items included) answers 429.
    pub throttle_probability: f64,
    /// Retry-After of random 429 and 503 answers (sent with millisecond precision).
    pub retry_after: Duration,
    /// Resource units each calling app may spend per [`BUDGET_WINDOW`]; `None` is unlimited.
    pub resource_unit_budget: Option<u32>,
    /// Chance that a Graph request answers 503.
    pub server_error_probability: f64,
    /// Largest page a collection read returns, whatever `$top` says.
    pub page_size_cap: Option<usize>,
    /// Tenant app-management policy: longest password credential addPassword accepts.
    pub max_secret_lifetime: Option<Duration>,
    /// Chance that an HTTP request's connection is reset instead of answered.
    pub reset_probability: f64,
    /// Chance that an HTTP answer is held back by `slow_delay`. The request is processed in full
    /// first, so a client that stops waiting leaves a write done whose answer it never read.
    pub slow_probability: f64,
    pub slow_delay: Duration,
    /// Chance that a Key Vault write (set, delete, recover, purge) is refused with 403 Forbidden,
    /// as a vault whose access policy grants the caller Get but not Set would. Reads pass.
    pub key_vault_failure_probability: f64,
    /// Request number `n` (counted over every HTTP request on both listeners, token requests
    /// included) is processed but never answered, and every later request is held unprocessed.
    pub freeze_after: Option<u64>,
    /// Lost answers placed exactly: the next requests whose path ends with the given suffix are
    /// processed and then their connection is reset, for deterministic tests.
    pub lose_answers: Option<LoseAnswers>,
}

/// See [`Faults::lose_answers`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoseAnswers {
    /// Matched against the end of the request path, e.g. `/addPassword`.
    pub path_suffix: String,
    /// How many matching requests lose their answer (counted down as they arrive).
    pub count: u32,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            replication_lag: Duration::ZERO,
            throttle_probability: 0.0,
            retry_after: Duration::from_secs(1),
            resource_unit_budget: None,
            server_error_probability: 0.0,
            page_size_cap: None,
            max_secret_lifetime: None,
            reset_probability: 0.0,
            slow_probability: 0.0,
            slow_delay: Duration::ZERO,
            key_vault_failure_probability: 0.0,
            freeze_after: None,
            lose_answers: None,
        }
    }
}

/// What the HTTP layer should do to one round trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `delay` comes before the request is processed; `late` (the slow-answer fault) after.
    Answer {
        delay: Duration,
        late: Option<Duration>,
    },
    Reset,
}

/// Switches plus the state they need: the seeded generator and per-app budget windows.
pub struct FaultState {
    pub faults: Faults,
    rng: StdRng,
    windows: HashMap<String, (Instant, u32)>,
}

/// Formats a Retry-After value in seconds, fractional when needed (`0.25`, `2`).
pub fn retry_after_value(wait: Duration) -> String {
    let millis = wait.as_millis();
    if millis.is_multiple_of(1000) {
        (millis / 1000).to_string()
    } else {
        format!("{:.3}", wait.as_secs_f64())
            .trim_end_matches('0')
            .to_string()
    }
}

/// Resource units a request costs (GRAPH.md): GET on applications 2, anything else 1; `$select`
/// saves one, `$expand` adds one; never below one.
pub fn cost(method: &Method, path: &str, query: &QueryOptions) -> u32 {
    let mut units: i64 =
        if method == Method::GET && path.trim_start_matches('/').starts_with("applications") {
            2
        } else {
            1
        };
    if query.select.is_some() {
        units -= 1;
    }
    if !query.expand.is_empty() {
        units += 1;
    }
    units.max(1) as u32
}

impl FaultState {
    pub fn new(faults: Faults, seed: u64) -> Self {
        FaultState {
            faults,
            rng: StdRng::seed_from_u64(seed),
            windows: HashMap::new(),
        }
    }

    fn roll(&mut self, probability: f64) -> bool {
        probability > 0.0 && self.rng.random::<f64>() < probability
    }

    /// Puts `$batch` answers in an arbitrary (seeded) order, as Graph may.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        use rand::seq::SliceRandom;
        items.shuffle(&mut self.rng);
    }

    /// Decides the fate of one HTTP round trip to `path`.
    pub fn transport(&mut self, path: &str) -> Transport {
        if let Some(lose) = &mut self.faults.lose_answers
            && lose.count > 0
            && path.ends_with(&lose.path_suffix)
        {
            lose.count -= 1;
            return Transport::Reset;
        }
        if self.roll(self.faults.reset_probability) {
            return Transport::Reset;
        }
        let mut delay = self.faults.latency;
        if !self.faults.jitter.is_zero() {
            delay += self.faults.jitter.mul_f64(self.rng.random::<f64>());
        }
        let late = self
            .roll(self.faults.slow_probability)
            .then_some(self.faults.slow_delay);
        Transport::Answer { delay, late }
    }

    /// Decides whether a Key Vault request is refused as if the vault denied the caller.
    pub fn key_vault_denied(&mut self) -> bool {
        self.roll(self.faults.key_vault_failure_probability)
    }

    /// Decides whether one Graph request (or batch item) is refused before it reaches the directory.
    pub fn refuse(
        &mut self,
        tenant: &str,
        app_id: &str,
        units: u32,
        now: Instant,
    ) -> Option<GraphError> {
        let retry = retry_after_value(self.faults.retry_after);
        if self.roll(self.faults.server_error_probability) {
            return Some(
                GraphError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "serviceNotAvailable",
                    "The service is temporarily unavailable. Please retry later.",
                )
                .with_header("Retry-After", retry),
            );
        }
        let scope = format!("Tenant_Application/ReadWrite/{tenant}/{app_id}");
        if self.roll(self.faults.throttle_probability) {
            return Some(throttled(retry, &scope, "ThrottleLimitExceeded"));
        }
        let budget = self.faults.resource_unit_budget?;
        let window = self.windows.entry(app_id.to_string()).or_insert((now, 0));
        if now.duration_since(window.0) >= BUDGET_WINDOW {
            *window = (now, 0);
        }
        if window.1 + units > budget {
            let wait = BUDGET_WINDOW.saturating_sub(now.duration_since(window.0));
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return Some(throttled(
                secs.max(1).to_string(),
                &scope,
                "ResourceUnitLimitExceeded",
            ));
        }
        window.1 += units;
        None
    }
}

fn throttled(retry_after: String, scope: &str, information: &str) -> GraphError {
    GraphError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
        "Too many requests, please retry later.",
    )
    .with_header("Retry-After", retry_after)
    .with_header("x-ms-throttle-scope", scope)
    .with_header("x-ms-throttle-information", information)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_keeps_fractions_only_when_needed() {
        assert_eq!(retry_after_value(Duration::from_secs(2)), "2");
        assert_eq!(retry_after_value(Duration::from_millis(250)), "0.25");
    }

    #[test]
    fn costs_follow_graph_md() {
        let plain = QueryOptions::default();
        let selected = QueryOptions {
            select: Some(vec!["id".into()]),
            ..QueryOptions::default()
        };
        assert_eq!(cost(&Method::GET, "/applications", &plain), 2);
        assert_eq!(cost(&Method::GET, "/applications", &selected), 1);
        assert_eq!(cost(&Method::GET, "/servicePrincipals", &selected), 1);
        assert_eq!(cost(&Method::POST, "/applications", &plain), 1);
    }

    #[test]
    fn budget_refuses_once_spent_and_recovers_next_window() {
        let faults = Faults {
            resource_unit_budget: Some(4),
            ..Faults::default()
        };
        let mut state = FaultState::new(faults, 1);
        let t0 = Instant::now();
        assert!(state.refuse("t", "a", 2, t0).is_none());
        assert!(state.refuse("t", "a", 2, t0).is_none());
        let refusal = state.refuse("t", "a", 1, t0).unwrap();
        assert_eq!(refusal.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(
            state.refuse("t", "other", 1, t0).is_none(),
            "budgets are per app"
        );
        assert!(state.refuse("t", "a", 1, t0 + BUDGET_WINDOW).is_none());
    }
}
