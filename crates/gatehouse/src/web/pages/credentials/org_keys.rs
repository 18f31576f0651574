//! `GET /ui/organizations/{org}/keys` and `POST` to it: an organisation's API keys, for its
//! admins only (`org_as_admin`): a plain member gets 403, anyone else 404, so whether an
//! organisation exists is not revealed to outsiders. Any scope of the catalogue may be chosen.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;

use super::{Holder, act, show};
use crate::credentials::Kind;
use crate::error::Error;
use crate::sessions::ActiveSession;
use crate::web::AppState;
use crate::web::error::ApiError;
use crate::web::extract::FormPairs;
use crate::web::pages::signed_in::SignedIn;
use crate::web::pages::{error_page, internal};

/// The organisation's page, or the error page for a non-admin.
async fn holder(s: &AppState, session: &ActiveSession, org: &str) -> Result<Holder, Response> {
    let o = match s.credentials.org_as_admin(org, &session.identity.id).await {
        Ok(o) => o,
        Err(Error::NotFound(_)) => {
            return Err(error_page(
                s,
                StatusCode::NOT_FOUND,
                "Page not found",
                "There is no such organization, or you are not one of its members.",
            ));
        }
        Err(Error::Forbidden(_)) => {
            return Err(error_page(
                s,
                StatusCode::FORBIDDEN,
                "Only admins manage API keys",
                "You are a member of this organization; ask one of its admins to manage its API keys.",
            ));
        }
        Err(e) => return Err(internal(s, &e)),
    };
    let ui = format!("{}/ui", s.config.issuer());
    Ok(Holder {
        kind: Kind::ApiKey,
        path: format!("/ui/organizations/{}/keys", o.id),
        title: format!("API keys of {}", o.name),
        lead: "API keys let services call APIs on behalf of the organization, with the scopes you choose. Every admin of the organization sees and manages them.".to_owned(),
        owner: o.id,
        noun: "API key",
        nouns: "API keys",
        scopes: s.credentials.catalogue().to_vec(),
        links: vec![
            json!({ "href": format!("{ui}/settings/tokens"), "text": "Your personal access tokens" }),
            json!({ "href": format!("{ui}/welcome"), "text": "Back" }),
        ],
    })
}

pub async fn show_keys(
    State(s): State<AppState>,
    SignedIn(session): SignedIn,
    Path(org): Path<String>,
    headers: HeaderMap,
) -> Response {
    match holder(&s, &session, &org).await {
        Ok(h) => show(&s, &headers, &session, &h).await,
        Err(page) => page,
    }
}

pub async fn change_keys(
    State(s): State<AppState>,
    SignedIn(session): SignedIn,
    Path(org): Path<String>,
    headers: HeaderMap,
    form: Result<FormPairs, ApiError>,
) -> Response {
    match holder(&s, &session, &org).await {
        Ok(h) => act(&s, &headers, &session, &h, form).await,
        Err(page) => page,
    }
}
