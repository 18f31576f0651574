//! What a grant carries from consent to every token issued under it: stored with the
//! authorization code and each refresh token, and read back by the token endpoint,
//! introspection and userinfo. A grant made without a user (client_credentials) has only its
//! scope, audience and grant type.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct GrantData {
    pub scope: Vec<String>,
    pub audience: Vec<String>,
    pub grant_type: String,
    /// `session.access_token` from the consent accept: extra claims for the access token.
    #[serde(default)]
    pub ext: Value,
    /// `session.id_token` from the consent accept: extra claims for the ID token and userinfo.
    #[serde(default)]
    pub id_token_claims: Value,
    #[serde(default)]
    pub auth_time: Option<i64>,
    #[serde(default)]
    pub acr: Option<String>,
    #[serde(default)]
    pub amr: Vec<String>,
    #[serde(default)]
    pub nonce: Option<String>,
    /// The `redirect_uri` of the authorization request when it was sent (RFC 6749 §4.1.3: then
    /// the token request must repeat it).
    #[serde(default)]
    pub redirect_uri: Option<String>,
    /// The S256 `code_challenge` of the authorization request (RFC 7636).
    #[serde(default)]
    pub code_challenge: Option<String>,
    #[serde(default)]
    pub requested_at: i64,
}

impl GrantData {
    /// Whether the grant asks for a refresh token (`offline_access`, or Hydra's `offline`).
    pub fn is_offline(&self) -> bool {
        self.scope
            .iter()
            .any(|s| s == "offline_access" || s == "offline")
    }

    /// Whether the grant is an OpenID Connect one (then an ID token is issued).
    pub fn is_openid(&self) -> bool {
        self.scope.iter().any(|s| s == "openid")
    }
}
