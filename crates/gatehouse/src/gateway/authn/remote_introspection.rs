//! `oauth2_introspection` with `introspection_url`: the token is POSTed to a remote RFC 7662
//! endpoint (authenticated with a client-credentials token from `pre_authorization` when
//! enabled), and the answer is checked here: `active`, `exp`, `trusted_issuers`,
//! `target_audience` (all) and `required_scope` under `scope_strategy`. With `cache.enabled`,
//! active answers are kept for `cache.ttl` (never past the token's `exp`), keyed by the token's
//! SHA-256.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;
use zeroize::Zeroizing;

use crate::credentials::scope;
use crate::gateway::model::{Auth, ErrorKind, Subject, string_or_list, token_subject};
use crate::gateway::outbound::{
    CacheConfig, MAX_RESPONSE_BYTES, Retry, TtlCache, cache_key, client_credentials_token,
    http_url, read_limited,
};

const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(60);

/// How `required_scope` is compared with the token's scopes (Oathkeeper's strategies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeStrategy {
    /// Not checked here (the introspection endpoint is asked with `scope`).
    None,
    Exact,
    /// `a` grants `a.b`.
    Hierarchic,
    /// `a.*` grants `a.b`; `read:*` grants `read:x`.
    Wildcard,
}

impl ScopeStrategy {
    fn parse(s: &str) -> Result<ScopeStrategy, String> {
        Ok(match s {
            "none" => ScopeStrategy::None,
            "exact" => ScopeStrategy::Exact,
            "hierarchic" => ScopeStrategy::Hierarchic,
            "wildcard" => ScopeStrategy::Wildcard,
            _ => {
                return Err(format!(
                    "`scope_strategy`: `{s}` is not none, exact, hierarchic or wildcard"
                ));
            }
        })
    }

    pub fn grants(self, granted: &[String], required: &str) -> bool {
        granted.iter().any(|g| match self {
            ScopeStrategy::None => true,
            ScopeStrategy::Exact => g == required,
            ScopeStrategy::Hierarchic => {
                g == required
                    || required
                        .strip_prefix(g.as_str())
                        .is_some_and(|rest| rest.starts_with('.'))
            }
            ScopeStrategy::Wildcard => {
                g == required
                    || scope::grants(g, required)
                    || g.strip_suffix(".*").is_some_and(|p| {
                        required
                            .strip_prefix(p)
                            .is_some_and(|rest| rest.starts_with('.'))
                    })
            }
        })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreAuthRaw {
    #[serde(default)]
    enabled: bool,
    client_id: Option<String>,
    client_secret: Option<String>,
    token_url: Option<String>,
    #[serde(default)]
    scope: Vec<String>,
    audience: Option<String>,
}

/// Client credentials for calling the introspection endpoint, and the token they got.
pub struct PreAuth {
    client_id: String,
    client_secret: Zeroizing<String>,
    token_url: Url,
    scope: Vec<String>,
    audience: Option<String>,
    token: Mutex<Option<(Zeroizing<String>, Instant)>>,
}

impl std::fmt::Debug for PreAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreAuth")
            .field("client_id", &self.client_id)
            .field("token_url", &self.token_url.as_str())
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub struct RemoteIntrospection {
    url: Url,
    trusted_issuers: Vec<String>,
    scope_strategy: ScopeStrategy,
    pre_auth: Option<PreAuth>,
    headers: Vec<(HeaderName, HeaderValue)>,
    timeout: Duration,
    cache: Option<TtlCache<Arc<Value>>>,
}

/// The remote keys of an `oauth2_introspection` configuration, as written.
pub struct RemoteRaw {
    pub introspection_url: String,
    pub trusted_issuers: Vec<String>,
    pub scope_strategy: Option<String>,
    pub pre_authorization: Option<PreAuthRaw>,
    pub introspection_request_headers: BTreeMap<String, String>,
    pub cache: Option<CacheConfig>,
    pub retry: Option<Retry>,
}

impl RemoteIntrospection {
    pub fn compile(raw: RemoteRaw) -> Result<RemoteIntrospection, String> {
        let url = http_url("introspection_url", &raw.introspection_url)?;
        let scope_strategy = raw
            .scope_strategy
            .as_deref()
            .map_or(Ok(ScopeStrategy::Exact), ScopeStrategy::parse)?;
        let pre_auth = match raw.pre_authorization {
            Some(p) if p.enabled => {
                let need = |v: Option<String>, k: &str| {
                    v.filter(|s| !s.is_empty())
                        .ok_or_else(|| format!("`pre_authorization.{k}` is required"))
                };
                Some(PreAuth {
                    client_id: need(p.client_id, "client_id")?,
                    client_secret: Zeroizing::new(need(p.client_secret, "client_secret")?),
                    token_url: http_url(
                        "pre_authorization.token_url",
                        &need(p.token_url, "token_url")?,
                    )?,
                    scope: p.scope,
                    audience: p.audience,
                    token: Mutex::new(None),
                })
            }
            _ => None,
        };
        let mut headers = Vec::new();
        for (k, v) in &raw.introspection_request_headers {
            headers.push((
                HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                    format!("`introspection_request_headers`: `{k}` is not a header name")
                })?,
                HeaderValue::from_str(v).map_err(|_| {
                    format!("`introspection_request_headers.{k}`: not a header value")
                })?,
            ));
        }
        let cache = match raw.cache {
            Some(c) if c.enabled == Some(true) => {
                Some(TtlCache::new(c.ttl.map_or(DEFAULT_CACHE_TTL, |d| d.0)))
            }
            _ => None,
        };
        Ok(RemoteIntrospection {
            url,
            trusted_issuers: raw.trusted_issuers,
            scope_strategy,
            pre_auth,
            headers,
            timeout: Retry::timeout(raw.retry.as_ref()),
            cache,
        })
    }

    async fn bearer(&self, http: &reqwest::Client) -> Result<Option<Zeroizing<String>>, String> {
        let Some(p) = &self.pre_auth else {
            return Ok(None);
        };
        if let Some((t, until)) = p.token.lock().unwrap_or_else(|e| e.into_inner()).as_ref()
            && Instant::now() < *until
        {
            return Ok(Some(t.clone()));
        }
        let (t, lifetime) = client_credentials_token(
            http,
            &p.token_url,
            &p.client_id,
            &p.client_secret,
            &p.scope,
            p.audience.as_deref(),
            self.timeout,
        )
        .await?;
        // Refreshed a little before it expires.
        let until = Instant::now() + lifetime.saturating_sub(lifetime / 10);
        *p.token.lock().unwrap_or_else(|e| e.into_inner()) = Some((t.clone(), until));
        Ok(Some(t))
    }

    async fn ask(
        &self,
        http: &reqwest::Client,
        token: &str,
        scope: &[String],
    ) -> Result<Value, String> {
        let mut form = vec![("token", token.to_owned())];
        if self.scope_strategy == ScopeStrategy::None && !scope.is_empty() {
            form.push(("scope", scope.join(" ")));
        }
        let mut req = http
            .post(self.url.clone())
            .form(&form)
            .timeout(self.timeout);
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        if let Some(t) = self.bearer(http).await? {
            req = req.bearer_auth(t.as_str());
        }
        let resp = req.send().await.map_err(|e| {
            format!(
                "the introspection endpoint could not be reached: {}",
                e.without_url()
            )
        })?;
        if !resp.status().is_success() {
            if resp.status() == reqwest::StatusCode::UNAUTHORIZED
                && let Some(p) = &self.pre_auth
            {
                *p.token.lock().unwrap_or_else(|e| e.into_inner()) = None;
            }
            return Err(format!(
                "the introspection endpoint answered {}",
                resp.status()
            ));
        }
        let body = read_limited(resp, MAX_RESPONSE_BYTES).await?;
        serde_json::from_slice(&body).map_err(|_| "the introspection answer is not JSON".into())
    }

    pub async fn introspect(
        &self,
        http: &reqwest::Client,
        token: &str,
        required_scope: &[String],
        target_audience: &[String],
        now: i64,
    ) -> Auth {
        let key = cache_key(&[token.as_bytes()]);
        let answer = match self.cache.as_ref().and_then(|c| c.get(&key)) {
            Some(hit) => hit,
            None => match self.ask(http, token, required_scope).await {
                Ok(v) => {
                    let v = Arc::new(v);
                    if let Some(c) = &self.cache
                        && v.get("active") == Some(&Value::Bool(true))
                    {
                        let left = v
                            .get("exp")
                            .and_then(Value::as_i64)
                            .map(|exp| Duration::from_secs(u64::try_from(exp - now).unwrap_or(0)));
                        c.insert(key, v.clone(), left);
                    }
                    v
                }
                Err(e) => {
                    tracing::warn!(error = %e, "remote introspection failed");
                    return Auth::Refused(ErrorKind::Internal, e);
                }
            },
        };
        let unauthorized = |m: &str| Auth::Refused(ErrorKind::Unauthorized, m.to_owned());
        if answer.get("active") != Some(&Value::Bool(true)) {
            return unauthorized("the access token is not active");
        }
        if answer
            .get("exp")
            .and_then(Value::as_i64)
            .is_some_and(|exp| exp <= now)
        {
            return unauthorized("the access token has expired");
        }
        if answer
            .get("nbf")
            .and_then(Value::as_i64)
            .is_some_and(|nbf| nbf > now + 5)
        {
            return unauthorized("the access token is not valid yet");
        }
        let iss = answer
            .get("iss")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !self.trusted_issuers.is_empty() && !self.trusted_issuers.iter().any(|t| t == iss) {
            return unauthorized("the access token's issuer is not trusted");
        }
        let aud = string_or_list(answer.get("aud"));
        if !target_audience.iter().all(|t| aud.contains(&t.as_str())) {
            return Auth::Refused(
                ErrorKind::Forbidden,
                "the access token is not for this audience".into(),
            );
        }
        let scopes: Vec<String> = match (answer.get("scope"), answer.get("scp")) {
            (Some(Value::String(s)), _) => s.split_whitespace().map(str::to_owned).collect(),
            (_, Some(Value::Array(a))) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        };
        if self.scope_strategy != ScopeStrategy::None
            && let Some(missing) = required_scope
                .iter()
                .find(|r| !self.scope_strategy.grants(&scopes, r))
        {
            return Auth::Refused(
                ErrorKind::Forbidden,
                format!("the access token does not grant {missing}"),
            );
        }
        let subject = token_subject(&answer, scopes);
        Auth::Ok(Subject {
            extra: json!({
                "client_id": answer.get("client_id"),
                "scope": answer.get("scope"),
                "ext": answer.get("ext"),
                "iss": answer.get("iss"),
                "aud": answer.get("aud"),
            }),
            ..subject
        })
    }
}

#[cfg(test)]
mod tests {
    use super::ScopeStrategy;

    #[test]
    fn scope_strategies() {
        let g = |s: &[&str]| s.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(ScopeStrategy::Exact.grants(&g(&["a", "b"]), "b"));
        assert!(!ScopeStrategy::Exact.grants(&g(&["a"]), "a.b"));
        assert!(ScopeStrategy::Hierarchic.grants(&g(&["a"]), "a.b"));
        assert!(!ScopeStrategy::Hierarchic.grants(&g(&["a"]), "ab"));
        assert!(ScopeStrategy::Wildcard.grants(&g(&["a.*"]), "a.b"));
        assert!(!ScopeStrategy::Wildcard.grants(&g(&["a.*"]), "b.c"));
    }
}
