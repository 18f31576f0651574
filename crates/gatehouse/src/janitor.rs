//! Background upkeep: deletes expired tokens, codes, challenges and sessions so tables do not
//! grow forever, and refreshes the signing-key snapshot when a key activates or expires (or
//! another replica rotated), and retries back-channel logout deliveries.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::now;
use crate::oauth2::Provider;

/// How often the key snapshot is re-read from the store.
const KEY_REFRESH: Duration = Duration::from_secs(30);
/// How often queued back-channel logout deliveries are retried.
const DELIVERY_TICK: Duration = Duration::from_secs(5);

pub async fn run(provider: Arc<Provider>, interval: Duration, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let mut cleanup = tokio::time::interval(interval);
    // The snapshot is fresh at start (KeyManager::load): the first re-read is one period later.
    let mut keys = tokio::time::interval_at(tokio::time::Instant::now() + KEY_REFRESH, KEY_REFRESH);
    let mut deliveries = tokio::time::interval(DELIVERY_TICK);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = cleanup.tick() => match provider.store.delete_expired(now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, "janitor removed expired rows"),
                Err(e) => tracing::warn!(error = %e, "janitor failed"),
            },
            _ = deliveries.tick() => {
                if let Err(e) = provider.deliver_logouts(now()).await {
                    tracing::warn!(error = %e, "back-channel logout delivery failed");
                }
            }
            _ = keys.tick() => {
                if let Err(e) = provider.keys.refresh(now()).await {
                    tracing::warn!(error = %e, "refreshing signing keys failed");
                }
            }
        }
    }
}
