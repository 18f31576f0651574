//! `GET /ui/logout` asks "Sign out?"; `POST /ui/logout` (CSRF-checked) ends the browser's
//! session, clears the session cookie and sends the browser to `return_to` when it is allowed
//! (issuer origin or `selfservice.allowed_return_urls`), else to the login page.
//!
//! With a `logout_challenge` (RP-initiated logout, no `urls.logout` configured) the same path is
//! the built-in logout app instead: [`super::logout_request`].

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::json;

use super::headers::{FormAction, see_other};
use super::logout_request;
use super::welcome::account_name;
use super::{allowed_return_to, browser_session, context, csrf, error_page, internal, page, param};
use crate::config::SameSite;
use crate::web::AppState;
use crate::web::error::ApiError;
use crate::web::extract::{FormPairs, QueryPairs};

fn form_action(s: &AppState) -> FormAction {
    let mut f = FormAction::new(&s.config);
    f.allow_return_urls(&s.config);
    f
}

pub async fn confirm(
    State(s): State<AppState>,
    headers: HeaderMap,
    q: Result<QueryPairs, ApiError>,
) -> Response {
    let q = q.map(|QueryPairs(q)| q).unwrap_or_default();
    if let Some(challenge) = param(&q, "logout_challenge") {
        return logout_request::show(&s, &headers, challenge).await;
    }
    let session = match browser_session(&s, &headers).await {
        Ok(Some(session)) => session,
        Ok(None) => return see_other(&format!("{}/ui/login", s.config.issuer())),
        Err(e) => return internal(&s, &e),
    };
    let (token, cookie) = csrf::token(&s, &headers);
    let return_to = param(&q, "return_to").and_then(|r| allowed_return_to(&s.config, r));
    let ctx = context(
        &s,
        "Sign out?",
        json!({
            "account": account_name(&session.identity),
            "csrf_token": token,
            "return_to": return_to,
        }),
    );
    let mut resp = page(&s, StatusCode::OK, "logout.html", ctx, &form_action(&s));
    csrf::set(&mut resp, cookie);
    resp
}

pub async fn logout(
    State(s): State<AppState>,
    headers: HeaderMap,
    form: Result<FormPairs, ApiError>,
) -> Response {
    let form = form.map(|FormPairs(f)| f).unwrap_or_default();
    if !csrf::check(&s, &headers, param(&form, csrf::FIELD)) {
        return error_page(
            &s,
            StatusCode::FORBIDDEN,
            "Please try again",
            "The form expired or was not sent from this site. Go back, reload the page and try again.",
        );
    }
    if let Some(challenge) = param(&form, "logout_challenge") {
        return logout_request::decide(&s, &headers, challenge, param(&form, "action")).await;
    }
    match browser_session(&s, &headers).await {
        Ok(Some(session)) => {
            if let Err(e) = s.sessions.logout(&session, None, crate::clock::now()).await {
                return internal(&s, &e);
            }
        }
        Ok(None) => {}
        Err(e) => return internal(&s, &e),
    }
    let to = param(&form, "return_to")
        .and_then(|r| allowed_return_to(&s.config, r))
        .unwrap_or_else(|| format!("{}/ui/login", s.config.issuer()));
    let mut resp = see_other(&to);
    if let Some(c) = clear_session_cookie(&s) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

/// Expires the session cookie with the attributes it was set with (`session.cookie`).
pub fn clear_session_cookie(s: &AppState) -> Option<HeaderValue> {
    let c = &s.config.session.cookie;
    let mut v = format!(
        "{}=; Path={}; Max-Age=0; HttpOnly; SameSite={}",
        c.name, c.path, c.same_site
    );
    if let Some(d) = &c.domain {
        v.push_str(&format!("; Domain={d}"));
    }
    if c.secure.unwrap_or_else(|| s.config.cookies_secure()) || c.same_site == SameSite::None {
        v.push_str("; Secure");
    }
    HeaderValue::from_str(&v).ok()
}
