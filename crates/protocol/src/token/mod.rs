//! The token endpoint's decisions (RFC 6749 §4.1.3, §4.4, §5, §6), one grant per file, and its
//! answer. The request itself is parsed in [`crate::token_request`]. Each decision is a function
//! of the client, what the store holds and `now`; the domain loads, calls it, and stores what it
//! decided (marks a code used, revokes a grant whose code or refresh token came back).

use serde::Serialize;

/// A successful token response (RFC 6749 §5.1, OIDC Core §3.1.3.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}
