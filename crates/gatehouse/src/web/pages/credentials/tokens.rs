//! `GET /ui/settings/tokens` and `POST /ui/settings/tokens`: the signed-in user's personal
//! access tokens, with the scopes its roles allow, and its organisations (linking to the API
//! keys of those it administers).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::json;

use super::{Holder, act, show};
use crate::credentials::{Kind, roles_of};
use crate::sessions::ActiveSession;
use crate::web::AppState;
use crate::web::error::ApiError;
use crate::web::extract::FormPairs;
use crate::web::pages::signed_in::SignedIn;

pub const PATH: &str = "/ui/settings/tokens";

fn holder(s: &AppState, session: &ActiveSession) -> Holder {
    let ui = format!("{}/ui", s.config.issuer());
    Holder {
        kind: Kind::Pat,
        owner: session.identity.id.clone(),
        path: PATH.to_owned(),
        title: "Personal access tokens".to_owned(),
        lead: "Tokens let scripts and tools call APIs as you, with the scopes you choose. Treat them like passwords.".to_owned(),
        noun: "token",
        nouns: "tokens",
        scopes: s
            .credentials
            .pickable_for_roles(&roles_of(&session.identity)),
        links: vec![
            json!({ "href": format!("{ui}/settings"), "text": "Account settings" }),
            json!({ "href": format!("{ui}/welcome"), "text": "Back" }),
        ],
    }
}

pub async fn show_tokens(
    State(s): State<AppState>,
    SignedIn(session): SignedIn,
    headers: HeaderMap,
) -> Response {
    show(&s, &headers, &session, &holder(&s, &session)).await
}

pub async fn change_tokens(
    State(s): State<AppState>,
    SignedIn(session): SignedIn,
    headers: HeaderMap,
    form: Result<FormPairs, ApiError>,
) -> Response {
    act(&s, &headers, &session, &holder(&s, &session), form).await
}
