//! `GET /ui/welcome` (and `/ui/`): "You are signed in as …" with links to settings and logout,
//! or a redirect to the login page when the browser has no session.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;

use super::headers::{FormAction, see_other};
use super::{browser_session, context, internal, page};
use crate::web::AppState;

pub async fn welcome(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let session = match browser_session(&s, &headers).await {
        Ok(Some(session)) => session,
        Ok(None) => return see_other(&format!("{}/ui/login", s.config.issuer())),
        Err(e) => return internal(&s, &e),
    };
    let ctx = context(
        &s,
        "Welcome",
        json!({ "account": account_name(&session.identity) }),
    );
    page(
        &s,
        StatusCode::OK,
        "welcome.html",
        ctx,
        &FormAction::new(&s.config),
    )
}

/// How the pages name an identity: its e-mail, else its id.
pub fn account_name(identity: &crate::identity::Identity) -> String {
    identity
        .email()
        .map(str::to_owned)
        .or_else(|| {
            identity
                .traits
                .get("email")
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| identity.id.clone())
}
