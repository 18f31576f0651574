//! The provider's side of [`SessionEvents`]: an identity session that ends takes the OAuth 2.0
//! login sessions made from it along (and their clients are told by back-channel logout); one
//! replaced by step-up hands them on to its successor.

use std::sync::Arc;

use async_trait::async_trait;

use super::Provider;
use crate::error::Result;
use crate::sessions::SessionEvents;

/// Wired into the session service by the composition root.
pub struct LoginSessionsFollow(pub Arc<Provider>);

#[async_trait]
impl SessionEvents for LoginSessionsFollow {
    async fn replaced(&self, old: &str, new: &str) -> Result<()> {
        self.0.identity_session_replaced(old, new).await
    }

    async fn ended(&self, ids: &[String], now: i64) -> Result<()> {
        if self.0.identity_sessions_ended(ids, now).await? {
            self.0.deliver_logouts_soon();
        }
        Ok(())
    }
}
