//! Configuration: one YAML file plus `GATEHOUSE_*` environment overrides, resolved into a typed,
//! validated [`Config`] before anything binds.
//!
//! Keys follow Ory Hydra's names where Hydra has the same setting (`dsn`, `urls.self.issuer`,
//! `urls.login`, `ttl.access_token`, `secrets.system`, `strategies.access_token`, ...). An
//! environment variable is the key path upper-cased with `.` replaced by `_`
//! (`serve.public.port` ↔ `GATEHOUSE_SERVE_PUBLIC_PORT`); `env.rs` reads the file and the
//! variables.
//!
//! One file per concern (`serve.rs`, `oauth2.rs`, `identity.rs`, `courier.rs`, `credentials.rs`,
//! `gateway.rs`, `replicas.rs`, `cors.rs`), each checking its own keys; `duration.rs` is the
//! `30s`/`10m`/`1h` type they share.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

mod cors;
mod courier;
mod credentials;
mod duration;
mod env;
mod gateway;
mod identity;
mod oauth2;
mod replicas;
mod secret;
mod serve;
#[cfg(test)]
mod tests;
pub use cors::*;
pub use courier::*;
pub use credentials::*;
pub use duration::*;
pub use gateway::*;
pub use identity::*;
pub use oauth2::*;
pub use replicas::*;
pub use secret::*;
pub use serve::*;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("config file {0} is not valid YAML: {1}")]
    Yaml(PathBuf, String),
    #[error("invalid configuration: {0}")]
    Invalid(String),
    #[error("`{key}`: {message}")]
    Key { key: String, message: String },
}

fn key_err(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Key {
        key: key.to_owned(),
        message: message.into(),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    pub level: String,
    /// `text` or `json`.
    pub format: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Janitor {
    pub interval: Dur,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `sqlite://path`, `sqlite::memory:` or `postgres://...`. Empty: SQLite in `data_dir`.
    pub dsn: SecretUrl,
    pub data_dir: PathBuf,
    pub serve: Serve,
    pub urls: Urls,
    pub ttl: Ttl,
    pub secrets: Secrets,
    pub strategies: Strategies,
    pub oauth2: OAuth2,
    pub keys: Keys,
    pub log: Log,
    pub janitor: Janitor,
    pub oidc: Oidc,
    /// Hydra's `clients`: how the server calls URLs that OAuth clients supplied.
    pub clients: Clients,
    pub identity: IdentityConfig,
    pub session: SessionConfig,
    pub selfservice: SelfService,
    pub courier: Courier,
    pub hashers: Hashers,
    pub rate_limits: RateLimits,
    pub credentials: CredentialsConfig,
    pub access_rules: AccessRules,
    pub invalidation: InvalidationConfig,
    pub redis: RedisConfig,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            level: "info".into(),
            format: "text".into(),
        }
    }
}

impl Default for Janitor {
    fn default() -> Self {
        Janitor {
            interval: Dur(Duration::from_secs(300)),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            dsn: SecretUrl::default(),
            data_dir: PathBuf::from("gatehouse-data"),
            serve: Serve::default(),
            urls: Urls::default(),
            ttl: Ttl::default(),
            secrets: Secrets::default(),
            strategies: Strategies::default(),
            oauth2: OAuth2::default(),
            keys: Keys::default(),
            log: Log::default(),
            janitor: Janitor::default(),
            oidc: Oidc::default(),
            clients: Clients::default(),
            identity: IdentityConfig::default(),
            session: SessionConfig::default(),
            selfservice: SelfService::default(),
            courier: Courier::default(),
            hashers: Hashers::default(),
            rate_limits: RateLimits::default(),
            credentials: CredentialsConfig::default(),
            access_rules: AccessRules::default(),
            invalidation: InvalidationConfig::default(),
            redis: RedisConfig::default(),
        }
    }
}

impl Config {
    /// Loads the file (if any), applies `env`, and validates.
    pub fn load(
        file: Option<&Path>,
        env: impl Iterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let config = env::read(file, env)?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let known_scheme = ["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|p| self.dsn.expose().starts_with(p));
        if !self.dsn.is_empty() && !known_scheme {
            return Err(key_err(
                "dsn",
                "expected sqlite://PATH, sqlite::memory: or postgres://USER@HOST/DB",
            ));
        }
        self.urls.validate()?;
        self.oidc.validate()?;
        self.secrets.validate()?;
        self.keys.validate()?;
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err(key_err("log.format", "expected text or json"));
        }
        self.ttl.validate()?;
        self.serve.validate()?;
        self.courier.validate()?;
        self.session.validate()?;
        self.selfservice.validate()?;
        self.hashers.validate()?;
        self.credentials.validate()?;
        self.access_rules.validate()?;
        self.rate_limits.validate()?;
        self.invalidation.validate()?;
        self.redis.validate()?;
        Ok(())
    }

    /// The issuer URL without a trailing slash: `urls.self.issuer`, else the public listener's
    /// address, with a loopback host named `localhost` (so the zero-config issuer is
    /// `http://localhost:4444`: a secure context whose host can be the WebAuthn RP ID, which an
    /// IP address cannot; the listener still binds to `127.0.0.1`).
    pub fn issuer(&self) -> String {
        match &self.urls.self_.issuer {
            Some(i) => i.trim_end_matches('/').to_owned(),
            None => {
                let host = &self.serve.public.host;
                let host = match host.parse::<std::net::IpAddr>() {
                    Ok(ip) if ip.is_loopback() => "localhost".to_owned(),
                    Ok(std::net::IpAddr::V6(ip)) => format!("[{ip}]"),
                    _ if host.eq_ignore_ascii_case("localhost") => "localhost".to_owned(),
                    _ => host.clone(),
                };
                format!("http://{host}:{}", self.serve.public.port)
            }
        }
    }

    /// The database URL: `dsn`, or SQLite in the data directory.
    pub fn database_url(&self) -> String {
        if self.dsn.is_empty() {
            format!("sqlite://{}", self.data_dir.join("gatehouse.db").display())
        } else {
            self.dsn.expose().to_owned()
        }
    }

    pub fn cookies_secure(&self) -> bool {
        self.serve
            .cookies_secure
            .unwrap_or_else(|| self.issuer().starts_with("https://"))
    }

    /// `__Host-` when the CSRF cookies can carry it (an https issuer, `Secure` cookies, no
    /// `session.cookie.domain`): such a cookie is Secure, host-only and `Path=/`, so a sibling
    /// subdomain or a plain-http page cannot set it (cookie tossing). Otherwise empty.
    pub fn host_cookie_prefix(&self) -> &'static str {
        if self.issuer().starts_with("https://")
            && self.cookies_secure()
            && self.session.cookie.domain.is_none()
        {
            "__Host-"
        } else {
            ""
        }
    }
}
