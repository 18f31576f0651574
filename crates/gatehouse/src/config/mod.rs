//! Configuration: one YAML file plus `GATEHOUSE_*` environment overrides, in two stages. The
//! document is read into a [`RawConfig`] (serde structs, the operator's strings kept), then
//! [`RawConfig::resolve`] checks every key and parses the values the code uses into their types:
//! a [`Config`], before anything binds. A `Config` comes only from that resolution, so the tests,
//! which change a `RawConfig` and resolve it, cannot run a configuration that production refuses.
//! (Its fields are public for reading; nothing changes them once resolved.)
//!
//! Keys follow Ory Hydra's names where Hydra has the same setting (`dsn`, `urls.self.issuer`,
//! `urls.login`, `ttl.access_token`, `secrets.system`, `strategies.access_token`, ...). An
//! environment variable is the key path upper-cased with `.` replaced by `_`
//! (`serve.public.port` ↔ `GATEHOUSE_SERVE_PUBLIC_PORT`); `env.rs` reads the file and the
//! variables.
//!
//! One file per concern (`serve.rs`, `oauth2.rs`, `identity.rs`, `courier.rs`, `credentials.rs`,
//! `gateway.rs`, `replicas.rs`, `cors.rs`), each checking its own keys; `duration.rs` and
//! `secret.rs` hold the types they share (`30s`-style durations, secrets that redact themselves).
//! A section whose values are all used as written is one type in both stages; one with a value
//! to parse has a `Raw*` type as written beside the resolved one.

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

/// `log.*` as written; resolved into [`Log`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLog {
    pub level: String,
    /// `text` or `json`.
    pub format: String,
}

/// `log.*`, resolved.
#[derive(Debug, Clone, Serialize)]
pub struct Log {
    /// A `tracing` filter directive (`GATEHOUSE_LOG` replaces it).
    pub level: String,
    pub format: LogFormat,
}

/// How log lines are written (to stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Janitor {
    pub interval: Dur,
}

/// The configuration as written: the file with the `GATEHOUSE_*` variables laid over it, in serde
/// structs that keep the operator's strings where a value is still to be parsed. Nothing reads
/// it but [`RawConfig::resolve`]; tests change one (it starts at the built-in defaults) and
/// resolve it as `Config::load` does.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    /// `sqlite://path`, `sqlite::memory:` or `postgres://...`. Empty: SQLite in `data_dir`.
    pub dsn: SecretUrl,
    pub data_dir: PathBuf,
    pub serve: Serve,
    pub urls: Urls,
    pub ttl: Ttl,
    pub secrets: Secrets,
    pub strategies: Strategies,
    pub oauth2: OAuth2,
    pub keys: RawKeys,
    pub log: RawLog,
    pub janitor: Janitor,
    pub oidc: Oidc,
    /// Hydra's `clients`: how the server calls URLs that OAuth clients supplied.
    pub clients: Clients,
    pub identity: IdentityConfig,
    pub session: RawSessionConfig,
    pub selfservice: SelfService,
    pub courier: RawCourier,
    pub hashers: Hashers,
    pub rate_limits: RawRateLimits,
    pub credentials: CredentialsConfig,
    pub access_rules: RawAccessRules,
    pub invalidation: InvalidationConfig,
    pub redis: RedisConfig,
}

/// The resolved configuration: every key checked, and the values parsed into what the code uses
/// (the signing algorithm, the cookie's `SameSite`, the matching strategy, rule repositories,
/// trusted-proxy ranges, the SMTP settings and sender; secrets that redact themselves). Made only by [`RawConfig::resolve`]
/// (and [`Config::load`], which reads a [`RawConfig`] and resolves it), so whoever holds one
/// holds a configuration production accepts. `Serialize` writes it back in the document's
/// shape, secrets redacted (`gatehouse check-config`). `#[non_exhaustive]`: no other crate
/// (the tests included) can write a `Config { .. }` literal.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Config {
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

impl Default for RawLog {
    fn default() -> Self {
        RawLog {
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

impl Default for RawConfig {
    fn default() -> Self {
        RawConfig {
            dsn: SecretUrl::default(),
            data_dir: PathBuf::from("gatehouse-data"),
            serve: Serve::default(),
            urls: Urls::default(),
            ttl: Ttl::default(),
            secrets: Secrets::default(),
            strategies: Strategies::default(),
            oauth2: OAuth2::default(),
            keys: RawKeys::default(),
            log: RawLog::default(),
            janitor: Janitor::default(),
            oidc: Oidc::default(),
            clients: Clients::default(),
            identity: IdentityConfig::default(),
            session: RawSessionConfig::default(),
            selfservice: SelfService::default(),
            courier: RawCourier::default(),
            hashers: Hashers::default(),
            rate_limits: RawRateLimits::default(),
            credentials: CredentialsConfig::default(),
            access_rules: RawAccessRules::default(),
            invalidation: InvalidationConfig::default(),
            redis: RedisConfig::default(),
        }
    }
}

/// The built-in defaults, resolved: what `gatehouse serve` runs with no file and no variables.
impl Default for Config {
    fn default() -> Self {
        RawConfig::default()
            .resolve()
            .expect("the built-in defaults are valid")
    }
}

impl RawConfig {
    /// Checks every key and parses the values the code uses; the first bad key is the error,
    /// named by its full path (`access_rules.rate_limits.trusted_proxies[0]`).
    pub fn resolve(self) -> Result<Config, ConfigError> {
        let RawConfig {
            dsn,
            data_dir,
            serve,
            urls,
            ttl,
            secrets,
            strategies,
            oauth2,
            keys,
            log,
            janitor,
            oidc,
            clients,
            identity,
            session,
            selfservice,
            courier,
            hashers,
            rate_limits,
            credentials,
            access_rules,
            invalidation,
            redis,
        } = self;
        let known_scheme = ["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|p| dsn.expose().starts_with(p));
        if !dsn.is_empty() && !known_scheme {
            return Err(key_err(
                "dsn",
                "expected sqlite://PATH, sqlite::memory: or postgres://USER@HOST/DB",
            ));
        }
        urls.validate()?;
        oidc.validate()?;
        secrets.validate()?;
        let keys = keys.resolve()?;
        let log = log.resolve()?;
        ttl.validate()?;
        serve.validate()?;
        let courier = courier.resolve()?;
        let session = session.resolve()?;
        selfservice.validate()?;
        hashers.validate()?;
        credentials.validate()?;
        let access_rules = access_rules.resolve()?;
        let rate_limits = rate_limits.resolve()?;
        invalidation.validate()?;
        redis.validate()?;
        Ok(Config {
            dsn,
            data_dir,
            serve,
            urls,
            ttl,
            secrets,
            strategies,
            oauth2,
            keys,
            log,
            janitor,
            oidc,
            clients,
            identity,
            session,
            selfservice,
            courier,
            hashers,
            rate_limits,
            credentials,
            access_rules,
            invalidation,
            redis,
        })
    }
}

impl RawLog {
    fn resolve(self) -> Result<Log, ConfigError> {
        let format = match self.format.as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            _ => return Err(key_err("log.format", "expected text or json")),
        };
        Ok(Log {
            level: self.level,
            format,
        })
    }
}

impl Config {
    /// Reads the file (if any) with `env` laid over it, and resolves it.
    pub fn load(
        file: Option<&Path>,
        env: impl Iterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        env::read(file, env)?.resolve()
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
