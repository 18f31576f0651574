//! Configuration: one YAML file plus `GATEHOUSE_*` environment overrides, resolved into a typed,
//! validated [`Config`] before anything binds.
//!
//! Keys follow Ory Hydra's names where Hydra has the same setting (`dsn`, `urls.self.issuer`,
//! `urls.login`, `ttl.access_token`, `secrets.system`, `strategies.access_token`, ...). An
//! environment variable is the key path upper-cased with `.` replaced by `_`
//! (`serve.public.port` ↔ `GATEHOUSE_SERVE_PUBLIC_PORT`); because keys may contain `_`
//! themselves, variables are matched against the known key paths rather than split blindly.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

mod cors;
mod credentials;
mod gateway;
mod identity;
mod replicas;
pub use cors::*;
pub use credentials::*;
pub use gateway::*;
pub use identity::*;
pub use replicas::*;

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

/// A duration written as `30s`, `10m`, `1h`, `720h`, `1h30m` or plain seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl Dur {
    pub fn secs(self) -> i64 {
        i64::try_from(self.0.as_secs()).unwrap_or(i64::MAX)
    }

    pub fn parse(s: &str) -> Option<Dur> {
        let s = s.trim();
        if let Ok(n) = s.parse::<u64>() {
            return Some(Dur(Duration::from_secs(n)));
        }
        let mut total = 0u64;
        let mut num = String::new();
        let mut chars = s.chars().peekable();
        let mut any = false;
        while let Some(c) = chars.next() {
            if c.is_ascii_digit() {
                num.push(c);
                continue;
            }
            let unit = if c == 'm' && chars.peek() == Some(&'s') {
                chars.next();
                "ms"
            } else {
                match c {
                    's' => "s",
                    'm' => "m",
                    'h' => "h",
                    'd' => "d",
                    _ => return None,
                }
            };
            let n: u64 = num.parse().ok()?;
            num.clear();
            any = true;
            total = total.checked_add(match unit {
                "ms" => n,
                "s" => n.checked_mul(1000)?,
                "m" => n.checked_mul(60_000)?,
                "h" => n.checked_mul(3_600_000)?,
                _ => n.checked_mul(86_400_000)?,
            })?;
        }
        (any && num.is_empty()).then_some(Dur(Duration::from_millis(total)))
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.subsec_millis() == 0 {
            s.serialize_str(&format!("{}s", self.0.as_secs()))
        } else {
            s.serialize_str(&format!("{}ms", self.0.as_millis()))
        }
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let parsed = match &v {
            Value::String(s) => Dur::parse(s),
            Value::Number(n) => n.as_u64().map(|n| Dur(Duration::from_secs(n))),
            _ => None,
        };
        parsed.ok_or_else(|| {
            serde::de::Error::custom(format!(
                "expected a duration like \"30s\", \"10m\" or \"1h\", got {v}"
            ))
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Listener {
    pub enabled: bool,
    pub host: String,
    pub port: u16,
}

/// The public listener, with Hydra's and Kratos's `cors` block.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PublicListener {
    pub enabled: bool,
    pub host: String,
    pub port: u16,
    pub cors: Cors,
}

impl Default for PublicListener {
    fn default() -> Self {
        let l = Listener::default();
        PublicListener {
            enabled: l.enabled,
            host: l.host,
            port: l.port,
            cors: Cors::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AdminAuth {
    /// When set, every admin request must carry `Authorization: Bearer <token>`.
    pub token: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminListener {
    pub enabled: bool,
    pub host: String,
    pub port: u16,
    pub auth: AdminAuth,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Serve {
    pub public: PublicListener,
    pub admin: AdminListener,
    /// The gateway's decision API (`/decisions/*`, Oathkeeper's API port); off by default.
    pub decisions: Listener,
    /// The gateway's reverse proxy (Oathkeeper's proxy port); off by default.
    pub proxy: ProxyListener,
    /// Largest request body accepted, in bytes.
    pub request_body_limit: usize,
    /// `Secure` on cookies; when unset, on for an https:// issuer and off for an http:// one.
    pub cookies_secure: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SelfUrls {
    pub issuer: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Urls {
    #[serde(rename = "self")]
    pub self_: SelfUrls,
    pub login: Option<String>,
    pub consent: Option<String>,
    pub logout: Option<String>,
    pub error: Option<String>,
    pub post_logout_redirect: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ttl {
    pub access_token: Dur,
    pub refresh_token: Dur,
    pub id_token: Dur,
    pub auth_code: Dur,
    pub login_consent_request: Dur,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Secrets {
    /// Encrypts signing keys at rest: the first encrypts, all decrypt. Empty: generated into the
    /// data directory on first start (SQLite only).
    pub system: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessTokenStrategy {
    Opaque,
    Jwt,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Strategies {
    pub access_token: AccessTokenStrategy,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RefreshTokenGrant {
    /// A rotated refresh token may be used again within this window (concurrent refreshes);
    /// after it, reuse revokes the whole token family.
    pub rotation_grace_period: Dur,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Grant {
    pub refresh_token: RefreshTokenGrant,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct OAuth2 {
    pub grant: Grant,
    /// Whether the authorization server's errors may include internal details.
    pub expose_internal_errors: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Keys {
    /// `ES256` (default), `RS256` or `EdDSA`.
    pub algorithm: String,
    /// How long a rotated-in key is published before it starts signing.
    pub publish_before_use: Dur,
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
    pub dsn: String,
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

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Oidc {
    pub dynamic_client_registration: DynamicClientRegistration,
}

/// OAuth 2.0 Dynamic Client Registration (RFC 7591/7592): off by default.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DynamicClientRegistration {
    pub enabled: bool,
    /// Scope given to a registered client that asks for none. Empty (the default): every scope
    /// in `allowed_scopes`, so a registered client can ask for what discovery lists.
    pub default_scope: Vec<String>,
    /// Redirect URIs a registered client may use; `*` matches any run of characters. Empty: any
    /// URI that passes the usual checks (https, loopback, private-use scheme).
    pub allowed_redirect_uri_patterns: Vec<String>,
    /// Grant types a registered client may ask for.
    pub allowed_grant_types: Vec<String>,
    /// Scopes a registered client may have; a registration asking for another is refused
    /// (`invalid_client_metadata`). Default: the scopes the discovery document lists.
    pub allowed_scopes: Vec<String>,
    /// Registrations accepted per client IP per hour.
    pub rate_limit_per_hour: u32,
}

/// Hydra's `clients` block.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Clients {
    pub http: ClientsHttp,
}

/// Hydra's `clients.http`: the calls to client-supplied URLs (`jwks_uri`,
/// `backchannel_logout_uri`), see `outbound_guard`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientsHttp {
    /// Refuse to call, or to register, client URLs whose host is (or resolves to) a loopback,
    /// private, link-local, CGNAT or otherwise non-public address. On by default (Hydra's
    /// default is off); turn off only for development with clients on this machine.
    pub disallow_private_ip_ranges: bool,
}

impl Default for ClientsHttp {
    fn default() -> Self {
        ClientsHttp {
            disallow_private_ip_ranges: true,
        }
    }
}

impl Default for DynamicClientRegistration {
    fn default() -> Self {
        DynamicClientRegistration {
            enabled: false,
            default_scope: Vec::new(),
            allowed_redirect_uri_patterns: Vec::new(),
            allowed_grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            allowed_scopes: gatehouse_protocol::scope::SCOPES_SUPPORTED
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            rate_limit_per_hour: 20,
        }
    }
}

impl Default for Listener {
    fn default() -> Self {
        Listener {
            enabled: true,
            host: "127.0.0.1".into(),
            port: 4444,
        }
    }
}

impl Default for AdminListener {
    fn default() -> Self {
        AdminListener {
            enabled: true,
            host: "127.0.0.1".into(),
            port: 4445,
            auth: AdminAuth::default(),
        }
    }
}

impl Default for Serve {
    fn default() -> Self {
        Serve {
            public: PublicListener::default(),
            admin: AdminListener::default(),
            decisions: Listener {
                enabled: false,
                host: "127.0.0.1".into(),
                port: 4456,
            },
            proxy: ProxyListener::default(),
            request_body_limit: 64 * 1024,
            cookies_secure: None,
        }
    }
}

impl Default for Ttl {
    fn default() -> Self {
        let h = |n: u64| Dur(Duration::from_secs(n * 3600));
        Ttl {
            access_token: h(1),
            refresh_token: h(720),
            id_token: h(1),
            auth_code: Dur(Duration::from_secs(600)),
            login_consent_request: Dur(Duration::from_secs(1800)),
        }
    }
}

impl Default for Strategies {
    fn default() -> Self {
        Strategies {
            access_token: AccessTokenStrategy::Opaque,
        }
    }
}

impl Default for RefreshTokenGrant {
    fn default() -> Self {
        RefreshTokenGrant {
            rotation_grace_period: Dur(Duration::from_secs(0)),
        }
    }
}

impl Default for Keys {
    fn default() -> Self {
        Keys {
            algorithm: "ES256".into(),
            publish_before_use: Dur(Duration::from_secs(120)),
        }
    }
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
            dsn: String::new(),
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

/// Every leaf key path of the configuration, e.g. `serve.public.port`.
fn leaf_paths(v: &Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaf_paths(child, &p, out);
            }
        }
        _ => out.push(prefix.to_owned()),
    }
}

fn set_path(root: &mut Value, path: &str, value: Value) {
    let mut cur = root;
    for part in path.split('.') {
        if !cur.is_object() {
            *cur = Value::Object(Default::default());
        }
        let Value::Object(m) = cur else { return };
        cur = m.entry(part.to_owned()).or_insert(Value::Null);
    }
    *cur = value;
}

/// An environment value: JSON when it parses as JSON of the right shape, else a string (or a
/// comma-separated list where the key is a list).
fn env_value(raw: &str, default: &Value) -> Value {
    match default {
        Value::Array(_) => serde_json::from_str::<Value>(raw)
            .ok()
            .filter(Value::is_array)
            .unwrap_or_else(|| {
                Value::Array(
                    raw.split(',')
                        .map(|s| Value::String(s.trim().to_owned()))
                        .filter(|v| v != "")
                        .collect(),
                )
            }),
        Value::Bool(_) | Value::Number(_) => {
            serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()))
        }
        Value::Null if raw == "true" || raw == "false" => Value::Bool(raw == "true"),
        _ => Value::String(raw.to_owned()),
    }
}

fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |cur, p| cur.get(p))
}

impl Config {
    /// Loads the file (if any), applies `env`, and validates.
    pub fn load(
        file: Option<&Path>,
        env: impl Iterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let defaults = serde_json::to_value(Config::default())
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let mut doc = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| ConfigError::Read(path.to_owned(), e))?;
                let v: Value = serde_yaml_ng::from_str(&text)
                    .map_err(|e| ConfigError::Yaml(path.to_owned(), e.to_string()))?;
                if v.is_null() {
                    Value::Object(Default::default())
                } else {
                    v
                }
            }
            None => Value::Object(Default::default()),
        };
        let mut paths = Vec::new();
        leaf_paths(&defaults, "", &mut paths);
        let env: Vec<(String, String)> = env.filter(|(k, _)| k.starts_with("GATEHOUSE_")).collect();
        for path in &paths {
            let var = format!("GATEHOUSE_{}", path.replace('.', "_").to_uppercase());
            // An empty variable is treated as unset.
            if let Some((_, raw)) = env.iter().find(|(k, v)| *k == var && !v.is_empty()) {
                let default = lookup(&defaults, path).unwrap_or(&Value::Null);
                set_path(&mut doc, path, env_value(raw, default));
            }
        }
        kratos_method_config(&mut doc);
        let config: Config = serde_path_to_error(doc)?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let known_scheme = ["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|p| self.dsn.starts_with(p));
        if !self.dsn.is_empty() && !known_scheme {
            return Err(key_err(
                "dsn",
                "expected sqlite://PATH, sqlite::memory: or postgres://USER@HOST/DB",
            ));
        }
        if let Some(issuer) = &self.urls.self_.issuer {
            let u = url::Url::parse(issuer)
                .map_err(|e| key_err("urls.self.issuer", format!("not an absolute URL: {e}")))?;
            if !matches!(u.scheme(), "http" | "https")
                || u.query().is_some()
                || u.fragment().is_some()
            {
                return Err(key_err(
                    "urls.self.issuer",
                    "must be an http(s) URL without query or fragment",
                ));
            }
        }
        let dcr = &self.oidc.dynamic_client_registration;
        if let Some(s) = dcr
            .default_scope
            .iter()
            .find(|s| !dcr.allowed_scopes.contains(s))
        {
            return Err(key_err(
                "oidc.dynamic_client_registration.default_scope",
                format!("{s:?} is not in oidc.dynamic_client_registration.allowed_scopes"),
            ));
        }
        for (key, v) in [
            ("urls.login", &self.urls.login),
            ("urls.consent", &self.urls.consent),
            ("urls.logout", &self.urls.logout),
            ("urls.error", &self.urls.error),
            ("urls.post_logout_redirect", &self.urls.post_logout_redirect),
        ] {
            if let Some(v) = v {
                url::Url::parse(v)
                    .map_err(|e| key_err(key, format!("not an absolute URL: {e}")))?;
            }
        }
        for (i, s) in self.secrets.system.iter().enumerate() {
            if s.len() < gatehouse_crypto::keyring::MIN_SECRET_LEN {
                return Err(key_err(
                    &format!("secrets.system[{i}]"),
                    "must be at least 16 characters",
                ));
            }
        }
        if gatehouse_crypto::Algorithm::parse(&self.keys.algorithm).is_none() {
            return Err(key_err("keys.algorithm", "expected ES256, RS256 or EdDSA"));
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err(key_err("log.format", "expected text or json"));
        }
        for (key, d) in [
            ("ttl.access_token", self.ttl.access_token),
            ("ttl.id_token", self.ttl.id_token),
            ("ttl.auth_code", self.ttl.auth_code),
            ("ttl.refresh_token", self.ttl.refresh_token),
            ("ttl.login_consent_request", self.ttl.login_consent_request),
        ] {
            if d.0.is_zero() {
                return Err(key_err(key, "must be longer than zero"));
            }
        }
        if self.serve.public.enabled
            && self.serve.admin.enabled
            && self.serve.public.port == self.serve.admin.port
            && self.serve.public.port != 0
        {
            return Err(key_err(
                "serve.admin.port",
                "must differ from serve.public.port",
            ));
        }
        if self
            .serve
            .admin
            .auth
            .token
            .as_ref()
            .is_some_and(|t| t.len() < 16)
        {
            return Err(key_err(
                "serve.admin.auth.token",
                "must be at least 16 characters",
            ));
        }
        self.serve.public.cors.validate()?;
        self.validate_courier()?;
        self.validate_identity()?;
        self.credentials.validate()?;
        self.access_rules.validate()?;
        self.rate_limits.validate()?;
        self.serve.proxy.validate()?;
        self.invalidation.validate()?;
        self.redis.validate()?;
        if self.serve.request_body_limit < 1024 {
            return Err(key_err(
                "serve.request_body_limit",
                "must be at least 1024 bytes",
            ));
        }
        Ok(())
    }

    fn validate_courier(&self) -> Result<(), ConfigError> {
        let c = &self.courier;
        if let Some(uri) = &c.smtp.connection_uri {
            crate::courier::mailer::parse_connection_uri(uri)
                .map_err(|e| key_err("courier.smtp.connection_uri", e))?;
        }
        crate::courier::mailer::from_mailbox(&c.smtp)
            .map_err(|e| key_err("courier.smtp.from_address", e))?;
        if c.message_retries < 0 {
            return Err(key_err("courier.message_retries", "must not be negative"));
        }
        if c.poll_interval.0.is_zero() {
            return Err(key_err("courier.poll_interval", "must be longer than zero"));
        }
        Ok(())
    }

    fn validate_identity(&self) -> Result<(), ConfigError> {
        let c = &self.session.cookie;
        if c.name.is_empty()
            || !c
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(key_err(
                "session.cookie.name",
                "letters, digits, `_` and `-` only",
            ));
        }
        if !["lax", "strict", "none"].contains(&c.same_site.to_ascii_lowercase().as_str()) {
            return Err(key_err(
                "session.cookie.same_site",
                "expected Lax, Strict or None",
            ));
        }
        if c.domain.as_deref().is_some_and(|d| {
            d.is_empty()
                || !d
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        }) {
            return Err(key_err(
                "session.cookie.domain",
                "expected a domain such as .example.com",
            ));
        }
        if self.session.lifespan.0.is_zero() {
            return Err(key_err("session.lifespan", "must be longer than zero"));
        }
        let f = &self.selfservice.flows;
        for (key, v) in [
            (
                "selfservice.default_browser_return_url",
                &self.selfservice.default_browser_return_url,
            ),
            ("selfservice.flows.login.ui_url", &f.login.ui_url),
            (
                "selfservice.flows.registration.ui_url",
                &f.registration.ui_url,
            ),
            ("selfservice.flows.settings.ui_url", &f.settings.ui_url),
            ("selfservice.flows.recovery.ui_url", &f.recovery.ui_url),
            (
                "selfservice.flows.verification.ui_url",
                &f.verification.ui_url,
            ),
            ("selfservice.flows.error.ui_url", &f.error.ui_url),
        ] {
            if let Some(v) = v {
                url::Url::parse(v)
                    .map_err(|e| key_err(key, format!("not an absolute URL: {e}")))?;
            }
        }
        for (i, u) in self.selfservice.allowed_return_urls.iter().enumerate() {
            url::Url::parse(u).map_err(|e| {
                key_err(
                    &format!("selfservice.allowed_return_urls[{i}]"),
                    format!("not an absolute URL: {e}"),
                )
            })?;
        }
        if self.selfservice.methods.password.min_password_length < 6 {
            return Err(key_err(
                "selfservice.methods.password.min_password_length",
                "must be at least 6",
            ));
        }
        let a = &self.hashers.argon2;
        if a.memory_kib < 8 * 1024 || a.memory_kib > 1024 * 1024 {
            return Err(key_err(
                "hashers.argon2.memory_kib",
                "must be between 8192 and 1048576",
            ));
        }
        if a.iterations == 0 || a.iterations > 20 || a.parallelism == 0 || a.parallelism > 16 {
            return Err(key_err(
                "hashers.argon2",
                "iterations must be 1 to 20 and parallelism 1 to 16",
            ));
        }
        if a.max_concurrent == 0 {
            return Err(key_err(
                "hashers.argon2.max_concurrent",
                "must be at least 1",
            ));
        }
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
            self.dsn.clone()
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

/// Deserializes with the failing key path in the message.
/// Kratos nests method settings under `config` (`selfservice.methods.totp.config.issuer`,
/// `selfservice.methods.webauthn.config.rp.id`, ...): those key paths are read as Gatehouse's
/// shorter ones (which stay valid). A key under `config` that Gatehouse does not have is left
/// there, so the error names its full path.
fn kratos_method_config(doc: &mut Value) {
    let Some(methods) = doc
        .pointer_mut("/selfservice/methods")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for (name, method) in methods.iter_mut() {
        let Some(m) = method.as_object_mut() else {
            continue;
        };
        let Some(Value::Object(mut cfg)) = m.remove("config") else {
            continue;
        };
        type Map = serde_json::Map<String, Value>;
        fn hoist(m: &mut Map, from: &str, to: &str, cfg: &mut Map) {
            if let Some(v) = cfg.remove(from) {
                m.insert(to.to_owned(), v);
            }
        }
        match name.as_str() {
            "password" => {
                hoist(m, "min_password_length", "min_password_length", &mut cfg);
                hoist(
                    m,
                    "identifier_similarity_check_enabled",
                    "identifier_similarity_check_enabled",
                    &mut cfg,
                );
                // Kratos asks Have I Been Pwned; Gatehouse checks its bundled list offline.
                hoist(m, "haveibeenpwned_enabled", "refuse_common", &mut cfg);
            }
            "totp" => hoist(m, "issuer", "issuer", &mut cfg),
            "webauthn" => {
                hoist(m, "passwordless", "passwordless", &mut cfg);
                if let Some(Value::Object(mut rp)) = cfg.remove("rp") {
                    hoist(m, "id", "rp_id", &mut rp);
                    hoist(m, "display_name", "rp_display_name", &mut rp);
                    if let Some(o) = rp.remove("origin") {
                        m.insert("rp_origins".into(), Value::Array(vec![o]));
                    }
                    hoist(m, "origins", "rp_origins", &mut rp);
                    if !rp.is_empty() {
                        cfg.insert("rp".into(), Value::Object(rp));
                    }
                }
            }
            _ => {}
        }
        if !cfg.is_empty() {
            m.insert("config".into(), Value::Object(cfg));
        }
    }
}

/// The full path of the first key in `v` that the defaults `d` do not have, descending into
/// sections (objects with fields); maps and free-form values (empty or null defaults) are not
/// checked here.
fn unknown_key(v: &Value, d: &Value, prefix: &str) -> Option<String> {
    let (Value::Object(v), Value::Object(d)) = (v, d) else {
        return None;
    };
    if d.is_empty() {
        return None;
    }
    for (k, sub) in v {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match d.get(k) {
            // Name the first leaf under an unknown section (`…totp.config.period`).
            None => {
                let mut path = path;
                let mut at = sub;
                while let Some((k, next)) = at.as_object().and_then(|o| o.iter().next()) {
                    path = format!("{path}.{k}");
                    at = next;
                }
                return Some(path);
            }
            Some(dsub) => {
                if let Some(p) = unknown_key(sub, dsub, &path) {
                    return Some(p);
                }
            }
        }
    }
    None
}

fn serde_path_to_error(doc: Value) -> Result<Config, ConfigError> {
    // Walk the top-level sections one by one so an error names its section and key.
    let defaults =
        serde_json::to_value(Config::default()).map_err(|e| ConfigError::Invalid(e.to_string()))?;
    if let Some(path) = unknown_key(&doc, &defaults, "") {
        return Err(key_err(&path, "unknown key"));
    }
    if let Value::Object(m) = &doc {
        for (k, v) in m {
            if defaults.get(k).is_none() {
                return Err(key_err(k, "unknown key"));
            }
            if let (Value::Object(sub), Some(Value::Object(dsub))) = (v, defaults.get(k)) {
                for (k2, v2) in sub {
                    if !dsub.contains_key(k2) {
                        return Err(key_err(&format!("{k}.{k2}"), "unknown key"));
                    }
                    let mut probe = defaults.clone();
                    set_path(&mut probe, &format!("{k}.{k2}"), v2.clone());
                    if let Err(e) = serde_json::from_value::<Config>(probe) {
                        return Err(key_err(&format!("{k}.{k2}"), e.to_string()));
                    }
                }
            } else {
                let mut probe = defaults.clone();
                set_path(&mut probe, k, v.clone());
                if let Err(e) = serde_json::from_value::<Config>(probe) {
                    return Err(key_err(k, e.to_string()));
                }
            }
        }
    }
    serde_json::from_value(doc).map_err(|e| ConfigError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn defaults_are_valid() {
        let c = Config::load(None, env(&[])).expect("ok");
        assert_eq!(c.serve.public.port, 4444);
        assert_eq!(c.serve.admin.port, 4445);
        assert_eq!(
            c.serve.public.host, "127.0.0.1",
            "the listener stays on loopback"
        );
        assert_eq!(c.issuer(), "http://localhost:4444");
        assert!(c.database_url().starts_with("sqlite://"));
    }

    #[test]
    fn default_issuer_names_a_loopback_listener_localhost() {
        let issuer = |host: &str| {
            let mut c = Config::default();
            c.serve.public.host = host.into();
            c.serve.public.port = 8444;
            c.issuer()
        };
        assert_eq!(Config::default().issuer(), "http://localhost:4444");
        assert_eq!(issuer("127.0.0.1"), "http://localhost:8444");
        assert_eq!(issuer("127.0.0.2"), "http://localhost:8444");
        assert_eq!(issuer("::1"), "http://localhost:8444");
        assert_eq!(issuer("LocalHost"), "http://localhost:8444");
        assert_eq!(issuer("192.0.2.7"), "http://192.0.2.7:8444");
        assert_eq!(issuer("2001:db8::7"), "http://[2001:db8::7]:8444");
        assert_eq!(issuer("auth.internal"), "http://auth.internal:8444");
        let mut c = Config::default();
        c.urls.self_.issuer = Some("http://127.0.0.1:4444/".into());
        assert_eq!(
            c.issuer(),
            "http://127.0.0.1:4444",
            "a configured issuer is kept"
        );
    }

    #[test]
    fn env_overrides_keys_with_underscores() {
        let c = Config::load(
            None,
            env(&[
                ("GATEHOUSE_SERVE_PUBLIC_PORT", "9000"),
                ("GATEHOUSE_URLS_SELF_ISSUER", "https://auth.example.com/"),
                ("GATEHOUSE_TTL_ACCESS_TOKEN", "15m"),
                (
                    "GATEHOUSE_SECRETS_SYSTEM",
                    "0123456789abcdef0123,fedcba9876543210fedc",
                ),
                ("GATEHOUSE_STRATEGIES_ACCESS_TOKEN", "jwt"),
            ]),
        )
        .expect("ok");
        assert_eq!(c.serve.public.port, 9000);
        assert_eq!(c.issuer(), "https://auth.example.com");
        assert_eq!(c.ttl.access_token.secs(), 900);
        assert_eq!(c.secrets.system.len(), 2);
        assert_eq!(c.strategies.access_token, AccessTokenStrategy::Jwt);
    }

    #[test]
    fn errors_name_the_key() {
        let e =
            Config::load(None, env(&[("GATEHOUSE_SERVE_PUBLIC_PORT", "lots")])).expect_err("bad");
        assert!(e.to_string().contains("serve.public"), "{e}");
        let e =
            Config::load(None, env(&[("GATEHOUSE_TTL_ACCESS_TOKEN", "soon")])).expect_err("bad");
        assert!(e.to_string().contains("ttl.access_token"), "{e}");
        let e = Config::load(None, env(&[("GATEHOUSE_DSN", "mysql://x")])).expect_err("bad");
        assert!(e.to_string().contains("dsn"), "{e}");
        let e = Config::load(None, env(&[("GATEHOUSE_SECRETS_SYSTEM", "short")])).expect_err("bad");
        assert!(e.to_string().contains("secrets.system[0]"), "{e}");
        let e = Config::load(
            None,
            env(&[("GATEHOUSE_COURIER_SMTP_CONNECTION_URI", "smtpx://mail:25")]),
        )
        .expect_err("bad");
        assert!(
            e.to_string().contains("courier.smtp.connection_uri")
                && e.to_string().contains("scheme"),
            "{e}"
        );
    }

    #[test]
    fn the_example_config_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/gatehouse.yaml");
        let c = Config::load(Some(&path), env(&[])).expect("config/gatehouse.yaml is valid");
        assert_eq!(c.session.cookie.name, "gatehouse_session");
        assert_eq!(c.hashers.argon2.memory_kib, 19456);
    }

    #[test]
    fn dcr_default_scope_must_be_an_allowed_scope() {
        let e = Config::load(
            None,
            env(&[(
                "GATEHOUSE_OIDC_DYNAMIC_CLIENT_REGISTRATION_DEFAULT_SCOPE",
                "openid,admin:*",
            )]),
        )
        .expect_err("admin:* is not allowed");
        assert!(
            e.to_string()
                .contains("oidc.dynamic_client_registration.default_scope"),
            "{e}"
        );
        let c = Config::load(
            None,
            env(&[("GATEHOUSE_CLIENTS_HTTP_DISALLOW_PRIVATE_IP_RANGES", "false")]),
        )
        .expect("valid");
        assert!(!c.clients.http.disallow_private_ip_ranges);
        assert!(Config::default().clients.http.disallow_private_ip_ranges);
    }

    #[test]
    fn an_unknown_required_aal_is_refused_at_load() {
        for (var, key) in [
            ("GATEHOUSE_SESSION_WHOAMI_REQUIRED_AAL", "session.whoami"),
            (
                "GATEHOUSE_SELFSERVICE_FLOWS_SETTINGS_REQUIRED_AAL",
                "selfservice.flows",
            ),
        ] {
            for bad in ["aal2", "AAL1", "highest"] {
                let e = Config::load(None, env(&[(var, bad)])).expect_err(bad);
                assert!(e.to_string().contains(key), "{e}");
            }
            let c = Config::load(None, env(&[(var, "aal1")])).expect("aal1");
            let _ = c;
        }
        assert_eq!(
            Config::default().session.whoami.required_aal,
            RequiredAal::HighestAvailable
        );
    }

    #[test]
    fn kratos_method_config_paths_are_accepted() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("kratos.yaml");
        std::fs::write(
            &path,
            "selfservice:\n  methods:\n    password:\n      enabled: true\n      config:\n        min_password_length: 12\n        haveibeenpwned_enabled: false\n        identifier_similarity_check_enabled: true\n    totp:\n      enabled: true\n      config:\n        issuer: Example\n    webauthn:\n      enabled: true\n      config:\n        passwordless: true\n        rp:\n          id: example.com\n          display_name: Example\n          origin: https://auth.example.com\n",
        )
        .expect("write");
        let c = Config::load(Some(&path), std::iter::empty()).expect("Kratos's shape");
        let m = &c.selfservice.methods;
        assert_eq!(m.password.min_password_length, 12);
        assert!(!m.password.refuse_common);
        assert_eq!(m.totp.issuer.as_deref(), Some("Example"));
        assert_eq!(m.webauthn.rp_id.as_deref(), Some("example.com"));
        assert_eq!(m.webauthn.rp_display_name, "Example");
        assert_eq!(
            m.webauthn.rp_origins,
            vec!["https://auth.example.com".to_owned()]
        );
        // An unknown key names its full path, under `config` too.
        for (yaml, want) in [
            (
                "selfservice:\n  methods:\n    totp:\n      config:\n        period: 30\n",
                "selfservice.methods.totp.config.period",
            ),
            (
                "selfservice:\n  methods:\n    totp:\n      colour: red\n",
                "selfservice.methods.totp.colour",
            ),
            (
                "selfservice:\n  methods:\n    webauthn:\n      config:\n        rp:\n          icon: x\n",
                "selfservice.methods.webauthn.config.rp",
            ),
        ] {
            std::fs::write(&path, yaml).expect("write");
            let e = Config::load(Some(&path), std::iter::empty()).expect_err(want);
            assert!(e.to_string().contains(want), "{e} (wanted {want})");
        }
    }

    #[test]
    fn access_rules_repositories_take_oathkeepers_urls() {
        let c = Config::load(
            None,
            env(&[(
                "GATEHOUSE_ACCESS_RULES_REPOSITORIES",
                "file:///etc/rules.json,https://rules.example.com/rules.json,inline://W10=",
            )]),
        )
        .expect("valid");
        assert_eq!(c.access_rules.repositories.len(), 3);
        let e = Config::load(
            None,
            env(&[(
                "GATEHOUSE_ACCESS_RULES_REPOSITORIES",
                "s3://bucket/rules.json",
            )]),
        )
        .expect_err("bad");
        assert!(
            e.to_string().contains("access_rules.repositories[0]")
                && e.to_string().contains("s3://"),
            "{e}"
        );
    }

    #[test]
    fn identity_keys_are_validated() {
        for (k, v) in [
            ("GATEHOUSE_SESSION_COOKIE_SAME_SITE", "sometimes"),
            ("GATEHOUSE_SESSION_COOKIE_NAME", "bad name"),
            ("GATEHOUSE_SESSION_WHOAMI_REQUIRED_AAL", "aal3"),
            ("GATEHOUSE_HASHERS_ARGON2_MEMORY_KIB", "16"),
            ("GATEHOUSE_SELFSERVICE_FLOWS_LOGIN_UI_URL", "not a url"),
        ] {
            let e = Config::load(None, env(&[(k, v)])).expect_err(k);
            assert!(e.to_string().contains('`'), "{e}");
        }
    }

    #[test]
    fn redis_and_rate_limit_keys_are_validated() {
        let c = Config::load(
            None,
            env(&[
                ("GATEHOUSE_REDIS_URL", "redis://:pw@127.0.0.1:6380/2"),
                ("GATEHOUSE_ACCESS_RULES_RATE_LIMITS_PER_IP_PER_MINUTE", "60"),
                (
                    "GATEHOUSE_ACCESS_RULES_RATE_LIMITS_TRUSTED_PROXIES",
                    "10.0.0.0/8,127.0.0.1",
                ),
            ]),
        )
        .expect("valid");
        assert_eq!(c.redis.url.as_deref(), Some("redis://:pw@127.0.0.1:6380/2"));
        assert_eq!(c.redis.channel, "gatehouse:invalidate");
        assert_eq!(c.access_rules.rate_limits.per_ip_per_minute, 60);
        assert_eq!(c.access_rules.rate_limits.trusted_proxies.len(), 2);
        assert!(c.access_rules.rate_limits.any());
        for (k, v, key) in [
            ("GATEHOUSE_REDIS_URL", "http://:secretpw@host", "redis.url"),
            ("GATEHOUSE_REDIS_URL", "redis://:secretpw@[::1", "redis.url"),
            ("GATEHOUSE_REDIS_CHANNEL", "two words", "redis.channel"),
            (
                "GATEHOUSE_ACCESS_RULES_RATE_LIMITS_TRUSTED_PROXIES",
                "10.0.0.0/99",
                "access_rules.rate_limits.trusted_proxies[0]",
            ),
            (
                "GATEHOUSE_ACCESS_RULES_RATE_LIMITS_PER_IP_PER_MINUTE",
                "-1",
                "access_rules.rate_limits",
            ),
        ] {
            let e = Config::load(None, env(&[(k, v)])).expect_err(k).to_string();
            assert!(e.contains(key), "{k}={v}: {e}");
            assert!(!e.contains("secretpw"), "the password is not repeated: {e}");
        }
        assert!(!Config::default().access_rules.rate_limits.any());
    }

    #[test]
    fn durations() {
        assert_eq!(Dur::parse("1h30m").map(Dur::secs), Some(5400));
        assert_eq!(Dur::parse("720h").map(Dur::secs), Some(720 * 3600));
        assert_eq!(Dur::parse("45").map(Dur::secs), Some(45));
        assert_eq!(Dur::parse("1x"), None);
        assert_eq!(Dur::parse("h"), None);
    }
}
