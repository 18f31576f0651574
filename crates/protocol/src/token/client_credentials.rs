//! The client credentials grant (RFC 6749 §4.4, RFC 8707 §2.2): a client acting for itself gets
//! a grant of scopes and audiences it registered, and no refresh token.

use crate::client::{Client, GrantType};
use crate::error::{ErrorCode, OAuthError};
use crate::grant::GrantData;
use crate::scope::Scopes;
use crate::token::allow_grant;

/// The grant the client's access token is issued under, or why the request is refused.
pub fn grant(
    client: &Client,
    scope: Scopes,
    audience: Vec<String>,
    now: i64,
) -> Result<GrantData, OAuthError> {
    allow_grant(client, GrantType::ClientCredentials)?;
    if !scope.is_subset_of(&client.scopes()) {
        return Err(OAuthError::invalid_scope(
            "The client is not allowed to request one or more of the scopes.",
        ));
    }
    if let Some(a) = audience.iter().find(|a| !client.audience.contains(a)) {
        return Err(OAuthError::new(
            ErrorCode::InvalidTarget,
            format!("The client is not allowed to request the audience {a:?}."),
        ));
    }
    Ok(GrantData {
        scope: scope.0,
        audience,
        grant_type: "client_credentials".into(),
        requested_at: now,
        ..GrantData::default()
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ErrorCode::{InvalidScope, InvalidTarget, UnauthorizedClient};
    use crate::token::fixture::client;

    fn scopes(s: &str) -> Scopes {
        Scopes::parse(s).expect("scopes")
    }

    #[test]
    fn refusals() {
        let api = "https://api.example".to_owned();
        let cases = [
            (
                "grant not registered",
                client(json!({"grant_types": ["authorization_code"]})),
                scopes("read"),
                vec![],
                UnauthorizedClient,
            ),
            (
                "a scope the client may not have",
                client(json!({})),
                scopes("read admin"),
                vec![],
                InvalidScope,
            ),
            (
                "an audience the client may not have",
                client(json!({})),
                scopes("read"),
                vec![api.clone(), "https://other.example".into()],
                InvalidTarget,
            ),
            (
                "an audience, for a client with none",
                client(json!({"audience": []})),
                scopes(""),
                vec![api.clone()],
                InvalidTarget,
            ),
            (
                "the grant is checked before the scope",
                client(json!({"grant_types": ["refresh_token"]})),
                scopes("admin"),
                vec![],
                UnauthorizedClient,
            ),
            (
                "the scope is checked before the audience",
                client(json!({})),
                scopes("admin"),
                vec!["https://other.example".into()],
                InvalidScope,
            ),
        ];
        for (name, client, scope, audience, code) in cases {
            let e = grant(&client, scope, audience, 7).expect_err(name);
            assert_eq!(e.error, code, "{name}: {e}");
        }
    }

    #[test]
    fn an_allowed_request_is_granted_as_asked() {
        let g = grant(
            &client(json!({})),
            scopes("read"),
            vec!["https://api.example".into()],
            7,
        )
        .expect("granted");
        assert_eq!(
            g,
            GrantData {
                scope: vec!["read".into()],
                audience: vec!["https://api.example".into()],
                grant_type: "client_credentials".into(),
                requested_at: 7,
                ..GrantData::default()
            }
        );
    }
}
