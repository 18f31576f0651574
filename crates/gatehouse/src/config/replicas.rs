//! `redis.*`: the optional Redis that replicas share. Unset, everything is local to the process;
//! set, revocations purge the caches of every replica (pub/sub on `redis.channel`) and the
//! gateway's rate-limit counters are shared.

use serde::{Deserialize, Serialize};

use super::{ConfigError, key_err};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]`, `rediss://...` (TLS) or
    /// `redis+unix:///PATH`. Unset: no Redis.
    pub url: Option<String>,
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
            // The URL may hold a password: the messages never repeat it.
            let scheme_ok = ["redis://", "rediss://", "redis+unix://", "unix://"]
                .iter()
                .any(|s| url.starts_with(s));
            if !scheme_ok || redis::Client::open(url.as_str()).is_err() {
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
