//! Long-lived API credentials (personal access tokens, API keys, service tokens) and the minimal
//! organisation model API keys belong to.
//!
//! A credential is found by the SHA-256 digest of its secret; the secret itself is never stored.
//! Revoking marks the row (the 30-day history is read from it) and hands back the digest so
//! caches can be purged.

use async_trait::async_trait;

use crate::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRow {
    pub id: String,
    /// `pat`, `api_key` or `service_token`.
    pub kind: String,
    /// SHA-256 digest (hex) of the current secret.
    pub token_hash: String,
    /// The first characters of the secret (prefix and four random ones), to tell tokens apart.
    pub hint: String,
    pub name: String,
    /// The identity (PAT), organisation (API key) or service name (service token).
    pub owner: String,
    /// JSON array of scope strings.
    pub scopes: String,
    /// Who created it: an identity id, `admin` (admin API) or `cli`.
    pub created_by: String,
    pub created_at: i64,
    /// When the current secret was issued (creation or the last regeneration).
    pub issued_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub last_used_ip: Option<String>,
    pub revoked_at: Option<i64>,
    pub revoked_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationRow {
    pub id: String,
    pub name: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRow {
    pub organization_id: String,
    pub identity_id: String,
    /// `admin` or `member`.
    pub role: String,
    pub created_at: i64,
}

/// One use of a credential, recorded off the request path and written in batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialUse {
    pub id: String,
    pub at: i64,
    pub ip: Option<String>,
}

#[async_trait]
pub trait CredentialStore {
    /// [`crate::StoreError::Conflict`] when the id or digest exists.
    async fn insert_credential(&self, c: &CredentialRow) -> Result<()>;
    async fn get_credential(&self, id: &str) -> Result<Option<CredentialRow>>;
    async fn get_credential_by_hash(&self, token_hash: &str) -> Result<Option<CredentialRow>>;
    /// Credentials newest first, optionally of one kind and owner; revoked ones only when revoked
    /// at or after `revoked_since`.
    async fn list_credentials(
        &self,
        kind: Option<&str>,
        owner: Option<&str>,
        revoked_since: i64,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<CredentialRow>>;
    /// Replaces the secret of a live credential (regeneration); the old digest when it was live.
    async fn replace_credential_secret(
        &self,
        id: &str,
        token_hash: &str,
        hint: &str,
        issued_at: i64,
        expires_at: Option<i64>,
    ) -> Result<Option<String>>;
    /// Revokes a live credential; its digest when it was live.
    async fn revoke_credential(&self, id: &str, at: i64, reason: &str) -> Result<Option<String>>;
    /// Revokes every live credential of an owner; their digests.
    async fn revoke_owner_credentials(
        &self,
        kind: &str,
        owner: &str,
        at: i64,
        reason: &str,
    ) -> Result<Vec<String>>;
    /// Writes `last_used_at` / `last_used_ip` for a batch of uses in one transaction (a use older
    /// than the stored one is ignored).
    async fn record_credential_uses(&self, uses: &[CredentialUse]) -> Result<()>;

    /// [`crate::StoreError::Conflict`] when the name is taken.
    async fn insert_organization(&self, o: &OrganizationRow) -> Result<()>;
    async fn get_organization(&self, id: &str) -> Result<Option<OrganizationRow>>;
    async fn list_organizations(&self, limit: i64, offset: i64) -> Result<Vec<OrganizationRow>>;
    /// Deletes an organisation and its memberships; false when it did not exist.
    async fn delete_organization(&self, id: &str) -> Result<bool>;
    async fn upsert_member(&self, m: &MemberRow) -> Result<()>;
    async fn delete_member(&self, organization_id: &str, identity_id: &str) -> Result<bool>;
    async fn list_members(&self, organization_id: &str) -> Result<Vec<MemberRow>>;
    /// The organisations an identity belongs to, with its role in each.
    async fn memberships(&self, identity_id: &str) -> Result<Vec<(OrganizationRow, String)>>;
    /// Deletes every membership of an identity (it was deleted).
    async fn delete_memberships(&self, identity_id: &str) -> Result<u64>;
}
