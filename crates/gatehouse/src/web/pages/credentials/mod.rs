//! The management pages for long-lived credentials: a user's personal access tokens
//! (`/ui/settings/tokens`, [`tokens`]) and an organisation's API keys, for its admins
//! (`/ui/organizations/{org}/keys`, [`org_keys`]). Both are one page, `credentials.html`, for a
//! [`Holder`]: whose credentials, of which kind, with which scopes on offer.
//!
//! `GET` shows the create form, the active and expired credentials and those revoked in the
//! last 30 days. `POST` to the same URL (CSRF-checked, `action=create|regenerate|revoke`)
//! answers with the same page: after create or regenerate it shows the new secret once, above
//! the list (rendered, never redirected to, and `no-store` like every page). Creating and
//! regenerating need what the JSON API needs (`privilege_gap`): a browser whose login is too old
//! or lacks the second factor is sent to the login flow and back. A refusal by the credential
//! service (a bad name, a scope beyond the user's roles, a revoked credential) is a message on
//! the page with the form filled in again; an id that is not the holder's is a 404.

mod form;
pub mod org_keys;
pub mod tokens;

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use gatehouse_store::CredentialRow;
use serde_json::{Value, json};

use super::headers::{FormAction, see_other};
use super::{context, csrf, error_page, internal, page, when};
use crate::clock::{now, rfc3339};
use crate::credentials::{Issued, Kind, NewCredential, row_scopes, state};
use crate::error::Error;
use crate::sessions::ActiveSession;
use crate::web::AppState;
use crate::web::credentials::{owned_by, privilege_gap};
use crate::web::error::ApiError;
use crate::web::extract::FormPairs;
use form::{Action, Draft, Refused};

/// Whose credentials a page manages.
pub struct Holder {
    pub kind: Kind,
    /// The identity (PATs) or organisation (API keys) id.
    pub owner: String,
    /// The page's path on the issuer; its forms POST here.
    pub path: String,
    pub title: String,
    pub lead: String,
    /// `token` or `API key`, and the plural.
    pub noun: &'static str,
    pub nouns: &'static str,
    /// The scopes the create form offers.
    pub scopes: Vec<String>,
    pub links: Vec<Value>,
}

/// What a page shows above the lists.
#[derive(Default)]
struct Outcome {
    status: StatusCode,
    messages: Vec<Value>,
    issued: Option<Issued>,
    draft: Option<Draft>,
}

impl Outcome {
    fn message(status: StatusCode, kind: &str, text: impl Into<String>) -> Outcome {
        Outcome {
            status,
            messages: vec![json!({ "type": kind, "text": text.into() })],
            ..Outcome::default()
        }
    }
}

/// `GET`: the page as it is.
async fn show(
    s: &AppState,
    headers: &HeaderMap,
    session: &ActiveSession,
    holder: &Holder,
) -> Response {
    let mut outcome = Outcome::default();
    if privilege_gap(&s.config, session, now()).is_some() {
        outcome = Outcome::message(
            StatusCode::OK,
            "info",
            format!(
                "You will be asked to sign in again before a new {} is issued.",
                holder.noun
            ),
        );
    }
    render(s, headers, session, holder, outcome).await
}

/// A service refusal as the message shown on the page; anything else is a failure.
fn refusal(e: &Error) -> Option<(StatusCode, String)> {
    let (status, text) = match e {
        Error::BadRequest(t) => (StatusCode::BAD_REQUEST, t),
        Error::Forbidden(t) => (StatusCode::FORBIDDEN, t),
        Error::Conflict(t) | Error::Stale(t) => (StatusCode::CONFLICT, t),
        _ => return None,
    };
    let mut text = text.replace('`', "");
    if let Some(first) = text.get(..1) {
        text = first.to_uppercase() + &text[1..];
    }
    if !text.ends_with('.') {
        text.push('.');
    }
    Some((status, text))
}

fn not_found(s: &AppState, noun: &str) -> Response {
    error_page(
        s,
        StatusCode::NOT_FOUND,
        "Not found",
        &format!("There is no such {noun}. It may have been removed; go back and reload the page."),
    )
}

/// `POST`: create, regenerate or revoke, then the page again.
async fn act(
    s: &AppState,
    headers: &HeaderMap,
    session: &ActiveSession,
    holder: &Holder,
    form: Result<FormPairs, ApiError>,
) -> Response {
    let form = form.map(|FormPairs(f)| f).unwrap_or_default();
    if !csrf::check(s, headers, super::param(&form, csrf::FIELD)) {
        return error_page(
            s,
            StatusCode::FORBIDDEN,
            "Please try again",
            "The form expired or was not sent from this site. Go back, reload the page and try again.",
        );
    }
    let action = match form::parse(&form) {
        Ok(a) => a,
        Err(Refused::Malformed(why)) => {
            return error_page(s, StatusCode::BAD_REQUEST, "Invalid request", why);
        }
        Err(Refused::UnknownId) => return not_found(s, holder.noun),
    };
    let t = now();
    if matches!(action, Action::Create(_) | Action::Regenerate { .. })
        && let Some(gap) = privilege_gap(&s.config, session, t)
    {
        return see_other(&gap.login_url(&s.config.issuer(), &page_url(s, holder)));
    }
    // A refused create shows its form again, filled in.
    let draft = match &action {
        Action::Create(d) => Some(d.clone()),
        _ => None,
    };
    let result = match action {
        Action::Create(d) => create(s, session, holder, &d, t).await,
        Action::Regenerate { id } => regenerate(s, holder, &id.to_string(), t).await,
        Action::Revoke { id, reason } => revoke(s, holder, &id.to_string(), &reason, t).await,
    };
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(Error::NotFound(_)) => return not_found(s, holder.noun),
        Err(e) => match refusal(&e) {
            Some((status, text)) => Outcome {
                draft,
                ..Outcome::message(status, "error", text)
            },
            None => return internal(s, &e),
        },
    };
    render(s, headers, session, holder, outcome).await
}

async fn create(
    s: &AppState,
    session: &ActiveSession,
    holder: &Holder,
    draft: &Draft,
    t: i64,
) -> Result<Outcome, Error> {
    let (choices, _) = form::expiry_choices(&s.config.credentials);
    let (scopes, lifetime) = draft
        .resolve(&holder.scopes, &choices)
        .map_err(Error::BadRequest)?;
    let req = NewCredential {
        kind: holder.kind,
        owner: holder.owner.clone(),
        name: draft.name.clone(),
        scopes,
        lifetime,
        created_by: session.identity.id.clone(),
    };
    let issued = s.credentials.create(req, t).await?;
    Ok(Outcome {
        issued: Some(issued),
        ..Outcome::default()
    })
}

async fn regenerate(s: &AppState, holder: &Holder, id: &str, t: i64) -> Result<Outcome, Error> {
    owned_by(s, id, holder.kind, &holder.owner).await?;
    let issued = s.credentials.regenerate(id, t).await?;
    Ok(Outcome {
        issued: Some(issued),
        ..Outcome::default()
    })
}

async fn revoke(
    s: &AppState,
    holder: &Holder,
    id: &str,
    reason: &str,
    t: i64,
) -> Result<Outcome, Error> {
    owned_by(s, id, holder.kind, &holder.owner).await?;
    let row = s.credentials.revoke(id, Some(reason), t).await?;
    Ok(Outcome::message(
        StatusCode::OK,
        "success",
        format!("The {} “{}” is revoked.", holder.noun, row.name),
    ))
}

fn page_url(s: &AppState, holder: &Holder) -> String {
    format!("{}{}", s.config.issuer(), holder.path)
}

/// One credential as the template sees it (never its secret or digest).
fn row_view(row: &CredentialRow, t: i64) -> crate::error::Result<Value> {
    let expires = match row.expires_at {
        None => "Never".to_owned(),
        Some(e) => match when::days_left(e, t) {
            Some(left) => format!("{} ({left})", when::date(e)),
            None => format!("{} ({})", when::date(e), when::ago(e, t)),
        },
    };
    Ok(json!({
        "id": row.id,
        "name": row.name,
        "hint": row.hint,
        "scopes": row_scopes(row)?,
        "state": state(row, t),
        "expired": state(row, t) == "expired",
        "created": when::date(row.created_at),
        "created_iso": rfc3339(row.created_at),
        "last_used": row.last_used_at.map_or_else(|| "never".to_owned(), |u| when::ago(u, t)),
        "last_used_iso": row.last_used_at.map(rfc3339),
        "expires": expires,
        "expires_iso": row.expires_at.map(rfc3339),
        "revoked": row.revoked_at.map(when::date),
        "revoked_iso": row.revoked_at.map(rfc3339),
        "revoked_reason": row.revoked_reason,
    }))
}

/// The organisations of the signed-in user, linking to the API keys of those it administers.
async fn organizations(s: &AppState, identity_id: &str) -> Result<Vec<Value>, Error> {
    let issuer = s.config.issuer();
    Ok(s
        .credentials
        .memberships(identity_id)
        .await?
        .iter()
        .map(|(o, role)| {
            json!({
                "name": o.name,
                "role": role,
                "href": (role == "admin").then(|| format!("{issuer}/ui/organizations/{}/keys", o.id)),
            })
        })
        .collect())
}

async fn render(
    s: &AppState,
    headers: &HeaderMap,
    session: &ActiveSession,
    holder: &Holder,
    outcome: Outcome,
) -> Response {
    let t = now();
    let rows = match s
        .credentials
        .list(Some(holder.kind), Some(&holder.owner), 1000, 0, t)
        .await
    {
        Ok(rows) => rows,
        Err(e) => return internal(s, &e),
    };
    let orgs = if holder.kind == Kind::Pat {
        match organizations(s, &session.identity.id).await {
            Ok(o) => Some(o),
            Err(e) => return internal(s, &e),
        }
    } else {
        None
    };
    let (live, revoked): (Vec<&CredentialRow>, Vec<&CredentialRow>) =
        rows.iter().partition(|r| r.revoked_at.is_none());
    let views = |rows: &[&CredentialRow]| {
        rows.iter()
            .map(|r| row_view(r, t))
            .collect::<crate::error::Result<Vec<_>>>()
    };
    let (live, revoked) = match (views(&live), views(&revoked)) {
        (Ok(l), Ok(r)) => (l, r),
        (Err(e), _) | (_, Err(e)) => return internal(s, &e),
    };
    let issued_expires = match outcome.issued.as_ref().map(|i| row_view(&i.row, t)) {
        Some(Ok(v)) => v["expires"].clone(),
        Some(Err(e)) => return internal(s, &e),
        None => Value::Null,
    };
    let (choices, selected) = form::expiry_choices(&s.config.credentials);
    let draft = outcome.draft.unwrap_or_default();
    let chosen = |c: &form::Choice, i: usize| {
        if draft.expires.is_empty() {
            i == selected
        } else {
            c.value == draft.expires
        }
    };
    let (token, cookie) = csrf::token(s, headers);
    let alert = outcome.messages.iter().any(|m| m["type"] == "error");
    let ctx = context(
        s,
        &holder.title,
        json!({
            "wide": true,
            "lead": holder.lead,
            "noun": holder.noun,
            "nouns": holder.nouns,
            "page_url": page_url(s, holder),
            "csrf_token": token,
            "messages": outcome.messages,
            "alert": alert,
            "issued": outcome.issued.as_ref().map(|i| json!({
                "name": i.row.name,
                "secret": i.token.expose(),
                "expires": issued_expires,
            })),
            "create": {
                "name": draft.name,
                "scopes": holder.scopes.iter().map(|sc| json!({
                    "value": sc,
                    "checked": draft.scopes.contains(sc),
                })).collect::<Vec<_>>(),
                "expiry": choices.iter().enumerate().map(|(i, c)| json!({
                    "value": c.value,
                    "label": c.label,
                    "selected": chosen(c, i),
                })).collect::<Vec<_>>(),
            },
            "active": live,
            "revoked": revoked,
            "organizations": orgs,
            "links": holder.links,
        }),
    );
    let mut resp = page(
        s,
        outcome.status,
        "credentials.html",
        ctx,
        &FormAction::new(&s.config),
    );
    csrf::set(&mut resp, cookie);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_refusals_read_as_sentences() {
        let r = refusal(&Error::BadRequest("`name` must not be empty".into()));
        assert_eq!(
            r,
            Some((StatusCode::BAD_REQUEST, "Name must not be empty.".into()))
        );
        let r = refusal(&Error::Forbidden(
            "scope admin:x is beyond what the owner's roles allow".into(),
        ));
        assert_eq!(
            r,
            Some((
                StatusCode::FORBIDDEN,
                "Scope admin:x is beyond what the owner's roles allow.".into()
            ))
        );
        assert_eq!(refusal(&Error::Internal("db".into())), None);
        assert_eq!(refusal(&Error::NotFound("x".into())), None);
    }
}
