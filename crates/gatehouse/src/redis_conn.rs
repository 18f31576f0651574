//! Connections to the Redis of `redis.url`, shared by the invalidation bus and the gateway's
//! rate limits. Every operation has a short deadline: Redis being slow or gone must never hold
//! a request (callers fall back to what this replica knows).

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::RedisConfig;

/// Deadline of one command (rate-limit counters sit on the decision path).
pub const COMMAND_TIMEOUT: Duration = Duration::from_millis(250);
/// Deadline of one connection attempt.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The client for `redis.url`, or `None` when Redis is not configured. The URL was checked at
/// config load; the error (which never repeats the URL, as it may hold a password) is only for
/// a URL that passed that check and still fails here.
pub fn client(config: &RedisConfig) -> Result<Option<redis::Client>, String> {
    let Some(url) = &config.url else {
        return Ok(None);
    };
    redis::Client::open(url.expose())
        .map(Some)
        .map_err(|e| format!("`redis.url`: {}", e.category()))
}

/// A multiplexed connection that reconnects by itself; it connects on first use, so building it
/// never waits for Redis.
pub fn manager(client: redis::Client) -> Result<ConnectionManager, String> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(COMMAND_TIMEOUT))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_secs(1));
    ConnectionManager::new_lazy_with_config(client, config)
        .map_err(|e| format!("Redis connection: {}", e.category()))
}

/// Lets a warning through at most once per [`LogThrottle::EVERY`], so an outage is logged, not
/// every request it touches.
#[derive(Default)]
pub struct LogThrottle {
    last: std::sync::Mutex<Option<std::time::Instant>>,
}

impl LogThrottle {
    pub const EVERY: Duration = Duration::from_secs(30);

    /// Whether to log now.
    pub fn due(&self) -> bool {
        let Ok(mut last) = self.last.lock() else {
            return false;
        };
        let now = std::time::Instant::now();
        if last.is_some_and(|t| now.duration_since(t) < Self::EVERY) {
            return false;
        }
        *last = Some(now);
        true
    }
}
