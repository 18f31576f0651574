//! Fixed-window rate limits for the self-service submissions per client IP (defaults: login
//! 10/min/IP, registration 5/min/IP, recovery 5/min/IP), and a backoff for failed passwords per
//! (identifier, client IP) pair. Local to the process; counters live in bounded caches that
//! forget them after the window.
//!
//! The client IP is the TCP peer, or, from a peer listed in `rate_limits.trusted_proxies`, the
//! right-most untrusted address of `X-Forwarded-For` ([`client_ip`], the gateway's rule too). IPv6
//! clients are counted per /64: one host usually holds a whole /64, so a full address would be a
//! fresh bucket per guess.
//!
//! Per-identity and per-address counters that must hold across replicas (second-factor guesses,
//! codes sent) are in [`super::lockout`], in the database.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gatehouse_protocol::client_ip::{Cidr, client_ip};

use super::lockout::{Claim, Policy, Record};
use crate::config::RateLimits;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    Login,
    Registration,
    Recovery,
    Verification,
}

#[derive(Clone)]
pub struct Limits {
    enabled: bool,
    cfg: RateLimits,
    trusted: Arc<Vec<Cidr>>,
    counters: moka::sync::Cache<(Bucket, String), Arc<AtomicU32>>,
    /// Failed passwords per (identifier, client IP key).
    pairs: moka::sync::Cache<(String, String), Arc<Mutex<Record>>>,
}

/// The window of every limit, and so the `Retry-After` of a refusal.
pub const WINDOW_SECS: u64 = 60;

/// The password backoff of one (identifier, client) pair: after the free failures, a minute,
/// doubling, at most an hour; forgotten an hour after the last failure or lockout.
fn pair_policy(cfg: &RateLimits) -> Policy {
    Policy {
        free: cfg.login_per_identifier_per_minute.max(1),
        base_secs: 60,
        max_secs: 3600,
        forget_after_secs: 3600,
    }
}

/// The key a client address is counted under: IPv4 as is, IPv6 by its /64 (an IPv4-mapped
/// IPv6 address as the IPv4 address). Anything unparsable is its own key.
pub fn ip_key(ip: &str) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let net = u128::from(v6) & (u128::MAX << 64);
                format!("{}/64", std::net::Ipv6Addr::from(net))
            }
        },
        Err(_) => ip.to_owned(),
    }
}

impl Limits {
    pub fn new(cfg: &RateLimits) -> Limits {
        Limits {
            enabled: cfg.enabled,
            cfg: cfg.clone(),
            trusted: Arc::new(cfg.trusted_proxies.clone()),
            counters: moka::sync::Cache::builder()
                .max_capacity(200_000)
                .time_to_live(Duration::from_secs(WINDOW_SECS))
                .build(),
            pairs: moka::sync::Cache::builder()
                .max_capacity(200_000)
                .time_to_idle(Duration::from_secs(3600))
                .build(),
        }
    }

    /// The client's address: the peer, or what a trusted proxy says it forwarded for.
    pub fn client_ip(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        client_ip(peer, forwarded_for, &self.trusted)
    }

    /// Whether `identifier` may try a password from `ip` at `now`; `Err(until)` while the pair
    /// backs off. Does not count (only failures count, [`Limits::password_failed`]).
    pub fn password_allowed(&self, identifier: &str, ip: &str, now: i64) -> Result<(), i64> {
        if !self.enabled {
            return Ok(());
        }
        let Some(cell) = self.pairs.get(&(identifier.to_owned(), ip_key(ip))) else {
            return Ok(());
        };
        let r = cell
            .lock()
            .map(|r| r.clone())
            .unwrap_or_else(|p| p.into_inner().clone());
        let r = r.current(&pair_policy(&self.cfg), now);
        if r.locked_until > now {
            Err(r.locked_until)
        } else {
            Ok(())
        }
    }

    /// Counts a failed password for the pair.
    pub fn password_failed(&self, identifier: &str, ip: &str, now: i64) {
        if !self.enabled {
            return;
        }
        let cell = self
            .pairs
            .get_with((identifier.to_owned(), ip_key(ip)), || {
                Arc::new(Mutex::new(Record::default()))
            });
        let mut r = cell.lock().unwrap_or_else(|p| p.into_inner());
        let (next, claim) = r.clone().claim(&pair_policy(&self.cfg), now);
        if let Claim::Allowed { .. } = claim {
            *r = next;
        }
    }

    /// A successful login clears the pair's failures.
    pub fn password_passed(&self, identifier: &str, ip: &str) {
        self.pairs.invalidate(&(identifier.to_owned(), ip_key(ip)));
    }

    fn limit(&self, b: Bucket) -> u32 {
        match b {
            Bucket::Login => self.cfg.login_per_minute,
            Bucket::Registration => self.cfg.registration_per_minute,
            Bucket::Recovery => self.cfg.recovery_per_minute,
            Bucket::Verification => self.cfg.verification_per_minute,
        }
    }

    /// Counts one attempt from the client IP `ip` (counted per [`ip_key`]); false when the
    /// limit for this window is exceeded.
    pub fn allow(&self, b: Bucket, ip: &str) -> bool {
        if !self.enabled {
            return true;
        }
        let c = self
            .counters
            .get_with((b, ip_key(ip)), || Arc::new(AtomicU32::new(0)));
        c.fetch_add(1, Ordering::Relaxed) < self.limit(b)
    }

    /// Whether the limit is already reached, without counting.
    pub fn exhausted(&self, b: Bucket, ip: &str) -> bool {
        self.enabled
            && self
                .counters
                .get(&(b, ip_key(ip)))
                .is_some_and(|c| c.load(Ordering::Relaxed) >= self.limit(b))
    }

    pub fn config(&self) -> &RateLimits {
        &self.cfg
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        assert_eq!(ip_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(ip_key("2001:db8:1:2:ffff:1:2:3"), "2001:db8:1:2::/64");
        assert_ne!(ip_key("2001:db8:1:3::1"), ip_key("2001:db8:1:2::1"));
        assert_eq!(ip_key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(ip_key("192.0.2.7"), "192.0.2.7");
    }

    #[test]
    fn many_ipv6_addresses_of_one_64_share_a_login_bucket() {
        let limits = Limits::new(&RateLimits::default());
        let allowed = (0..20)
            .filter(|i| limits.allow(Bucket::Login, &format!("2001:db8:5:6::{i:x}")))
            .count();
        assert_eq!(allowed, 10, "one /64 gets one bucket of 10 a minute");
    }

    #[test]
    fn password_failures_back_off_per_identifier_and_client() {
        let limits = Limits::new(&RateLimits::default());
        for _ in 0..10 {
            assert!(limits.password_allowed("ann", "192.0.2.1", 100).is_ok());
            limits.password_failed("ann", "192.0.2.1", 100);
        }
        assert_eq!(limits.password_allowed("ann", "192.0.2.1", 100), Err(160));
        assert!(
            limits.password_allowed("ann", "192.0.2.2", 100).is_ok(),
            "another client"
        );
        assert!(
            limits.password_allowed("bob", "192.0.2.1", 100).is_ok(),
            "another account"
        );
        assert!(limits.password_allowed("ann", "192.0.2.1", 160).is_ok());
        limits.password_failed("ann", "192.0.2.1", 160);
        assert_eq!(
            limits.password_allowed("ann", "192.0.2.1", 161),
            Err(160 + 120),
            "doubled"
        );
        limits.password_passed("ann", "192.0.2.1");
        assert!(limits.password_allowed("ann", "192.0.2.1", 161).is_ok());
    }
}
