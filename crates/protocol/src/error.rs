//! OAuth 2.0 errors (RFC 6749 §4.1.2.1 and §5.2, RFC 6750 §3.1, RFC 7009, RFC 8628).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    AccessDenied,
    UnsupportedResponseType,
    ServerError,
    TemporarilyUnavailable,
    InvalidToken,
    InsufficientScope,
    UnsupportedTokenType,
    LoginRequired,
    ConsentRequired,
    InteractionRequired,
    InvalidTarget,
    InvalidRedirectUri,
    InvalidClientMetadata,
    RequestNotSupported,
    RequestUriNotSupported,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::UnsupportedTokenType => "unsupported_token_type",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::ConsentRequired => "consent_required",
            ErrorCode::InteractionRequired => "interaction_required",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::InvalidRedirectUri => "invalid_redirect_uri",
            ErrorCode::InvalidClientMetadata => "invalid_client_metadata",
            ErrorCode::RequestNotSupported => "request_not_supported",
            ErrorCode::RequestUriNotSupported => "request_uri_not_supported",
        }
    }

    /// The HTTP status the token endpoint (and friends) answer with for this error.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidClient | ErrorCode::InvalidToken => 401,
            ErrorCode::InsufficientScope => 403,
            ErrorCode::ServerError => 500,
            ErrorCode::TemporarilyUnavailable => 503,
            _ => 400,
        }
    }
}

/// An error with a human-readable description (never containing secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OAuthError {
    pub error: ErrorCode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

impl OAuthError {
    pub fn new(error: ErrorCode, description: impl Into<String>) -> OAuthError {
        OAuthError {
            error,
            error_description: Some(description.into()),
        }
    }

    pub fn invalid_request(d: impl Into<String>) -> OAuthError {
        OAuthError::new(ErrorCode::InvalidRequest, d)
    }

    pub fn invalid_client(d: impl Into<String>) -> OAuthError {
        OAuthError::new(ErrorCode::InvalidClient, d)
    }

    pub fn invalid_grant(d: impl Into<String>) -> OAuthError {
        OAuthError::new(ErrorCode::InvalidGrant, d)
    }

    pub fn invalid_scope(d: impl Into<String>) -> OAuthError {
        OAuthError::new(ErrorCode::InvalidScope, d)
    }

    pub fn server_error() -> OAuthError {
        OAuthError::new(
            ErrorCode::ServerError,
            "The server failed to handle the request.",
        )
    }

    /// The `WWW-Authenticate` challenge of a 401: `Basic` for a client that failed to
    /// authenticate (RFC 6749 §5.2), `Bearer` for a bad access token (RFC 6750 §3), each with
    /// `error` and `error_description` so that clients reading the challenge learn why. The
    /// description keeps only the characters RFC 6750 allows in it (no `"` or `\`).
    pub fn www_authenticate(&self, realm: &str) -> Option<String> {
        let scheme = match self.error {
            ErrorCode::InvalidClient => "Basic",
            ErrorCode::InvalidToken => "Bearer",
            _ => return None,
        };
        let clean = |s: &str| -> String {
            s.chars()
                .filter(|c| matches!(*c as u32, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E))
                .collect()
        };
        let mut c = format!(
            "{scheme} realm=\"{}\", error=\"{}\"",
            clean(realm),
            self.error.as_str()
        );
        if let Some(d) = &self.error_description {
            c.push_str(&format!(", error_description=\"{}\"", clean(d)));
        }
        Some(c)
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.error.as_str())?;
        if let Some(d) = &self.error_description {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for OAuthError {}

#[cfg(test)]
mod challenge_tests {
    use super::*;

    #[test]
    fn invalid_client_challenge_names_the_error() {
        let e = OAuthError::invalid_client("Client authentication failed (\"x\" \\ é).");
        assert_eq!(
            e.www_authenticate("gatehouse").as_deref(),
            Some(
                "Basic realm=\"gatehouse\", error=\"invalid_client\", error_description=\"Client authentication failed (x  ).\""
            )
        );
    }

    #[test]
    fn bearer_challenge_for_invalid_token_and_none_for_others() {
        let e = OAuthError {
            error: ErrorCode::InvalidToken,
            error_description: None,
        };
        assert_eq!(
            e.www_authenticate("r").as_deref(),
            Some("Bearer realm=\"r\", error=\"invalid_token\"")
        );
        assert_eq!(OAuthError::invalid_grant("no").www_authenticate("r"), None);
    }
}
