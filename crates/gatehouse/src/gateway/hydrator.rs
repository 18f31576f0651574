//! The `hydrator` mutator: POSTs `{subject, extra, header, match_context}` (Oathkeeper's
//! shape) as JSON to `api.url` (with `api.auth.basic` when set); the answer's `extra` and
//! `header` replace the subject's extra and the headers set so far (the subject itself never
//! changes). Any failure refuses the request (500). With `cache.enabled`, answers are kept for
//! `cache.ttl` (default 1 minute) by the SHA-256 of the request body.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;
use zeroize::Zeroizing;

use super::model::{ErrorKind, Request, config};
use super::outbound::{
    CacheConfig, MAX_RESPONSE_BYTES, Retry, TtlCache, cache_key, http_url, read_limited,
};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BasicRaw {
    username: String,
    password: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthRaw {
    basic: Option<BasicRaw>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiRaw {
    url: Option<String>,
    auth: Option<AuthRaw>,
    retry: Option<Retry>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    api: Option<ApiRaw>,
    cache: Option<CacheConfig>,
}

pub struct Hydrator {
    url: Url,
    basic: Option<(String, Zeroizing<String>)>,
    timeout: Duration,
    cache: Option<TtlCache<Arc<Hydrated>>>,
}

impl std::fmt::Debug for Hydrator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hydrator")
            .field("url", &self.url.as_str())
            .finish_non_exhaustive()
    }
}

/// What the hydrator answered.
#[derive(Debug)]
pub struct Hydrated {
    pub extra: Option<Value>,
    /// Header name and value (several values joined with `, `).
    pub header: Option<Vec<(String, String)>>,
}

impl Hydrator {
    pub fn compile(c: &Value) -> Result<Hydrator, String> {
        let raw: Raw = config(c)?;
        let api = raw.api.ok_or("needs `api.url`")?;
        let url = http_url("api.url", api.url.as_deref().ok_or("needs `api.url`")?)?;
        let basic = api
            .auth
            .and_then(|a| a.basic)
            .map(|b| (b.username, Zeroizing::new(b.password)));
        let cache = match raw.cache {
            Some(c) if c.enabled.unwrap_or(true) => Some(TtlCache::new(
                c.ttl.map_or(Duration::from_secs(60), |d| d.0),
            )),
            _ => None,
        };
        Ok(Hydrator {
            url,
            basic,
            timeout: Retry::timeout(api.retry.as_ref()),
            cache,
        })
    }

    pub async fn hydrate(
        &self,
        http: &reqwest::Client,
        subject: &str,
        extra: &Value,
        header: &[(String, String)],
        r: &Request<'_>,
    ) -> Result<Arc<Hydrated>, (ErrorKind, String)> {
        let mut sent: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (k, v) in header {
            sent.entry(k.as_str()).or_default().push(v.as_str());
        }
        let mut request_headers: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        // Per-request tracing headers are left out, so the cache key is the same for the same
        // request.
        for (k, v) in r.headers.iter().take(100) {
            if matches!(k.as_str(), "x-request-id" | "traceparent" | "tracestate") {
                continue;
            }
            if let Ok(v) = v.to_str() {
                request_headers.entry(k.as_str()).or_default().push(v);
            }
        }
        let body = json!({
            "subject": subject,
            "extra": extra,
            "header": sent,
            "match_context": {
                "regexp_capture_groups": [],
                "url": format!("{}://{}{}", r.scheme, r.host, r.uri),
                "method": r.method,
                "header": request_headers,
            },
        })
        .to_string();
        let key = cache_key(&[body.as_bytes()]);
        if let Some(hit) = self.cache.as_ref().and_then(|c| c.get(&key)) {
            return Ok(hit);
        }
        let internal = |m: String| (ErrorKind::Internal, m);
        let mut req = http
            .post(self.url.clone())
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .body(body)
            .timeout(self.timeout);
        if let Some((u, p)) = &self.basic {
            req = req.basic_auth(u, Some(p.as_str()));
        }
        let resp = req.send().await.map_err(|e| {
            tracing::warn!(error = %e.without_url(), url = %self.url, "hydrator failed");
            internal("the hydrator could not be reached".into())
        })?;
        if resp.status() != reqwest::StatusCode::OK {
            return Err(internal(format!("the hydrator answered {}", resp.status())));
        }
        let bytes = read_limited(resp, MAX_RESPONSE_BYTES)
            .await
            .map_err(|e| internal(format!("hydrator: {e}")))?;
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|_| internal("the hydrator did not answer JSON".into()))?;
        let header = match v.get("header") {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => {
                let mut out = Vec::new();
                for (k, vals) in m {
                    let joined = match vals {
                        Value::Array(a) => a
                            .iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(", "),
                        Value::String(s) => s.clone(),
                        _ => continue,
                    };
                    if axum::http::HeaderName::from_bytes(k.as_bytes()).is_ok() {
                        out.push((k.clone(), joined));
                    }
                }
                Some(out)
            }
            Some(_) => return Err(internal("the hydrator's `header` is not an object".into())),
        };
        let hydrated = Arc::new(Hydrated {
            extra: v.get("extra").filter(|e| !e.is_null()).cloned(),
            header,
        });
        if let Some(c) = &self.cache {
            c.insert(key, hydrated.clone(), None);
        }
        Ok(hydrated)
    }
}
