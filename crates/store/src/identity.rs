//! Identities (Kratos's model), their login sessions and the courier's outgoing messages.
//!
//! An identity is one JSON document (traits, metadata, addresses, credentials — the domain layer
//! encrypts what must be secret) plus a table of identifiers per credential method, whose primary
//! key makes "one identifier, one identity" an invariant the database enforces. Sessions are
//! looked up by the SHA-256 digest of their token; revoking one marks it inactive and hands back
//! the digest so caches can be purged.

use async_trait::async_trait;

use crate::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityRow {
    pub id: String,
    pub schema_id: String,
    /// `active` or `inactive`.
    pub state: String,
    pub external_id: Option<String>,
    /// The rest of the identity as JSON.
    pub data: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// Optimistic-concurrency version: 0 when inserted, one more on every update. An update
    /// names the version it read ([`IdentityStore::update_identity`]).
    pub version: i64,
}

/// A login identifier of an identity for one method (`password`, `webauthn`, `code`, ...),
/// normalised by the caller (e-mail addresses lower-cased).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentifierRow {
    pub method: String,
    pub identifier: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentitySessionRow {
    pub id: String,
    /// SHA-256 digest (hex) of the session token (the cookie value or `X-Session-Token`).
    pub token_hash: String,
    pub identity_id: String,
    pub active: bool,
    /// Authentication methods, AAL, devices: JSON.
    pub data: String,
    pub authenticated_at: i64,
    pub issued_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CourierMessageRow {
    pub id: String,
    /// `queued`, `processing`, `sent` or `abandoned`.
    pub status: String,
    /// `email`.
    pub channel: String,
    pub recipient: String,
    /// `recovery_code_valid`, `verification_code_valid`, ...
    pub template_type: String,
    /// Subject and body, encrypted by the domain layer; JSON.
    pub data: String,
    pub send_count: i64,
    pub next_attempt_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[async_trait]
pub trait IdentityStore {
    /// Inserts an identity with its identifiers; [`crate::StoreError::Conflict`] when an
    /// identifier or the external id is taken.
    async fn insert_identity(&self, i: &IdentityRow, identifiers: &[IdentifierRow]) -> Result<()>;
    /// Replaces an identity and its identifiers atomically, only if its stored version is still
    /// `i.version` (compare-and-swap); the stored version becomes `i.version + 1`. False when it
    /// does not exist; [`crate::StoreError::Stale`] when another writer updated it since it was
    /// read (nothing is written then).
    async fn update_identity(&self, i: &IdentityRow, identifiers: &[IdentifierRow])
    -> Result<bool>;
    async fn get_identity(&self, id: &str) -> Result<Option<IdentityRow>>;
    /// The identity that holds `identifier` for `method`.
    async fn find_identity(&self, method: &str, identifier: &str) -> Result<Option<IdentityRow>>;
    /// Identities in id order; `identifier` keeps those holding it for any method.
    async fn list_identities(
        &self,
        limit: i64,
        offset: i64,
        identifier: Option<&str>,
    ) -> Result<Vec<IdentityRow>>;
    /// Deletes an identity, its identifiers and sessions. `None` when it did not exist; else the
    /// token digests of the sessions that went (for cache purges).
    async fn delete_identity(&self, id: &str) -> Result<Option<Vec<String>>>;

    async fn insert_session(&self, s: &IdentitySessionRow) -> Result<()>;
    /// Updates `active`, `data`, `authenticated_at` and `expires_at`; false when absent.
    async fn update_session(&self, s: &IdentitySessionRow) -> Result<bool>;
    async fn get_session(&self, id: &str) -> Result<Option<IdentitySessionRow>>;
    async fn get_session_by_token(&self, token_hash: &str) -> Result<Option<IdentitySessionRow>>;
    /// Sessions, newest first, optionally of one identity and of one activity state.
    async fn list_sessions(
        &self,
        identity_id: Option<&str>,
        active: Option<bool>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<IdentitySessionRow>>;
    /// Marks a session inactive; its token digest when it was active.
    async fn deactivate_session(&self, id: &str) -> Result<Option<String>>;
    /// Marks every active session of an identity inactive, except `keep`; their token digests.
    async fn deactivate_identity_sessions(
        &self,
        identity_id: &str,
        keep: Option<&str>,
    ) -> Result<Vec<String>>;

    async fn insert_message(&self, m: &CourierMessageRow) -> Result<()>;
    /// Queued messages whose next attempt is due, oldest first.
    async fn due_messages(&self, now: i64, limit: i64) -> Result<Vec<CourierMessageRow>>;
    async fn update_message(
        &self,
        id: &str,
        status: &str,
        send_count: i64,
        next_attempt_at: i64,
        now: i64,
    ) -> Result<()>;
    /// Messages, newest first, filtered by status and recipient.
    async fn list_messages(
        &self,
        status: Option<&str>,
        recipient: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<CourierMessageRow>>;
    async fn get_message(&self, id: &str) -> Result<Option<CourierMessageRow>>;
    /// Moves a queued message to `processing` (and `updated_at` to `now`); false when it was not
    /// queued — another worker claimed it first. The conditional update makes a claim exclusive
    /// across replicas.
    async fn claim_message(&self, id: &str, now: i64) -> Result<bool>;
    /// Puts messages back in the queue that have been `processing` since before `stuck_before`
    /// (their worker died mid-send); how many.
    async fn requeue_stuck_messages(&self, stuck_before: i64, now: i64) -> Result<u64>;
}
