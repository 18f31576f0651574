//! `serve.*`: the listeners (public, admin, the gateway's decision API and proxy), the admin
//! token, and limits that apply to every request.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, Cors, Dur, Secret, key_err};

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
    pub token: Option<Secret<String>>,
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

impl Serve {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.public.enabled
            && self.admin.enabled
            && self.public.port == self.admin.port
            && self.public.port != 0
        {
            return Err(key_err(
                "serve.admin.port",
                "must differ from serve.public.port",
            ));
        }
        if self
            .admin
            .auth
            .token
            .as_ref()
            .is_some_and(|t| t.expose().len() < 16)
        {
            return Err(key_err(
                "serve.admin.auth.token",
                "must be at least 16 characters",
            ));
        }
        self.public.cors.validate()?;
        self.proxy.validate()?;
        if self.request_body_limit < 1024 {
            return Err(key_err(
                "serve.request_body_limit",
                "must be at least 1024 bytes",
            ));
        }
        Ok(())
    }
}
