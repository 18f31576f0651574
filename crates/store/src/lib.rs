//! Storage for Gatehouse: one [`Store`] trait, two backends (SQLite, the zero-configuration
//! default, and PostgreSQL for replicas), migrations embedded per backend and run at start.
//!
//! The store is deliberately dumb: it keeps rows and JSON documents and enforces the few
//! invariants that must be atomic (single use of codes and challenges, family revocation). Domain
//! rules live in the `gatehouse` crate. Both backends share the same SQL text: SQLite accepts the
//! `$1` placeholders PostgreSQL uses, and every column is TEXT, an integer or bytes.

mod backend;
mod clock;
mod credential;
mod credential_backend;
mod identity;
mod identity_backend;
mod migrate;
mod model;

use async_trait::async_trait;

pub use backend::{PostgresStore, SqliteStore, connect};
pub use credential::*;
pub use identity::*;
pub use model::*;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("unsupported database URL scheme in `dsn`: {0} (expected sqlite:// or postgres://)")]
    UnsupportedScheme(String),
    #[error("a row with this key already exists")]
    Conflict,
    /// A compare-and-swap update found the row changed since it was read: the write did not
    /// happen. Never a success: the caller reloads and decides again, or refuses.
    #[error("the row was changed by another writer since it was read")]
    Stale,
    #[error("migration {0} failed: {1}")]
    Migration(String, sqlx::Error),
}

/// How long revoked and expired credentials are kept (and listed) before the janitor deletes
/// them: 30 days.
pub const CREDENTIAL_HISTORY_SECS: i64 = 30 * 24 * 3600;

/// How long cache-invalidation log entries are kept before the janitor deletes them: an hour,
/// far beyond any cache TTL, so a process that could not read the log for a while still finds
/// what it missed.
pub const INVALIDATION_HISTORY_SECS: i64 = 3600;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything Gatehouse persists. Times are Unix seconds.
#[async_trait]
pub trait Store: IdentityStore + CredentialStore + Send + Sync + 'static {
    /// Which backend this is: `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// Runs pending migrations.
    async fn migrate(&self) -> Result<()>;
    /// A round trip to the database, for readiness.
    async fn ping(&self) -> Result<()>;

    // Signing keys
    async fn insert_key(&self, key: &KeyRow) -> Result<()>;
    async fn list_keys(&self, set_name: &str) -> Result<Vec<KeyRow>>;
    async fn list_all_keys(&self) -> Result<Vec<KeyRow>>;
    async fn update_key_schedule(
        &self,
        kid: &str,
        retire_at: Option<i64>,
        expire_at: Option<i64>,
    ) -> Result<()>;
    async fn update_key_private(&self, kid: &str, private_key: &[u8]) -> Result<()>;
    async fn delete_key(&self, kid: &str) -> Result<bool>;

    // OAuth 2.0 clients
    async fn insert_client(&self, client: &ClientRow) -> Result<()>;
    async fn get_client(&self, client_id: &str) -> Result<Option<ClientRow>>;
    /// Clients in creation order; `client_name` and `owner` filter by exact match.
    async fn list_clients(
        &self,
        limit: i64,
        offset: i64,
        client_name: Option<&str>,
        owner: Option<&str>,
    ) -> Result<Vec<ClientRow>>;
    async fn update_client(&self, client: &ClientRow) -> Result<bool>;
    async fn delete_client(&self, client_id: &str) -> Result<bool>;

    // Opaque tokens, codes, challenges and verifiers (stored by SHA-256 digest)
    async fn insert_token(&self, token: &TokenRow) -> Result<()>;
    async fn get_token(&self, hash: &str) -> Result<Option<TokenRow>>;
    /// Marks a single-use item used. Returns false if it was already used (or does not exist):
    /// exactly one caller ever gets true.
    async fn use_token(&self, hash: &str, now: i64) -> Result<bool>;
    async fn revoke_token(&self, hash: &str) -> Result<bool>;
    /// Revokes every token of a grant family; returns the digests revoked (for cache purges).
    async fn revoke_family(&self, family_id: &str) -> Result<Vec<String>>;
    async fn revoke_client_tokens(&self, client_id: &str) -> Result<Vec<String>>;
    async fn revoke_subject_tokens(
        &self,
        subject: &str,
        client_id: Option<&str>,
    ) -> Result<Vec<String>>;
    async fn revoke_session_tokens(&self, session_id: &str) -> Result<Vec<String>>;
    /// The clients that received tokens or codes within a login session (for logout fan-out).
    async fn session_client_ids(&self, session_id: &str) -> Result<Vec<String>>;

    // Authorization flows in progress (login and consent requests)
    async fn put_flow(&self, id: &str, data: &str, expires_at: i64) -> Result<()>;
    /// Inserts a flow only if no row has this id: false when one exists (another writer was
    /// first). The insert half of a compare-and-swap with [`Store::replace_flow`].
    async fn insert_flow(&self, id: &str, data: &str, expires_at: i64) -> Result<bool>;
    async fn get_flow(&self, id: &str) -> Result<Option<String>>;
    /// Replaces a flow's data only if it is still `expected` (compare-and-swap): false when
    /// another writer changed it first, or it is gone.
    async fn replace_flow(
        &self,
        id: &str,
        expected: &str,
        data: &str,
        expires_at: i64,
    ) -> Result<bool>;
    async fn delete_flow(&self, id: &str) -> Result<()>;

    // Login sessions ("remember me" at the provider)
    async fn upsert_login_session(&self, s: &LoginSessionRow) -> Result<()>;
    async fn get_login_session(&self, id: &str) -> Result<Option<LoginSessionRow>>;
    async fn delete_login_session(&self, id: &str) -> Result<bool>;
    async fn delete_subject_login_sessions(&self, subject: &str) -> Result<Vec<String>>;

    // Consent sessions (grants a subject gave a client)
    async fn insert_consent(&self, c: &ConsentRow) -> Result<()>;
    async fn list_consents(
        &self,
        subject: &str,
        client_id: Option<&str>,
    ) -> Result<Vec<ConsentRow>>;
    async fn list_consents_by_login_session(
        &self,
        login_session_id: &str,
    ) -> Result<Vec<ConsentRow>>;
    async fn delete_consents(&self, subject: &str, client_id: Option<&str>) -> Result<u64>;

    // Back-channel logout deliveries waiting for retry
    async fn insert_logout_delivery(&self, d: &LogoutDeliveryRow) -> Result<()>;
    async fn due_logout_deliveries(&self, now: i64, limit: i64) -> Result<Vec<LogoutDeliveryRow>>;
    async fn reschedule_logout_delivery(
        &self,
        id: &str,
        attempts: i64,
        next_attempt_at: i64,
    ) -> Result<()>;
    async fn delete_logout_delivery(&self, id: &str) -> Result<()>;

    // Audit log
    async fn insert_audit(&self, e: &AuditRow) -> Result<()>;
    async fn list_audit(
        &self,
        kind: Option<&str>,
        subject: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditRow>>;

    // Cache-invalidation log (followed by every process; see `gatehouse::invalidation`)
    /// Appends an entry; returns its id.
    async fn append_invalidation(
        &self,
        at: i64,
        origin: &str,
        kind: &str,
        keys: &str,
    ) -> Result<i64>;
    /// Entries with an id above `after`, in id order, at most `limit`.
    async fn invalidations_after(&self, after: i64, limit: i64) -> Result<Vec<InvalidationRow>>;
    /// The highest id in the log (0 when it is empty).
    async fn last_invalidation_id(&self) -> Result<i64>;

    /// Deletes expired tokens, flows, sessions and consents, and credentials revoked or expired
    /// more than [`CREDENTIAL_HISTORY_SECS`] ago; returns how many rows went.
    async fn delete_expired(&self, now: i64) -> Result<u64>;
}
