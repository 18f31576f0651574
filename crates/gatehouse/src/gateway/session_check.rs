//! `cookie_session` and `bearer_token` with `check_session_url`: the session is checked by
//! another service (Kratos's `/sessions/whoami`, or anything that answers 200 with JSON), as
//! Oathkeeper does it: the request's method (or `force_method`), the URL's path replaced by the
//! request's unless `preserve_path`, its query replaced unless `preserve_query`, only the
//! `forward_http_headers` (plus `Cookie` or `Authorization`) and the `additional_headers`
//! sent. The subject is read at `subject_from` (default `identity.id`), the extra at
//! `extra_from` (default `@this`, the whole answer). Answers are cached for `cache.ttl`
//! (default 10 s) by a digest of what was forwarded; only 200s are cached.
//!
//! A `check_session_url` that is this Gatehouse's own `{issuer}/sessions/whoami` (every migrated
//! Oathkeeper setup has one) is not called over HTTP: the session is checked locally, so a
//! logout is refused at once instead of after the cache's TTL, with the subject and `.Extra`
//! read from the same whoami answer at `subject_from` and `extra_from`. A local check also reads
//! Kratos's default cookie name (`ory_kratos_session`) in `only` as Gatehouse's session cookie.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::decide::{ErrorKind, Request, Subject};
use super::handlers::{Authenticator, Own, TokenFromRaw, config};
use super::outbound::{
    CacheConfig, MAX_RESPONSE_BYTES, Retry, TtlCache, at_path, cache_key, check_path, http_url,
    read_limited,
};

const DEFAULT_TTL: Duration = Duration::from_secs(10);

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

/// A remote session check, compiled.
#[derive(Debug)]
pub struct SessionCheck {
    url: Url,
    preserve_path: bool,
    preserve_query: bool,
    preserve_host: bool,
    subject_from: String,
    extra_from: String,
    forward: Vec<HeaderName>,
    additional: Vec<(HeaderName, HeaderValue)>,
    method: Option<Method>,
    timeout: Duration,
    cache: Option<TtlCache<Arc<(String, Value)>>>,
}

fn source(raw: &mut Raw, always: HeaderName, own: &Own) -> Result<SessionSource, String> {
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
    let mut forward = vec![always];
    for h in &raw.forward_http_headers {
        let name = HeaderName::from_bytes(h.as_bytes())
            .map_err(|_| format!("`forward_http_headers`: `{h}` is not a header name"))?;
        if !forward.contains(&name) {
            forward.push(name);
        }
    }
    let mut additional = Vec::new();
    for (k, v) in &raw.additional_headers {
        additional.push((
            HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| format!("`additional_headers`: `{k}` is not a header name"))?,
            HeaderValue::from_str(v)
                .map_err(|_| format!("`additional_headers.{k}`: not a header value"))?,
        ));
    }
    let method = match &raw.force_method {
        None => None,
        Some(m) => Some(
            Method::from_bytes(m.as_bytes())
                .ok()
                .filter(|_| m.bytes().all(|b| b.is_ascii_uppercase()))
                .ok_or_else(|| format!("`force_method`: `{m}` is not a method"))?,
        ),
    };
    let cache = match &raw.cache {
        Some(CacheConfig {
            enabled: Some(false),
            ..
        }) => None,
        c => Some(TtlCache::new(
            c.as_ref().and_then(|c| c.ttl).map_or(DEFAULT_TTL, |d| d.0),
        )),
    };
    Ok(SessionSource::Remote(Box::new(SessionCheck {
        url,
        preserve_path: raw.preserve_path,
        preserve_query: raw.preserve_query,
        preserve_host: raw.preserve_host,
        subject_from,
        extra_from,
        forward,
        additional,
        method,
        timeout: Retry::timeout(raw.retry.as_ref()),
        cache,
    })))
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

pub fn cookie_session(c: &Value, own: &Own) -> Result<Authenticator, String> {
    let mut raw: Raw = config(c)?;
    if raw.token_from.is_some() || raw.prefix.is_some() {
        return Err("`token_from` and `prefix` are bearer_token keys".into());
    }
    let source = source(&mut raw, axum::http::header::COOKIE, own)?;
    let only = match (&source, raw.only) {
        (SessionSource::Remote(_), only) => only,
        (_, only) => only.map(|o| local_cookie_names(o, own)),
    };
    Ok(Authenticator::CookieSession { only, source })
}

pub fn bearer_token(c: &Value, own: &Own) -> Result<Authenticator, String> {
    let mut raw: Raw = config(c)?;
    if raw.only.is_some() {
        return Err("`only` is a cookie_session key".into());
    }
    let source = source(&mut raw, axum::http::header::AUTHORIZATION, own)?;
    Ok(Authenticator::BearerToken {
        token_from: raw.token_from.map(TokenFromRaw::compile).transpose()?,
        prefix: raw.prefix,
        source,
    })
}

pub enum Checked {
    Ok(Subject),
    Refused(ErrorKind, String),
}

impl SessionCheck {
    /// Asks the session service; `bearer` is set for `bearer_token` (sent as
    /// `Authorization: Bearer`).
    pub async fn check(
        &self,
        http: &reqwest::Client,
        r: &Request<'_>,
        bearer: Option<&str>,
    ) -> Checked {
        let mut url = self.url.clone();
        let pq = r.uri.split('#').next().unwrap_or_default();
        let (path, query) = pq.split_once('?').unwrap_or((pq, ""));
        if !self.preserve_path {
            url.set_path(path);
        }
        if !self.preserve_query {
            url.set_query((!query.is_empty()).then_some(query));
        }
        let method = self
            .method
            .clone()
            .or_else(|| Method::from_bytes(r.method.as_bytes()).ok())
            .unwrap_or(Method::GET);
        let mut headers = HeaderMap::new();
        for name in &self.forward {
            for v in r.headers.get_all(name) {
                headers.append(name.clone(), v.clone());
            }
        }
        if let Some(t) = bearer
            && let Ok(v) = HeaderValue::from_str(&format!("Bearer {t}"))
        {
            headers.insert(axum::http::header::AUTHORIZATION, v);
        }
        for (k, v) in &self.additional {
            headers.insert(k.clone(), v.clone());
        }
        if self.preserve_host
            && let Ok(v) = HeaderValue::from_str(r.host)
        {
            headers.insert("x-forwarded-host", v);
        }
        let key = self.cache.as_ref().map(|_| {
            let mut parts: Vec<&[u8]> = vec![method.as_str().as_bytes(), url.as_str().as_bytes()];
            for (k, v) in &headers {
                parts.push(k.as_str().as_bytes());
                parts.push(v.as_bytes());
            }
            cache_key(&parts)
        });
        if let (Some(cache), Some(key)) = (&self.cache, &key)
            && let Some(hit) = cache.get(key)
        {
            return Checked::Ok(subject(&hit.0, &hit.1));
        }
        let resp = match http
            .request(method, url)
            .headers(headers)
            .timeout(self.timeout)
            .send()
            .await
        {
            Ok(resp) => resp,
            Err(e) => {
                tracing::warn!(error = %e.without_url(), url = %self.url, "check_session_url failed");
                return Checked::Refused(
                    ErrorKind::Internal,
                    "the session check could not be reached".into(),
                );
            }
        };
        if resp.status() != reqwest::StatusCode::OK {
            return Checked::Refused(ErrorKind::Unauthorized, "the session is not valid".into());
        }
        let body = match read_limited(resp, MAX_RESPONSE_BYTES).await {
            Ok(b) => b,
            Err(e) => return Checked::Refused(ErrorKind::Internal, format!("session check: {e}")),
        };
        let Ok(doc) = serde_json::from_slice::<Value>(&body) else {
            return Checked::Refused(
                ErrorKind::Internal,
                "the session check did not answer JSON".into(),
            );
        };
        let Some(Value::String(sub)) = at_path(&doc, &self.subject_from) else {
            return Checked::Refused(
                ErrorKind::Unauthorized,
                format!("the session has no string at `{}`", self.subject_from),
            );
        };
        let sub = sub.clone();
        let extra = at_path(&doc, &self.extra_from)
            .cloned()
            .unwrap_or(Value::Null);
        let s = subject(&sub, &extra);
        if let (Some(cache), Some(key)) = (&self.cache, key) {
            cache.insert(key, Arc::new((sub, extra)), None);
        }
        Checked::Ok(s)
    }
}

/// The subject of a remote session; a Kratos session's email, id, AAL and roles fill the
/// identity headers too.
pub fn subject(id: &str, extra: &Value) -> Subject {
    let s = |path: &str| {
        at_path(extra, path)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let roles: Vec<String> = at_path(extra, "identity.metadata_public.roles")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let aal = s("authenticator_assurance_level");
    let mut headers = vec![("X-User-ID", id.to_owned())];
    if let Some(email) = s("identity.traits.email") {
        headers.push(("X-User-Email", email));
    }
    if let Some(sid) = s("id").filter(|_| extra.get("identity").is_some()) {
        headers.push(("X-Session-ID", sid));
    }
    if let Some(a) = &aal {
        headers.push(("X-Auth-AAL", a.clone()));
    }
    if !roles.is_empty() {
        headers.push(("X-User-Roles", roles.join(",")));
    }
    Subject {
        id: id.to_owned(),
        extra: extra.clone(),
        headers,
        scopes: Vec::new(),
        roles,
        aal,
    }
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
