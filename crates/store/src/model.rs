//! Row types, shared by both backends.

/// A signing key; `private_key` is keyring-encrypted PKCS#8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    pub kid: String,
    pub set_name: String,
    pub alg: String,
    pub private_key: Vec<u8>,
    pub public_jwk: String,
    pub created_at: i64,
    /// Published from creation; signs from this time on.
    pub activate_at: i64,
    /// No longer signs from this time on (a newer key has taken over).
    pub retire_at: Option<i64>,
    /// Leaves the JWKS at this time (every token it signed has expired).
    pub expire_at: Option<i64>,
}

/// An OAuth 2.0 client: its metadata as a JSON document plus the digests needed for lookups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRow {
    pub client_id: String,
    /// Copies of two metadata fields, for Hydra's list filters.
    pub client_name: String,
    pub owner: String,
    pub data: String,
    pub secret_hash: Option<String>,
    pub registration_token_hash: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An opaque item stored by digest: token, code, challenge or verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    pub hash: String,
    pub kind: String,
    pub client_id: String,
    pub subject: Option<String>,
    /// The grant this belongs to: a code, its tokens and every rotated refresh token share it.
    pub family_id: String,
    pub session_id: Option<String>,
    pub data: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked: bool,
    pub used_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginSessionRow {
    pub id: String,
    pub subject: String,
    pub data: String,
    pub authenticated_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRow {
    pub id: String,
    pub subject: String,
    pub client_id: String,
    pub login_session_id: Option<String>,
    pub data: String,
    pub remember: bool,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutDeliveryRow {
    pub id: String,
    pub client_id: String,
    pub url: String,
    /// The logout token's claims (JSON); the sender signs a fresh token at each attempt.
    pub logout_token: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub id: String,
    pub at: i64,
    pub kind: String,
    pub subject: Option<String>,
    pub client_id: Option<String>,
    pub ip: Option<String>,
    pub data: String,
}

/// One entry of the cache-invalidation log that every running process follows: what to purge
/// (digests or ids, never a secret) and which process wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidationRow {
    /// Increasing; on PostgreSQL, ids can become visible out of order (a later id committed first).
    pub id: i64,
    pub at: i64,
    pub origin: String,
    pub kind: String,
    /// A JSON array of strings.
    pub keys: String,
}
