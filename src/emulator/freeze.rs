//! The freeze fault for crash tests: the sandbox numbers every HTTP request it receives (both
//! listeners, token requests included) in arrival order; request number `n` is processed but its
//! answer is never sent, and every later request waits without being processed.
//!
//! A test can then kill a client at an exact point ("the first n requests happened, the n-th answer
//! never arrived") and inspect what the tenant holds. Held requests are only let go when the sandbox
//! shuts down, and then their connections are reset: an answer held back must never arrive late.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::watch;

/// What happens to one request under the current freeze point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Process,
    /// The request at the freeze point: it runs, its answer is held.
    ProcessThenHold,
    /// A request after the freeze point: held before it does anything.
    Hold,
}

/// Request numbering and the signals tests and held requests wait on.
pub struct Freeze {
    seen: AtomicU64,
    reached: watch::Sender<bool>,
    released: watch::Sender<bool>,
}

impl Default for Freeze {
    fn default() -> Self {
        Freeze {
            seen: AtomicU64::new(0),
            reached: watch::Sender::new(false),
            released: watch::Sender::new(false),
        }
    }
}

impl Freeze {
    /// Numbers an arriving request and decides its fate. The caller holds the fault lock, so a
    /// concurrent change of the freeze point cannot slip between the numbering and the decision.
    pub fn admit(&self, point: Option<u64>) -> Admission {
        let number = self.seen.fetch_add(1, Ordering::SeqCst) + 1;
        match point {
            Some(n) if number > n => {
                self.reached.send_replace(true);
                Admission::Hold
            }
            Some(n) if number == n => Admission::ProcessThenHold,
            _ => Admission::Process,
        }
    }

    /// Requests received so far.
    pub fn seen(&self) -> u64 {
        self.seen.load(Ordering::SeqCst)
    }

    /// The request at the freeze point has been processed.
    pub fn mark_reached(&self) {
        self.reached.send_replace(true);
    }

    /// A new freeze point was set: it counts as reached at once when the sandbox already received
    /// that many requests (everything from now on is held).
    pub fn rearm(&self, point: Option<u64>) {
        self.reached
            .send_replace(point.is_some_and(|n| self.seen() >= n));
    }

    pub fn is_reached(&self) -> bool {
        *self.reached.borrow()
    }

    /// Resolves once the freeze point is reached.
    pub async fn reached(&self) {
        let mut receiver = self.reached.subscribe();
        let _ = receiver.wait_for(|reached| *reached).await;
    }

    /// Lets every held request go (the sandbox is stopping).
    pub fn release(&self) {
        self.released.send_replace(true);
    }

    /// Resolves when the sandbox stops; until then a held request waits here.
    pub async fn held(&self) {
        let mut receiver = self.released.subscribe();
        let _ = receiver.wait_for(|released| *released).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_numbered_in_arrival_order_around_the_point() {
        let freeze = Freeze::default();
        let fates: Vec<Admission> = (0..5).map(|_| freeze.admit(Some(3))).collect();
        assert_eq!(
            fates,
            [
                Admission::Process,
                Admission::Process,
                Admission::ProcessThenHold,
                Admission::Hold,
                Admission::Hold,
            ]
        );
        assert_eq!(freeze.seen(), 5);
        // Without a point nothing is held, and numbering goes on.
        assert_eq!(freeze.admit(None), Admission::Process);
        assert_eq!(freeze.seen(), 6);
    }

    #[test]
    fn a_point_already_passed_counts_as_reached() {
        let freeze = Freeze::default();
        freeze.admit(None);
        freeze.admit(None);
        freeze.rearm(Some(5));
        assert!(!freeze.is_reached(), "three more requests to go");
        freeze.rearm(Some(2));
        assert!(freeze.is_reached(), "two requests already arrived");
        freeze.rearm(None);
        assert!(!freeze.is_reached());
    }
}
