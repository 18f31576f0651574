//! Refreshing (RFC 6749 §6, RFC 9700 §4.14.2): refresh tokens rotate on every use, and a token
//! rotated away from that comes back is a sign that it leaked.
//!
//! Three checks around the store's claim of the token:
//! 1. [`check_token`] before the claim: issued to this client, not revoked, not expired;
//! 2. [`check_rotation`] once the store said whether this request rotated the token: a token
//!    used before is [`Refused::Reused`] (the domain revokes the whole grant) unless it was used
//!    within the rotation grace period, which lets a client retry a refresh whose answer it lost;
//! 3. [`rotate`]: the grants of the new access and refresh tokens, narrowed to a requested
//!    `scope` that may not exceed the one granted.

use crate::client::Client;
use crate::error::OAuthError;
use crate::grant::GrantData;
use crate::scope::Scopes;
use crate::token::{Refused, StoredToken};

/// The one refusal of an unknown, used, expired, revoked or another client's refresh token.
pub fn invalid() -> OAuthError {
    OAuthError::invalid_grant(
        "The refresh token is invalid, expired, revoked, or was issued to another client.",
    )
}

/// Step 1: the refresh token was issued to `client` and is still good.
pub fn check_token(token: &StoredToken<'_>, client: &Client, now: i64) -> Result<(), OAuthError> {
    if token.client_id != client.client_id || token.revoked || token.expires_at <= now {
        return Err(invalid());
    }
    Ok(())
}

/// Which use of a refresh token this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// This request rotated the token.
    First,
    /// The token was rotated `grace_period` seconds ago or less: a client's retry, answered
    /// with new tokens again.
    WithinGrace,
}

/// Step 2: `previous_use` is `None` when this request was the one to mark the token used, else
/// when it was used. `grace_period` in seconds; 0 allows no second use.
pub fn check_rotation(
    previous_use: Option<i64>,
    grace_period: i64,
    now: i64,
) -> Result<Rotation, Refused> {
    match previous_use {
        None => Ok(Rotation::First),
        Some(used_at) if grace_period == 0 || now - used_at > grace_period => {
            Err(Refused::Reused(invalid()))
        }
        Some(_) => Ok(Rotation::WithinGrace),
    }
}

/// The grants a refresh issues tokens under.
#[derive(Debug, Clone, PartialEq)]
pub struct Rotated {
    /// For the access token (and ID token): the requested scope, else the granted one.
    pub access: GrantData,
    /// For the next refresh token: always the scope originally granted, so that narrowing one
    /// access token does not narrow the grant.
    pub refresh: GrantData,
}

/// Step 3: the stored grant, narrowed to `scope` when one was requested. A refresh never
/// carries the authorization request's `nonce` (OIDC Core §12.2).
pub fn rotate(stored: GrantData, scope: Option<Scopes>) -> Result<Rotated, OAuthError> {
    let mut refresh = stored;
    refresh.nonce = None;
    let mut access = refresh.clone();
    if let Some(narrow) = scope {
        if !narrow.is_subset_of(&Scopes(refresh.scope.clone())) {
            return Err(OAuthError::invalid_scope(
                "The requested scope exceeds the scope originally granted.",
            ));
        }
        if !narrow.is_empty() {
            access.scope = narrow.0;
        }
    }
    Ok(Rotated { access, refresh })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ErrorCode::{InvalidGrant, InvalidScope};
    use crate::token::fixture::client;

    const NOW: i64 = 1_000_000;

    fn token() -> StoredToken<'static> {
        StoredToken {
            client_id: "app",
            revoked: false,
            expires_at: NOW + 60,
        }
    }

    fn granted(scope: &[&str]) -> GrantData {
        GrantData {
            scope: scope.iter().map(|s| (*s).to_owned()).collect(),
            grant_type: "authorization_code".into(),
            nonce: Some("n-1".into()),
            ..GrantData::default()
        }
    }

    fn scopes(s: &str) -> Option<Scopes> {
        Some(Scopes::parse(s).expect("scopes"))
    }

    #[test]
    fn another_clients_revoked_or_expired_refresh_token_is_refused() {
        let app = client(json!({}));
        let other = client(json!({"client_id": "other"}));
        for (name, stored, client) in [
            ("another client's", token(), &other),
            (
                "revoked",
                StoredToken {
                    revoked: true,
                    ..token()
                },
                &app,
            ),
            (
                "expires now",
                StoredToken {
                    expires_at: NOW,
                    ..token()
                },
                &app,
            ),
            (
                "expired",
                StoredToken {
                    expires_at: NOW - 1,
                    ..token()
                },
                &app,
            ),
        ] {
            let e = check_token(&stored, client, NOW).expect_err(name);
            assert_eq!(e, invalid(), "{name}");
            assert_eq!(e.error, InvalidGrant, "{name}");
        }
        assert_eq!(check_token(&token(), &app, NOW), Ok(()));
    }

    #[test]
    fn a_second_use_outside_the_grace_period_is_reuse() {
        for (name, previous_use, grace) in [
            ("no grace period", Some(NOW), 0),
            ("no grace period, long ago", Some(NOW - 3600), 0),
            ("just outside the grace period", Some(NOW - 31), 30),
            ("long outside the grace period", Some(NOW - 3600), 30),
        ] {
            let refused = check_rotation(previous_use, grace, NOW).expect_err(name);
            assert_eq!(refused, Refused::Reused(invalid()), "{name}");
            assert_eq!(refused.error().error, InvalidGrant, "{name}");
        }
        assert_eq!(check_rotation(None, 0, NOW), Ok(Rotation::First));
        assert_eq!(check_rotation(None, 30, NOW), Ok(Rotation::First));
        assert_eq!(
            check_rotation(Some(NOW - 30), 30, NOW),
            Ok(Rotation::WithinGrace)
        );
        assert_eq!(
            check_rotation(Some(NOW), 30, NOW),
            Ok(Rotation::WithinGrace)
        );
    }

    #[test]
    fn a_requested_scope_may_narrow_but_never_widen() {
        for (name, requested) in [
            ("a scope never granted", "admin"),
            (
                "the granted scope and one more",
                "openid offline_access admin",
            ),
        ] {
            let e =
                rotate(granted(&["openid", "offline_access"]), scopes(requested)).expect_err(name);
            assert_eq!(e.error, InvalidScope, "{name}");
            assert_eq!(
                e.error_description.as_deref(),
                Some("The requested scope exceeds the scope originally granted.")
            );
        }
    }

    #[test]
    fn the_access_token_gets_the_narrowed_scope_and_the_next_refresh_token_the_granted_one() {
        let r = rotate(granted(&["openid", "offline_access"]), scopes("openid")).expect("ok");
        assert_eq!(r.access.scope, vec!["openid"]);
        assert_eq!(r.refresh.scope, vec!["openid", "offline_access"]);
        assert_eq!((r.access.nonce, r.refresh.nonce), (None, None));
        for requested in [None, scopes("")] {
            let r = rotate(granted(&["openid", "offline_access"]), requested).expect("ok");
            assert_eq!(r.access.scope, vec!["openid", "offline_access"]);
            assert_eq!(r.access, r.refresh);
        }
    }
}
