//! When and how long to wait before trying again: `Retry-After` parsing, jittered exponential
//! backoff, and the per-run retry budget that bounds the time a run spends held up by retries.
//! It decides how long to wait, never whether a request may be repeated (that is the client's).

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use rand::RngExt;

/// The longest `Retry-After` taken at face value; anything longer is treated as this (and will
/// usually exceed the budget, ending the run with a clear error instead of a silent hour's wait).
const RETRY_AFTER_CAP: Duration = Duration::from_secs(3600);

/// Parse a `Retry-After` value: whole or fractional seconds (`"2"`, `"0.5"`) or an HTTP date.
/// A date in the past means "now". Anything else is ignored (`None`), and backoff applies.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.min(RETRY_AFTER_CAP.as_secs_f64())));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(
        date.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(RETRY_AFTER_CAP),
    )
}

/// Exponential backoff with "equal jitter": attempt n waits between half and all of
/// `min(max, initial * 2^(n-1))`, so concurrent clients spread out but never retry instantly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// The wait before retry number `attempt` (1 for the first retry).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(20));
        let ceiling = self.initial.saturating_mul(factor).min(self.max);
        let half = ceiling / 2;
        let jitter_nanos =
            rand::rng().random_range(0..=half.as_nanos().min(u64::MAX as u128) as u64);
        half + Duration::from_nanos(jitter_nanos)
    }
}

/// The time a run may spend waiting to retry, shared by every request of the run. Time counts
/// once however many requests wait at the same moment (the union of waiting periods), so the
/// budget reads as "this run was held up by retries for at most N seconds".
#[derive(Debug)]
pub(crate) struct RetryBudget {
    total: Duration,
    state: Mutex<BudgetState>,
}

#[derive(Debug, Default)]
struct BudgetState {
    waiting: usize,
    since: Option<Instant>,
    used: Duration,
}

impl BudgetState {
    fn used_at(&self, now: Instant) -> Duration {
        self.used + self.since.map_or(Duration::ZERO, |s| now - s)
    }
}

impl RetryBudget {
    pub(crate) fn new(total: Duration) -> Self {
        RetryBudget {
            total,
            state: Mutex::new(BudgetState::default()),
        }
    }

    pub(crate) fn total(&self) -> Duration {
        self.total
    }

    /// Time spent waiting so far.
    pub(crate) fn used(&self) -> Duration {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.used_at(Instant::now())
    }

    /// Sleep `wait` if the budget allows it; otherwise return at once with `Err`.
    pub(crate) async fn wait(&self, wait: Duration) -> Result<(), ()> {
        {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            if state.used_at(now) + wait > self.total {
                return Err(());
            }
            if state.waiting == 0 {
                state.since = Some(now);
            }
            state.waiting += 1;
        }
        let guard = WaitGuard(self);
        tokio::time::sleep(wait).await;
        drop(guard);
        Ok(())
    }
}

/// Ends a waiting period even if the sleeping future is dropped.
struct WaitGuard<'a>(&'a RetryBudget);

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        let mut state = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
        state.waiting -= 1;
        if state.waiting == 0
            && let Some(since) = state.since.take()
        {
            state.used += since.elapsed();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let in_ten = httpdate::fmt_http_date(now + Duration::from_secs(10));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(10));
        // Each case: header value, expected wait, why.
        let cases = [
            ("2", Some(Duration::from_secs(2)), "integer seconds"),
            (
                "0.25",
                Some(Duration::from_millis(250)),
                "Graph sends fractional seconds too",
            ),
            (" 3 ", Some(Duration::from_secs(3)), "surrounding spaces"),
            ("0", Some(Duration::ZERO), "retry at once"),
            (
                in_ten.as_str(),
                Some(Duration::from_secs(10)),
                "an HTTP date",
            ),
            (past.as_str(), Some(Duration::ZERO), "a date already past"),
            ("-1", None, "negative: ignored, backoff applies"),
            ("NaN", None, "not a number"),
            ("soon", None, "garbage"),
            ("999999", Some(RETRY_AFTER_CAP), "absurd values are capped"),
        ];
        for (value, expected, why) in cases {
            assert_eq!(parse_retry_after(value, now), expected, "{why}");
        }
    }

    #[test]
    fn backoff_grows_within_bounds() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(1000),
        };
        for _ in 0..50 {
            let d1 = b.delay(1);
            assert!(
                d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100),
                "{d1:?}"
            );
            let d3 = b.delay(3);
            assert!(
                d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400),
                "{d3:?}"
            );
            let d30 = b.delay(30);
            assert!(
                d30 >= Duration::from_millis(500) && d30 <= Duration::from_millis(1000),
                "{d30:?}"
            );
        }
    }

    #[tokio::test]
    async fn budget_counts_overlapping_waits_once_and_refuses_beyond_it() {
        let budget = RetryBudget::new(Duration::from_millis(300));
        let (a, b) = tokio::join!(
            budget.wait(Duration::from_millis(100)),
            budget.wait(Duration::from_millis(100))
        );
        assert!(a.is_ok() && b.is_ok());
        let used = budget.used();
        assert!(
            used >= Duration::from_millis(100) && used < Duration::from_millis(200),
            "{used:?}"
        );
        assert!(
            budget.wait(Duration::from_millis(250)).await.is_err(),
            "would exceed the budget"
        );
        assert!(budget.wait(Duration::from_millis(50)).await.is_ok());
    }
}
