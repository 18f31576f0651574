//! What every handler that calls another service shares: URLs checked when the rules load
//! (http or https only), a per-call timeout, a bound on the response size, and a small cache
//! with a per-handler TTL whose keys are SHA-256 digests (a token or a password is never a key,
//! and never logged), and the client-credentials token fetch that `oauth2_client_credentials`
//! and an introspection endpoint's `pre_authorization` both make.

use std::time::{Duration, Instant};

use serde::Deserialize;
use url::Url;

use crate::config::Dur;

/// How long a call may take unless `retry.give_up_after` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest response body read from a remote handler endpoint.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// How many results one handler keeps.
const CACHE_CAPACITY: u64 = 10_000;

/// An absolute http(s) URL, or why not.
pub fn http_url(key: &str, s: &str) -> Result<Url, String> {
    let u = Url::parse(s).map_err(|e| format!("`{key}`: `{s}`: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        return Err(format!("`{key}`: `{s}` must be an http:// or https:// URL"));
    }
    Ok(u)
}

/// Oathkeeper's `retry` block; `give_up_after` bounds each call (there are no retries: a
/// decision waits for one attempt).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    pub give_up_after: Option<Dur>,
    pub max_delay: Option<Dur>,
}

impl Retry {
    pub fn timeout(r: Option<&Retry>) -> Duration {
        r.and_then(|r| r.give_up_after)
            .map(|d| d.0)
            .filter(|d| !d.is_zero())
            .unwrap_or(DEFAULT_TIMEOUT)
    }
}

/// Oathkeeper's `cache` block.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    #[serde(default)]
    pub enabled: Option<bool>,
    pub ttl: Option<Dur>,
    /// Accepted for compatibility; the cache holds at most 10,000 results.
    pub max_cost: Option<u64>,
    /// Accepted for compatibility (`oauth2_client_credentials`).
    pub max_tokens: Option<u64>,
}

/// Reads a response body, refusing one larger than `limit`.
pub async fn read_limited(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, String> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(format!("the response is larger than {limit} bytes"));
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| format!("reading: {e}"))? {
        if out.len() + chunk.len() > limit {
            return Err(format!("the response is larger than {limit} bytes"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// A digest of several parts, each length-prefixed so that no two lists share one.
pub fn cache_key(parts: &[&[u8]]) -> [u8; 32] {
    let mut buf = Vec::new();
    for p in parts {
        buf.extend_from_slice(&(p.len() as u64).to_be_bytes());
        buf.extend_from_slice(p);
    }
    gatehouse_crypto::sha256(&buf)
}

/// Results by digest, each until its own deadline (at most the handler's TTL).
pub struct TtlCache<V: Clone + Send + Sync + 'static> {
    inner: moka::sync::Cache<[u8; 32], (Instant, V)>,
    ttl: Duration,
}

impl<V: Clone + Send + Sync + 'static> TtlCache<V> {
    pub fn new(ttl: Duration) -> TtlCache<V> {
        TtlCache {
            inner: moka::sync::Cache::builder()
                .max_capacity(CACHE_CAPACITY)
                .time_to_live(ttl.max(Duration::from_millis(1)))
                .build(),
            ttl,
        }
    }

    pub fn get(&self, key: &[u8; 32]) -> Option<V> {
        match self.inner.get(key) {
            Some((until, v)) if Instant::now() < until => Some(v),
            Some(_) => {
                self.inner.invalidate(key);
                None
            }
            None => None,
        }
    }

    /// Keeps `v` for the TTL, or for `at_most` when that is shorter.
    pub fn insert(&self, key: [u8; 32], v: V, at_most: Option<Duration>) {
        let ttl = at_most.map_or(self.ttl, |d| d.min(self.ttl));
        if ttl.is_zero() {
            return;
        }
        self.inner.insert(key, (Instant::now() + ttl, v));
    }
}

impl<V: Clone + Send + Sync + 'static> std::fmt::Debug for TtlCache<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TtlCache(ttl {:?})", self.ttl)
    }
}

/// A client-credentials token from `token_url` (RFC 6749 §4.4), with its lifetime.
pub async fn client_credentials_token(
    http: &reqwest::Client,
    token_url: &Url,
    client_id: &str,
    client_secret: &str,
    scope: &[String],
    audience: Option<&str>,
    timeout: Duration,
) -> Result<(zeroize::Zeroizing<String>, Duration), String> {
    let mut form: Vec<(&str, String)> = vec![("grant_type", "client_credentials".into())];
    if !scope.is_empty() {
        form.push(("scope", scope.join(" ")));
    }
    if let Some(a) = audience {
        form.push(("audience", a.to_owned()));
    }
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let resp = http
        .post(token_url.clone())
        .basic_auth(enc(client_id), Some(enc(client_secret)))
        .form(&form)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| {
            format!(
                "the token endpoint could not be reached: {}",
                e.without_url()
            )
        })?;
    if !resp.status().is_success() {
        return Err(format!("the token endpoint answered {}", resp.status()));
    }
    let body = read_limited(resp, 64 * 1024).await?;
    let v: serde_json::Value =
        serde_json::from_slice(&body).map_err(|_| "the token answer is not JSON")?;
    let token = v
        .get("access_token")
        .and_then(serde_json::Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or("the token answer has no access_token")?;
    let lifetime = v
        .get("expires_in")
        .and_then(serde_json::Value::as_u64)
        .map_or(Duration::from_secs(300), Duration::from_secs);
    Ok((zeroize::Zeroizing::new(token.to_owned()), lifetime))
}

/// A value at a dotted path (`identity.id`; `@this` or empty: the whole document).
pub fn at_path<'a>(v: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    if path.is_empty() || path == "@this" {
        return Some(v);
    }
    path.split('.').try_fold(v, |cur, k| match cur {
        serde_json::Value::Array(a) => k.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => cur.get(k),
    })
}

/// Checks a dotted path when the rules load.
pub fn check_path(key: &str, path: &str) -> Result<(), String> {
    if path == "@this" {
        return Ok(());
    }
    if path.is_empty()
        || path.len() > 256
        || path.split('.').any(|p| {
            p.is_empty()
                || !p
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
    {
        return Err(format!(
            "`{key}`: `{path}` is not a dotted path (like `identity.id`) or `@this`"
        ));
    }
    Ok(())
}
