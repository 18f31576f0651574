//! `cookie_session` and `bearer_token` with a `check_session_url` that is another service: the
//! session is checked by it (Kratos's `/sessions/whoami`, or anything that answers 200 with
//! JSON), as Oathkeeper does it: the request's method (or `force_method`), the URL's path
//! replaced by the request's unless `preserve_path`, its query replaced unless
//! `preserve_query`, only the `forward_http_headers` (plus `Cookie` or `Authorization`) and the
//! `additional_headers` sent. The subject is read at `subject_from` (default `identity.id`), the
//! extra at `extra_from` (default `@this`, the whole answer). Answers are cached for `cache.ttl`
//! (default 10 s) by a digest of what was forwarded; only 200s are cached.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::Value;
use url::Url;

use crate::gateway::model::{Auth, ErrorKind, Request, Subject};
use crate::gateway::outbound::{
    CacheConfig, MAX_RESPONSE_BYTES, Retry, TtlCache, at_path, cache_key, read_limited,
};

const DEFAULT_TTL: Duration = Duration::from_secs(10);

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

/// The keys of a remote check, as written (`subject_from` and `extra_from` already checked).
pub struct RemoteRaw {
    pub url: Url,
    pub preserve_path: bool,
    pub preserve_query: bool,
    pub preserve_host: bool,
    pub subject_from: String,
    pub extra_from: String,
    /// `Cookie` for `cookie_session`, `Authorization` for `bearer_token`: always forwarded.
    pub always: HeaderName,
    pub forward_http_headers: Vec<String>,
    pub additional_headers: BTreeMap<String, String>,
    pub force_method: Option<String>,
    pub cache: Option<CacheConfig>,
    pub retry: Option<Retry>,
}

impl SessionCheck {
    pub fn compile(raw: RemoteRaw) -> Result<SessionCheck, String> {
        let mut forward = vec![raw.always];
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
        Ok(SessionCheck {
            url: raw.url,
            preserve_path: raw.preserve_path,
            preserve_query: raw.preserve_query,
            preserve_host: raw.preserve_host,
            subject_from: raw.subject_from,
            extra_from: raw.extra_from,
            forward,
            additional,
            method,
            timeout: Retry::timeout(raw.retry.as_ref()),
            cache,
        })
    }
}

impl SessionCheck {
    /// Asks the session service; `bearer` is set for `bearer_token` (sent as
    /// `Authorization: Bearer`).
    pub async fn check(
        &self,
        http: &reqwest::Client,
        r: &Request<'_>,
        bearer: Option<&str>,
    ) -> Auth {
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
            return Auth::Ok(subject(&hit.0, &hit.1));
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
                return Auth::Refused(
                    ErrorKind::Internal,
                    "the session check could not be reached".into(),
                );
            }
        };
        if resp.status() != reqwest::StatusCode::OK {
            return Auth::Refused(ErrorKind::Unauthorized, "the session is not valid".into());
        }
        let body = match read_limited(resp, MAX_RESPONSE_BYTES).await {
            Ok(b) => b,
            Err(e) => return Auth::Refused(ErrorKind::Internal, format!("session check: {e}")),
        };
        let Ok(doc) = serde_json::from_slice::<Value>(&body) else {
            return Auth::Refused(
                ErrorKind::Internal,
                "the session check did not answer JSON".into(),
            );
        };
        let Some(Value::String(sub)) = at_path(&doc, &self.subject_from) else {
            return Auth::Refused(
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
        Auth::Ok(s)
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
