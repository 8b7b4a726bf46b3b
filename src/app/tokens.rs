//! Named API tokens: creating one (the token is returned once, only its digest is stored),
//! verifying a presented one through a short-lived cache, revoking.
//!
//! The cache keeps tokens found for `ttl` (CCM_TOKEN_CACHE_SECONDS): a token revoked through
//! this process stops working at once (its entry is dropped); one revoked through another
//! replica within `ttl`. Expiry is checked on every request. Unknown tokens are not cached (the
//! failed-authentication throttle bounds how often they reach the database).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::domain::clock;
use crate::domain::tokens::{self, ApiToken, NewToken, Scope};
use crate::store::{NewAudit, Store, StoreResult};

/// How often a token's `last_used_at` is written at most.
pub const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// Entries the cache holds at most before it drops the stale ones.
const CACHE_PRUNE_AT: usize = 1024;

/// A token just created: the token itself (shown once) and what is stored.
pub struct Created {
    pub token: crate::secret::Secret,
    pub stored: ApiToken,
}

/// Verifies named tokens, with the cache and the last-use notes of this process.
pub struct TokenRegistry {
    ttl: Duration,
    /// By digest: when it was read, and the token.
    cache: Mutex<HashMap<String, (Instant, ApiToken)>>,
    /// By token id: when its last use was written.
    touched: Mutex<HashMap<i64, Instant>>,
}

impl TokenRegistry {
    pub fn new(ttl: Duration) -> Self {
        TokenRegistry { ttl, cache: Mutex::default(), touched: Mutex::default() }
    }

    /// Creates a token named `name` with `scope`, expiring at `expires_at` if given.
    pub async fn create(
        &self,
        store: &dyn Store,
        name: &str,
        scope: Scope,
        expires_at: Option<DateTime<Utc>>,
        audit: &NewAudit,
    ) -> StoreResult<Created> {
        let token = tokens::generate();
        let stored = store
            .create_token(
                &NewToken { name: name.to_string(), scope, token_hash: tokens::hash(&token), expires_at },
                audit,
            )
            .await?;
        Ok(Created { token: token.into(), stored })
    }

    /// Revokes a token and drops it from this process's cache.
    pub async fn revoke(&self, store: &dyn Store, id: i64, audit: &NewAudit) -> StoreResult<Option<ApiToken>> {
        let revoked = store.revoke_token(id, audit).await?;
        self.cache.lock().expect("token cache").retain(|_, (_, token)| token.id != id);
        Ok(revoked)
    }

    /// The usable named token `presented` is, if any (`Ok(None)`: unknown, revoked or expired).
    /// Notes its use (at most every `TOUCH_EVERY`).
    pub async fn verify(&self, store: &dyn Store, presented: &str) -> StoreResult<Option<ApiToken>> {
        if !presented.starts_with(tokens::TOKEN_PREFIX) {
            return Ok(None);
        }
        let digest = tokens::hash(presented);
        let now = Instant::now();
        let cached = self
            .cache
            .lock()
            .expect("token cache")
            .get(&digest)
            .filter(|(at, _)| now.duration_since(*at) < self.ttl)
            .map(|(_, token)| token.clone());
        let token = match cached {
            Some(token) => token,
            None => match store.token_by_hash(&digest).await? {
                Some(token) => {
                    if !self.ttl.is_zero() {
                        let mut cache = self.cache.lock().expect("token cache");
                        if cache.len() >= CACHE_PRUNE_AT {
                            cache.retain(|_, (at, _)| now.duration_since(*at) < self.ttl);
                        }
                        cache.insert(digest, (now, token.clone()));
                    }
                    token
                }
                None => return Ok(None),
            },
        };
        let at = clock::now();
        if !token.usable(at) {
            return Ok(None);
        }
        if self.due_for_touch(token.id, now) {
            // Once a minute at most per token and process; a failure only delays the note.
            if let Err(err) = store.touch_token(token.id, at).await {
                tracing::warn!(error = %err, token = %token.name, "could not note the token's last use");
            }
        }
        Ok(Some(token))
    }

    fn due_for_touch(&self, id: i64, now: Instant) -> bool {
        let mut touched = self.touched.lock().expect("token touches");
        match touched.get(&id) {
            Some(at) if now.duration_since(*at) < TOUCH_EVERY => false,
            _ => {
                touched.insert(id, now);
                true
            }
        }
    }
}
