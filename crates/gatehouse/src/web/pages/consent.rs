//! The OAuth consent page (Hydra's model): `GET /ui/consent?consent_challenge=` shows what the
//! client asks for; `POST /ui/consent` (CSRF-checked) accepts or rejects the consent request and
//! sends the browser on to `redirect_to`. Both require the browser's Gatehouse session to be the
//! request's subject, and the browser to be the one that started the authorization request
//! (its CSRF cookie for that request): a challenge planted in another browser is refused. A
//! request Hydra marks `skip` is accepted at once. A handled challenge is answered with an
//! error page, never with its verifier.
//!
//! The form POSTs to our origin and is answered with a 303 that ends at the client's
//! `redirect_uri`, so the page's `form-action` lists the client's redirect URIs' origins.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use gatehouse_protocol::hydra::{AcceptConsent, ConsentSession, Reject};
use serde_json::{Value, json};

use super::headers::{FormAction, see_other};
use super::welcome::account_name;
use super::{browser_session, context, csrf, error_page, internal, page, param};
use crate::clock::now;
use crate::error::Error;
use crate::identity::Identity;
use crate::web::AppState;
use crate::web::error::ApiError;
use crate::web::extract::{FormPairs, QueryPairs};

/// Plain-language explanations of the standard scopes.
fn explain(scope: &str) -> Option<&'static str> {
    Some(match scope {
        "openid" => "Sign you in with your Gatehouse account",
        "profile" => "Your name",
        "email" => "Your e-mail address and whether it is verified",
        "address" => "Your postal address",
        "phone" => "Your phone number and whether it is verified",
        "offline_access" => "Stay connected when you are not using the app",
        _ => return None,
    })
}

/// The consent request, or the page to show instead.
async fn load(
    s: &AppState,
    headers: &HeaderMap,
    challenge: Option<&str>,
) -> Result<(Value, std::sync::Arc<crate::sessions::ActiveSession>), Response> {
    let Some(challenge) = challenge else {
        return Err(error_page(
            s,
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "The consent_challenge parameter is missing.",
        ));
    };
    let session = match browser_session(s, headers).await {
        Ok(Some(session)) => session,
        Ok(None) => {
            return Err(error_page(
                s,
                StatusCode::UNAUTHORIZED,
                "You are not signed in",
                "Sign in first, then go back to the application and start again.",
            ));
        }
        Err(e) => return Err(internal(s, &e)),
    };
    let cookies = crate::web::extract::cookies(headers);
    let req = match s
        .provider
        .browser_consent_request(challenge, &cookies, now())
        .await
    {
        Ok(v) => v,
        Err(Error::Forbidden(reason)) => {
            return Err(error_page(
                s,
                StatusCode::FORBIDDEN,
                "This request was started in another browser",
                &reason,
            ));
        }
        // A rejection is answered again with its redirect to the client (no secret in it).
        Err(Error::Gone(to)) if !to.is_empty() => return Err(see_other(&to)),
        Err(Error::Gone(_)) => {
            return Err(error_page(
                s,
                StatusCode::GONE,
                "This request was answered already",
                "The authorization request was answered already. Go back to the application and start again.",
            ));
        }
        Err(Error::NotFound(_) | Error::BadRequest(_)) => {
            return Err(error_page(
                s,
                StatusCode::NOT_FOUND,
                "This request has expired",
                "The authorization request is invalid or has expired. Go back to the application and start again.",
            ));
        }
        Err(e) => return Err(internal(s, &e)),
    };
    if req["subject"].as_str() != Some(session.identity.id.as_str()) {
        return Err(error_page(
            s,
            StatusCode::FORBIDDEN,
            "This request is for another account",
            "The application asked for a different account than the one you are signed in with.",
        ));
    }
    Ok((req, session))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn https(v: &Value) -> Option<&str> {
    v.as_str()
        .filter(|u| u.starts_with("https://") && url::Url::parse(u).is_ok())
}

fn form_action(s: &AppState, req: &Value) -> FormAction {
    let mut f = FormAction::new(&s.config);
    for u in strings(&req["client"]["redirect_uris"]) {
        f.allow(&u);
    }
    f
}

pub async fn show(
    State(s): State<AppState>,
    headers: HeaderMap,
    q: Result<QueryPairs, ApiError>,
) -> Response {
    let q = q.map(|QueryPairs(q)| q).unwrap_or_default();
    let challenge = param(&q, "consent_challenge");
    let (req, session) = match load(&s, &headers, challenge).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    let requested = strings(&req["requested_scope"]);
    if req["skip"].as_bool() == Some(true) {
        return accept(
            &s,
            challenge.unwrap_or_default(),
            &req,
            &session.identity,
            requested,
            false,
        )
        .await;
    }
    let client = &req["client"];
    let client_id = client["client_id"].as_str().unwrap_or_default();
    let name = client["client_name"]
        .as_str()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or(client_id);
    let scopes: Vec<Value> = requested
        .iter()
        .map(|sc| json!({"name": sc, "description": explain(sc).unwrap_or(sc), "known": explain(sc).is_some()}))
        .collect();
    let (token, cookie) = csrf::token(&s, &headers);
    let ctx = context(
        &s,
        &format!("Allow {name}?"),
        json!({
            "client_name": name,
            "client_id": client_id,
            "logo_uri": https(&client["logo_uri"]),
            "client_uri": https(&client["client_uri"]),
            "policy_uri": https(&client["policy_uri"]),
            "tos_uri": https(&client["tos_uri"]),
            "scopes": scopes,
            "account": account_name(&session.identity),
            "challenge": challenge,
            "csrf_token": token,
        }),
    );
    let mut resp = page(
        &s,
        StatusCode::OK,
        "consent.html",
        ctx,
        &form_action(&s, &req),
    );
    csrf::set(&mut resp, cookie);
    resp
}

pub async fn decide(
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
    let challenge = param(&form, "consent_challenge");
    let (req, session) = match load(&s, &headers, challenge).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    let challenge = challenge.unwrap_or_default();
    match param(&form, "action") {
        Some("allow") => {
            let checked: Vec<&str> = form
                .iter()
                .filter(|(k, _)| k == "scope")
                .map(|(_, v)| v.as_str())
                .collect();
            let grant: Vec<String> = strings(&req["requested_scope"])
                .into_iter()
                .filter(|sc| checked.contains(&sc.as_str()))
                .collect();
            let remember = param(&form, "remember").is_some();
            accept(&s, challenge, &req, &session.identity, grant, remember).await
        }
        Some("deny") => {
            let body = Reject {
                error: Some("access_denied".into()),
                error_description: Some("The resource owner denied the request.".into()),
                error_hint: None,
            };
            match s.provider.reject_consent(challenge, body, now()).await {
                Ok(to) => see_other(&to),
                Err(e) => internal(&s, &e),
            }
        }
        _ => error_page(
            &s,
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "Choose Allow or Deny.",
        ),
    }
}

/// Accepts with `grant` (a subset of the requested scopes) and the requested audience; the ID
/// token gets the identity's claims for the granted scopes. `remember_for: 0` is "forever".
async fn accept(
    s: &AppState,
    challenge: &str,
    req: &Value,
    identity: &Identity,
    grant: Vec<String>,
    remember: bool,
) -> Response {
    let body = AcceptConsent {
        session: ConsentSession {
            access_token: Value::Null,
            id_token: id_token_claims(identity, &grant),
        },
        grant_scope: grant,
        grant_access_token_audience: strings(&req["requested_access_token_audience"]),
        remember,
        remember_for: 0,
    };
    match s.provider.accept_consent(challenge, body, now()).await {
        Ok(to) => see_other(&to),
        Err(e) => internal(s, &e),
    }
}

/// ID token claims from the identity for the granted scopes: `email` gives `email` and
/// `email_verified`; `profile` gives `name` (from `traits.name`, a string or `{first, last}`).
pub fn id_token_claims(identity: &Identity, scopes: &[String]) -> Value {
    let mut claims = serde_json::Map::new();
    if scopes.iter().any(|sc| sc == "email")
        && let Some(email) = identity.email()
    {
        let verified = identity
            .verifiable_addresses
            .iter()
            .any(|a| a.value == email && a.verified);
        claims.insert("email".into(), json!(email));
        claims.insert("email_verified".into(), json!(verified));
    }
    if scopes.iter().any(|sc| sc == "profile") {
        let name = match &identity.traits["name"] {
            Value::String(n) => Some(n.clone()),
            Value::Object(m) => {
                let parts: Vec<&str> = ["first", "last"]
                    .iter()
                    .filter_map(|k| m.get(*k).and_then(Value::as_str))
                    .filter(|p| !p.is_empty())
                    .collect();
                (!parts.is_empty()).then(|| parts.join(" "))
            }
            _ => None,
        };
        if let Some(n) = name.filter(|n| !n.trim().is_empty()) {
            claims.insert("name".into(), json!(n));
        }
    }
    Value::Object(claims)
}
