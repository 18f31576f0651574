//! What other services do when an identity changes. The composition root (`App::build`)
//! registers them, so that `identity` knows neither sessions nor credentials: sessions end or
//! drop their cached copy, credentials drop their cached verdicts or are revoked.

use async_trait::async_trait;

use super::model::Identity;
use crate::error::Result;

#[async_trait]
pub trait IdentityObserver: Send + Sync {
    /// The identity was saved: its traits, credentials, roles or state changed.
    async fn saved(&self, identity: &Identity, now: i64) -> Result<()>;
    /// The identity was deleted; `sessions` are the token digests of the sessions deleted with
    /// it.
    async fn deleted(&self, id: &str, sessions: &[String], now: i64) -> Result<()>;
}
