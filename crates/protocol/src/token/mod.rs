//! The token endpoint's decisions (RFC 6749 §4.1.3, §4.4, §5, §6), one grant per file, and its
//! answer. The request itself is parsed in [`crate::token_request`]. Each decision is a function
//! of the client, what the store holds and `now`; the domain loads, calls it, and stores what it
//! decided (marks a code used, revokes a grant whose code or refresh token came back).

use serde::Serialize;

use crate::client::{Client, GrantType};
use crate::error::{ErrorCode, OAuthError};

pub mod client_credentials;
pub mod code;
pub mod refresh;

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

/// A grant's authorization code or refresh token as the store holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredToken<'a> {
    /// The client it was issued to.
    pub client_id: &'a str,
    pub revoked: bool,
    pub expires_at: i64,
}

/// Why a code or refresh token is refused, and what the domain must do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Answer with the error; nothing else changes.
    Invalid(OAuthError),
    /// A code, or a refresh token rotated away from, came back: answer with the error and revoke
    /// every token of its grant, as someone else may hold a copy (RFC 6749 §4.1.2 and §10.4,
    /// RFC 9700 §4.14.2).
    Reused(OAuthError),
}

impl Refused {
    pub fn error(&self) -> &OAuthError {
        match self {
            Refused::Invalid(e) | Refused::Reused(e) => e,
        }
    }

    pub fn into_error(self) -> OAuthError {
        match self {
            Refused::Invalid(e) | Refused::Reused(e) => e,
        }
    }
}

/// `unauthorized_client` unless the client registered the grant type (RFC 6749 §5.2).
pub fn allow_grant(client: &Client, grant: GrantType) -> Result<(), OAuthError> {
    if client.allows_grant(grant) {
        return Ok(());
    }
    Err(OAuthError::new(
        ErrorCode::UnauthorizedClient,
        format!(
            "The client is not allowed to use the {} grant.",
            grant.as_str()
        ),
    ))
}

/// Test fixtures shared by the grant modules.
#[cfg(test)]
pub(crate) mod fixture {
    use serde_json::{Value, json};

    use crate::client::Client;

    /// A confidential web client with every grant, the scopes `openid offline_access read` and
    /// the audience `https://api.example`, changed by `overrides`.
    pub fn client(overrides: Value) -> Client {
        let mut c = json!({
            "client_id": "app",
            "redirect_uris": ["https://app.example/cb"],
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
            "scope": "openid offline_access read",
            "audience": ["https://api.example"],
        });
        if let (Value::Object(c), Value::Object(o)) = (&mut c, overrides) {
            c.extend(o);
        }
        serde_json::from_value(c).expect("client")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::fixture::client;
    use super::*;

    #[test]
    fn a_grant_type_the_client_did_not_register_is_unauthorized_client() {
        for (registered, grant) in [
            (json!(["refresh_token"]), GrantType::AuthorizationCode),
            (json!(["authorization_code"]), GrantType::RefreshToken),
            (json!(["authorization_code"]), GrantType::ClientCredentials),
            (json!([]), GrantType::ClientCredentials),
        ] {
            let c = client(json!({ "grant_types": registered }));
            let e = allow_grant(&c, grant).expect_err("refused");
            assert_eq!(e.error, ErrorCode::UnauthorizedClient, "{grant:?}");
            assert_eq!(
                e.error_description.as_deref(),
                Some(
                    format!(
                        "The client is not allowed to use the {} grant.",
                        grant.as_str()
                    )
                    .as_str()
                )
            );
        }
        for grant in [
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::ClientCredentials,
        ] {
            assert_eq!(allow_grant(&client(json!({})), grant), Ok(()));
        }
    }
}
