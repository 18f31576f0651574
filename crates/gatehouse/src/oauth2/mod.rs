//! The OAuth 2.0 / OpenID Connect provider's domain services: clients, the token endpoint,
//! introspection and revocation, and the login/consent flow of the authorization endpoint.
//! No HTTP types here: handlers in `web` translate requests into these calls.

pub mod backchannel;
pub mod clients;
pub mod discovery;
pub mod flows;
pub mod introspect;
pub mod issue;
pub mod login_session;
pub mod logout;
pub mod registration;
pub mod session_events;
pub mod token;

use std::sync::Arc;
use std::time::Duration;

use gatehouse_store::{Store, TokenRow};

use crate::config::Config;
use crate::keys::KeyManager;

/// Kinds of rows in the token table.
pub mod kind {
    pub const ACCESS: &str = "access_token";
    pub const REFRESH: &str = "refresh_token";
    pub const CODE: &str = "authorization_code";
    pub const JWT_ACCESS: &str = "jwt_access_token";
    pub const LOGIN_CHALLENGE: &str = "login_challenge";
    pub const LOGIN_VERIFIER: &str = "login_verifier";
    pub const CONSENT_CHALLENGE: &str = "consent_challenge";
    pub const CONSENT_VERIFIER: &str = "consent_verifier";
    pub const LOGOUT_CHALLENGE: &str = "logout_challenge";
    pub const LOGOUT_VERIFIER: &str = "logout_verifier";
}

/// What a grant carries from consent to every token issued under it (a protocol type).
pub use gatehouse_protocol::grant::GrantData;

/// The provider: shared state for every OAuth 2.0 operation.
pub struct Provider {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub keys: Arc<KeyManager>,
    pub issuer: String,
    /// Clients by id, for the token endpoint's hot path; purged on every change.
    pub client_cache: moka::sync::Cache<String, Arc<clients::StoredClient>>,
    /// Token rows by digest, for introspection's hot path; purged on revocation.
    pub token_cache: moka::sync::Cache<String, Arc<TokenRow>>,
    /// Calls to URLs a client supplied (`jwks_uri`, `backchannel_logout_uri`): address-checked.
    pub outbound: crate::outbound_guard::OutboundGuard,
    audit: crate::audit::AuditLog,
    metrics: Arc<crate::metrics::Metrics>,
    /// The identity sessions' whoami cache: an OAuth 2.0 logout ends the identity session too.
    session_cache: crate::sessions::SessionCache,
    /// Tells the other processes what to purge (the database log, and Redis when configured).
    bus: crate::invalidation::Bus,
}

/// Clients by id, for the token endpoint's hot path (30 s; purged on every change).
pub type ClientCache = moka::sync::Cache<String, Arc<clients::StoredClient>>;
/// Token rows by digest, for introspection's hot path (60 s; purged on revocation).
pub type TokenCache = moka::sync::Cache<String, Arc<TokenRow>>;

pub fn new_client_cache() -> ClientCache {
    moka::sync::Cache::builder()
        .max_capacity(10_000)
        .time_to_live(Duration::from_secs(30))
        .build()
}

pub fn new_token_cache() -> TokenCache {
    moka::sync::Cache::builder()
        .max_capacity(200_000)
        .time_to_live(Duration::from_secs(60))
        .build()
}

/// What the composition root (`App::build`) hands the provider: the caches and channels it
/// shares with the other services.
pub struct Shared {
    pub audit: crate::audit::AuditLog,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub bus: crate::invalidation::Bus,
    pub session_cache: crate::sessions::SessionCache,
    pub client_cache: ClientCache,
    pub token_cache: TokenCache,
}

/// A token row's grant. A row that does not decode is [`crate::error::Error::Corrupt`], never
/// an empty grant: a corrupt row must not introspect as active or mint tokens.
pub fn stored_grant(row: &TokenRow) -> crate::error::Result<GrantData> {
    serde_json::from_str(&row.data).map_err(crate::error::Error::corrupt(
        "grant of a token of client",
        row.client_id.as_str(),
    ))
}

/// The HTTP client could not be built (no TLS backend, ...): the server does not start, rather
/// than run with a client that has no time limit and follows redirects.
#[derive(Debug, thiserror::Error)]
#[error("building the {what} HTTP client: {source}")]
pub struct HttpClientError {
    pub what: &'static str,
    #[source]
    pub source: reqwest::Error,
}

impl Provider {
    pub fn new(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        keys: Arc<KeyManager>,
        shared: Shared,
    ) -> Result<Provider, HttpClientError> {
        let issuer = config.issuer();
        let outbound = crate::outbound_guard::OutboundGuard::new(
            config.clients.http.disallow_private_ip_ranges,
        )
        .map_err(|source| HttpClientError {
            what: "client-supplied URLs'",
            source,
        })?;
        Ok(Provider {
            outbound,
            audit: shared.audit,
            session_cache: shared.session_cache,
            metrics: shared.metrics,
            bus: shared.bus,
            issuer,
            config,
            store,
            keys,
            client_cache: shared.client_cache,
            token_cache: shared.token_cache,
        })
    }

    /// Drops a changed or deleted client from the cache at once, here and on every other replica.
    pub fn purge_client(&self, client_id: &str) {
        self.client_cache.invalidate(client_id);
        self.bus
            .publish(crate::invalidation::Kind::Client, &[client_id.to_owned()]);
    }

    /// Drops revoked tokens from the cache at once, here and on every other replica.
    pub fn purge_tokens(&self, hashes: &[String]) {
        for h in hashes {
            self.token_cache.invalidate(h);
        }
        self.bus.publish(crate::invalidation::Kind::Token, hashes);
    }
}
