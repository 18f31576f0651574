//! The built-in logout app (Hydra's model), used when `urls.logout` is not set: RP-initiated
//! logout sends the browser to `GET /ui/logout?logout_challenge=`, which asks "Sign out of
//! <issuer>?" and names the client that asked; `POST /ui/logout` with the challenge
//! (CSRF-checked like the pages' other forms) accepts the logout request — the browser goes on
//! to `logout_verifier`, which ends the sessions, notifies the clients and leads to the
//! `post_logout_redirect_uri` — or, on Cancel, rejects it: the session stays, and the browser
//! goes back to the `post_logout_redirect_uri` (with `state`) or to the welcome page.
//!
//! The provider acts on a challenge only in the browser whose login session it would end
//! ([`crate::oauth2::Provider::browser_logout_request`]); whether to ask at all is its decision
//! too (an `id_token_hint` of the current session skips this page).
//!
//! The form POSTs to our origin and its 303s may end at the client's post-logout URI, so the
//! page's `form-action` lists that URI's origin.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;

use super::headers::{FormAction, see_other};
use super::welcome::account_name;
use super::{context, csrf, error_page, internal, page};
use crate::clock::now;
use crate::error::Error;
use crate::oauth2::logout::BrowserLogoutRequest;
use crate::web::AppState;
use crate::web::extract::cookies;

/// The logout request, or the page to show instead.
async fn load(
    s: &AppState,
    headers: &HeaderMap,
    challenge: &str,
) -> Result<BrowserLogoutRequest, Response> {
    match s
        .provider
        .browser_logout_request(challenge, &cookies(headers), now())
        .await
    {
        Ok(req) => Ok(req),
        Err(e) => Err(refused(s, &e)),
    }
}

/// The page for a request the browser may not (or no longer) act on.
fn refused(s: &AppState, e: &Error) -> Response {
    match e {
        Error::Forbidden(reason) => error_page(
            s,
            StatusCode::FORBIDDEN,
            "This sign-out request is not for this browser",
            reason,
        ),
        Error::Gone(_) => error_page(
            s,
            StatusCode::GONE,
            "This request was answered already",
            "The sign-out request was answered already. Go back to the application and start again.",
        ),
        Error::NotFound(_) | Error::BadRequest(_) => error_page(
            s,
            StatusCode::NOT_FOUND,
            "This request has expired",
            "The sign-out request is invalid or has expired. Go back to the application and start again.",
        ),
        e => internal(s, e),
    }
}

fn form_action(s: &AppState, req: &BrowserLogoutRequest) -> FormAction {
    let mut f = FormAction::new(&s.config);
    if let Some(u) = &req.post_logout_redirect_uri {
        f.allow(u);
    }
    if let Some(u) = &s.config.urls.post_logout_redirect {
        f.allow(u);
    }
    f
}

/// How the page names the issuer: its host (and port), e.g. `auth.example.com`.
fn issuer_name(issuer: &str) -> String {
    url::Url::parse(issuer)
        .ok()
        .and_then(|u| {
            let host = u.host_str()?.to_owned();
            Some(match u.port() {
                Some(p) => format!("{host}:{p}"),
                None => host,
            })
        })
        .unwrap_or_else(|| issuer.to_owned())
}

/// `GET /ui/logout?logout_challenge=`: the confirmation page.
pub async fn show(s: &AppState, headers: &HeaderMap, challenge: &str) -> Response {
    let req = match load(s, headers, challenge).await {
        Ok(req) => req,
        Err(page) => return page,
    };
    // The account, when the subject is a Gatehouse identity (a logout app's login app may use
    // subjects of its own).
    let account = match &req.subject {
        Some(sub) => match s.identities.get(sub).await {
            Ok(identity) => Some(account_name(&identity)),
            Err(Error::NotFound(_)) => None,
            Err(e) => return internal(s, &e),
        },
        None => None,
    };
    let client_name = req.client.as_ref().map(|c| {
        if c.client_name.trim().is_empty() {
            c.client_id.clone()
        } else {
            c.client_name.clone()
        }
    });
    let site = issuer_name(&s.config.issuer());
    let (token, cookie) = csrf::token(s, headers);
    let ctx = context(
        s,
        &format!("Sign out of {site}?"),
        json!({
            "site": site,
            "client_name": client_name,
            "account": account,
            "challenge": challenge,
            "csrf_token": token,
        }),
    );
    let mut resp = page(
        s,
        StatusCode::OK,
        "logout_request.html",
        ctx,
        &form_action(s, &req),
    );
    csrf::set(&mut resp, cookie);
    resp
}

/// `POST /ui/logout` with `logout_challenge` (the CSRF token checked already): Sign out
/// (`action=accept`) or Cancel (`action=cancel`).
pub async fn decide(
    s: &AppState,
    headers: &HeaderMap,
    challenge: &str,
    action: Option<&str>,
) -> Response {
    let cookies = cookies(headers);
    match action {
        Some("accept") => match s
            .provider
            .browser_accept_logout(challenge, &cookies, now())
            .await
        {
            Ok(to) => see_other(&to),
            Err(e) => refused(s, &e),
        },
        Some("cancel") => match s
            .provider
            .browser_reject_logout(challenge, &cookies, now())
            .await
        {
            Ok(Some(to)) => see_other(&to),
            Ok(None) => see_other(&format!("{}/ui/welcome", s.config.issuer())),
            Err(e) => refused(s, &e),
        },
        _ => error_page(
            s,
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "Choose Sign out or Cancel.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::issuer_name;

    #[test]
    fn issuer_is_named_by_host_and_port() {
        assert_eq!(issuer_name("https://auth.example.com"), "auth.example.com");
        assert_eq!(issuer_name("http://localhost:4444"), "localhost:4444");
        assert_eq!(issuer_name("not a url"), "not a url");
    }
}
