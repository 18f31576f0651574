//! The `jwt` authenticator's key sets: fetched from `jwks_urls`, kept for `JWKS_TTL`, and
//! fetched again at once (at most once a second per URL) when a token names a key id the cached
//! set lacks — so a key rotation at the issuer is picked up without waiting for the TTL.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use gatehouse_crypto::jwk::{Jwks, PublicJwk};

const JWKS_TTL: Duration = Duration::from_secs(300);
const REFETCH_AT_MOST_EVERY: Duration = Duration::from_secs(1);
const MAX_JWKS_BYTES: usize = 256 * 1024;

#[derive(Default)]
pub struct JwksCache {
    sets: Mutex<HashMap<String, (Vec<PublicJwk>, Instant)>>,
}

impl JwksCache {
    fn cached(&self, url: &str) -> Option<(Vec<PublicJwk>, Instant)> {
        self.sets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(url)
            .cloned()
    }

    async fn fetch(&self, http: &reqwest::Client, url: &str) -> Result<Vec<PublicJwk>, String> {
        let resp = http
            .get(url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| format!("fetching {url}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("fetching {url}: HTTP {}", resp.status()));
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| format!("reading {url}: {e}"))?;
        if body.len() > MAX_JWKS_BYTES {
            return Err(format!("{url}: the key set is larger than 256 KiB"));
        }
        let set: Jwks =
            serde_json::from_slice(&body).map_err(|e| format!("{url}: not a JWK Set: {e}"))?;
        self.sets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(url.to_owned(), (set.keys.clone(), Instant::now()));
        Ok(set.keys)
    }

    /// The keys of every URL; `refresh` fetches again those not fetched in the last second.
    pub async fn keys(
        &self,
        http: &reqwest::Client,
        urls: &[String],
        refresh: bool,
    ) -> Vec<PublicJwk> {
        let mut out = Vec::new();
        for url in urls {
            let cached = self.cached(url);
            let stale = match &cached {
                None => true,
                Some((_, at)) if refresh => at.elapsed() >= REFETCH_AT_MOST_EVERY,
                Some((_, at)) => at.elapsed() >= JWKS_TTL,
            };
            if stale {
                match self.fetch(http, url).await {
                    Ok(keys) => {
                        out.extend(keys);
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "JWKS fetch failed; using the cached keys if any")
                    }
                }
            }
            if let Some((keys, _)) = cached {
                out.extend(keys);
            }
        }
        out
    }
}
