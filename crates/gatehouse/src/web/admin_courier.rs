//! Kratos's courier admin API: `GET /admin/courier/messages` (filters `status` and `recipient`,
//! pages of `page_size` with the next page in a `Link` header, as for clients) and
//! `GET /admin/courier/messages/{id}`. Bodies are shown decrypted — this is the admin listener.
//! Errors are in Kratos's shape.

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;
use super::kratos_error::KratosError;
use crate::courier::MessageStatus;

const DEFAULT_PAGE_SIZE: i64 = 250;
const MAX_PAGE_SIZE: i64 = 1000;

/// Routes merged into the admin router (behind its admin-token check).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/courier/messages", get(list_messages))
        .route("/admin/courier/messages/{id}", get(get_message))
}

struct ListQuery {
    status: Option<MessageStatus>,
    recipient: Option<String>,
    page_size: i64,
    offset: i64,
}

impl ListQuery {
    fn parse(raw: Option<&str>) -> Result<ListQuery, KratosError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or_default())
            .map_err(|_| KratosError::bad_request("The query string is malformed."))?;
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty())
        };
        let status = get("status")
            .map(|s| {
                s.parse().map_err(|()| {
                    KratosError::bad_request(format!(
                        "status must be queued, processing, sent or abandoned, not {s:?}"
                    ))
                })
            })
            .transpose()?;
        let number = |k: &str, default: i64| -> Result<i64, KratosError> {
            get(k).map_or(Ok(default), |v| {
                v.parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| KratosError::bad_request(format!("{k} must be a number")))
            })
        };
        Ok(ListQuery {
            status,
            recipient: get("recipient").map(str::to_owned),
            page_size: number("page_size", DEFAULT_PAGE_SIZE)?.clamp(1, MAX_PAGE_SIZE),
            offset: number("page_token", 0)?,
        })
    }

    fn next_link(&self) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("page_size", &self.page_size.to_string())
            .append_pair("page_token", &(self.offset + self.page_size).to_string());
        if let Some(s) = self.status {
            q.append_pair("status", s.as_str());
        }
        if let Some(r) = &self.recipient {
            q.append_pair("recipient", r);
        }
        format!("</admin/courier/messages?{}>; rel=\"next\"", q.finish())
    }
}

async fn list_messages(
    State(s): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, KratosError> {
    let q = ListQuery::parse(raw.as_deref())?;
    let mut page = s
        .courier
        .list_messages(q.status, q.recipient.as_deref(), q.page_size + 1, q.offset)
        .await?;
    let more = page.len() as i64 > q.page_size;
    page.truncate(usize::try_from(q.page_size).unwrap_or(usize::MAX));
    let mut resp = axum::Json(page).into_response();
    if more && let Ok(v) = header::HeaderValue::from_str(&q.next_link()) {
        resp.headers_mut().insert(header::LINK, v);
    }
    Ok(resp)
}

async fn get_message(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, KratosError> {
    Ok(axum::Json(s.courier.get_message(&id).await?).into_response())
}
