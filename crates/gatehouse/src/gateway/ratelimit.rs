//! The gateway's rate limits (`access_rules.rate_limits`): fixed windows per second (global) or
//! per minute (per client IP, per authenticated subject, per rule). A request over any limit is
//! refused with 429 and `Retry-After`, the seconds until its window ends.
//!
//! Counters live on this replica; with `redis.url` set they live in Redis instead, shared by
//! every replica, each decision counting in one round trip (`SET key 0 EX ttl NX` + `INCR` per
//! counter, in one MULTI). When Redis fails or is slow (over [`redis_conn::COMMAND_TIMEOUT`]), the
//! decision counts locally, Redis is left alone for [`PAUSE_MS`], the outage is counted in the
//! metrics and logged at most every 30 s. With every limit at 0 nothing here runs.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::time::Duration;

use gatehouse_protocol::client_ip::{Cidr, client_ip};

use super::model::{Decision, Request, Subject, error_body};
use crate::config::{Config, GatewayRateLimits};
use crate::metrics::{LimitLabels, Metrics, RedisOpLabels};
use crate::redis_conn::{self, LogThrottle};

/// Which limit a counter belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    Ip,
    User,
    Rule,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Global => "global",
            Scope::Ip => "ip",
            Scope::User => "user",
            Scope::Rule => "rule",
        }
    }
}

/// One counter a request is counted against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    pub scope: Scope,
    pub key: String,
    pub max: u32,
    pub window_secs: u64,
}

impl Counter {
    /// The window `now` falls in, and the seconds until it ends (at least 1).
    pub fn window(&self, now: i64) -> (u64, u64) {
        let now = u64::try_from(now).unwrap_or_default();
        let w = self.window_secs.max(1);
        (now / w, w - now % w)
    }

    /// The counter's name in this window; long keys (a JWT's `sub` can be anything) are hashed.
    pub fn name(&self, now: i64) -> String {
        let (window, _) = self.window(now);
        let key = if self.key.len() > 128 || self.key.chars().any(|c| c.is_control()) {
            gatehouse_crypto::token::hex(&gatehouse_crypto::sha256(self.key.as_bytes()))
        } else {
            self.key.clone()
        };
        format!("rl:{}:{window}:{key}", self.scope.as_str())
    }
}

/// The first counter over its limit, if any, with its `Retry-After`.
pub fn over(counters: &[Counter], counts: &[u64], now: i64) -> Option<(Scope, u64)> {
    counters
        .iter()
        .zip(counts)
        .find(|(c, n)| **n > u64::from(c.max))
        .map(|(c, _)| (c.scope, c.window(now).1))
}

/// The counters for a request that matched `rule_id`, before authentication.
pub fn request_counters(
    cfg: &GatewayRateLimits,
    ip: Option<IpAddr>,
    rule_id: &str,
) -> Vec<Counter> {
    let mut out = Vec::new();
    if cfg.global_per_second > 0 {
        out.push(Counter {
            scope: Scope::Global,
            key: "all".into(),
            max: cfg.global_per_second,
            window_secs: 1,
        });
    }
    if let (true, Some(ip)) = (cfg.per_ip_per_minute > 0, ip) {
        out.push(Counter {
            scope: Scope::Ip,
            key: ip.to_string(),
            max: cfg.per_ip_per_minute,
            window_secs: 60,
        });
    }
    if let Some(max) = cfg.rules.get(rule_id).copied().filter(|n| *n > 0) {
        out.push(Counter {
            scope: Scope::Rule,
            key: rule_id.to_owned(),
            max,
            window_secs: 60,
        });
    }
    out
}

/// After a failure, how long decisions count locally before Redis is tried again.
pub const PAUSE_MS: i64 = 1000;
/// Local counters outlive the longest window.
const LOCAL_TTL: Duration = Duration::from_secs(120);

struct Shared {
    conn: redis::aio::ConnectionManager,
    prefix: String,
    /// Unix milliseconds before which Redis is not tried.
    paused_until: AtomicI64,
    throttle: LogThrottle,
}

pub struct RateLimiter {
    cfg: GatewayRateLimits,
    on: bool,
    trusted: Vec<Cidr>,
    local: moka::sync::Cache<String, Arc<AtomicU32>>,
    shared: Option<Shared>,
    metrics: Arc<Metrics>,
}

fn unix_ms() -> i64 {
    crate::clock::now_ms()
}

impl RateLimiter {
    /// Without any limit configured, no Redis connection is made.
    pub fn new(config: &Config, metrics: Arc<Metrics>) -> Result<RateLimiter, String> {
        let cfg = config.access_rules.rate_limits.clone();
        let on = cfg.any();
        let shared = match (on, redis_conn::client(&config.redis)?) {
            (true, Some(client)) => Some(Shared {
                conn: redis_conn::manager(client)?,
                prefix: config.redis.key_prefix.clone(),
                paused_until: AtomicI64::new(0),
                throttle: LogThrottle::default(),
            }),
            _ => None,
        };
        Ok(RateLimiter {
            trusted: cfg.trusted_proxies.clone(),
            local: moka::sync::Cache::builder()
                .max_capacity(500_000)
                .time_to_live(LOCAL_TTL)
                .build(),
            cfg,
            on,
            shared,
            metrics,
        })
    }

    /// Whether any limit is configured.
    pub fn on(&self) -> bool {
        self.on
    }

    fn count_locally(&self, counters: &[Counter], now: i64) -> Vec<u64> {
        counters
            .iter()
            .map(|c| {
                let n = self
                    .local
                    .get_with(c.name(now), || Arc::new(AtomicU32::new(0)));
                u64::from(n.fetch_add(1, Ordering::Relaxed)) + 1
            })
            .collect()
    }

    async fn count_shared(
        &self,
        s: &Shared,
        counters: &[Counter],
        now: i64,
    ) -> Result<Vec<u64>, String> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for c in counters {
            let name = format!("{}{}", s.prefix, c.name(now));
            // The key lives one window past its own, for replicas whose clocks lag a little.
            let ttl = c.window_secs.max(1) * 2;
            pipe.cmd("SET")
                .arg(&name)
                .arg(0)
                .arg("EX")
                .arg(ttl)
                .arg("NX")
                .ignore();
            pipe.cmd("INCR").arg(&name);
        }
        let mut conn = s.conn.clone();
        match tokio::time::timeout(
            redis_conn::COMMAND_TIMEOUT,
            pipe.query_async::<Vec<u64>>(&mut conn),
        )
        .await
        {
            Ok(Ok(counts)) if counts.len() == counters.len() => Ok(counts),
            Ok(Ok(_)) => Err("unexpected reply".into()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timed out".into()),
        }
    }

    /// Counts the request against `counters`; the first one over its limit, if any.
    pub async fn check(&self, counters: &[Counter], now: i64) -> Option<(Scope, u64)> {
        if counters.is_empty() {
            return None;
        }
        let counts = match &self.shared {
            Some(s) if s.paused_until.load(Ordering::Relaxed) <= unix_ms() => {
                match self.count_shared(s, counters, now).await {
                    Ok(counts) => counts,
                    Err(e) => {
                        s.paused_until
                            .store(unix_ms() + PAUSE_MS, Ordering::Relaxed);
                        self.metrics
                            .redis_errors
                            .get_or_create(&RedisOpLabels { op: "rate_limit" })
                            .inc();
                        if s.throttle.due() {
                            tracing::warn!(error = %e, "Redis unreachable: the gateway's rate limits are counted per replica until it is back");
                        }
                        self.metrics.rate_limit_local_fallback.inc();
                        self.count_locally(counters, now)
                    }
                }
            }
            Some(_) => {
                self.metrics.rate_limit_local_fallback.inc();
                self.count_locally(counters, now)
            }
            None => self.count_locally(counters, now),
        };
        let hit = over(counters, &counts, now);
        if let Some((scope, _)) = hit {
            self.metrics
                .rate_limited
                .get_or_create(&LimitLabels {
                    scope: scope.as_str(),
                })
                .inc();
        }
        hit
    }
}

/// 429 in the shape of the other decision errors.
pub fn too_many(scope: Scope, retry_after: u64) -> Decision {
    Decision::Deny {
        status: 429,
        headers: vec![("Retry-After".into(), retry_after.to_string())],
        body: Some(error_body(
            429,
            "Too many requests",
            Some(&format!("the {} rate limit is reached", scope.as_str())),
        )),
    }
}

impl RateLimiter {
    /// The global, per-IP and per-rule limits, for a request that matched `rule_id`.
    pub async fn limit_request(
        &self,
        r: &Request<'_>,
        rule_id: &str,
        now: i64,
    ) -> Option<Decision> {
        let l = self;
        if !l.on() {
            return None;
        }
        let ip = r
            .client_ip
            .as_deref()
            .and_then(|p| p.parse().ok())
            .map(|peer| {
                let xff = r
                    .headers
                    .get("x-forwarded-for")
                    .filter(|v| v.len() <= 4096)
                    .and_then(|v| v.to_str().ok());
                client_ip(peer, xff, &l.trusted)
            });
        let counters = request_counters(&l.cfg, ip, rule_id);
        let (scope, retry) = l.check(&counters, now).await?;
        Some(too_many(scope, retry))
    }

    /// The per-subject limit, for subjects an authenticator vouched for (not `noop` or
    /// `anonymous`).
    pub async fn limit_subject(&self, anonymous: bool, s: &Subject, now: i64) -> Option<Decision> {
        let l = self;
        if !l.on() || l.cfg.per_user_per_minute == 0 {
            return None;
        }
        if anonymous || s.id.is_empty() {
            return None;
        }
        let counter = Counter {
            scope: Scope::User,
            key: s.id.clone(),
            max: l.cfg.per_user_per_minute,
            window_secs: 60,
        };
        let (scope, retry) = l.check(std::slice::from_ref(&counter), now).await?;
        Some(too_many(scope, retry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(max: u32, window_secs: u64) -> Counter {
        Counter {
            scope: Scope::Ip,
            key: "192.0.2.1".into(),
            max,
            window_secs,
        }
    }

    #[test]
    fn windows_and_retry_after() {
        assert_eq!(counter(1, 60).window(120), (2, 60));
        assert_eq!(counter(1, 60).window(179), (2, 1));
        assert_eq!(counter(1, 1).window(5), (5, 1));
        assert_eq!(counter(1, 60).name(61), "rl:ip:1:192.0.2.1");
        let long = Counter {
            key: "x".repeat(500),
            ..counter(1, 60)
        };
        assert_eq!(long.name(0).len(), "rl:ip:0:".len() + 64);
    }

    #[test]
    fn the_first_counter_over_its_limit_refuses() {
        let cs = [
            counter(2, 60),
            Counter {
                scope: Scope::Rule,
                ..counter(5, 60)
            },
        ];
        assert_eq!(over(&cs, &[2, 5], 30), None);
        assert_eq!(over(&cs, &[3, 6], 30), Some((Scope::Ip, 30)));
        assert_eq!(over(&cs, &[1, 6], 30), Some((Scope::Rule, 30)));
    }

    #[test]
    fn only_configured_limits_count() {
        let mut cfg = GatewayRateLimits::default();
        let ip = Some("192.0.2.1".parse().expect("ip"));
        assert!(request_counters(&cfg, ip, "r").is_empty());
        cfg.per_ip_per_minute = 10;
        cfg.rules.insert("r".into(), 3);
        let cs = request_counters(&cfg, ip, "r");
        assert_eq!(
            cs.iter().map(|c| c.scope).collect::<Vec<_>>(),
            [Scope::Ip, Scope::Rule]
        );
        assert_eq!(request_counters(&cfg, None, "other").len(), 0);
    }
}
