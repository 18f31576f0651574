//! `access_rules.*` (Oathkeeper's key names): where the gateway's rules come from, how their URLs
//! are matched, and the gateway's rate limits. The repositories, the matching strategy and the
//! trusted proxies are parsed when the configuration is resolved: [`RawAccessRules`] is the
//! section as written, [`AccessRules`] what the gateway uses.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use gatehouse_protocol::access_rule::Strategy;
use gatehouse_protocol::client_ip::Cidr;
use gatehouse_protocol::rule_repository::Repository;
use serde::{Deserialize, Serialize};

use super::{ConfigError, Dur, key_err};

/// `access_rules.*` as written; resolved into [`AccessRules`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAccessRules {
    /// Where the rules (YAML or JSON lists of rules) come from, as Oathkeeper writes them: file
    /// paths or directories (`*.yaml`, `*.yml`, `*.json`), `file://` URLs, `http://`/`https://`
    /// URLs (fetched), `inline://<base64>`. Unset: no rules, and every decision is a denial.
    pub repositories: Vec<RuleRepository>,
    /// `regexp` (default) or `glob`: how the `<...>` parts of `match.url` are read.
    pub matching_strategy: String,
    /// How often the files are checked for changes; a change that fails to parse or validate is
    /// logged and the rules in force stay.
    pub reload_interval: Dur,
    /// How often `http(s)://` repositories are fetched again; a failed fetch keeps the rules
    /// in force.
    pub fetch_interval: Dur,
    /// Requests the gateway lets through before it answers 429 (0: no limit).
    pub rate_limits: RawGatewayRateLimits,
}

/// `access_rules.*`, resolved (keys as on [`RawAccessRules`]).
#[derive(Debug, Clone, Serialize)]
pub struct AccessRules {
    pub repositories: Vec<Repository>,
    pub matching_strategy: Strategy,
    pub reload_interval: Dur,
    pub fetch_interval: Dur,
    pub rate_limits: GatewayRateLimits,
}

/// One `access_rules.repositories` entry as written (resolved into a
/// [`gatehouse_protocol::rule_repository::Repository`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RuleRepository(pub String);

impl AsRef<str> for RuleRepository {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for RuleRepository {
    fn from(s: &str) -> Self {
        RuleRepository(s.to_owned())
    }
}

impl From<String> for RuleRepository {
    fn from(s: String) -> Self {
        RuleRepository(s)
    }
}

impl From<PathBuf> for RuleRepository {
    fn from(p: PathBuf) -> Self {
        RuleRepository(p.display().to_string())
    }
}

/// `access_rules.rate_limits.*` as written: fixed windows, counted on this replica, or in Redis
/// for all replicas together when `redis.url` is set. Every limit is off (0) by default.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawGatewayRateLimits {
    /// Decisions per second, all clients together.
    pub global_per_second: u32,
    /// Decisions per minute per client IP.
    pub per_ip_per_minute: u32,
    /// Decisions per minute per authenticated subject (identity, credential owner, client).
    pub per_user_per_minute: u32,
    /// Per rule: rule id -> decisions per minute for that rule, all clients together.
    pub rules: BTreeMap<String, u32>,
    /// Peers (IP addresses or CIDR ranges) whose `X-Forwarded-For` is believed: the client IP
    /// is then the right-most address in it that is not one of them. Empty: the peer's address.
    pub trusted_proxies: Vec<String>,
}

/// `access_rules.rate_limits.*`, resolved (keys as on [`RawGatewayRateLimits`]); the default
/// has every limit off.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GatewayRateLimits {
    pub global_per_second: u32,
    pub per_ip_per_minute: u32,
    pub per_user_per_minute: u32,
    pub rules: BTreeMap<String, u32>,
    pub trusted_proxies: Vec<Cidr>,
}

impl GatewayRateLimits {
    /// Whether any limit is on (if none is, decisions never look at a counter).
    pub fn any(&self) -> bool {
        self.global_per_second > 0
            || self.per_ip_per_minute > 0
            || self.per_user_per_minute > 0
            || self.rules.values().any(|n| *n > 0)
    }
}

impl Default for RawAccessRules {
    fn default() -> Self {
        RawAccessRules {
            repositories: Vec::new(),
            matching_strategy: "regexp".into(),
            reload_interval: Dur(Duration::from_secs(1)),
            fetch_interval: Dur(Duration::from_secs(30)),
            rate_limits: RawGatewayRateLimits::default(),
        }
    }
}

impl RawAccessRules {
    pub(super) fn resolve(self) -> Result<AccessRules, ConfigError> {
        let matching_strategy = Strategy::parse(&self.matching_strategy)
            .ok_or_else(|| key_err("access_rules.matching_strategy", "expected regexp or glob"))?;
        if self.reload_interval.0.is_zero() {
            return Err(key_err(
                "access_rules.reload_interval",
                "must be longer than zero",
            ));
        }
        if self.fetch_interval.0.is_zero() {
            return Err(key_err(
                "access_rules.fetch_interval",
                "must be longer than zero",
            ));
        }
        let repositories = self
            .repositories
            .iter()
            .enumerate()
            .map(|(i, r)| {
                Repository::parse(&r.0)
                    .map_err(|e| key_err(&format!("access_rules.repositories[{i}]"), e))
            })
            .collect::<Result<_, _>>()?;
        let limits = self.rate_limits;
        for id in limits.rules.keys() {
            if id.is_empty() || id.len() > 256 || id.chars().any(char::is_control) {
                return Err(key_err(
                    "access_rules.rate_limits.rules",
                    "rule ids are 1 to 256 characters without control characters",
                ));
            }
        }
        let trusted_proxies = limits
            .trusted_proxies
            .iter()
            .enumerate()
            .map(|(i, p)| {
                Cidr::parse(p).ok_or_else(|| {
                    key_err(
                        &format!("access_rules.rate_limits.trusted_proxies[{i}]"),
                        "expected an IP address or a CIDR range such as 10.0.0.0/8",
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(AccessRules {
            repositories,
            matching_strategy,
            reload_interval: self.reload_interval,
            fetch_interval: self.fetch_interval,
            rate_limits: GatewayRateLimits {
                global_per_second: limits.global_per_second,
                per_ip_per_minute: limits.per_ip_per_minute,
                per_user_per_minute: limits.per_user_per_minute,
                rules: limits.rules,
                trusted_proxies,
            },
        })
    }
}
