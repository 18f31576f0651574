//! Long-lived API credentials: personal access tokens (`pat_`, owned by an identity), API keys
//! (`key_`, owned by an organisation) and service tokens (`svc_`, owned by a named service).
//!
//! Secrets are `{prefix}_{43 random base62}{6-character checksum}` (see
//! `gatehouse_crypto::token`): a mistyped token is refused by its checksum before any lookup,
//! and only the SHA-256 digest is stored. Validation is cached per digest on each replica and
//! purged on revocation or regeneration (on the others through the invalidation bus); uses are recorded in memory and written in batches
//! (`last_used_at`), off the request path.

pub mod orgs;
mod usage;

/// Scope syntax and matching (pure; in the protocol crate so it can be fuzzed alone).
pub use gatehouse_protocol::credential_scope as scope;

use std::sync::Arc;
use std::time::Duration;

use gatehouse_crypto::{PlainToken, TokenKind};
use gatehouse_protocol::introspection::Introspection;
use gatehouse_store::{CREDENTIAL_HISTORY_SECS, CredentialRow, Store};
use serde_json::{Value, json};

use crate::audit::{AuditLog, Event, event};
use crate::clock::rfc3339;
use crate::config::{Config, Dur};
use crate::error::{Error, Result};
use crate::identity::model::{Identity, State};
use crate::invalidation::{Bus, Kind as Invalidated};

pub use usage::UsageRecorder;

/// The three kinds of credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Pat,
    ApiKey,
    ServiceToken,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Pat, Kind::ApiKey, Kind::ServiceToken];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Pat => "pat",
            Kind::ApiKey => "api_key",
            Kind::ServiceToken => "service_token",
        }
    }

    /// The API's names, and the token prefixes as aliases.
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "pat" | "personal_access_token" => Some(Kind::Pat),
            "api_key" | "key" => Some(Kind::ApiKey),
            "service_token" | "svc" => Some(Kind::ServiceToken),
            _ => None,
        }
    }

    pub fn token_kind(self) -> TokenKind {
        match self {
            Kind::Pat => TokenKind::PersonalAccessToken,
            Kind::ApiKey => TokenKind::ApiKey,
            Kind::ServiceToken => TokenKind::ServiceToken,
        }
    }

    fn of_token(k: TokenKind) -> Option<Kind> {
        Kind::ALL.into_iter().find(|c| c.token_kind() == k)
    }

    /// The token prefixes, for callers that route on them (`pat_`, `key_`, `svc_`).
    pub fn looks_like(token: &str) -> bool {
        Kind::ALL
            .iter()
            .any(|k| token.starts_with(&format!("{}_", k.token_kind().prefix())))
    }
}

/// How long a new credential lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifetime {
    /// `credentials.default_lifetime`.
    Default,
    Never,
    Secs(i64),
}

impl Lifetime {
    /// The API's `expires_in`: absent or null (the default), `"never"`, a number of seconds, or
    /// a duration such as `"30d"` or `"12h"`.
    pub fn from_json(v: Option<&Value>) -> Result<Lifetime> {
        let bad = || {
            Error::BadRequest(
                "`expires_in`: expected a number of seconds, a duration such as \"30d\", or \"never\""
                    .into(),
            )
        };
        match v {
            None | Some(Value::Null) => Ok(Lifetime::Default),
            Some(Value::String(s)) if s == "never" => Ok(Lifetime::Never),
            Some(Value::String(s)) => Dur::parse(s)
                .map(|d| Lifetime::Secs(d.secs()))
                .ok_or_else(bad),
            Some(Value::Number(n)) => n.as_i64().map(Lifetime::Secs).ok_or_else(bad),
            Some(_) => Err(bad()),
        }
    }
}

/// A request for a new credential.
pub struct NewCredential {
    pub kind: Kind,
    pub owner: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub lifetime: Lifetime,
    /// An identity id, `admin` or `cli`.
    pub created_by: String,
}

/// A freshly issued secret with its credential: the only time the secret is ever returned.
pub struct Issued {
    pub row: CredentialRow,
    pub token: PlainToken,
}

/// Why a presented token is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// Malformed, wrong checksum, unknown, revoked, or its owner is gone or inactive. The reason
    /// is for the audit log only; callers see the same `invalid_token` for all of them.
    InvalidToken(&'static str),
    Expired,
    InsufficientScope(String),
}

impl Rejection {
    pub fn error(&self) -> &'static str {
        match self {
            Rejection::InvalidToken(_) => "invalid_token",
            Rejection::Expired => "token_expired",
            Rejection::InsufficientScope(_) => "insufficient_scope",
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Rejection::InsufficientScope(_) => 403,
            _ => 401,
        }
    }

    pub fn description(&self) -> String {
        match self {
            Rejection::InvalidToken(_) => "The token is not valid.".into(),
            Rejection::Expired => "The token has expired.".into(),
            Rejection::InsufficientScope(s) => {
                format!("The token does not grant the scope {s}.")
            }
        }
    }
}

/// A valid credential, as a gateway or API sees it.
#[derive(Debug, Clone)]
pub struct Valid {
    pub id: String,
    pub kind: Kind,
    pub name: String,
    /// The identity, organisation or service.
    pub owner: String,
    /// The scopes in force now (for a PAT: also within its owner's current roles).
    pub scopes: Vec<String>,
    pub issued_at: i64,
    pub expires_at: Option<i64>,
}

/// Every header [`Valid::headers`] may set, for answers that send all of them.
pub const HEADER_NAMES: [&str; 8] = [
    "X-User-ID",
    "X-Token-ID",
    "X-Token-Scopes",
    "X-Org-ID",
    "X-Key-ID",
    "X-Key-Scopes",
    "X-Service-Name",
    "X-Service-Scopes",
];

impl Valid {
    /// The headers a gateway passes upstream for this credential (names from [`HEADER_NAMES`]).
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let scopes = self.scopes.join(" ");
        match self.kind {
            Kind::Pat => vec![
                ("X-User-ID", self.owner.clone()),
                ("X-Token-ID", self.id.clone()),
                ("X-Token-Scopes", scopes),
            ],
            Kind::ApiKey => vec![
                ("X-Org-ID", self.owner.clone()),
                ("X-Key-ID", self.id.clone()),
                ("X-Key-Scopes", scopes),
            ],
            Kind::ServiceToken => vec![
                ("X-Service-Name", self.owner.clone()),
                ("X-Token-ID", self.id.clone()),
                ("X-Service-Scopes", scopes),
            ],
        }
    }

    /// `POST /credentials/validate`'s answer.
    pub fn json(&self) -> Value {
        let mut v = json!({
            "valid": true,
            "id": self.id,
            "kind": self.kind.as_str(),
            "name": self.name,
            "subject": self.owner,
            "scopes": self.scopes,
            "expires_at": self.expires_at.map(rfc3339),
        });
        let key = match self.kind {
            Kind::Pat => "user_id",
            Kind::ApiKey => "org_id",
            Kind::ServiceToken => "service_name",
        };
        v[key] = Value::String(self.owner.clone());
        v
    }
}

/// What the cache holds per digest.
pub enum Lookup {
    Unknown,
    Known {
        row: Box<CredentialRow>,
        /// Scopes in force (catalogue and, for PATs, the owner's roles applied).
        scopes: Vec<String>,
        /// The owner exists and is active.
        owner_ok: bool,
    },
}

/// Verdicts per secret digest on this replica, for at most `credentials.cache_ttl`. The purges
/// ([`purge`], [`purge_owner`]) also tell the other replicas through the invalidation bus.
#[derive(Clone)]
pub struct CredentialCache {
    local: moka::sync::Cache<String, Arc<Lookup>>,
    bus: Bus,
}

pub fn new_cache(ttl: Duration, bus: Bus) -> CredentialCache {
    CredentialCache {
        local: moka::sync::Cache::builder()
            .max_capacity(200_000)
            .time_to_live(ttl.max(Duration::from_millis(1)))
            .support_invalidation_closures()
            .build(),
        bus,
    }
}

impl CredentialCache {
    pub fn get(&self, hash: &str) -> Option<Arc<Lookup>> {
        self.local.get(hash)
    }

    pub fn insert(&self, hash: String, l: Arc<Lookup>) {
        self.local.insert(hash, l);
    }

    /// This replica only (another replica said so).
    pub fn invalidate_local(&self, hash: &str) {
        self.local.invalidate(hash);
    }

    /// This replica only.
    pub fn purge_owner_local(&self, owner: &str) {
        let owner = owner.to_owned();
        if self
            .local
            .invalidate_entries_if(
                move |_, v| matches!(&**v, Lookup::Known { row, .. } if row.owner == owner),
            )
            .is_err()
        {
            self.local.invalidate_all();
        }
    }

    pub fn clear_local(&self) {
        self.local.invalidate_all();
    }

    /// This cache as the invalidation bus purges it by owner (`credential_owner` messages).
    pub fn by_owner(&self) -> OwnerPurge {
        OwnerPurge(self.clone())
    }
}

/// An identity's PATs follow it: a change of roles or state drops their cached verdicts, and
/// deleting it revokes them.
#[async_trait::async_trait]
impl crate::identity::IdentityObserver for CredentialService {
    async fn saved(&self, identity: &Identity, _now: i64) -> Result<()> {
        purge_owner(&self.cache, &identity.id);
        Ok(())
    }

    async fn deleted(&self, id: &str, _sessions: &[String], now: i64) -> Result<()> {
        self.identity_deleted(id, now).await
    }
}

/// `credential` messages name secret digests.
impl crate::invalidation::Purge for CredentialCache {
    fn purge_local(&self, keys: &[String]) {
        for k in keys {
            self.invalidate_local(k);
        }
    }

    fn clear_local(&self) {
        CredentialCache::clear_local(self);
    }
}

/// `credential_owner` messages name owners, whose every verdict goes.
pub struct OwnerPurge(CredentialCache);

impl crate::invalidation::Purge for OwnerPurge {
    fn purge_local(&self, keys: &[String]) {
        for k in keys {
            self.0.purge_owner_local(k);
        }
    }

    fn clear_local(&self) {
        self.0.clear_local();
    }
}

/// Drops the cached results for these digests, on every replica.
pub fn purge(cache: &CredentialCache, hashes: &[String]) {
    for h in hashes {
        cache.local.invalidate(h);
    }
    cache.bus.publish(Invalidated::Credential, hashes);
}

/// Drops the cached results of every credential of `owner` (its roles or state changed), on
/// every replica.
pub fn purge_owner(cache: &CredentialCache, owner: &str) {
    cache.purge_owner_local(owner);
    cache
        .bus
        .publish(Invalidated::CredentialOwner, &[owner.to_owned()]);
}

/// The scopes in a row (a JSON array). Unreadable scopes are [`Error::Corrupt`], never none: a
/// credential must not validate, or be listed, as one without scopes.
pub fn row_scopes(row: &CredentialRow) -> Result<Vec<String>> {
    crate::error::decode_stored("credential scopes", &row.id, &row.scopes)
}

/// `active`, `expired` or `revoked`.
pub fn state(row: &CredentialRow, now: i64) -> &'static str {
    if row.revoked_at.is_some() {
        "revoked"
    } else if row.expires_at.is_some_and(|e| e <= now) {
        "expired"
    } else {
        "active"
    }
}

/// A credential in the API (never its secret or digest).
pub fn view(row: &CredentialRow, now: i64) -> Result<Value> {
    Ok(json!({
        "id": row.id,
        "kind": row.kind,
        "name": row.name,
        "owner": row.owner,
        "hint": row.hint,
        "scopes": row_scopes(row)?,
        "state": state(row, now),
        "created_by": row.created_by,
        "created_at": rfc3339(row.created_at),
        "issued_at": rfc3339(row.issued_at),
        "expires_at": row.expires_at.map(rfc3339),
        "last_used_at": row.last_used_at.map(rfc3339),
        "last_used_ip": row.last_used_ip,
        "revoked_at": row.revoked_at.map(rfc3339),
        "revoked_reason": row.revoked_reason,
    }))
}

/// A credential with its secret, once, at creation or regeneration.
pub fn issued_view(i: &Issued, now: i64) -> Result<Value> {
    let mut v = view(&i.row, now)?;
    v["token"] = Value::String(i.token.expose().to_owned());
    Ok(v)
}

/// The longest credential secret we look at; anything longer is refused unread.
const MAX_TOKEN_LEN: usize = 128;
const MAX_NAME_LEN: usize = 100;
const MAX_REASON_LEN: usize = 200;

fn clean_text(field: &str, s: &str, max: usize) -> Result<String> {
    let s = s.trim();
    if s.is_empty() {
        return Err(Error::BadRequest(format!("`{field}` must not be empty")));
    }
    if s.chars().count() > max {
        return Err(Error::BadRequest(format!(
            "`{field}` is longer than {max} characters"
        )));
    }
    if s.chars().any(char::is_control) {
        return Err(Error::BadRequest(format!(
            "`{field}` must not contain control characters"
        )));
    }
    Ok(s.to_owned())
}

/// A service token's owner: a service name such as `billing-worker`.
pub fn validate_service_name(s: &str) -> Result<()> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::BadRequest(
            "`owner`: a service name is 1 to 64 characters: a-z, 0-9, `-`, `_`, `.`, starting with a letter or digit".into(),
        ))
    }
}

pub struct CredentialService {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    audit: AuditLog,
    pub cache: CredentialCache,
    pub usage: Arc<UsageRecorder>,
}

impl CredentialService {
    pub fn new(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        audit: AuditLog,
        cache: CredentialCache,
    ) -> CredentialService {
        CredentialService {
            usage: Arc::new(UsageRecorder::new(store.clone(), audit.clone())),
            config,
            store,
            audit,
            cache,
        }
    }

    /// The configured scope catalogue.
    pub fn catalogue(&self) -> &[String] {
        &self.config.credentials.scopes
    }

    /// The scopes a user with `roles` may put in a PAT.
    pub fn scopes_for_roles(&self, roles: &[String]) -> Vec<String> {
        let map = &self.config.credentials.role_scopes;
        let mut out: Vec<String> = map.get("default").cloned().unwrap_or_default();
        for r in roles {
            if r != "default" {
                out.extend(map.get(r).cloned().unwrap_or_default());
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// The catalogue entries a user with `roles` may pick for a PAT (the page's choices).
    pub fn pickable_for_roles(&self, roles: &[String]) -> Vec<String> {
        let allowed = self.scopes_for_roles(roles);
        scope::restrict(self.catalogue(), &allowed)
    }

    async fn identity(&self, id: &str) -> Result<Option<Identity>> {
        if uuid::Uuid::parse_str(id).is_err() {
            return Ok(None);
        }
        let Some(row) = self.store.get_identity(id).await? else {
            return Ok(None);
        };
        serde_json::from_str(&row.data)
            .map(Some)
            .map_err(Error::corrupt("identity", id))
    }

    fn expiry(&self, lifetime: Lifetime, now: i64) -> Result<Option<i64>> {
        let c = &self.config.credentials;
        let secs = match lifetime {
            Lifetime::Default => c.default_lifetime.map(Dur::secs),
            Lifetime::Never => None,
            Lifetime::Secs(n) if n <= 0 => {
                return Err(Error::BadRequest(
                    "`expires_in` must be longer than zero".into(),
                ));
            }
            Lifetime::Secs(n) => Some(n),
        };
        match (secs, c.max_lifetime) {
            (None, Some(max)) => Err(Error::BadRequest(format!(
                "credentials must expire: `expires_in` may be at most {} days",
                max.secs() / 86400
            ))),
            (Some(n), Some(max)) if n > max.secs() => Err(Error::BadRequest(format!(
                "`expires_in` is longer than the maximum lifetime ({} days)",
                max.secs() / 86400
            ))),
            (Some(n), _) => Ok(Some(now.saturating_add(n))),
            (None, None) => Ok(None),
        }
    }

    /// Issues a credential. PATs: the owner must be an active identity and every scope within
    /// its roles; API keys: the organisation must exist; service tokens: a valid service name.
    pub async fn create(&self, req: NewCredential, now: i64) -> Result<Issued> {
        let name = clean_text("name", &req.name, MAX_NAME_LEN)?;
        let scopes = scope::normalize(&req.scopes).map_err(|e| Error::BadRequest(e.to_string()))?;
        if scopes.is_empty() {
            return Err(Error::BadRequest(
                "`scopes`: name at least one scope".into(),
            ));
        }
        if let Some(s) = scopes
            .iter()
            .find(|s| !scope::any_grants(self.catalogue(), s))
        {
            return Err(Error::BadRequest(format!(
                "scope {s} is not one of the configured scopes (credentials.scopes)"
            )));
        }
        match req.kind {
            Kind::Pat => {
                let identity = self
                    .identity(&req.owner)
                    .await?
                    .filter(|i| i.state == State::Active)
                    .ok_or_else(|| Error::BadRequest("`owner`: no such active identity".into()))?;
                let allowed = self.scopes_for_roles(&roles_of(&identity));
                if let Some(s) = scopes.iter().find(|s| !scope::any_grants(&allowed, s)) {
                    return Err(Error::Forbidden(format!(
                        "scope {s} is beyond what the owner's roles allow"
                    )));
                }
            }
            Kind::ApiKey => {
                if self.store.get_organization(&req.owner).await?.is_none() {
                    return Err(Error::BadRequest("`owner`: no such organization".into()));
                }
            }
            Kind::ServiceToken => validate_service_name(&req.owner)?,
        }
        let expires_at = self.expiry(req.lifetime, now)?;
        let token = PlainToken::generate(req.kind.token_kind());
        let row = CredentialRow {
            id: uuid::Uuid::new_v4().to_string(),
            kind: req.kind.as_str().to_owned(),
            token_hash: token.hash().to_hex(),
            hint: hint(&token),
            name,
            owner: req.owner,
            scopes: serde_json::to_string(&scopes).map_err(|e| Error::Internal(e.to_string()))?,
            created_by: req.created_by,
            created_at: now,
            issued_at: now,
            expires_at,
            last_used_at: None,
            last_used_ip: None,
            revoked_at: None,
            revoked_reason: None,
        };
        self.store.insert_credential(&row).await?;
        self.audit_change(event::CREDENTIAL_CREATED, &row, json!({}));
        Ok(Issued { row, token })
    }

    fn audit_change(&self, kind: &'static str, row: &CredentialRow, extra: Value) {
        let mut data = json!({
            "credential_id": row.id,
            "kind": row.kind,
            "owner": row.owner,
            "name": row.name,
            // The record of a change is kept even for a row whose scopes cannot be read (a
            // corrupt credential must still be revocable): then its stored text, as it is.
            "scopes": row_scopes(row).map_or_else(|_| json!(row.scopes), |s| json!(s)),
        });
        if let (Value::Object(d), Value::Object(e)) = (&mut data, extra) {
            d.extend(e);
        }
        self.audit.record(
            kind,
            Event {
                subject: (row.kind == Kind::Pat.as_str()).then_some(row.owner.as_str()),
                data,
                ..Event::default()
            },
        );
    }

    pub async fn get(&self, id: &str) -> Result<CredentialRow> {
        self.store
            .get_credential(id)
            .await?
            .ok_or_else(|| Error::NotFound("no such credential".into()))
    }

    /// Credentials newest first (with those revoked in the last 30 days).
    pub async fn list(
        &self,
        kind: Option<Kind>,
        owner: Option<&str>,
        limit: i64,
        offset: i64,
        now: i64,
    ) -> Result<Vec<CredentialRow>> {
        Ok(self
            .store
            .list_credentials(
                kind.map(Kind::as_str),
                owner,
                now - CREDENTIAL_HISTORY_SECS,
                limit.clamp(1, 1000),
                offset.max(0),
            )
            .await?)
    }

    /// A new secret for the same credential (name, owner, scopes, lifetime); the old secret stops
    /// working at once.
    pub async fn regenerate(&self, id: &str, now: i64) -> Result<Issued> {
        let row = self.get(id).await?;
        if row.revoked_at.is_some() {
            return Err(Error::Conflict("the credential is revoked".into()));
        }
        let kind = Kind::parse(&row.kind)
            .ok_or_else(|| Error::Internal(format!("credential {id} has kind {}", row.kind)))?;
        let expires_at = row
            .expires_at
            .map(|e| now.saturating_add(e - row.issued_at));
        let token = PlainToken::generate(kind.token_kind());
        let new_hash = token.hash().to_hex();
        let new_hint = hint(&token);
        let old = self
            .store
            .replace_credential_secret(id, &new_hash, &new_hint, now, expires_at)
            .await?
            .ok_or_else(|| Error::Conflict("the credential is revoked".into()))?;
        purge(&self.cache, &[old]);
        let row = CredentialRow {
            token_hash: new_hash,
            hint: new_hint,
            issued_at: now,
            expires_at,
            ..row
        };
        self.audit_change(event::CREDENTIAL_REGENERATED, &row, json!({}));
        Ok(Issued { row, token })
    }

    /// Revokes a credential (idempotent); the row as it is now.
    pub async fn revoke(&self, id: &str, reason: Option<&str>, now: i64) -> Result<CredentialRow> {
        let reason = match reason.map(str::trim).filter(|r| !r.is_empty()) {
            Some(r) => clean_text("reason", r, MAX_REASON_LEN)?,
            None => "Manual revocation".to_owned(),
        };
        let row = self.get(id).await?;
        if let Some(hash) = self.store.revoke_credential(id, now, &reason).await? {
            purge(&self.cache, &[hash]);
            let row = CredentialRow {
                revoked_at: Some(now),
                revoked_reason: Some(reason.clone()),
                ..row
            };
            self.audit_change(event::CREDENTIAL_REVOKED, &row, json!({ "reason": reason }));
            return Ok(row);
        }
        // Already revoked: purge again all the same, so that a repeated revocation is the way to
        // make sure no process still holds a verdict for it.
        purge(&self.cache, std::slice::from_ref(&row.token_hash));
        Ok(row)
    }

    /// Revokes every live credential of an owner (an identity or organisation that is deleted).
    pub async fn revoke_owner(
        &self,
        kind: Kind,
        owner: &str,
        reason: &str,
        now: i64,
    ) -> Result<usize> {
        let hashes = self
            .store
            .revoke_owner_credentials(kind.as_str(), owner, now, reason)
            .await?;
        purge(&self.cache, &hashes);
        Ok(hashes.len())
    }

    async fn fill(&self, hash: &str) -> Result<Lookup> {
        let Some(row) = self.store.get_credential_by_hash(hash).await? else {
            return Ok(Lookup::Unknown);
        };
        let stored = row_scopes(&row)?;
        let mut scopes = scope::restrict(&stored, self.catalogue());
        let owner_ok = match Kind::parse(&row.kind) {
            Some(Kind::Pat) => match self.identity(&row.owner).await? {
                Some(i) if i.state == State::Active => {
                    scopes = scope::restrict(&scopes, &self.scopes_for_roles(&roles_of(&i)));
                    true
                }
                _ => false,
            },
            Some(Kind::ApiKey) => self.store.get_organization(&row.owner).await?.is_some(),
            Some(Kind::ServiceToken) => true,
            None => false,
        };
        Ok(Lookup::Known {
            row: Box::new(row),
            scopes,
            owner_ok,
        })
    }

    /// Checks a presented secret (and, if given, that it grants `required_scope`). Malformed and
    /// mistyped tokens are refused without a lookup; the rest is answered from the cache when
    /// possible. Every refusal is audited (malformed ones in aggregate, by the usage flusher).
    pub async fn validate(
        &self,
        token: &str,
        required_scope: Option<&str>,
        ip: Option<String>,
        now: i64,
    ) -> Result<std::result::Result<Valid, Rejection>> {
        if let Some(req) = required_scope {
            scope::validate(req)
                .map_err(|e| Error::BadRequest(format!("`required_scope`: {e}")))?;
        }
        let token = token.trim();
        let parsed = (token.len() <= MAX_TOKEN_LEN)
            .then(|| token.parse::<PlainToken>().ok())
            .flatten()
            .filter(|t| Kind::of_token(t.kind()).is_some());
        let Some(plain) = parsed else {
            self.usage.malformed();
            return Ok(Err(Rejection::InvalidToken("malformed")));
        };
        let hash = plain.hash().to_hex();
        let lookup = match self.cache.get(&hash) {
            Some(l) => l,
            None => {
                let l = Arc::new(self.fill(&hash).await?);
                self.cache.insert(hash.clone(), l.clone());
                l
            }
        };
        let verdict = match &*lookup {
            Lookup::Unknown => Err((Rejection::InvalidToken("unknown"), None)),
            Lookup::Known {
                row,
                scopes,
                owner_ok,
            } => {
                if row.revoked_at.is_some() {
                    Err((Rejection::InvalidToken("revoked"), Some(&**row)))
                } else if !owner_ok {
                    Err((Rejection::InvalidToken("owner inactive"), Some(&**row)))
                } else if row.expires_at.is_some_and(|e| e <= now) {
                    Err((Rejection::Expired, Some(&**row)))
                } else if let Some(req) = required_scope.filter(|r| !scope::any_grants(scopes, r)) {
                    Err((Rejection::InsufficientScope(req.to_owned()), Some(&**row)))
                } else {
                    self.usage.record(&row.id, now, ip.clone());
                    Ok(Valid {
                        id: row.id.clone(),
                        kind: Kind::parse(&row.kind).unwrap_or(Kind::ServiceToken),
                        name: row.name.clone(),
                        owner: row.owner.clone(),
                        scopes: scopes.clone(),
                        issued_at: row.issued_at,
                        expires_at: row.expires_at,
                    })
                }
            }
        };
        Ok(verdict.map_err(|(rejection, row)| {
            let reason = match &rejection {
                Rejection::InvalidToken(r) => *r,
                Rejection::Expired => "expired",
                Rejection::InsufficientScope(_) => "insufficient_scope",
            };
            self.audit.record(
                event::CREDENTIAL_VALIDATION_FAILED,
                Event {
                    subject: row
                        .filter(|r| r.kind == Kind::Pat.as_str())
                        .map(|r| r.owner.as_str()),
                    ip,
                    data: json!({
                        "reason": reason,
                        "credential_id": row.map(|r| r.id.as_str()),
                        "kind": plain_kind(&plain),
                        "required_scope": required_scope,
                    }),
                    ..Event::default()
                },
            );
            rejection
        }))
    }
}

impl CredentialService {
    /// RFC 7662 introspection of a credential, in Hydra's shape: active with its scopes when
    /// valid and granting every scope in `scope` (space-separated).
    pub async fn introspect(
        &self,
        token: &str,
        scope: Option<&str>,
        now: i64,
    ) -> Result<Introspection> {
        let required: Vec<&str> = scope.unwrap_or_default().split_whitespace().collect();
        if required.iter().any(|r| scope::validate(r).is_err()) {
            return Ok(Introspection::default());
        }
        let Ok(valid) = self.validate(token, None, None, now).await? else {
            return Ok(Introspection::default());
        };
        if !required.iter().all(|r| scope::any_grants(&valid.scopes, r)) {
            return Ok(Introspection::default());
        }
        Ok(Introspection {
            active: true,
            scope: Some(valid.scopes.join(" ")),
            sub: Some(valid.owner.clone()),
            exp: valid.expires_at,
            iat: Some(valid.issued_at),
            token_type: Some(valid.kind.as_str()),
            token_use: Some("credential"),
            ext: Some(
                json!({ "credential_id": valid.id, "kind": valid.kind.as_str(), "name": valid.name }),
            ),
            ..Introspection::default()
        })
    }
}

fn plain_kind(t: &PlainToken) -> &'static str {
    Kind::of_token(t.kind()).map_or("unknown", Kind::as_str)
}

/// The prefix and the first four random characters: enough to tell tokens apart in a list, far
/// too little to guess the rest.
fn hint(t: &PlainToken) -> String {
    t.expose()
        .chars()
        .take(t.kind().prefix().len() + 5)
        .collect()
}

/// `metadata_public.roles` of an identity.
pub fn roles_of(i: &Identity) -> Vec<String> {
    i.metadata_public
        .get("roles")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}
