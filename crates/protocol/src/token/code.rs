//! Redeeming an authorization code (RFC 6749 §4.1.3, RFC 7636 §4.6, RFC 9700 §2.1.1).
//!
//! Three checks, because the store claims the code between them:
//! 1. [`check_client`] before the claim: only the client the code was issued to may use it up
//!    (another client's attempt changes nothing);
//! 2. [`check_claimed`] after the store was asked to mark the code used: a code that was used
//!    already is [`Refused::Reused`], and the domain revokes what it issued; a revoked or
//!    expired one is refused;
//! 3. [`check_request`] with the grant the code carries: the token request repeats the
//!    `redirect_uri` of the authorization request when that one had it, and proves PKCE.
//!
//! A code that fails a later check has still been used up: it is never good twice.

use crate::client::Client;
use crate::error::OAuthError;
use crate::grant::GrantData;
use crate::pkce::CodeChallenge;
use crate::token::{Refused, StoredToken};

/// The one refusal of an unknown, used, expired, revoked or another client's code, so that the
/// answer does not tell which.
pub fn invalid() -> OAuthError {
    OAuthError::invalid_grant(
        "The authorization code is invalid, expired, revoked, or was issued to another client.",
    )
}

/// Step 1: the code was issued to `client`.
pub fn check_client(code: &StoredToken<'_>, client: &Client) -> Result<(), OAuthError> {
    if code.client_id != client.client_id {
        return Err(invalid());
    }
    Ok(())
}

/// Step 2: `claimed` says whether this request was the one to mark the code used.
pub fn check_claimed(code: &StoredToken<'_>, claimed: bool, now: i64) -> Result<(), Refused> {
    if !claimed {
        return Err(Refused::Reused(invalid()));
    }
    if code.revoked || code.expires_at <= now {
        return Err(Refused::Invalid(invalid()));
    }
    Ok(())
}

/// Step 3: the token request against the authorization request the code was issued for.
pub fn check_request(
    grant: &GrantData,
    redirect_uri: Option<&str>,
    code_verifier: Option<&str>,
) -> Result<(), OAuthError> {
    if let Some(expected) = &grant.redirect_uri {
        match redirect_uri {
            Some(r) if r == expected => {}
            Some(_) => {
                return Err(OAuthError::invalid_grant(
                    "The redirect_uri does not match the one used in the authorization request.",
                ));
            }
            None => {
                return Err(OAuthError::invalid_request(
                    "The redirect_uri parameter is required because it was sent in the authorization request.",
                ));
            }
        }
    }
    match (&grant.code_challenge, code_verifier) {
        (Some(challenge), Some(verifier)) => {
            if !CodeChallenge(challenge.clone()).verify(verifier) {
                return Err(OAuthError::invalid_grant(
                    "The PKCE code_verifier does not match the code_challenge.",
                ));
            }
        }
        (Some(_), None) => {
            return Err(OAuthError::invalid_request(
                "The code_verifier parameter is required (PKCE).",
            ));
        }
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "A code_verifier was sent but the authorization request had no code_challenge.",
            ));
        }
        (None, None) => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ErrorCode::{InvalidGrant, InvalidRequest};
    use crate::token::fixture::client;

    const NOW: i64 = 1_000_000;
    /// A verifier and its S256 challenge, computed independently (as in `pkce.rs`).
    const VERIFIER: &str = "dBjftJeZ4CVP-mA0vHZ8tRxmhNmsX0GbHq8n35Ds0Ic";
    const CHALLENGE: &str = "t2PzgwpGIAiq1EyA27txBw1d9FQAzP_RKgClcuWqpSA";
    const REDIRECT: &str = "https://app.example/cb";

    fn code() -> StoredToken<'static> {
        StoredToken {
            client_id: "app",
            revoked: false,
            expires_at: NOW + 60,
        }
    }

    fn grant(redirect_uri: Option<&str>, challenge: Option<&str>) -> GrantData {
        GrantData {
            scope: vec!["openid".into()],
            grant_type: "authorization_code".into(),
            redirect_uri: redirect_uri.map(str::to_owned),
            code_challenge: challenge.map(str::to_owned),
            ..GrantData::default()
        }
    }

    #[test]
    fn only_the_client_it_was_issued_to_may_redeem_a_code() {
        assert_eq!(check_client(&code(), &client(json!({}))), Ok(()));
        let other = client(json!({"client_id": "other"}));
        assert_eq!(check_client(&code(), &other), Err(invalid()));
        assert_eq!(invalid().error, InvalidGrant);
    }

    #[test]
    fn a_used_revoked_or_expired_code_is_refused() {
        let cases: [(&str, StoredToken<'_>, bool, Refused); 5] = [
            ("used before", code(), false, Refused::Reused(invalid())),
            (
                "used before, and revoked since",
                StoredToken {
                    revoked: true,
                    ..code()
                },
                false,
                Refused::Reused(invalid()),
            ),
            (
                "revoked",
                StoredToken {
                    revoked: true,
                    ..code()
                },
                true,
                Refused::Invalid(invalid()),
            ),
            (
                "expires now",
                StoredToken {
                    expires_at: NOW,
                    ..code()
                },
                true,
                Refused::Invalid(invalid()),
            ),
            (
                "expired",
                StoredToken {
                    expires_at: NOW - 1,
                    ..code()
                },
                true,
                Refused::Invalid(invalid()),
            ),
        ];
        for (name, stored, claimed, refused) in cases {
            let got = check_claimed(&stored, claimed, NOW).expect_err(name);
            assert_eq!(got.error().error, InvalidGrant, "{name}");
            assert_eq!(got, refused, "{name}");
        }
        assert_eq!(check_claimed(&code(), true, NOW), Ok(()));
    }

    #[test]
    fn the_token_request_must_match_the_authorization_request() {
        let other_verifier = "dBjftJeZ4CVP-mA0vHZ8tRxmhNmsX0GbHq8n35Ds0Id";
        let cases = [
            (
                "redirect_uri differs",
                grant(Some(REDIRECT), None),
                Some("https://app.example/other"),
                None,
                InvalidGrant,
            ),
            (
                "redirect_uri differs by a trailing slash",
                grant(Some(REDIRECT), None),
                Some("https://app.example/cb/"),
                None,
                InvalidGrant,
            ),
            (
                "redirect_uri missing although the authorization request sent one",
                grant(Some(REDIRECT), None),
                None,
                None,
                InvalidRequest,
            ),
            (
                "code_verifier missing",
                grant(None, Some(CHALLENGE)),
                None,
                None,
                InvalidRequest,
            ),
            (
                "code_verifier wrong",
                grant(None, Some(CHALLENGE)),
                None,
                Some(other_verifier),
                InvalidGrant,
            ),
            (
                "code_verifier too short",
                grant(None, Some(CHALLENGE)),
                None,
                Some("short"),
                InvalidGrant,
            ),
            (
                "code_verifier is the challenge (plain)",
                grant(None, Some(CHALLENGE)),
                None,
                Some(CHALLENGE),
                InvalidGrant,
            ),
            (
                "code_verifier without a code_challenge",
                grant(None, None),
                None,
                Some(VERIFIER),
                InvalidGrant,
            ),
            (
                "redirect_uri is checked before PKCE",
                grant(Some(REDIRECT), Some(CHALLENGE)),
                Some("https://app.example/other"),
                None,
                InvalidGrant,
            ),
        ];
        for (name, grant, redirect_uri, verifier, code) in cases {
            let e = check_request(&grant, redirect_uri, verifier).expect_err(name);
            assert_eq!(e.error, code, "{name}: {e}");
        }
    }

    #[test]
    fn a_matching_token_request_redeems_the_code() {
        for (grant, redirect_uri, verifier) in [
            (grant(None, None), None, None),
            // Not sent in the authorization request: the token request may still send it.
            (grant(None, None), Some(REDIRECT), None),
            (grant(Some(REDIRECT), None), Some(REDIRECT), None),
            (
                grant(Some(REDIRECT), Some(CHALLENGE)),
                Some(REDIRECT),
                Some(VERIFIER),
            ),
        ] {
            assert_eq!(check_request(&grant, redirect_uri, verifier), Ok(()));
        }
    }
}
