//! The identity service: Kratos's admin operations (create, get, list, update, patch, delete,
//! batch import) over the store, with traits validated against the identity's schema and the
//! identifier table and addresses kept in step with the traits.

use std::sync::Arc;

use gatehouse_store::{IdentifierRow, IdentityRow, Store, StoreError};
use serde::Deserialize;
use serde_json::{Value, json};

use super::hasher::{HashError, PasswordHasher};
use super::model::{
    Credential, Identity, RecoveryAddress, State, VerifiableAddress, method, normalize_identifier,
};
use super::observer::IdentityObserver;
use super::schema::Schemas;
use crate::audit::{AuditLog, Event, event};
use crate::config::Config;
use crate::error::{Error, Result};

/// Most identities one batch (`PATCH /admin/identities`) may hold, as in Kratos.
pub const MAX_BATCH: usize = 1000;
/// Reads and writes [`IdentityService::modify`] tries before giving up on a busy identity.
pub const SAVE_RETRIES: usize = 3;
/// Longest external id.
const MAX_EXTERNAL_ID: usize = 256;

/// The body of `POST /admin/identities` (Kratos's `createIdentityBody`).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CreateIdentity {
    #[serde(default)]
    pub schema_id: Option<String>,
    pub traits: Value,
    #[serde(default)]
    pub state: Option<State>,
    #[serde(default)]
    pub metadata_public: Value,
    #[serde(default)]
    pub metadata_admin: Value,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub credentials: Option<CredentialsInput>,
    #[serde(default)]
    pub verifiable_addresses: Option<Vec<AddressInput>>,
    #[serde(default)]
    pub recovery_addresses: Option<Vec<AddressInput>>,
    #[serde(default)]
    pub organization_id: Option<Value>,
}

/// The body of `PUT /admin/identities/{id}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateIdentity {
    #[serde(default)]
    pub schema_id: Option<String>,
    pub traits: Value,
    pub state: State,
    #[serde(default)]
    pub metadata_public: Value,
    #[serde(default)]
    pub metadata_admin: Value,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub credentials: Option<CredentialsInput>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct CredentialsInput {
    #[serde(default)]
    pub password: Option<PasswordInput>,
    /// Accepted for compatibility with Kratos's import format; social sign-in is federation's.
    #[serde(default)]
    pub oidc: Option<Value>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct PasswordInput {
    #[serde(default)]
    pub config: PasswordConfigInput,
}

#[derive(Clone, Deserialize, Default)]
pub struct PasswordConfigInput {
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub hashed_password: Option<String>,
}

impl std::fmt::Debug for PasswordConfigInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordConfigInput { .. }")
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct AddressInput {
    pub value: String,
    #[serde(default)]
    pub via: Option<String>,
    #[serde(default)]
    pub verified: bool,
    #[serde(default)]
    pub status: Option<String>,
}

/// One entry of `PATCH /admin/identities`.
#[derive(Debug, Deserialize)]
pub struct BatchEntry {
    pub create: Option<CreateIdentity>,
    #[serde(default)]
    pub patch_id: Option<String>,
}

pub struct IdentityService {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub schemas: Schemas,
    pub hasher: Arc<PasswordHasher>,
    pub audit: AuditLog,
    pub issuer: String,
    /// Told of every save and delete: sessions end or drop their cached copy, credentials drop
    /// their cached verdicts or are revoked.
    observers: Vec<Arc<dyn IdentityObserver>>,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::BadRequest(msg.into())
}

impl From<HashError> for Error {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => Error::Busy,
            HashError::Password(p) => Error::BadRequest(format!("password: {p}")),
            HashError::Task(t) => Error::Internal(t),
        }
    }
}

impl IdentityService {
    pub fn new(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        schemas: Schemas,
        audit: AuditLog,
        observers: Vec<Arc<dyn IdentityObserver>>,
    ) -> IdentityService {
        IdentityService {
            observers,
            hasher: Arc::new(PasswordHasher::new(&config.hashers.argon2)),
            issuer: config.issuer(),
            config,
            store,
            schemas,
            audit,
        }
    }

    fn from_row(row: &IdentityRow) -> Result<Identity> {
        let mut i: Identity =
            serde_json::from_str(&row.data).map_err(Error::corrupt("identity", row.id.as_str()))?;
        i.version = row.version;
        Ok(i)
    }

    fn to_row(i: &Identity) -> Result<IdentityRow> {
        Ok(IdentityRow {
            id: i.id.clone(),
            schema_id: i.schema_id.clone(),
            state: i.state.as_str().to_owned(),
            external_id: i.external_id.clone(),
            data: serde_json::to_string(i).map_err(|e| Error::Internal(e.to_string()))?,
            created_at: i.created_at,
            updated_at: i.updated_at,
            version: i.version,
        })
    }

    /// Validates the traits, brings addresses and credential identifiers in line with them, and
    /// returns the identifier rows to store.
    pub fn normalize(&self, i: &mut Identity, now: i64) -> Result<Vec<IdentifierRow>> {
        let schema = self
            .schemas
            .get(&i.schema_id)
            .map_err(|e| bad(e.to_string()))?;
        schema.validate(&i.traits).map_err(|errs| {
            bad(errs
                .iter()
                .map(|e| format!("{}: {}", e.pointer, e.message))
                .collect::<Vec<_>>()
                .join("; "))
        })?;
        if let Some(x) = &i.external_id
            && (x.is_empty() || x.len() > MAX_EXTERNAL_ID)
        {
            return Err(bad("external_id must be 1 to 256 characters"));
        }
        let marked = schema.marked(&i.traits);
        // Addresses follow the traits; existing ones keep their verification state.
        let mut verifiable = Vec::new();
        let mut recovery = Vec::new();
        for m in &marked {
            let value = normalize_identifier(&m.value);
            if let Some(via) = &m.role.verification_via
                && !verifiable
                    .iter()
                    .any(|a: &VerifiableAddress| a.value == value)
            {
                verifiable.push(
                    i.verifiable_addresses
                        .iter()
                        .find(|a| a.value == value)
                        .cloned()
                        .unwrap_or_else(|| VerifiableAddress {
                            id: uuid::Uuid::new_v4().to_string(),
                            value: value.clone(),
                            verified: false,
                            via: via.clone(),
                            status: "pending".into(),
                            verified_at: None,
                            created_at: now,
                            updated_at: now,
                        }),
                );
            }
            if let Some(via) = &m.role.recovery_via
                && !recovery.iter().any(|a: &RecoveryAddress| a.value == value)
            {
                recovery.push(
                    i.recovery_addresses
                        .iter()
                        .find(|a| a.value == value)
                        .cloned()
                        .unwrap_or_else(|| RecoveryAddress {
                            id: uuid::Uuid::new_v4().to_string(),
                            value: value.clone(),
                            via: via.clone(),
                            created_at: now,
                            updated_at: now,
                        }),
                );
            }
        }
        // A new recovery address counts once it is verified: until then the addresses it
        // replaces keep working for recovery (a hijacked session cannot move recovery to its
        // own inbox). An address the schema offers no verification for counts at once.
        let previous = std::mem::take(&mut i.recovery_addresses);
        if !previous.is_empty() {
            let pending = |a: &RecoveryAddress| {
                !previous.iter().any(|p| p.value == a.value)
                    && verifiable.iter().any(|v| v.value == a.value && !v.verified)
            };
            if recovery.iter().any(pending) {
                recovery.retain(|a| !pending(a));
                for p in previous {
                    if !recovery.iter().any(|a| a.value == p.value) {
                        recovery.push(p);
                    }
                }
            }
        }
        i.verifiable_addresses = verifiable;
        i.recovery_addresses = recovery;
        for (ty, cred) in i.credentials.iter_mut() {
            if matches!(ty.as_str(), method::PASSWORD | method::WEBAUTHN) {
                let mut ids: Vec<String> = marked
                    .iter()
                    .filter(|m| m.role.identifier_for.iter().any(|f| f == ty))
                    .map(|m| normalize_identifier(&m.value))
                    .collect();
                ids.dedup();
                if ty == method::WEBAUTHN {
                    // Passkeys are also found by their user handle.
                    if let Some(h) = cred.config.get("user_handle").and_then(Value::as_str) {
                        ids.push(h.to_owned());
                    }
                }
                cred.identifiers = ids;
            } else {
                cred.identifiers = vec![i.id.clone()];
            }
        }
        if i.credentials
            .get(method::PASSWORD)
            .is_some_and(|c| c.identifiers.is_empty())
        {
            return Err(bad(
                "a password credential needs a trait marked as its identifier in the schema",
            ));
        }
        let mut rows: Vec<IdentifierRow> = Vec::new();
        for (ty, cred) in &i.credentials {
            if matches!(ty.as_str(), method::PASSWORD | method::WEBAUTHN) {
                for id in &cred.identifiers {
                    rows.push(IdentifierRow {
                        method: ty.clone(),
                        identifier: id.clone(),
                    });
                }
            }
        }
        for a in &i.verifiable_addresses {
            rows.push(IdentifierRow {
                method: format!("address:{}", a.via),
                identifier: a.value.clone(),
            });
        }
        for a in &i.recovery_addresses {
            let m = format!("recovery:{}", a.via);
            rows.push(IdentifierRow {
                method: m,
                identifier: a.value.clone(),
            });
        }
        rows.sort_by(|a, b| (&a.method, &a.identifier).cmp(&(&b.method, &b.identifier)));
        rows.dedup();
        Ok(rows)
    }

    /// Checks a new password against the policy (length, common passwords, similarity).
    /// The traits that sign in or reach the person (login identifiers, verifiable and recovery
    /// addresses), normalised, by schema pointer: changing any of them needs a privileged
    /// session, as in Kratos.
    pub fn identifying_traits(
        &self,
        schema_id: &str,
        traits: &Value,
    ) -> Result<std::collections::BTreeSet<(String, String)>> {
        let schema = self
            .schemas
            .get(schema_id)
            .map_err(|e| bad(e.to_string()))?;
        Ok(schema
            .marked(traits)
            .into_iter()
            .filter(|m| {
                !m.role.identifier_for.is_empty()
                    || m.role.verification_via.is_some()
                    || m.role.recovery_via.is_some()
            })
            .map(|m| (m.role.pointer, normalize_identifier(&m.value)))
            .collect())
    }

    pub fn check_password_policy(&self, password: &str, identifiers: &[String]) -> Result<()> {
        let policy = &self.config.selfservice.methods.password;
        let len = password.chars().count();
        if len < policy.min_password_length {
            return Err(bad(format!(
                "The password must be at least {} characters long.",
                policy.min_password_length
            )));
        }
        if password.len() > 1024 {
            return Err(bad("The password must be at most 1024 bytes long."));
        }
        if policy.refuse_common && gatehouse_crypto::breached::is_common_password(password) {
            return Err(bad(
                "The password has been found in data breaches and must no longer be used.",
            ));
        }
        if policy.identifier_similarity_check_enabled {
            let lower = password.to_lowercase();
            for id in identifiers {
                let local = id.split('@').next().unwrap_or(id).to_lowercase();
                if local.len() >= 4 && (lower.contains(&local) || local.contains(&lower)) {
                    return Err(bad("The password is too similar to the identifier."));
                }
            }
        }
        Ok(())
    }

    async fn password_credential(
        &self,
        input: &PasswordConfigInput,
        identifiers: &[String],
        now: i64,
    ) -> Result<Option<Credential>> {
        let hashed = match (&input.password, &input.hashed_password) {
            (Some(_), Some(_)) => {
                return Err(bad("give either password or hashed_password, not both"));
            }
            (Some(p), None) => {
                self.check_password_policy(p, identifiers)?;
                self.hasher.hash(p.clone()).await?
            }
            (None, Some(h)) => {
                const KNOWN: [&str; 7] = [
                    "$argon2id$",
                    "$argon2i$",
                    "$2a$",
                    "$2b$",
                    "$2y$",
                    "$pbkdf2-",
                    "$scrypt$",
                ];
                if !KNOWN.iter().any(|p| h.starts_with(p)) || h.len() > 512 {
                    return Err(bad(
                        "hashed_password: expected an argon2id, argon2i, bcrypt, pbkdf2 or scrypt hash",
                    ));
                }
                h.clone()
            }
            (None, None) => return Ok(None),
        };
        Ok(Some(Credential {
            identifiers: Vec::new(),
            config: json!({ "hashed_password": hashed }),
            version: 0,
            created_at: now,
            updated_at: now,
        }))
    }

    fn apply_addresses(i: &mut Identity, verifiable: Option<&[AddressInput]>, now: i64) {
        // Imported verification state (e.g. addresses verified in the old system).
        if let Some(list) = verifiable {
            for input in list {
                let value = normalize_identifier(&input.value);
                if let Some(a) = i.verifiable_addresses.iter_mut().find(|a| a.value == value) {
                    a.verified = input.verified;
                    a.status = input.status.clone().unwrap_or_else(|| {
                        if input.verified {
                            "completed"
                        } else {
                            "pending"
                        }
                        .into()
                    });
                    a.verified_at = input.verified.then_some(now);
                }
            }
        }
    }

    /// Creates an identity (admin API, import, and self-service registration).
    pub async fn create(&self, body: CreateIdentity, now: i64) -> Result<Identity> {
        let schema_id = body
            .schema_id
            .clone()
            .unwrap_or_else(|| self.schemas.default_id.clone());
        let mut i = Identity {
            id: uuid::Uuid::new_v4().to_string(),
            schema_id,
            state: body.state.unwrap_or_default(),
            traits: body.traits,
            metadata_public: body.metadata_public,
            metadata_admin: body.metadata_admin,
            verifiable_addresses: Vec::new(),
            recovery_addresses: Vec::new(),
            credentials: Default::default(),
            external_id: body.external_id,
            created_at: now,
            updated_at: now,
            state_changed_at: now,
            version: 0,
        };
        check_metadata(&i.metadata_public, "metadata_public")?;
        check_metadata(&i.metadata_admin, "metadata_admin")?;
        // A first pass gives the identifiers the password policy compares against.
        self.normalize(&mut i, now)?;
        let identifiers: Vec<String> = i
            .verifiable_addresses
            .iter()
            .map(|a| a.value.clone())
            .collect();
        if let Some(p) = body.credentials.as_ref().and_then(|c| c.password.as_ref())
            && let Some(c) = self
                .password_credential(&p.config, &identifiers, now)
                .await?
        {
            i.credentials.insert(method::PASSWORD.into(), c);
        }
        let rows = self.normalize(&mut i, now)?;
        Self::apply_addresses(&mut i, body.verifiable_addresses.as_deref(), now);
        self.insert(&i, &rows).await?;
        self.audit.record(
            event::IDENTITY_CREATED,
            Event {
                subject: Some(&i.id),
                ..Event::default()
            },
        );
        Ok(i)
    }

    async fn insert(&self, i: &Identity, rows: &[IdentifierRow]) -> Result<()> {
        match self.store.insert_identity(&Self::to_row(i)?, rows).await {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict) => Err(Error::Conflict(
                "An account with the same identifier (email, phone, username, ...) exists already."
                    .into(),
            )),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn get(&self, id: &str) -> Result<Identity> {
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(Error::NotFound("Unable to locate the resource".into()));
        }
        let row = self
            .store
            .get_identity(id)
            .await?
            .ok_or_else(|| Error::NotFound("Unable to locate the resource".into()))?;
        Self::from_row(&row)
    }

    /// The identity holding `identifier` for a credential method.
    pub async fn find(&self, method: &str, identifier: &str) -> Result<Option<Identity>> {
        let row = self
            .store
            .find_identity(method, &normalize_identifier(identifier))
            .await?;
        row.as_ref().map(Self::from_row).transpose()
    }

    pub async fn list(
        &self,
        limit: i64,
        offset: i64,
        identifier: Option<&str>,
    ) -> Result<Vec<Identity>> {
        let ident = identifier.map(normalize_identifier);
        self.store
            .list_identities(limit, offset, ident.as_deref())
            .await?
            .iter()
            .map(Self::from_row)
            .collect()
    }

    /// Saves a changed identity (credentials or traits changed by a flow or the admin API), only
    /// over the version it was read at: [`Error::Stale`] (nothing written) when another request
    /// saved it in between. On success `i.version` is the new stored version.
    pub async fn save(&self, i: &mut Identity, now: i64) -> Result<()> {
        let rows = self.normalize(i, now)?;
        i.updated_at = now;
        match self.store.update_identity(&Self::to_row(i)?, &rows).await {
            Ok(true) => {
                i.version += 1;
                for o in &self.observers {
                    o.saved(i, now).await?;
                }
                Ok(())
            }
            Ok(false) => Err(Error::NotFound("Unable to locate the resource".into())),
            Err(StoreError::Stale) => Err(Error::Stale(crate::error::STALE.into())),
            Err(StoreError::Conflict) => Err(Error::Conflict(
                "An account with the same identifier (email, phone, username, ...) exists already."
                    .into(),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads the identity fresh, applies `change` and saves it; when another request saved in
    /// between, reads it again and re-applies, a few times, then [`Error::Stale`]. For changes
    /// that do not depend on what was read (marking an address verified).
    pub async fn modify(
        &self,
        id: &str,
        now: i64,
        mut change: impl FnMut(&mut Identity),
    ) -> Result<Identity> {
        for _ in 0..SAVE_RETRIES {
            let mut i = self.get(id).await?;
            change(&mut i);
            match self.save(&mut i, now).await {
                Ok(()) => return Ok(i),
                Err(Error::Stale(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Stale(crate::error::STALE.into()))
    }

    pub async fn update(&self, id: &str, body: UpdateIdentity, now: i64) -> Result<Identity> {
        let mut i = self.get(id).await?;
        if let Some(s) = body.schema_id {
            i.schema_id = s;
        }
        if i.state != body.state {
            i.state = body.state;
            i.state_changed_at = now;
        }
        check_metadata(&body.metadata_public, "metadata_public")?;
        check_metadata(&body.metadata_admin, "metadata_admin")?;
        i.traits = body.traits;
        i.metadata_public = body.metadata_public;
        i.metadata_admin = body.metadata_admin;
        if body.external_id.is_some() {
            i.external_id = body.external_id;
        }
        self.normalize(&mut i, now)?;
        if let Some(p) = body.credentials.as_ref().and_then(|c| c.password.as_ref()) {
            let ids: Vec<String> = i
                .verifiable_addresses
                .iter()
                .map(|a| a.value.clone())
                .collect();
            if let Some(c) = self.password_credential(&p.config, &ids, now).await? {
                i.credentials.insert(method::PASSWORD.into(), c);
            }
        }
        self.save(&mut i, now).await?;
        self.audit.record(
            event::IDENTITY_UPDATED,
            Event {
                subject: Some(&i.id),
                ..Event::default()
            },
        );
        Ok(i)
    }

    /// RFC 6902 patch of the API view (Kratos's `PATCH /admin/identities/{id}`).
    pub async fn patch(&self, id: &str, patch: Value, now: i64) -> Result<Identity> {
        let current = self.get(id).await?;
        let mut doc = json!({
            "schema_id": current.schema_id,
            "state": current.state,
            "traits": current.traits,
            "metadata_public": current.metadata_public,
            "metadata_admin": current.metadata_admin,
            "external_id": current.external_id,
        });
        crate::json_patch::apply(
            &mut doc,
            &patch,
            &[
                "/id",
                "/credentials",
                "/created_at",
                "/updated_at",
                "/verifiable_addresses",
                "/recovery_addresses",
            ],
        )?;
        let body: UpdateIdentity = serde_json::from_value(doc)
            .map_err(|e| bad(format!("the patched identity is invalid: {e}")))?;
        self.update(id, body, now).await
    }

    pub async fn delete(&self, id: &str, now: i64) -> Result<()> {
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(Error::NotFound("Unable to locate the resource".into()));
        }
        let hashes = self
            .store
            .delete_identity(id)
            .await?
            .ok_or_else(|| Error::NotFound("Unable to locate the resource".into()))?;
        for o in &self.observers {
            o.deleted(id, &hashes, now).await?;
        }
        self.audit.record(
            event::IDENTITY_DELETED,
            Event {
                subject: Some(id),
                ..Event::default()
            },
        );
        Ok(())
    }

    /// `PATCH /admin/identities`: creates many identities; each entry succeeds or fails alone.
    pub async fn batch(&self, entries: Vec<BatchEntry>, now: i64) -> Result<Value> {
        if entries.len() > MAX_BATCH {
            return Err(bad(format!("at most {MAX_BATCH} identities per batch")));
        }
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            let Some(create) = e.create else {
                out.push(json!({"action": "error", "patch_id": e.patch_id,
                    "error": {"code": 400, "message": "only create is supported"}}));
                continue;
            };
            match self.create(create, now).await {
                Ok(i) => {
                    out.push(json!({"action": "create", "identity": i.id, "patch_id": e.patch_id}))
                }
                Err(err) => {
                    let code = match &err {
                        Error::Conflict(_) | Error::Stale(_) => 409,
                        Error::BadRequest(_) => 400,
                        _ => 500,
                    };
                    out.push(json!({"action": "error", "patch_id": e.patch_id,
                        "error": {"code": code, "message": err.to_string()}}));
                }
            }
        }
        Ok(json!({ "identities": out }))
    }
}

fn check_metadata(v: &Value, key: &str) -> Result<()> {
    if !(v.is_null() || v.is_object()) {
        return Err(bad(format!("{key} must be a JSON object")));
    }
    if serde_json::to_vec(v).map_or(true, |b| b.len() > 16 * 1024) {
        return Err(bad(format!("{key} must be at most 16 KiB")));
    }
    Ok(())
}
