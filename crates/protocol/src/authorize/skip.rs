//! Whether the login and consent steps of the authorization flow may be skipped, and what
//! `prompt=none` answers when they may not (OIDC Core §3.1.2.1, §3.1.2.6).
//!
//! Login is skipped for a login session of the browser unless the request asks `prompt=login`
//! or the session is older than `max_age`. Consent is skipped when the client is first-party
//! (`skip_consent`), or when a remembered consent covers every requested scope and audience and
//! the request does not ask `prompt=consent`.

use super::{AuthorizeRequest, Prompt};
use crate::client::Client;
use crate::error::{ErrorCode, OAuthError};

/// Whether a login session authenticated at `authenticated_at` may be used for `req`.
pub fn session_reusable(req: &AuthorizeRequest, authenticated_at: i64, now: i64) -> bool {
    let too_old = req.max_age.is_some_and(|m| now - authenticated_at > m);
    !req.prompt.contains(&Prompt::Login) && !too_old
}

/// `login_required` when `req` asks `prompt=none` and there is no session it may use.
pub fn check_login(req: &AuthorizeRequest, session_reusable: bool) -> Result<(), OAuthError> {
    if req.prompt.contains(&Prompt::None) && !session_reusable {
        return Err(OAuthError::new(
            ErrorCode::LoginRequired,
            "The user is not logged in and prompt=none was requested.",
        ));
    }
    Ok(())
}

/// A consent the user gave the client before, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RememberedConsent<'a> {
    /// Whether the user asked to be remembered.
    pub remember: bool,
    /// When it lapses; `None` for never.
    pub expires_at: Option<i64>,
    pub grant_scope: &'a [String],
    pub grant_audience: &'a [String],
}

/// Whether `consent` is still good and covers every scope and audience of `req`.
pub fn consent_covers(consent: &RememberedConsent<'_>, req: &AuthorizeRequest, now: i64) -> bool {
    consent.remember
        && consent.expires_at.is_none_or(|e| e > now)
        && req
            .scope
            .iter()
            .all(|s| consent.grant_scope.iter().any(|g| g == s))
        && req
            .audience
            .iter()
            .all(|a| consent.grant_audience.contains(a))
}

/// Whether the consent step may be skipped: the client skips consent, or a remembered consent
/// covers the request ([`consent_covers`]) and it does not ask `prompt=consent`.
pub fn consent_skippable(req: &AuthorizeRequest, client: &Client, covered: bool) -> bool {
    client.skip_consent || (covered && !req.prompt.contains(&Prompt::Consent))
}

/// `consent_required` when `req` asks `prompt=none` and the consent step may not be skipped.
pub fn check_consent(req: &AuthorizeRequest, consent_skippable: bool) -> Result<(), OAuthError> {
    if req.prompt.contains(&Prompt::None) && !consent_skippable {
        return Err(OAuthError::new(
            ErrorCode::ConsentRequired,
            "Consent is required and prompt=none was requested.",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scope::Scopes;

    const NOW: i64 = 1_000_000;

    fn request(prompt: &[Prompt], max_age: Option<i64>) -> AuthorizeRequest {
        AuthorizeRequest {
            client_id: "app".into(),
            redirect_uri: "https://app.example/cb".into(),
            redirect_uri_sent: false,
            response_mode: super::super::ResponseMode::Query,
            scope: Scopes::parse("openid email").expect("scope"),
            state: None,
            nonce: None,
            code_challenge: None,
            prompt: prompt.to_vec(),
            max_age,
            audience: vec!["https://api.example".into()],
            login_hint: None,
            id_token_hint: None,
            acr_values: vec![],
            ui_locales: vec![],
            display: None,
        }
    }

    fn client(skip_consent: bool) -> Client {
        serde_json::from_value(json!({"client_id": "app", "skip_consent": skip_consent}))
            .expect("client")
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_session_is_reused_unless_prompt_login_or_older_than_max_age() {
        for (name, req, authenticated_at, reusable) in [
            ("no prompt", request(&[], None), NOW - 86_400, true),
            ("prompt=login", request(&[Prompt::Login], None), NOW, false),
            (
                "older than max_age",
                request(&[], Some(60)),
                NOW - 61,
                false,
            ),
            (
                "exactly max_age old",
                request(&[], Some(60)),
                NOW - 60,
                true,
            ),
            (
                "max_age=0, a second old",
                request(&[], Some(0)),
                NOW - 1,
                false,
            ),
            ("max_age=0, this second", request(&[], Some(0)), NOW, true),
            (
                "prompt=consent",
                request(&[Prompt::Consent], None),
                NOW,
                true,
            ),
        ] {
            assert_eq!(
                session_reusable(&req, authenticated_at, NOW),
                reusable,
                "{name}"
            );
        }
    }

    #[test]
    fn prompt_none_without_a_session_is_login_required() {
        let e = check_login(&request(&[Prompt::None], None), false).expect_err("refused");
        assert_eq!(e.error, ErrorCode::LoginRequired);
        assert_eq!(check_login(&request(&[Prompt::None], None), true), Ok(()));
        assert_eq!(check_login(&request(&[], None), false), Ok(()));
    }

    #[test]
    fn a_remembered_consent_covers_what_it_granted_until_it_lapses() {
        let scope = strings(&["openid", "email", "profile"]);
        let audience = strings(&["https://api.example"]);
        let good = RememberedConsent {
            remember: true,
            expires_at: None,
            grant_scope: &scope,
            grant_audience: &audience,
        };
        let req = request(&[], None);
        assert!(consent_covers(&good, &req, NOW));
        assert!(consent_covers(
            &RememberedConsent {
                expires_at: Some(NOW + 1),
                ..good
            },
            &req,
            NOW
        ));
        let fewer_scopes = strings(&["openid"]);
        let no_audience: Vec<String> = vec![];
        for (name, consent) in [
            (
                "not remembered",
                RememberedConsent {
                    remember: false,
                    ..good
                },
            ),
            (
                "lapsed now",
                RememberedConsent {
                    expires_at: Some(NOW),
                    ..good
                },
            ),
            (
                "lapsed",
                RememberedConsent {
                    expires_at: Some(NOW - 1),
                    ..good
                },
            ),
            (
                "a scope not granted",
                RememberedConsent {
                    grant_scope: &fewer_scopes,
                    ..good
                },
            ),
            (
                "an audience not granted",
                RememberedConsent {
                    grant_audience: &no_audience,
                    ..good
                },
            ),
        ] {
            assert!(!consent_covers(&consent, &req, NOW), "{name}");
        }
    }

    #[test]
    fn consent_is_skipped_for_first_party_clients_or_a_covering_consent_without_prompt_consent() {
        let consent = request(&[Prompt::Consent], None);
        let plain = request(&[], None);
        for (name, req, client, covered, skippable) in [
            ("skip_consent", &plain, client(true), false, true),
            (
                "skip_consent, prompt=consent",
                &consent,
                client(true),
                false,
                true,
            ),
            ("covered", &plain, client(false), true, true),
            (
                "covered, prompt=consent",
                &consent,
                client(false),
                true,
                false,
            ),
            ("not covered", &plain, client(false), false, false),
        ] {
            assert_eq!(
                consent_skippable(req, &client, covered),
                skippable,
                "{name}"
            );
        }
    }

    #[test]
    fn prompt_none_without_a_skippable_consent_is_consent_required() {
        let e = check_consent(&request(&[Prompt::None], None), false).expect_err("refused");
        assert_eq!(e.error, ErrorCode::ConsentRequired);
        assert_eq!(check_consent(&request(&[Prompt::None], None), true), Ok(()));
        assert_eq!(check_consent(&request(&[], None), false), Ok(()));
    }
}
