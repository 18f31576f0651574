//! The admin API for credentials and organisations: every kind of credential (PATs on behalf of
//! a user, API keys of any organisation, service tokens), organisations and their members.
//! Errors in Hydra's admin shape (`{error, error_description, status_code}`).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::Value;

use super::AppState;
use super::error::ApiError;
use super::extract::{Json, QueryPairs};
use crate::clock::now;
use crate::credentials::orgs::{member_view, org_view};
use crate::credentials::{Kind, Lifetime, NewCredential, issued_view, view};
use crate::error::Error;

type Res = Result<Response, ApiError>;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/credentials", get(list).post(create))
        .route(
            "/admin/credentials/{id}",
            get(get_one).delete(revoke_delete),
        )
        .route("/admin/credentials/{id}/regenerate", post(regenerate))
        .route("/admin/credentials/{id}/revoke", post(revoke))
        .route("/admin/organizations", get(list_orgs).post(create_org))
        .route("/admin/organizations/{id}", get(get_org).delete(delete_org))
        .route("/admin/organizations/{id}/members", get(list_members))
        .route(
            "/admin/organizations/{id}/members/{identity}",
            put(set_member).delete(remove_member),
        )
}

fn q<'a>(p: &'a [(String, String)], k: &str) -> Option<&'a str> {
    p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

fn paging(p: &[(String, String)]) -> Result<(i64, i64), Error> {
    let num = |k: &str, d: i64| -> Result<i64, Error> {
        q(p, k).map_or(Ok(d), |v| {
            v.parse()
                .map_err(|_| Error::BadRequest(format!("`{k}` must be a number")))
        })
    };
    Ok((num("limit", 250)?, num("offset", 0)?))
}

/// `POST /admin/credentials` and the user API share this body (the user API fixes `kind` and
/// `owner`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    pub kind: Option<String>,
    pub owner: Option<String>,
    pub name: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    pub expires_in: Option<Value>,
}

pub fn kind_param(s: &str) -> Result<Kind, Error> {
    Kind::parse(s).ok_or_else(|| {
        Error::BadRequest("`kind`: expected `pat`, `api_key` or `service_token`".into())
    })
}

async fn list(State(s): State<AppState>, QueryPairs(p): QueryPairs) -> Res {
    let kind = q(&p, "kind").map(kind_param).transpose()?;
    let (limit, offset) = paging(&p)?;
    let t = now();
    let rows = s
        .credentials
        .list(kind, q(&p, "owner"), limit, offset, t)
        .await?;
    let list = rows
        .iter()
        .map(|r| view(r, t))
        .collect::<Result<Vec<Value>, _>>()?;
    Ok(axum::Json(list).into_response())
}

async fn create(State(s): State<AppState>, Json(b): Json<CreateBody>) -> Res {
    let kind = kind_param(b.kind.as_deref().unwrap_or_default())?;
    let owner = b
        .owner
        .filter(|o| !o.trim().is_empty())
        .ok_or_else(|| Error::BadRequest("`owner` is required".into()))?;
    let t = now();
    let issued = s
        .credentials
        .create(
            NewCredential {
                kind,
                owner,
                name: b.name,
                scopes: b.scopes,
                lifetime: Lifetime::from_json(b.expires_in.as_ref())?,
                created_by: "admin".into(),
            },
            t,
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(issued_view(&issued, t)?)).into_response())
}

async fn get_one(State(s): State<AppState>, Path(id): Path<String>) -> Res {
    let row = s.credentials.get(&id).await?;
    Ok(axum::Json(view(&row, now())?).into_response())
}

async fn regenerate(State(s): State<AppState>, Path(id): Path<String>) -> Res {
    let t = now();
    let issued = s.credentials.regenerate(&id, t).await?;
    Ok(axum::Json(issued_view(&issued, t)?).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    pub reason: Option<String>,
}

async fn revoke(State(s): State<AppState>, Path(id): Path<String>, body: axum::body::Bytes) -> Res {
    let reason = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<RevokeBody>(&body)
            .map_err(|e| Error::BadRequest(format!("expected {{\"reason\": \"...\"}}: {e}")))?
            .reason
    };
    let t = now();
    let row = s
        .credentials
        .revoke(
            &id,
            Some(reason.as_deref().unwrap_or("Revoked by an administrator")),
            t,
        )
        .await?;
    Ok(axum::Json(view(&row, t)?).into_response())
}

async fn revoke_delete(
    State(s): State<AppState>,
    Path(id): Path<String>,
    QueryPairs(p): QueryPairs,
) -> Res {
    let reason = q(&p, "reason").unwrap_or("Revoked by an administrator");
    s.credentials.revoke(&id, Some(reason), now()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrgBody {
    name: String,
}

async fn list_orgs(State(s): State<AppState>, QueryPairs(p): QueryPairs) -> Res {
    let (limit, offset) = paging(&p)?;
    let list: Vec<Value> = s
        .credentials
        .organizations(limit, offset)
        .await?
        .iter()
        .map(org_view)
        .collect();
    Ok(axum::Json(list).into_response())
}

async fn create_org(State(s): State<AppState>, Json(b): Json<OrgBody>) -> Res {
    let o = s.credentials.create_organization(&b.name, now()).await?;
    Ok((StatusCode::CREATED, axum::Json(org_view(&o))).into_response())
}

async fn get_org(State(s): State<AppState>, Path(id): Path<String>) -> Res {
    let o = s.credentials.organization(&id).await?;
    Ok(axum::Json(org_view(&o)).into_response())
}

async fn delete_org(State(s): State<AppState>, Path(id): Path<String>) -> Res {
    s.credentials.delete_organization(&id, now()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_members(State(s): State<AppState>, Path(id): Path<String>) -> Res {
    let list: Vec<Value> = s
        .credentials
        .members(&id)
        .await?
        .iter()
        .map(member_view)
        .collect();
    Ok(axum::Json(list).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberBody {
    role: String,
}

async fn set_member(
    State(s): State<AppState>,
    Path((org, identity)): Path<(String, String)>,
    Json(b): Json<MemberBody>,
) -> Res {
    let m = s
        .credentials
        .set_member(&org, &identity, &b.role, now())
        .await?;
    Ok(axum::Json(member_view(&m)).into_response())
}

async fn remove_member(
    State(s): State<AppState>,
    Path((org, identity)): Path<(String, String)>,
) -> Res {
    s.credentials.remove_member(&org, &identity).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
