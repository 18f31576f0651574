//! Fixed-window rate limits for the self-service submissions, per client IP and per login
//! identifier (defaults: login 10/min/IP, registration 5/min/IP, recovery 5/min/IP). Local to
//! the process; counters live in a bounded cache that forgets them after the window.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::config::RateLimits;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    Login,
    LoginIdentifier,
    Registration,
    Recovery,
    Verification,
}

#[derive(Clone)]
pub struct Limits {
    enabled: bool,
    cfg: RateLimits,
    counters: moka::sync::Cache<(Bucket, String), Arc<AtomicU32>>,
}

/// The window of every limit, and so the `Retry-After` of a refusal.
pub const WINDOW_SECS: u64 = 60;

impl Limits {
    pub fn new(cfg: &RateLimits) -> Limits {
        Limits {
            enabled: cfg.enabled,
            cfg: cfg.clone(),
            counters: moka::sync::Cache::builder()
                .max_capacity(200_000)
                .time_to_live(Duration::from_secs(WINDOW_SECS))
                .build(),
        }
    }

    fn limit(&self, b: Bucket) -> u32 {
        match b {
            Bucket::Login => self.cfg.login_per_minute,
            Bucket::LoginIdentifier => self.cfg.login_per_identifier_per_minute,
            Bucket::Registration => self.cfg.registration_per_minute,
            Bucket::Recovery => self.cfg.recovery_per_minute,
            Bucket::Verification => self.cfg.verification_per_minute,
        }
    }

    /// Counts one attempt; false when the limit for this window is exceeded.
    pub fn allow(&self, b: Bucket, key: &str) -> bool {
        if !self.enabled {
            return true;
        }
        let c = self
            .counters
            .get_with((b, key.to_owned()), || Arc::new(AtomicU32::new(0)));
        c.fetch_add(1, Ordering::Relaxed) < self.limit(b)
    }

    /// Whether the limit is already reached, without counting.
    pub fn exhausted(&self, b: Bucket, key: &str) -> bool {
        self.enabled
            && self
                .counters
                .get(&(b, key.to_owned()))
                .is_some_and(|c| c.load(Ordering::Relaxed) >= self.limit(b))
    }
}
