//! The access gateway's decision side: Oathkeeper-compatible rules (loaded from files, reloaded
//! when they change, the previous rules kept when a change is invalid) and the decision for a
//! forwarded request (`decide`). The web layer serves it at `/decisions/*` on its own listener.
//!
//! The rules in force are one `Rules` snapshot: the matched rules and, beside each, its handlers
//! compiled when the file loaded (`handlers`), swapped together on reload.

pub mod client_credentials;
pub mod client_ip;
pub mod decide;
pub mod handlers;
pub mod hydrator;
pub mod id_token;
pub mod introspection;
pub mod jwks;
pub mod load;
pub mod outbound;
pub mod ratelimit;
pub mod remote_json;
pub mod session_check;
pub mod template;

use std::sync::Arc;

use arc_swap::ArcSwap;
use gatehouse_protocol::access_rule::RuleSet;

use crate::config::Config;
use crate::credentials::CredentialService;
use crate::oauth2::Provider;
use crate::sessions::SessionService;

/// The gateway's error body, in Oathkeeper's shape, for decisions and the proxy alike:
/// `{"error": {"code", "status", "message", "reason"?}}`.
pub fn error_body(status: u16, message: &str, reason: Option<&str>) -> serde_json::Value {
    let mut error = serde_json::json!({
        "code": status,
        "status": axum::http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or_default(),
        "message": message,
    });
    if let Some(reason) = reason {
        error["reason"] = serde_json::Value::String(reason.to_owned());
    }
    serde_json::json!({ "error": error })
}

/// The rules in force: the rule set and each rule's compiled handlers (same order).
#[derive(Debug, Default)]
pub struct Rules {
    pub set: RuleSet,
    pub handlers: Vec<handlers::RuleHandlers>,
}

impl std::ops::Deref for Rules {
    type Target = RuleSet;

    fn deref(&self) -> &RuleSet {
        &self.set
    }
}

pub struct Gateway {
    pub config: Arc<Config>,
    pub rules: ArcSwap<Rules>,
    pub sessions: Arc<SessionService>,
    pub provider: Arc<Provider>,
    pub credentials: Arc<CredentialService>,
    pub jwks: jwks::JwksCache,
    /// `access_rules.rate_limits`, counted here or in Redis.
    pub limiter: ratelimit::RateLimiter,
}

impl Gateway {
    /// Loads the configured rules; an invalid rules file at start is an error (fix it first).
    pub fn new(
        config: Arc<Config>,
        sessions: Arc<SessionService>,
        provider: Arc<Provider>,
        credentials: Arc<CredentialService>,
    ) -> Result<Gateway, String> {
        let a = &config.access_rules;
        let rules = if a.repositories.is_empty() {
            Rules::default()
        } else {
            load::load(&a.repositories, load::strategy(&a.matching_strategy))?
        };
        let limiter = ratelimit::RateLimiter::new(&config, provider.metrics.clone())?;
        Ok(Gateway {
            limiter,
            rules: ArcSwap::from_pointee(rules),
            config,
            sessions,
            provider,
            credentials,
            jwks: jwks::JwksCache::default(),
        })
    }

    /// Re-reads the rules; on success they replace the ones in force, on failure those stay.
    pub fn reload(&self) -> Result<usize, String> {
        let a = &self.config.access_rules;
        let set = load::load(&a.repositories, load::strategy(&a.matching_strategy))?;
        let n = set.rules.len();
        self.rules.store(Arc::new(set));
        Ok(n)
    }

    /// Watches the rule files (modification time and size) until `shutdown`, reloading on change.
    pub async fn watch(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        let a = &self.config.access_rules;
        if a.repositories.is_empty() {
            return;
        }
        tokio::pin!(shutdown);
        let mut seen = load::fingerprint(&a.repositories);
        let mut tick = tokio::time::interval(a.reload_interval.0);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = &mut shutdown => return,
            }
            let now = load::fingerprint(&a.repositories);
            if now == seen {
                continue;
            }
            seen = now;
            match self.reload() {
                Ok(n) => tracing::info!(rules = n, "access rules reloaded"),
                Err(e) => {
                    tracing::error!(error = %e, "access rules NOT reloaded: the previous rules stay in force")
                }
            }
        }
    }
}
