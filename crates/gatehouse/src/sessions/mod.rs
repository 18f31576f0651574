//! Identity sessions (Kratos's model): server-side rows in the database, found by the SHA-256
//! digest of a `gst_` token that travels as the `gatehouse_session` cookie or `X-Session-Token`.
//!
//! `whoami` is the hot path: an in-process cache maps the token digest to the session with its
//! whoami JSON already serialised, for at most `session.cache_ttl`. Revocation purges the cache
//! of this replica at once, and of the other replicas through the invalidation bus when Redis
//! is configured (without Redis they see it within the TTL). A new session — and so a new
//! token — is issued on every login and every step-up; the old one is deactivated.
//!
//! A session that ends (logout, revocation, the others ending after recovery or a password
//! change) also ends the OAuth 2.0 login sessions made from it, whose clients are told by
//! back-channel logout ([`crate::oauth2::backchannel`]). A session replaced by step-up hands
//! them on to its successor instead.

use std::sync::Arc;
use std::time::Duration;

use gatehouse_crypto::{PlainToken, TokenKind};
use gatehouse_store::{IdentitySessionRow, Store};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::audit::{AuditLog, Event, event};
use crate::clock::rfc3339;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::identity::model::{Identity, State};
use crate::identity::service::IdentityService;
use crate::invalidation::{Bus, Kind};

mod events;
pub use events::{IdentitySessions, NoEvents, SessionEvents};

/// Authenticator assurance levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Aal {
    #[default]
    Aal1,
    Aal2,
}

impl Aal {
    pub fn as_str(self) -> &'static str {
        match self {
            Aal::Aal1 => "aal1",
            Aal::Aal2 => "aal2",
        }
    }

    pub fn parse(s: &str) -> Option<Aal> {
        match s {
            "aal1" => Some(Aal::Aal1),
            "aal2" => Some(Aal::Aal2),
            _ => None,
        }
    }
}

/// One completed authentication step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthMethod {
    pub method: String,
    pub aal: Aal,
    pub completed_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Device {
    pub id: String,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
}

/// What the session row's `data` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SessionData {
    pub aal: Aal,
    pub methods: Vec<AuthMethod>,
    #[serde(default)]
    pub devices: Vec<Device>,
}

/// A session with its identity, as the cache keeps it.
#[derive(Debug, Clone)]
pub struct ActiveSession {
    pub id: String,
    pub token_hash: String,
    pub identity: Arc<Identity>,
    pub data: SessionData,
    pub authenticated_at: i64,
    pub issued_at: i64,
    pub expires_at: i64,
    /// Kratos's session JSON, serialised once.
    pub json: bytes::Bytes,
}

impl ActiveSession {
    /// Whether the session satisfies `required` for this identity: `highest_available` asks for
    /// aal2 when the identity has a second factor.
    pub fn meets(&self, required: &crate::config::RequiredAal) -> bool {
        match required {
            crate::config::RequiredAal::HighestAvailable => {
                self.data.aal == Aal::Aal2 || !self.identity.has_second_factor()
            }
            crate::config::RequiredAal::Aal1 => true,
        }
    }
}

/// The whoami cache: token digest -> session, on this replica, for at most `session.cache_ttl`.
/// [`SessionCache::invalidate`] and [`SessionCache::purge`] also tell the other replicas (through
/// the invalidation bus, when Redis is configured).
///
/// Refusals are cached too, for a shorter time ([`REFUSED_TTL`] at most): a well-formed token
/// with no usable session (unknown, expired, revoked, its identity inactive) costs one database
/// query per digest and period, however often a stale cookie is sent. Tokens are random, so no
/// session can appear later under a digest that was refused; only an identity reactivated
/// within the period waits for it to end.
#[derive(Clone)]
pub struct SessionCache {
    local: moka::sync::Cache<String, Arc<ActiveSession>>,
    refused: moka::sync::Cache<String, ()>,
    bus: Bus,
}

/// The longest a refused token digest is remembered.
pub const REFUSED_TTL: Duration = Duration::from_secs(10);

pub fn new_cache(ttl: Duration, bus: Bus) -> SessionCache {
    let ttl = ttl.max(Duration::from_millis(1));
    SessionCache {
        local: moka::sync::Cache::builder()
            .max_capacity(200_000)
            .time_to_live(ttl)
            .build(),
        refused: moka::sync::Cache::builder()
            .max_capacity(100_000)
            .time_to_live(ttl.min(REFUSED_TTL))
            .build(),
        bus,
    }
}

impl SessionCache {
    pub fn get(&self, hash: &str) -> Option<Arc<ActiveSession>> {
        self.local.get(hash)
    }

    pub fn insert(&self, hash: String, s: Arc<ActiveSession>) {
        self.refused.invalidate(&hash);
        self.local.insert(hash, s);
    }

    /// This digest was refused a moment ago.
    pub fn is_refused(&self, hash: &str) -> bool {
        self.refused.contains_key(hash)
    }

    pub fn refuse(&self, hash: String) {
        self.refused.insert(hash, ());
    }

    /// Drops a session here and on every other replica.
    pub fn invalidate(&self, hash: &str) {
        self.purge(std::slice::from_ref(&hash.to_owned()));
    }

    /// Drops sessions here and on every other replica.
    pub fn purge(&self, hashes: &[String]) {
        for h in hashes {
            self.local.invalidate(h);
        }
        self.bus.publish(Kind::Session, hashes);
    }

    /// Drops a session on this replica only (it expired, or another replica said so).
    pub fn invalidate_local(&self, hash: &str) {
        self.local.invalidate(hash);
    }

    pub fn clear_local(&self) {
        self.local.invalidate_all();
    }
}

/// `session` messages name session token digests.
impl crate::invalidation::Purge for SessionCache {
    fn purge_local(&self, keys: &[String]) {
        for k in keys {
            self.invalidate_local(k);
        }
    }

    fn clear_local(&self) {
        SessionCache::clear_local(self);
    }
}

/// Why a request has no usable session (Kratos's error ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionError {
    /// No credentials, unknown, expired or revoked session: 401 `session_inactive`.
    Inactive,
    /// A second factor is set up and was not used: 403 `session_aal2_required`.
    Aal2Required,
}

pub struct SessionService {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub identities: Arc<IdentityService>,
    pub cache: SessionCache,
    pub audit: AuditLog,
    /// Told when sessions end or are replaced (the OAuth 2.0 login sessions made from them).
    events: Arc<dyn SessionEvents>,
    issuer: String,
}

fn session_json(
    issuer: &str,
    id: &str,
    identity: &Identity,
    d: &SessionData,
    auth: i64,
    issued: i64,
    expires: i64,
) -> Value {
    json!({
        "id": id,
        "active": true,
        "expires_at": rfc3339(expires),
        "authenticated_at": rfc3339(auth),
        "authenticator_assurance_level": d.aal.as_str(),
        "authentication_methods": d.methods.iter().map(|m| json!({
            "method": m.method, "aal": m.aal.as_str(), "completed_at": rfc3339(m.completed_at),
        })).collect::<Vec<_>>(),
        "issued_at": rfc3339(issued),
        "identity": identity.to_public(issuer),
        "devices": d.devices.iter().map(|x| json!({
            "id": x.id, "ip_address": x.ip_address, "user_agent": x.user_agent, "location": "",
        })).collect::<Vec<_>>(),
    })
}

impl SessionService {
    pub fn new(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        identities: Arc<IdentityService>,
        cache: SessionCache,
        audit: AuditLog,
        events: Arc<dyn SessionEvents>,
    ) -> SessionService {
        SessionService {
            cache,
            issuer: config.issuer(),
            config,
            store,
            identities,
            audit,
            events,
        }
    }

    fn activate(&self, row: &IdentitySessionRow, identity: Arc<Identity>) -> Result<ActiveSession> {
        let data: SessionData = serde_json::from_str(&row.data)
            .map_err(Error::corrupt("identity session", row.id.as_str()))?;
        let json = session_json(
            &self.issuer,
            &row.id,
            &identity,
            &data,
            row.authenticated_at,
            row.issued_at,
            row.expires_at,
        );
        Ok(ActiveSession {
            id: row.id.clone(),
            token_hash: row.token_hash.clone(),
            identity,
            data,
            authenticated_at: row.authenticated_at,
            issued_at: row.issued_at,
            expires_at: row.expires_at,
            json: bytes::Bytes::from(json.to_string()),
        })
    }

    /// Starts a session after a successful login (or registration). `previous`, the session the
    /// browser had (step-up, re-authentication), is replaced: its methods carry over when it is
    /// the same identity, and it is deactivated.
    pub async fn issue(
        &self,
        identity: &Identity,
        method: AuthMethod,
        previous: Option<&ActiveSession>,
        device: Device,
        now: i64,
    ) -> Result<(PlainToken, Arc<ActiveSession>)> {
        let mut methods = Vec::new();
        if let Some(p) = previous.filter(|p| p.identity.id == identity.id) {
            methods.extend(
                p.data
                    .methods
                    .iter()
                    .filter(|m| m.method != method.method)
                    .cloned(),
            );
        }
        methods.push(method);
        let aal = methods.iter().map(|m| m.aal).max().unwrap_or_default();
        let data = SessionData {
            aal,
            methods,
            devices: vec![Device {
                id: uuid::Uuid::new_v4().to_string(),
                ..device
            }],
        };
        let token = PlainToken::generate(TokenKind::SessionToken);
        let row = IdentitySessionRow {
            id: uuid::Uuid::new_v4().to_string(),
            token_hash: token.hash().to_hex(),
            identity_id: identity.id.clone(),
            active: true,
            data: serde_json::to_string(&data).map_err(|e| Error::Internal(e.to_string()))?,
            authenticated_at: now,
            issued_at: now,
            expires_at: now + self.config.session.lifespan.secs(),
        };
        self.store.insert_session(&row).await?;
        if let Some(p) = previous {
            if p.identity.id != identity.id {
                self.revoke(&p.id, now).await?;
            } else if self.deactivate(&p.id).await? {
                // Step-up or re-authentication: the same person's login goes on in the new
                // session.
                self.events.replaced(&p.id, &row.id).await?;
            }
        }
        let active = Arc::new(self.activate(&row, Arc::new(identity.clone()))?);
        self.cache.insert(row.token_hash.clone(), active.clone());
        Ok((token, active))
    }

    /// The session for a token, from the cache when possible. Expired, revoked and malformed
    /// tokens, and sessions of deactivated identities, are all `Inactive`.
    pub async fn lookup(&self, token: &str, now: i64) -> Result<Option<Arc<ActiveSession>>> {
        let Ok(plain) = token.parse::<PlainToken>() else {
            return Ok(None);
        };
        if plain.kind() != TokenKind::SessionToken {
            return Ok(None);
        }
        let hash = plain.hash().to_hex();
        if let Some(s) = self.cache.get(&hash) {
            if s.expires_at > now {
                return Ok(Some(s));
            }
            self.cache.invalidate_local(&hash);
            self.cache.refuse(hash);
            return Ok(None);
        }
        if self.cache.is_refused(&hash) {
            return Ok(None);
        }
        match self.load_active(&hash, now).await? {
            Some(active) => {
                self.cache.insert(hash, active.clone());
                Ok(Some(active))
            }
            None => {
                self.cache.refuse(hash);
                Ok(None)
            }
        }
    }

    /// The usable session under a token digest, from the database: none when it is unknown,
    /// expired or revoked, or its identity is gone or inactive.
    async fn load_active(&self, hash: &str, now: i64) -> Result<Option<Arc<ActiveSession>>> {
        let Some(mut row) = self.store.get_session_by_token(hash).await? else {
            return Ok(None);
        };
        if !row.active || row.expires_at <= now {
            return Ok(None);
        }
        let identity = match self.identities.get(&row.identity_id).await {
            Ok(i) => i,
            Err(Error::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        if identity.state != State::Active {
            return Ok(None);
        }
        let extend = self.config.session.earliest_possible_extend.secs();
        if extend > 0 && row.expires_at - now < extend {
            // Sliding expiry: a used session lives on.
            row.expires_at = now + self.config.session.lifespan.secs();
            self.store.update_session(&row).await?;
        }
        Ok(Some(Arc::new(self.activate(&row, Arc::new(identity))?)))
    }

    /// `whoami`: the session, or why there is none.
    pub async fn whoami(
        &self,
        token: Option<&str>,
        now: i64,
    ) -> Result<std::result::Result<Arc<ActiveSession>, SessionError>> {
        let Some(token) = token else {
            return Ok(Err(SessionError::Inactive));
        };
        let Some(s) = self.lookup(token, now).await? else {
            return Ok(Err(SessionError::Inactive));
        };
        if !s.meets(&self.config.session.whoami.required_aal) {
            return Ok(Err(SessionError::Aal2Required));
        }
        Ok(Ok(s))
    }

    /// Ends one session: purges it from the cache and ends the login sessions made from it.
    pub async fn revoke(&self, id: &str, now: i64) -> Result<bool> {
        let ended = self.deactivate(id).await?;
        if ended {
            self.ended(&[id.to_owned()], now).await?;
        }
        Ok(ended)
    }

    /// Marks one session inactive and purges it from the cache; whether it was active.
    async fn deactivate(&self, id: &str) -> Result<bool> {
        match self.store.deactivate_session(id).await? {
            Some(hash) => {
                self.cache.invalidate(&hash);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Ends every session of an identity except `keep`; how many ended.
    pub async fn revoke_all(
        &self,
        identity_id: &str,
        keep: Option<&str>,
        now: i64,
    ) -> Result<usize> {
        let ending = self.active_ids(identity_id, keep).await?;
        let hashes = self
            .store
            .deactivate_identity_sessions(identity_id, keep)
            .await?;
        self.cache.purge(&hashes);
        self.ended(&ending, now).await?;
        Ok(hashes.len())
    }

    /// The ids of an identity's active sessions, except `keep`.
    async fn active_ids(&self, identity_id: &str, keep: Option<&str>) -> Result<Vec<String>> {
        const PAGE: i64 = 500;
        let mut ids = Vec::new();
        let mut offset = 0;
        loop {
            let rows = self
                .store
                .list_sessions(Some(identity_id), Some(true), PAGE, offset)
                .await?;
            let n = rows.len();
            ids.extend(
                rows.into_iter()
                    .map(|r| r.id)
                    .filter(|id| Some(id.as_str()) != keep),
            );
            if i64::try_from(n).unwrap_or(PAGE) < PAGE {
                return Ok(ids);
            }
            offset += PAGE;
        }
    }

    /// Sessions ended: so do the login sessions made from them, and their clients are told.
    async fn ended(&self, ids: &[String], now: i64) -> Result<()> {
        self.events.ended(ids, now).await
    }

    /// Logout: ends the session and records it.
    pub async fn logout(&self, s: &ActiveSession, ip: Option<String>, now: i64) -> Result<()> {
        self.revoke(&s.id, now).await?;
        self.audit.record(
            event::IDENTITY_LOGOUT,
            Event {
                subject: Some(&s.identity.id),
                ip,
                data: json!({"session_id": s.id}),
                ..Event::default()
            },
        );
        Ok(())
    }

    /// Sessions of an identity (or all), in Kratos's JSON (without the identity for lists of
    /// one identity's sessions, as Kratos does with `expand` unset).
    pub async fn list(
        &self,
        identity_id: Option<&str>,
        active: Option<bool>,
        limit: i64,
        offset: i64,
        now: i64,
    ) -> Result<Vec<Value>> {
        let rows = self
            .store
            .list_sessions(identity_id, active, limit, offset)
            .await?;
        rows.iter().map(|r| self.row_json(r, None, now)).collect()
    }

    pub fn row_json(
        &self,
        r: &IdentitySessionRow,
        identity: Option<&Identity>,
        now: i64,
    ) -> Result<Value> {
        let data: SessionData = serde_json::from_str(&r.data)
            .map_err(Error::corrupt("identity session", r.id.as_str()))?;
        let mut v = json!({
            "id": r.id,
            "active": r.active && r.expires_at > now,
            "expires_at": rfc3339(r.expires_at),
            "authenticated_at": rfc3339(r.authenticated_at),
            "authenticator_assurance_level": data.aal.as_str(),
            "authentication_methods": data.methods.iter().map(|m| json!({
                "method": m.method, "aal": m.aal.as_str(), "completed_at": rfc3339(m.completed_at),
            })).collect::<Vec<_>>(),
            "issued_at": rfc3339(r.issued_at),
            "devices": data.devices.iter().map(|x| json!({
                "id": x.id, "ip_address": x.ip_address, "user_agent": x.user_agent, "location": "",
            })).collect::<Vec<_>>(),
        });
        if let Some(i) = identity {
            v["identity"] = i.to_api(&self.issuer, &[]);
        }
        Ok(v)
    }

    /// Admin extension: the session lives `session.lifespan` from now (Kratos's
    /// `PATCH /admin/sessions/{id}/extend`).
    pub async fn extend(&self, id: &str, now: i64) -> Result<IdentitySessionRow> {
        let mut row = self.get_row(id).await?;
        if !row.active || row.expires_at <= now {
            return Err(Error::NotFound("The session is not active".into()));
        }
        row.expires_at = now + self.config.session.lifespan.secs();
        self.store.update_session(&row).await?;
        self.cache.invalidate(&row.token_hash);
        Ok(row)
    }

    pub async fn get_row(&self, id: &str) -> Result<IdentitySessionRow> {
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(Error::NotFound("Unable to locate the resource".into()));
        }
        self.store
            .get_session(id)
            .await?
            .ok_or_else(|| Error::NotFound("Unable to locate the resource".into()))
    }
}
