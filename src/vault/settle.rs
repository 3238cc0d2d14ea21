//! Read-after-write on HA clusters: a token created moments ago may be unknown to the node that
//! answers. OpenBao 2.5+ standbys serve reads themselves and are eventually consistent (403 for
//! a token they have not seen yet); Vault Enterprise performance standbys answer 412.

use super::{Client, VaultError};
use crate::decide::maybe_not_yet_visible;
use std::time::{Duration, Instant};

/// How long such an answer about a new token is retried. Every request also stops at the run's
/// deadline (`client.rs`), so this never stretches a run past it.
pub const NEW_TOKEN_GRACE: Duration = Duration::from_secs(5);
const FIRST_WAIT: Duration = Duration::from_millis(200);
const MAX_WAIT: Duration = Duration::from_secs(1);

impl Client {
    /// Runs `call` (a request made with a token created moments ago), repeating a 403 or 412
    /// until `grace` has passed; a zero grace runs it once.
    pub async fn settling<T>(
        &self,
        grace: Duration,
        call: impl AsyncFn() -> Result<T, VaultError>,
    ) -> Result<T, VaultError> {
        self.settling_until(
            grace,
            call,
            |answer| matches!(answer, Err(e) if e.status().is_some_and(maybe_not_yet_visible)),
        )
        .await
    }

    /// Runs `call`, repeating it while `unsettled` says its answer may only be a node that has
    /// not caught up yet, until `grace` has passed.
    pub async fn settling_until<T>(
        &self,
        grace: Duration,
        call: impl AsyncFn() -> Result<T, VaultError>,
        unsettled: impl Fn(&Result<T, VaultError>) -> bool,
    ) -> Result<T, VaultError> {
        let started = Instant::now();
        let mut wait = FIRST_WAIT;
        loop {
            let answer = call().await;
            if !(unsettled(&answer) && started.elapsed() + wait <= grace) {
                return answer;
            }
            tracing::debug!("this node may not have caught up yet; retrying in {wait:?}");
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(MAX_WAIT);
        }
    }
}
