//! `SignedIn`: the extractor for pages that need the browser's session. A browser without a
//! live session is sent to the login flow and back to the page it asked for; a session that
//! does not meet `session.whoami.required_aal` to the login flow for the second factor.
//!
//! The page's own POSTs go to the page's URL (`action` says what to do), so the request path is
//! always the right place to come back to.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::Response;

use super::headers::see_other;
use super::internal;
use crate::clock::now;
use crate::sessions::{ActiveSession, SessionError};
use crate::web::AppState;
use crate::web::sessions::session_token;

pub struct SignedIn(pub Arc<ActiveSession>);

/// The login flow, asking for `extra` (`aal=aal2&`) and returning to `path` on the issuer.
fn login(s: &AppState, extra: &str, path: &str) -> Response {
    let issuer = s.config.issuer();
    let back: String =
        url::form_urlencoded::byte_serialize(format!("{issuer}{path}").as_bytes()).collect();
    see_other(&format!(
        "{issuer}/self-service/login/browser?{extra}return_to={back}"
    ))
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        let token = session_token(s, &parts.headers);
        match s.sessions.whoami(token.as_deref(), now()).await {
            Ok(Ok(session)) => Ok(SignedIn(session)),
            Ok(Err(SessionError::Inactive)) => Err(login(s, "", parts.uri.path())),
            Ok(Err(SessionError::Aal2Required)) => Err(login(s, "aal=aal2&", parts.uri.path())),
            Err(e) => Err(internal(s, &e)),
        }
    }
}
