//! What a session's end means elsewhere, and what an identity's change means for its sessions.
//! `sessions` knows no service above it: the OAuth 2.0 provider implements [`SessionEvents`]
//! (login sessions made from a session end with it, and their clients are told), and the
//! composition root wires it in.

use std::sync::Arc;

use async_trait::async_trait;
use gatehouse_store::Store;

use super::SessionCache;
use crate::error::Result;
use crate::identity::IdentityObserver;
use crate::identity::model::{Identity, State};

#[async_trait]
pub trait SessionEvents: Send + Sync {
    /// `old` was replaced by `new` for the same person (step-up, re-authentication): what was
    /// made from `old` goes on under `new`.
    async fn replaced(&self, old: &str, new: &str) -> Result<()>;
    /// These sessions ended (logout, revocation, the others ending after recovery).
    async fn ended(&self, ids: &[String], now: i64) -> Result<()>;
}

/// No one listens (tools and tests that run without the OAuth 2.0 provider).
pub struct NoEvents;

#[async_trait]
impl SessionEvents for NoEvents {
    async fn replaced(&self, _old: &str, _new: &str) -> Result<()> {
        Ok(())
    }

    async fn ended(&self, _ids: &[String], _now: i64) -> Result<()> {
        Ok(())
    }
}

/// An identity's sessions follow it: a deactivated identity's sessions end at once, and any
/// other change drops the cached copies (they carry the identity) so the next whoami shows it.
pub struct IdentitySessions {
    store: Arc<dyn Store>,
    cache: SessionCache,
}

impl IdentitySessions {
    pub fn new(store: Arc<dyn Store>, cache: SessionCache) -> IdentitySessions {
        IdentitySessions { store, cache }
    }
}

#[async_trait]
impl IdentityObserver for IdentitySessions {
    async fn saved(&self, identity: &Identity, _now: i64) -> Result<()> {
        let hashes = if identity.state == State::Inactive {
            self.store
                .deactivate_identity_sessions(&identity.id, None)
                .await?
        } else {
            self.store
                .list_sessions(Some(&identity.id), Some(true), 10_000, 0)
                .await?
                .into_iter()
                .map(|s| s.token_hash)
                .collect()
        };
        self.cache.purge(&hashes);
        Ok(())
    }

    async fn deleted(&self, _id: &str, sessions: &[String], _now: i64) -> Result<()> {
        self.cache.purge(sessions);
        Ok(())
    }
}
