//! `cookie_session` and `bearer_token`: a session, from its cookie or from a bearer token (or
//! where `token_from` says, with an optional `prefix`).
//!
//! Without `check_session_url` the session is Gatehouse's own, checked in process (cached,
//! a logout seen at once), with Gatehouse's identity headers and `.Extra`. A
//! `check_session_url` that is this Gatehouse's own `{issuer}/sessions/whoami` (every migrated
//! Oathkeeper setup has one) is not called over HTTP either: the session is checked locally,
//! so a logout is refused at once instead of after the cache's TTL, with the subject and
//! `.Extra` read from the same whoami answer at `subject_from` and `extra_from`. A local check
//! also reads Kratos's default cookie name (`ory_kratos_session`) in `only` as Gatehouse's
//! session cookie. Any other `check_session_url` is asked over HTTP (`remote_session`).

use std::collections::BTreeMap;

use axum::http::{HeaderName, header};
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use super::remote_session::{RemoteRaw, SessionCheck};
use crate::error::Result;
use crate::gateway::extract::{
    TokenFrom, TokenFromRaw, bearer, configured_token, find_cookie, token_for,
};
use crate::gateway::model::{Auth, Authenticate, Cx, ErrorKind, Own, Request, Subject, config};
use crate::gateway::outbound::{CacheConfig, Retry, at_path, check_path, http_url};
use crate::sessions::ActiveSession;

/// Kratos's default session cookie name, as Oathkeeper's documented rules name it in `only`.
pub const KRATOS_SESSION_COOKIE: &str = "ory_kratos_session";

/// Where a `cookie_session` or `bearer_token` authenticator checks sessions.
#[derive(Debug)]
pub enum SessionSource {
    /// No `check_session_url`: Gatehouse's sessions, `.Extra` in Gatehouse's shape.
    Local,
    /// `check_session_url` is this Gatehouse's own whoami: checked locally (a revocation is seen
    /// at once), the subject and `.Extra` read from the whoami answer as a remote check would.
    OwnWhoami {
        subject_from: String,
        extra_from: String,
    },
    /// Another session service, asked over HTTP.
    Remote(Box<SessionCheck>),
}

/// `cookie_session`, compiled.
#[derive(Debug)]
pub struct CookieSession {
    /// Cookie names; `None`: Gatehouse's session cookie (locally) or any cookie (remote).
    only: Option<Vec<String>>,
    source: SessionSource,
}

/// `bearer_token`, compiled.
#[derive(Debug)]
pub struct BearerToken {
    token_from: Option<TokenFrom>,
    prefix: Option<String>,
    source: SessionSource,
}

/// Whether `url` is `own` (scheme, host, port and path compared after parsing; the query is
/// not part of it).
pub fn same_endpoint(url: &Url, own: &Url) -> bool {
    url.scheme() == own.scheme()
        && url.host_str() == own.host_str()
        && url.port_or_known_default() == own.port_or_known_default()
        && url.path() == own.path()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    only: Option<Vec<String>>,
    token_from: Option<TokenFromRaw>,
    prefix: Option<String>,
    check_session_url: Option<String>,
    #[serde(default)]
    preserve_path: bool,
    #[serde(default)]
    preserve_query: bool,
    #[serde(default)]
    preserve_host: bool,
    subject_from: Option<String>,
    extra_from: Option<String>,
    #[serde(default)]
    forward_http_headers: Vec<String>,
    #[serde(default)]
    additional_headers: BTreeMap<String, String>,
    force_method: Option<String>,
    cache: Option<CacheConfig>,
    retry: Option<Retry>,
}

fn source(
    raw: &mut Raw,
    always: HeaderName,
    own: &Own,
) -> std::result::Result<SessionSource, String> {
    let Some(u) = raw.check_session_url.take() else {
        for (set, key) in [
            (raw.preserve_path, "preserve_path"),
            (raw.preserve_query, "preserve_query"),
            (raw.preserve_host, "preserve_host"),
            (raw.subject_from.is_some(), "subject_from"),
            (raw.extra_from.is_some(), "extra_from"),
            (!raw.forward_http_headers.is_empty(), "forward_http_headers"),
            (!raw.additional_headers.is_empty(), "additional_headers"),
            (raw.force_method.is_some(), "force_method"),
            (raw.cache.is_some(), "cache"),
        ] {
            if set {
                return Err(format!("`{key}` needs `check_session_url`"));
            }
        }
        return Ok(SessionSource::Local);
    };
    let url = http_url("check_session_url", &u)?;
    let subject_from = raw
        .subject_from
        .take()
        .unwrap_or_else(|| "identity.id".into());
    check_path("subject_from", &subject_from)?;
    let extra_from = raw.extra_from.take().unwrap_or_else(|| "@this".into());
    check_path("extra_from", &extra_from)?;
    if own.whoami.as_ref().is_some_and(|w| same_endpoint(&url, w)) {
        // The HTTP call's shape (path, query, headers, method, cache) no longer applies.
        tracing::info!(
            check_session_url = %url,
            "check_session_url is this Gatehouse's own whoami: sessions are checked locally (revocation at once, no HTTP call, no cache window)"
        );
        return Ok(SessionSource::OwnWhoami {
            subject_from,
            extra_from,
        });
    }
    Ok(SessionSource::Remote(Box::new(SessionCheck::compile(
        RemoteRaw {
            url,
            preserve_path: raw.preserve_path,
            preserve_query: raw.preserve_query,
            preserve_host: raw.preserve_host,
            subject_from,
            extra_from,
            always,
            forward_http_headers: std::mem::take(&mut raw.forward_http_headers),
            additional_headers: std::mem::take(&mut raw.additional_headers),
            force_method: raw.force_method.take(),
            cache: raw.cache.take(),
            retry: raw.retry.take(),
        },
    )?)))
}

/// `only` for a local check: Kratos's default cookie name stands for Gatehouse's session cookie
/// (Gatehouse never sets a cookie of that name), each name once.
fn local_cookie_names(only: Vec<String>, own: &Own) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(only.len());
    for n in only {
        let n = if n == KRATOS_SESSION_COOKIE {
            tracing::info!(
                cookie = %own.session_cookie,
                "cookie_session `only: [{KRATOS_SESSION_COOKIE}]` reads Gatehouse's session cookie"
            );
            own.session_cookie.clone()
        } else {
            n
        };
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

impl CookieSession {
    pub fn compile(c: &Value, own: &Own) -> std::result::Result<CookieSession, String> {
        let mut raw: Raw = config(c)?;
        if raw.token_from.is_some() || raw.prefix.is_some() {
            return Err("`token_from` and `prefix` are bearer_token keys".into());
        }
        let source = source(&mut raw, header::COOKIE, own)?;
        let only = match (&source, raw.only) {
            (SessionSource::Remote(_), only) => only,
            (_, only) => only.map(|o| local_cookie_names(o, own)),
        };
        Ok(CookieSession { only, source })
    }
}

impl BearerToken {
    pub fn compile(c: &Value, own: &Own) -> std::result::Result<BearerToken, String> {
        let mut raw: Raw = config(c)?;
        if raw.only.is_some() {
            return Err("`only` is a cookie_session key".into());
        }
        let source = source(&mut raw, header::AUTHORIZATION, own)?;
        Ok(BearerToken {
            token_from: raw.token_from.map(TokenFromRaw::compile).transpose()?,
            prefix: raw.prefix,
            source,
        })
    }
}

impl Authenticate for CookieSession {
    async fn authenticate(&self, cx: &Cx<'_>, r: &Request<'_>, now: i64) -> Result<Auth> {
        let found = match (&self.only, &self.source) {
            (Some(names), _) => find_cookie(r.headers, |k| names.iter().any(|n| n == k)),
            (None, SessionSource::Remote(_)) => find_cookie(r.headers, |_| true),
            (None, _) => find_cookie(r.headers, |k| k == cx.session_cookie),
        };
        let Some(token) = found else {
            return Ok(Auth::Skip);
        };
        match &self.source {
            SessionSource::Remote(remote) => Ok(remote.check(cx.http, r, None).await),
            SessionSource::Local => local(cx, token, now).await,
            SessionSource::OwnWhoami {
                subject_from,
                extra_from,
            } => own_whoami(cx, token, now, subject_from, extra_from).await,
        }
    }
}

impl Authenticate for BearerToken {
    async fn authenticate(&self, cx: &Cx<'_>, r: &Request<'_>, now: i64) -> Result<Auth> {
        match &self.source {
            SessionSource::Remote(remote) => Ok(
                match token_for(&self.token_from, &self.prefix, r, |_| true) {
                    Some(t) => remote.check(cx.http, r, Some(&t)).await,
                    None => Auth::Skip,
                },
            ),
            // As the HTTP call would: any bearer token is this authenticator's.
            SessionSource::OwnWhoami {
                subject_from,
                extra_from,
            } => match token_for(&self.token_from, &self.prefix, r, |_| true) {
                Some(t) => own_whoami(cx, &t, now, subject_from, extra_from).await,
                None => Ok(Auth::Skip),
            },
            SessionSource::Local => {
                let token = match configured_token(&self.token_from, r) {
                    Some(t) => t,
                    None => bearer(r.headers)
                        .or_else(|| {
                            r.headers
                                .get("x-session-token")
                                .and_then(|v| v.to_str().ok())
                        })
                        .filter(|t| t.starts_with("gst_"))
                        .map(str::to_owned),
                };
                let token = token.filter(|t| {
                    self.prefix
                        .as_ref()
                        .is_none_or(|p| t.starts_with(p.as_str()))
                });
                match token {
                    Some(t) => local(cx, &t, now).await,
                    None => Ok(Auth::Skip),
                }
            }
        }
    }
}

/// The subject of one of Gatehouse's sessions; `with_extra`: build `.Extra` (only rules whose
/// later handlers read it need it).
fn session_subject(s: &ActiveSession, with_extra: bool) -> Subject {
    let i = &s.identity;
    let roles = i.roles();
    let aal = s.data.aal.as_str();
    Subject {
        id: i.id.clone(),
        extra: if with_extra {
            json!({
                "email": i.email(),
                "roles": roles,
                "session_id": s.id,
                "aal": aal,
                "traits": i.traits,
                "metadata_public": i.metadata_public,
            })
        } else {
            Value::Null
        },
        headers: vec![
            ("X-User-ID", i.id.clone()),
            ("X-User-Email", i.email().unwrap_or_default().to_owned()),
            ("X-User-Roles", roles.join(",")),
            ("X-User-Verified", i.verified().to_string()),
            ("X-Session-ID", s.id.clone()),
            ("X-Auth-Time", s.authenticated_at.to_string()),
            ("X-Auth-AAL", aal.to_owned()),
        ],
        scopes: Vec::new(),
        roles,
        aal: Some(aal.to_owned()),
    }
}

/// One of Gatehouse's sessions, checked in process.
async fn local(cx: &Cx<'_>, token: &str, now: i64) -> Result<Auth> {
    Ok(match cx.sessions.whoami(Some(token), now).await? {
        Ok(s) => Auth::Ok(session_subject(&s, cx.with_extra)),
        Err(_) => Auth::Refused(ErrorKind::Unauthorized, "the session is not valid".into()),
    })
}

/// A `check_session_url` that is this Gatehouse's own whoami, answered locally: Gatehouse's
/// identity headers, and the subject and `.Extra` read from the whoami answer at
/// `subject_from` and `extra_from`, as the HTTP call would have given them.
async fn own_whoami(
    cx: &Cx<'_>,
    token: &str,
    now: i64,
    subject_from: &str,
    extra_from: &str,
) -> Result<Auth> {
    let s = match cx.sessions.whoami(Some(token), now).await? {
        Ok(s) => s,
        Err(_) => {
            return Ok(Auth::Refused(
                ErrorKind::Unauthorized,
                "the session is not valid".into(),
            ));
        }
    };
    let mut subject = session_subject(&s, false);
    let custom_subject = subject_from != "identity.id";
    if !(cx.with_extra || custom_subject) {
        return Ok(Auth::Ok(subject));
    }
    let Ok(doc) = serde_json::from_slice::<Value>(&s.json) else {
        return Ok(Auth::Refused(
            ErrorKind::Internal,
            "the session could not be read".into(),
        ));
    };
    if custom_subject {
        let Some(Value::String(id)) = at_path(&doc, subject_from) else {
            return Ok(Auth::Refused(
                ErrorKind::Unauthorized,
                format!("the session has no string at `{subject_from}`"),
            ));
        };
        if let Some(h) = subject.headers.iter_mut().find(|(k, _)| *k == "X-User-ID") {
            h.1 = id.clone();
        }
        subject.id = id.clone();
    }
    if cx.with_extra {
        subject.extra = at_path(&doc, extra_from).cloned().unwrap_or(Value::Null);
    }
    Ok(Auth::Ok(subject))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_whoami_is_compared_after_parsing() {
        let own = Url::parse("https://auth.example.com/sessions/whoami").expect("url");
        for same in [
            "https://auth.example.com/sessions/whoami",
            "https://AUTH.example.com:443/sessions/whoami",
            "https://auth.example.com/sessions/whoami?x=1",
        ] {
            assert!(
                same_endpoint(&Url::parse(same).expect(same), &own),
                "{same}"
            );
        }
        for other in [
            "http://auth.example.com/sessions/whoami",
            "https://auth.example.com:4433/sessions/whoami",
            "https://kratos.example.com/sessions/whoami",
            "https://auth.example.com/sessions/whoami/",
            "https://auth.example.com/sessions",
        ] {
            assert!(
                !same_endpoint(&Url::parse(other).expect(other), &own),
                "{other}"
            );
        }
    }
}
