//! The identity side of the configuration, under Kratos's key names where Kratos has the same
//! setting: `identity.*`, `session.*`, `selfservice.*`, `hashers.*`, plus Gatehouse's own
//! `rate_limits.*`. `session` and `rate_limits` hold values that are parsed when the
//! configuration is resolved (the cookie's `SameSite`, the trusted proxies), so each has a `Raw*`
//! type as written and a resolved one.

use std::time::Duration;

use gatehouse_protocol::client_ip::Cidr;
use serde::{Deserialize, Serialize, Serializer};

use super::{ConfigError, Dur, key_err};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityConfig {
    /// The schema new identities get when they name none.
    pub default_schema_id: String,
    /// Identity schemas; each `url` is `file:///path.json` or `base64://...`. Empty: a built-in
    /// `default` schema with `email` (login identifier, verified and recoverable) and `name`.
    pub schemas: Vec<SchemaSource>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaSource {
    pub id: String,
    pub url: String,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            default_schema_id: "default".into(),
            schemas: Vec::new(),
        }
    }
}

/// `session.cookie` as written; resolved into [`SessionCookie`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSessionCookie {
    pub name: String,
    /// e.g. `.example.com` to share the session with every subdomain (SSO). Unset: host-only.
    pub domain: Option<String>,
    pub path: String,
    /// `Lax` (default), `Strict` or `None` (which forces `Secure`), in any case.
    pub same_site: String,
    /// A persistent cookie (with `Max-Age`) or a browser-session cookie.
    pub persistent: bool,
    /// Unset: follows `serve.cookies_secure`.
    pub secure: Option<bool>,
}

impl Default for RawSessionCookie {
    fn default() -> Self {
        RawSessionCookie {
            name: "gatehouse_session".into(),
            domain: None,
            path: "/".into(),
            same_site: "Lax".into(),
            persistent: true,
            secure: None,
        }
    }
}

/// The session cookie's attributes (`session.cookie.*`, keys as on [`RawSessionCookie`]).
#[derive(Debug, Clone, Serialize)]
pub struct SessionCookie {
    pub name: String,
    pub domain: Option<String>,
    pub path: String,
    pub same_site: SameSite,
    pub persistent: bool,
    pub secure: Option<bool>,
}

/// The cookie's `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    Lax,
    Strict,
    /// Sent on cross-site requests too; browsers take it only with `Secure`, so it forces
    /// `Secure`.
    None,
}

impl SameSite {
    /// `Lax`, `Strict` or `None`, in any case.
    pub fn parse(s: &str) -> Option<SameSite> {
        [SameSite::Lax, SameSite::Strict, SameSite::None]
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
    }

    /// As the attribute is written in `Set-Cookie`.
    pub fn as_str(self) -> &'static str {
        match self {
            SameSite::Lax => "Lax",
            SameSite::Strict => "Strict",
            SameSite::None => "None",
        }
    }
}

impl std::fmt::Display for SameSite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for SameSite {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Kratos's `required_aal` values, parsed when the config loads (any other value is refused
/// there, so no check can meet an unknown requirement by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RequiredAal {
    /// A first factor is enough.
    Aal1,
    /// A session of an identity with a second factor must have used it.
    #[default]
    HighestAvailable,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SessionWhoami {
    /// `aal1`, or `highest_available`: a session of an identity with a second factor must
    /// have used it before whoami answers.
    pub required_aal: RequiredAal,
}

/// `session.*` as written; resolved into [`SessionConfig`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSessionConfig {
    pub lifespan: Dur,
    /// A session is extended (sliding) when it is used and less than this is left; `0s` turns
    /// sliding extension off.
    pub earliest_possible_extend: Dur,
    pub cookie: RawSessionCookie,
    pub whoami: SessionWhoami,
    /// How long a whoami answer may come from the in-process cache (revocation purges it here,
    /// and on the other replicas through Redis when `redis.url` is set).
    pub cache_ttl: Dur,
}

impl Default for RawSessionConfig {
    fn default() -> Self {
        RawSessionConfig {
            lifespan: Dur(Duration::from_secs(24 * 3600)),
            earliest_possible_extend: Dur(Duration::from_secs(12 * 3600)),
            cookie: RawSessionCookie::default(),
            whoami: SessionWhoami::default(),
            cache_ttl: Dur(Duration::from_secs(60)),
        }
    }
}

/// `session.*`, resolved (keys as on [`RawSessionConfig`]).
#[derive(Debug, Clone, Serialize)]
pub struct SessionConfig {
    pub lifespan: Dur,
    pub earliest_possible_extend: Dur,
    pub cookie: SessionCookie,
    pub whoami: SessionWhoami,
    pub cache_ttl: Dur,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordMethod {
    pub enabled: bool,
    pub min_password_length: usize,
    /// Refuse passwords found in the bundled list of common breached passwords.
    pub refuse_common: bool,
    /// Refuse passwords too similar to the identifier (contain it, or it contains them).
    pub identifier_similarity_check_enabled: bool,
}

impl Default for PasswordMethod {
    fn default() -> Self {
        PasswordMethod {
            enabled: true,
            min_password_length: 8,
            refuse_common: true,
            identifier_similarity_check_enabled: true,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TotpMethod {
    pub enabled: bool,
    /// The issuer shown in authenticator apps. Unset: the issuer URL's host.
    pub issuer: Option<String>,
}

impl Default for TotpMethod {
    fn default() -> Self {
        TotpMethod {
            enabled: true,
            issuer: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Toggle {
    pub enabled: bool,
}

impl Default for Toggle {
    fn default() -> Self {
        Toggle { enabled: true }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebauthnMethod {
    pub enabled: bool,
    /// Passkeys as a first factor (else security keys are a second factor only).
    pub passwordless: bool,
    /// Relying-party id (a registrable domain). Unset: the issuer's host.
    pub rp_id: Option<String>,
    pub rp_display_name: String,
    /// Allowed origins. Empty: the issuer's origin.
    pub rp_origins: Vec<String>,
}

impl Default for WebauthnMethod {
    fn default() -> Self {
        WebauthnMethod {
            enabled: true,
            passwordless: true,
            rp_id: None,
            rp_display_name: "Gatehouse".into(),
            rp_origins: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Methods {
    pub password: PasswordMethod,
    pub totp: TotpMethod,
    pub lookup_secret: Toggle,
    pub webauthn: WebauthnMethod,
    /// One-time codes by e-mail for recovery and verification.
    pub code: Toggle,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlowConfig {
    pub enabled: bool,
    /// The page for this flow. Unset: Gatehouse's built-in page.
    pub ui_url: Option<String>,
    pub lifespan: Dur,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecoveryFlow {
    pub enabled: bool,
    /// The page for this flow. Unset: Gatehouse's built-in page.
    pub ui_url: Option<String>,
    pub lifespan: Dur,
    /// A completed recovery also revokes the identity's personal access tokens and the OAuth 2.0
    /// tokens issued to it, besides its other sessions.
    pub revoke_credentials: bool,
}

impl Default for RecoveryFlow {
    fn default() -> Self {
        let base = FlowConfig::default();
        RecoveryFlow {
            enabled: base.enabled,
            ui_url: base.ui_url,
            lifespan: base.lifespan,
            revoke_credentials: true,
        }
    }
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            enabled: true,
            ui_url: None,
            lifespan: Dur(Duration::from_secs(3600)),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SettingsFlow {
    pub ui_url: Option<String>,
    pub lifespan: Dur,
    /// Credentials can be changed only this long after the last authentication.
    pub privileged_session_max_age: Dur,
    /// `aal1` or `highest_available`.
    pub required_aal: RequiredAal,
    /// A password change also revokes the identity's personal access tokens and the OAuth 2.0
    /// tokens issued to it (what an intruder may have minted before the change).
    pub password_change_revokes_credentials: bool,
}

impl Default for SettingsFlow {
    fn default() -> Self {
        SettingsFlow {
            ui_url: None,
            lifespan: Dur(Duration::from_secs(3600)),
            privileged_session_max_age: Dur(Duration::from_secs(15 * 60)),
            required_aal: RequiredAal::HighestAvailable,
            password_change_revokes_credentials: true,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Flows {
    pub login: FlowConfig,
    pub registration: FlowConfig,
    pub settings: SettingsFlow,
    pub recovery: RecoveryFlow,
    pub verification: FlowConfig,
    pub error: ErrorFlow,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ErrorFlow {
    pub ui_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SelfService {
    /// Where browsers go after a flow without `return_to`. Unset: the settings page.
    pub default_browser_return_url: Option<String>,
    /// `return_to` must start with one of these (or be on the issuer's origin).
    pub allowed_return_urls: Vec<String>,
    pub methods: Methods,
    pub flows: Flows,
    /// The built-in pages under `/ui/`.
    pub ui: Ui,
}

/// The built-in, server-rendered pages (`/ui/login`, `/ui/consent`, ...).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Ui {
    /// A directory that overrides the embedded theme: a template found there (`base.html`,
    /// `flow.html`, `node.html`, `consent.html`, `logout.html`, `welcome.html`, `error.html`)
    /// replaces the embedded one of the same name, and `static/style.css`, when present, is
    /// served as `/ui/static/style.css`. Read once at start. Unset: the embedded theme.
    pub theme_path: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Argon2 {
    /// Memory per hash in KiB (OWASP's minimum: 19456 = 19 MiB).
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    /// Most password hashes computed at once; further logins wait in a queue (bounded memory:
    /// at most this many times `memory_kib`).
    pub max_concurrent: usize,
    /// Logins waiting for a hashing slot beyond this are answered 429.
    pub max_queued: usize,
}

impl Default for Argon2 {
    fn default() -> Self {
        Argon2 {
            memory_kib: 19456,
            iterations: 2,
            parallelism: 1,
            max_concurrent: 4,
            max_queued: 256,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Hashers {
    pub argon2: Argon2,
}

/// `rate_limits.*` as written; resolved into [`RateLimits`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRateLimits {
    pub enabled: bool,
    /// Submissions per minute per client IP (IPv6 clients counted per /64).
    pub login_per_minute: u32,
    pub registration_per_minute: u32,
    pub recovery_per_minute: u32,
    pub verification_per_minute: u32,
    /// Failed logins for one identifier *from one client IP* (IPv6: its /64) before that pair
    /// backs off: one minute, doubling with every further failure, up to an hour. Other clients
    /// can still log in to the account.
    pub login_per_identifier_per_minute: u32,
    /// Wrong second-factor codes (TOTP or backup code) for one identity, from anywhere, before
    /// its second factor is locked: `second_factor_lockout`, doubling with every further wrong
    /// code, up to `second_factor_lockout_max`. Counted in the database (all replicas); the
    /// user is e-mailed when a lockout starts.
    pub second_factor_failures: u32,
    pub second_factor_lockout: Dur,
    pub second_factor_lockout_max: Dur,
    /// Recovery or verification codes e-mailed to one address per hour (in the database).
    pub codes_per_address_per_hour: u32,
    /// Wrong recovery or verification codes for one address per hour, over all its flows; then
    /// its codes are refused until the hour is over.
    pub code_failures_per_address_per_hour: u32,
    /// Peers (IP addresses or CIDR ranges, e.g. the reverse proxy in front) whose
    /// `X-Forwarded-For` is believed for self-service limits and session devices: the client is
    /// the right-most address in it that is not one of them. Empty: the TCP peer's address.
    pub trusted_proxies: Vec<String>,
}

impl Default for RawRateLimits {
    fn default() -> Self {
        RawRateLimits {
            enabled: true,
            login_per_minute: 10,
            registration_per_minute: 5,
            recovery_per_minute: 5,
            verification_per_minute: 5,
            login_per_identifier_per_minute: 10,
            second_factor_failures: 5,
            second_factor_lockout: Dur(Duration::from_secs(60)),
            second_factor_lockout_max: Dur(Duration::from_secs(3600)),
            codes_per_address_per_hour: 5,
            code_failures_per_address_per_hour: 10,
            trusted_proxies: Vec::new(),
        }
    }
}

/// `rate_limits.*`, resolved (keys as on [`RawRateLimits`]).
#[derive(Debug, Clone, Serialize)]
pub struct RateLimits {
    pub enabled: bool,
    pub login_per_minute: u32,
    pub registration_per_minute: u32,
    pub recovery_per_minute: u32,
    pub verification_per_minute: u32,
    pub login_per_identifier_per_minute: u32,
    pub second_factor_failures: u32,
    pub second_factor_lockout: Dur,
    pub second_factor_lockout_max: Dur,
    pub codes_per_address_per_hour: u32,
    pub code_failures_per_address_per_hour: u32,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<Cidr>,
}

/// The built-in limits (for code that needs limits without a configuration).
impl Default for RateLimits {
    fn default() -> Self {
        RawRateLimits::default()
            .resolve()
            .expect("the built-in rate_limits are valid")
    }
}

impl RawRateLimits {
    pub(super) fn resolve(self) -> Result<RateLimits, ConfigError> {
        let trusted_proxies = self
            .trusted_proxies
            .iter()
            .enumerate()
            .map(|(i, p)| {
                Cidr::parse(p).ok_or_else(|| {
                    key_err(
                        &format!("rate_limits.trusted_proxies[{i}]"),
                        "expected an IP address or a CIDR range such as 10.0.0.0/8",
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        if self.second_factor_failures == 0 {
            return Err(key_err(
                "rate_limits.second_factor_failures",
                "must be at least 1",
            ));
        }
        if self.second_factor_lockout.0.is_zero()
            || self.second_factor_lockout_max.0 < self.second_factor_lockout.0
        {
            return Err(key_err(
                "rate_limits.second_factor_lockout",
                "must be longer than zero and at most second_factor_lockout_max",
            ));
        }
        Ok(RateLimits {
            enabled: self.enabled,
            login_per_minute: self.login_per_minute,
            registration_per_minute: self.registration_per_minute,
            recovery_per_minute: self.recovery_per_minute,
            verification_per_minute: self.verification_per_minute,
            login_per_identifier_per_minute: self.login_per_identifier_per_minute,
            second_factor_failures: self.second_factor_failures,
            second_factor_lockout: self.second_factor_lockout,
            second_factor_lockout_max: self.second_factor_lockout_max,
            codes_per_address_per_hour: self.codes_per_address_per_hour,
            code_failures_per_address_per_hour: self.code_failures_per_address_per_hour,
            trusted_proxies,
        })
    }
}

impl RawSessionConfig {
    pub(super) fn resolve(self) -> Result<SessionConfig, ConfigError> {
        let c = self.cookie;
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
        let same_site = SameSite::parse(&c.same_site)
            .ok_or_else(|| key_err("session.cookie.same_site", "expected Lax, Strict or None"))?;
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
        if self.lifespan.0.is_zero() {
            return Err(key_err("session.lifespan", "must be longer than zero"));
        }
        Ok(SessionConfig {
            lifespan: self.lifespan,
            earliest_possible_extend: self.earliest_possible_extend,
            cookie: SessionCookie {
                name: c.name,
                domain: c.domain,
                path: c.path,
                same_site,
                persistent: c.persistent,
                secure: c.secure,
            },
            whoami: self.whoami,
            cache_ttl: self.cache_ttl,
        })
    }
}

impl SelfService {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let f = &self.flows;
        for (key, v) in [
            (
                "selfservice.default_browser_return_url",
                &self.default_browser_return_url,
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
        for (i, u) in self.allowed_return_urls.iter().enumerate() {
            url::Url::parse(u).map_err(|e| {
                key_err(
                    &format!("selfservice.allowed_return_urls[{i}]"),
                    format!("not an absolute URL: {e}"),
                )
            })?;
        }
        if self.methods.password.min_password_length < 6 {
            return Err(key_err(
                "selfservice.methods.password.min_password_length",
                "must be at least 6",
            ));
        }
        Ok(())
    }
}

impl Hashers {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let a = &self.argon2;
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
}
