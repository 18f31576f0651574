//! What replicas share besides the database: `invalidation.*`, the cache-invalidation log in the
//! database that every process follows, and `redis.*`, the optional Redis that makes
//! invalidations instant (pub/sub on `redis.channel`) and shares the gateway's rate-limit counters.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, Dur, SecretUrl, key_err};

/// `invalidation.*`: how each process follows the invalidation log in the database, so that a
/// revocation made anywhere (another replica, the CLI) purges its caches without Redis.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InvalidationConfig {
    /// How often the log is read: the bound on how long a revocation made elsewhere stays
    /// cached here when Redis is not configured (or is down). 50 ms to 5 s.
    pub poll_interval: Dur,
}

impl Default for InvalidationConfig {
    fn default() -> Self {
        InvalidationConfig {
            poll_interval: Dur(Duration::from_millis(250)),
        }
    }
}

impl InvalidationConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let p = self.poll_interval.0;
        if p < Duration::from_millis(50) || p > Duration::from_secs(5) {
            return Err(key_err(
                "invalidation.poll_interval",
                "must be between 50ms and 5s",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]`, `rediss://...` (TLS) or
    /// `redis+unix:///PATH`. Unset: no Redis.
    pub url: Option<SecretUrl>,
    /// The pub/sub channel that carries cache invalidations between replicas.
    pub channel: String,
    /// Prefix of every key Gatehouse writes (the rate-limit counters).
    pub key_prefix: String,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: None,
            channel: "gatehouse:invalidate".into(),
            key_prefix: "gatehouse:".into(),
        }
    }
}

/// Printable ASCII without spaces, 1 to `max` bytes.
fn is_token(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_graphic())
}

impl RedisConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.url {
            let url = url.expose();
            // The URL may hold a password: the messages never repeat it.
            let scheme_ok = ["redis://", "rediss://", "redis+unix://", "unix://"]
                .iter()
                .any(|s| url.starts_with(s));
            if !scheme_ok || redis::Client::open(url).is_err() {
                return Err(key_err(
                    "redis.url",
                    "expected redis://[[USER]:PASSWORD@]HOST[:PORT][/DB], rediss://... or redis+unix:///PATH",
                ));
            }
        }
        if !is_token(&self.channel, 200) {
            return Err(key_err(
                "redis.channel",
                "1 to 200 printable characters, no spaces",
            ));
        }
        if !is_token(&self.key_prefix, 100) {
            return Err(key_err(
                "redis.key_prefix",
                "1 to 100 printable characters, no spaces",
            ));
        }
        Ok(())
    }
}
