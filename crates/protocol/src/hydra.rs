//! The bodies of Ory Hydra's admin API for the login and consent steps of the authorization
//! flow (`PUT /admin/oauth2/auth/requests/{login,consent}/{accept,reject}`), so that Hydra's
//! SDKs and existing login/consent apps work unchanged. Unknown fields are ignored, as Hydra does.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{ErrorCode, OAuthError};

/// The body of `PUT /admin/oauth2/auth/requests/login/accept`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AcceptLogin {
    pub subject: String,
    #[serde(default)]
    pub remember: bool,
    #[serde(default)]
    pub remember_for: i64,
    #[serde(default)]
    pub acr: Option<String>,
    #[serde(default)]
    pub amr: Vec<String>,
    #[serde(default)]
    pub context: Value,
    #[serde(default)]
    pub force_subject_identifier: Option<String>,
    #[serde(default)]
    pub extend_session_lifespan: bool,
}

/// The body of `PUT /admin/oauth2/auth/requests/consent/accept`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct AcceptConsent {
    #[serde(default)]
    pub grant_scope: Vec<String>,
    #[serde(default)]
    pub grant_access_token_audience: Vec<String>,
    #[serde(default)]
    pub remember: bool,
    #[serde(default)]
    pub remember_for: i64,
    #[serde(default)]
    pub session: ConsentSession,
}

/// The extra claims an accepted consent puts into the access token and the ID token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ConsentSession {
    #[serde(default)]
    pub access_token: Value,
    #[serde(default)]
    pub id_token: Value,
}

/// The body of a reject call (login, consent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Reject {
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_description: Option<String>,
    #[serde(default)]
    pub error_hint: Option<String>,
}

impl Reject {
    /// The error the client is sent back with: the `error` named, when it is one an
    /// authorization response may carry (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6), else
    /// `access_denied`; the description, else the hint, else a standard sentence.
    pub fn into_error(self) -> OAuthError {
        let code = match self.error.as_deref() {
            Some("login_required") => ErrorCode::LoginRequired,
            Some("consent_required") => ErrorCode::ConsentRequired,
            Some("interaction_required") => ErrorCode::InteractionRequired,
            Some("invalid_request") => ErrorCode::InvalidRequest,
            Some("invalid_scope") => ErrorCode::InvalidScope,
            Some("server_error") => ErrorCode::ServerError,
            Some("temporarily_unavailable") => ErrorCode::TemporarilyUnavailable,
            _ => ErrorCode::AccessDenied,
        };
        let desc = self
            .error_description
            .or(self.error_hint)
            .unwrap_or_else(|| {
                "The resource owner or authorization server denied the request.".into()
            });
        OAuthError::new(code, desc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_take_hydras_json_with_its_defaults() {
        let a: AcceptLogin = serde_json::from_value(json!({"subject": "alice", "unknown": 1}))
            .expect("accept login");
        assert_eq!(
            (a.subject.as_str(), a.remember, a.remember_for, a.context),
            ("alice", false, 0, Value::Null)
        );
        assert!(serde_json::from_value::<AcceptLogin>(json!({})).is_err());
        let c: AcceptConsent = serde_json::from_value(json!({
            "grant_scope": ["openid"], "session": {"id_token": {"email": "a@example.com"}}
        }))
        .expect("accept consent");
        assert_eq!(c.grant_scope, vec!["openid"]);
        assert_eq!(c.session.id_token, json!({"email": "a@example.com"}));
        assert_eq!(c.session.access_token, Value::Null);
    }

    #[test]
    fn a_rejection_becomes_an_authorization_error() {
        let reject = |error: Option<&str>, description: Option<&str>, hint: Option<&str>| {
            Reject {
                error: error.map(str::to_owned),
                error_description: description.map(str::to_owned),
                error_hint: hint.map(str::to_owned),
            }
            .into_error()
        };
        for (error, code) in [
            (Some("login_required"), ErrorCode::LoginRequired),
            (Some("consent_required"), ErrorCode::ConsentRequired),
            (Some("interaction_required"), ErrorCode::InteractionRequired),
            (Some("invalid_request"), ErrorCode::InvalidRequest),
            (Some("invalid_scope"), ErrorCode::InvalidScope),
            (Some("server_error"), ErrorCode::ServerError),
            (
                Some("temporarily_unavailable"),
                ErrorCode::TemporarilyUnavailable,
            ),
            (Some("access_denied"), ErrorCode::AccessDenied),
            // Not an authorization response's error: the client is told access_denied.
            (Some("invalid_client"), ErrorCode::AccessDenied),
            (Some("made_up"), ErrorCode::AccessDenied),
            (None, ErrorCode::AccessDenied),
        ] {
            assert_eq!(reject(error, None, None).error, code, "{error:?}");
        }
        let text = |e: OAuthError| e.error_description.unwrap_or_default();
        assert_eq!(text(reject(None, Some("d"), Some("h"))), "d");
        assert_eq!(text(reject(None, None, Some("h"))), "h");
        assert_eq!(
            text(reject(None, None, None)),
            "The resource owner or authorization server denied the request."
        );
    }
}
