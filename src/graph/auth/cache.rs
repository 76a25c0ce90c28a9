//! One token per scope, shared by every request of a run and replaced before it expires.
//!
//! Concurrent callers wanting a new token for the same scope wait for a single fetch instead of
//! each asking the token endpoint.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{AccessToken, AuthError, BoxFuture, Scope, TokenSource};

/// Caches the tokens of any [`TokenSource`].
pub struct TokenCache<T> {
    inner: T,
    slots: Mutex<HashMap<Scope, Arc<Slot>>>,
}

#[derive(Default)]
struct Slot {
    token: Mutex<Option<AccessToken>>,
    fetching: tokio::sync::Mutex<()>,
}

impl Slot {
    fn fresh(&self) -> Option<AccessToken> {
        let guard = self.token.lock().unwrap_or_else(|e| e.into_inner());
        guard.as_ref().filter(|t| !t.needs_refresh()).cloned()
    }
}

impl<T: TokenSource> TokenCache<T> {
    pub fn new(inner: T) -> Self {
        TokenCache {
            inner,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// The wrapped source.
    pub fn inner(&self) -> &T {
        &self.inner
    }

    fn slot(&self, scope: &Scope) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.entry(*scope).or_default().clone()
    }
}

impl<T: TokenSource> TokenSource for TokenCache<T> {
    fn token<'a>(&'a self, scope: &'a Scope) -> BoxFuture<'a, Result<AccessToken, AuthError>> {
        Box::pin(async move {
            let slot = self.slot(scope);
            if let Some(token) = slot.fresh() {
                return Ok(token);
            }
            let _single_flight = slot.fetching.lock().await;
            if let Some(token) = slot.fresh() {
                return Ok(token);
            }
            let token = self.inner.token(scope).await?;
            tracing::debug!(scope = ?scope, "obtained a new access token");
            *slot.token.lock().unwrap_or_else(|e| e.into_inner()) = Some(token.clone());
            Ok(token)
        })
    }

    fn invalidate(&self, scope: &Scope, rejected: &AccessToken) {
        let slot = self.slot(scope);
        let mut token = slot.token.lock().unwrap_or_else(|e| e.into_inner());
        // Only forget the token that was rejected: another request may already hold a newer one.
        if token.as_ref().is_some_and(|t| t.secret == rejected.secret) {
            *token = None;
        }
        self.inner.invalidate(scope, rejected);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;
    use crate::graph::secret::Secret;

    struct Counting {
        calls: AtomicUsize,
        lifetime: Duration,
    }

    impl TokenSource for Counting {
        fn token<'a>(&'a self, _scope: &'a Scope) -> BoxFuture<'a, Result<AccessToken, AuthError>> {
            Box::pin(async move {
                let n = self.calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                Ok(AccessToken::new(
                    Secret::new(format!("t{n}")),
                    Some(self.lifetime),
                ))
            })
        }
    }

    fn counting(lifetime: Duration) -> TokenCache<Counting> {
        TokenCache::new(Counting {
            calls: AtomicUsize::new(0),
            lifetime,
        })
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_fetch_per_scope() {
        let cache = counting(Duration::from_secs(3600));
        let graph = Scope::Graph;
        let vault = Scope::KeyVault;
        let (a, b, c) = tokio::join!(
            cache.token(&graph),
            cache.token(&graph),
            cache.token(&vault)
        );
        assert_eq!(a.unwrap().secret, b.unwrap().secret);
        assert!(c.is_ok());
        assert_eq!(
            cache.inner().calls.load(Ordering::SeqCst),
            2,
            "one per scope"
        );
    }

    #[tokio::test]
    async fn stale_tokens_are_replaced() {
        let cache = counting(Duration::ZERO);
        let first = cache.token(&Scope::Graph).await.unwrap();
        let second = cache.token(&Scope::Graph).await.unwrap();
        assert_ne!(first.secret, second.secret);
    }

    #[tokio::test]
    async fn invalidate_forgets_only_the_rejected_token() {
        let cache = counting(Duration::from_secs(3600));
        let first = cache.token(&Scope::Graph).await.unwrap();
        cache.invalidate(&Scope::Graph, &first);
        let second = cache.token(&Scope::Graph).await.unwrap();
        assert_ne!(first.secret, second.secret);
        cache.invalidate(&Scope::Graph, &first);
        let third = cache.token(&Scope::Graph).await.unwrap();
        assert_eq!(
            second.secret, third.secret,
            "a stale rejection must not drop a newer token"
        );
    }
}
