//! `access_rules.*` (Oathkeeper's key names): where the gateway's rules come from and how their
//! URLs are matched.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, Dur, key_err};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessRules {
    /// Rule files (a YAML or JSON list of rules) or directories of them (`*.yaml`, `*.yml`,
    /// `*.json`). Unset: no rules, and every decision is a denial.
    pub repositories: Vec<PathBuf>,
    /// `regexp` (default) or `glob`: how the `<...>` parts of `match.url` are read.
    pub matching_strategy: String,
    /// How often the files are checked for changes; a change that fails to parse or validate is
    /// logged and the rules in force stay.
    pub reload_interval: Dur,
}

impl Default for AccessRules {
    fn default() -> Self {
        AccessRules {
            repositories: Vec::new(),
            matching_strategy: "regexp".into(),
            reload_interval: Dur(Duration::from_secs(1)),
        }
    }
}

impl AccessRules {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !matches!(self.matching_strategy.as_str(), "regexp" | "glob") {
            return Err(key_err(
                "access_rules.matching_strategy",
                "expected regexp or glob",
            ));
        }
        if self.reload_interval.0.is_zero() {
            return Err(key_err(
                "access_rules.reload_interval",
                "must be longer than zero",
            ));
        }
        Ok(())
    }
}

/// `serve.proxy`: the gateway's reverse proxy (Oathkeeper's proxy port), off by default.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyListener {
    pub enabled: bool,
    pub host: String,
    pub port: u16,
    /// How long the upstream may take to send its response headers (then 504). Bodies and
    /// WebSockets stream for as long as they last.
    pub timeout: Dur,
    /// How long connecting to the upstream may take (then 502).
    pub connect_timeout: Dur,
    /// Whether the client's `X-Forwarded-Proto` and `X-Forwarded-For` are believed (set it when
    /// a load balancer that overwrites them is the only way in). Off: the scheme is `http` and
    /// the chain starts at the connecting peer.
    pub trust_forwarded_headers: bool,
}

impl Default for ProxyListener {
    fn default() -> Self {
        ProxyListener {
            enabled: false,
            host: "127.0.0.1".into(),
            port: 4455,
            timeout: Dur(Duration::from_secs(30)),
            connect_timeout: Dur(Duration::from_secs(5)),
            trust_forwarded_headers: false,
        }
    }
}

impl ProxyListener {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.timeout.0.is_zero() {
            return Err(key_err("serve.proxy.timeout", "must be longer than zero"));
        }
        if self.connect_timeout.0.is_zero() {
            return Err(key_err(
                "serve.proxy.connect_timeout",
                "must be longer than zero",
            ));
        }
        Ok(())
    }
}
