//! The OAuth 2.0 / OpenID Connect side, under Hydra's key names: `urls.*`, `ttl.*`,
//! `secrets.*`, `strategies.*`, `oauth2.*`, `keys.*`, `oidc.*` and `clients.*`. Of these only
//! `keys` holds a value parsed at resolution (the signing algorithm): [`RawKeys`] as written,
//! [`Keys`] resolved.

use std::time::Duration;

use gatehouse_crypto::Algorithm;
use serde::{Deserialize, Serialize};

use super::{ConfigError, Dur, Secret, key_err};

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
    pub system: Vec<Secret<String>>,
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

/// `keys.*` as written; resolved into [`Keys`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawKeys {
    /// `ES256` (default), `RS256` or `EdDSA`: the algorithm of newly generated signing keys.
    pub algorithm: String,
    /// How long a rotated-in key is published before it starts signing.
    pub publish_before_use: Dur,
}

/// `keys.*`, resolved (keys as on [`RawKeys`]).
#[derive(Debug, Clone, Serialize)]
pub struct Keys {
    pub algorithm: Algorithm,
    pub publish_before_use: Dur,
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

impl Default for RawKeys {
    fn default() -> Self {
        RawKeys {
            algorithm: "ES256".into(),
            publish_before_use: Dur(Duration::from_secs(120)),
        }
    }
}

impl Urls {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(issuer) = &self.self_.issuer {
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
        for (key, v) in [
            ("urls.login", &self.login),
            ("urls.consent", &self.consent),
            ("urls.logout", &self.logout),
            ("urls.error", &self.error),
            ("urls.post_logout_redirect", &self.post_logout_redirect),
        ] {
            if let Some(v) = v {
                url::Url::parse(v)
                    .map_err(|e| key_err(key, format!("not an absolute URL: {e}")))?;
            }
        }
        Ok(())
    }
}

impl Oidc {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let dcr = &self.dynamic_client_registration;
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
        Ok(())
    }
}

impl Secrets {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        for (i, s) in self.system.iter().enumerate() {
            if s.expose().len() < gatehouse_crypto::keyring::MIN_SECRET_LEN {
                return Err(key_err(
                    &format!("secrets.system[{i}]"),
                    "must be at least 16 characters",
                ));
            }
        }
        Ok(())
    }
}

impl RawKeys {
    pub(super) fn resolve(self) -> Result<Keys, ConfigError> {
        let algorithm = Algorithm::parse(&self.algorithm)
            .ok_or_else(|| key_err("keys.algorithm", "expected ES256, RS256 or EdDSA"))?;
        Ok(Keys {
            algorithm,
            publish_before_use: self.publish_before_use,
        })
    }
}

impl Ttl {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        for (key, d) in [
            ("ttl.access_token", self.access_token),
            ("ttl.id_token", self.id_token),
            ("ttl.auth_code", self.auth_code),
            ("ttl.refresh_token", self.refresh_token),
            ("ttl.login_consent_request", self.login_consent_request),
        ] {
            if d.0.is_zero() {
                return Err(key_err(key, "must be longer than zero"));
            }
        }
        Ok(())
    }
}
