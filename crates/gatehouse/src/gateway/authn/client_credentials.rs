//! `oauth2_client_credentials`: the request's HTTP Basic credentials are exchanged at
//! `token_url` for a client-credentials token with `required_scope`; success means the client
//! is who it says (the subject is its client id), failure is 401. With `cache.enabled`, a
//! success is remembered for `cache.ttl` (at most the token's lifetime) under the SHA-256 of the
//! credentials — never the secret itself.

use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;
use zeroize::Zeroizing;

use crate::error::Result;
use crate::gateway::model::{Auth, Authenticate, Cx, ErrorKind, Request, Subject, config};
use crate::gateway::outbound::{
    CacheConfig, Retry, TtlCache, cache_key, client_credentials_token, http_url,
};

const MAX_CREDENTIALS: usize = 4096;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    token_url: Option<String>,
    #[serde(default)]
    required_scope: Vec<String>,
    cache: Option<CacheConfig>,
    retry: Option<Retry>,
}

#[derive(Debug)]
pub struct ClientCredentials {
    token_url: Url,
    required_scope: Vec<String>,
    timeout: Duration,
    cache: Option<TtlCache<()>>,
}

/// `Authorization: Basic` as (username, password), both form-decoded as RFC 6749 §2.3.1 says.
fn basic(headers: &axum::http::HeaderMap) -> Option<(String, Zeroizing<String>)> {
    let v = headers.get("authorization")?.to_str().ok()?;
    let (scheme, b64) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") || b64.len() > MAX_CREDENTIALS {
        return None;
    }
    let raw = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .ok()?,
    );
    let text = std::str::from_utf8(&raw).ok()?;
    let (user, pass) = text.split_once(':')?;
    let dec = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    let user = dec(user).filter(|u| !u.is_empty())?;
    Some((user, Zeroizing::new(dec(pass)?)))
}

impl ClientCredentials {
    pub fn compile(c: &Value) -> std::result::Result<ClientCredentials, String> {
        let raw: Raw = config(c)?;
        let token_url = http_url(
            "token_url",
            raw.token_url.as_deref().ok_or("needs `token_url`")?,
        )?;
        let cache = match raw.cache {
            Some(c) if c.enabled == Some(true) => Some(TtlCache::new(
                c.ttl.map_or(Duration::from_secs(3600), |d| d.0),
            )),
            _ => None,
        };
        Ok(ClientCredentials {
            token_url,
            required_scope: raw.required_scope,
            timeout: Retry::timeout(raw.retry.as_ref()),
            cache,
        })
    }

    async fn exchange(&self, http: &reqwest::Client, headers: &axum::http::HeaderMap) -> Auth {
        // No Basic credentials: not this authenticator's request.
        let Some((user, pass)) = basic(headers) else {
            return Auth::Skip;
        };
        let ok = || {
            Auth::Ok(Subject {
                id: user.clone(),
                extra: json!({"client_id": user}),
                headers: vec![
                    ("X-User-ID", user.clone()),
                    ("X-Token-Scopes", self.required_scope.join(" ")),
                ],
                scopes: self.required_scope.clone(),
                ..Subject::default()
            })
        };
        let key = cache_key(&[user.as_bytes(), pass.as_bytes()]);
        if let Some(c) = &self.cache
            && c.get(&key).is_some()
        {
            return ok();
        }
        match client_credentials_token(
            http,
            &self.token_url,
            &user,
            &pass,
            &self.required_scope,
            None,
            self.timeout,
        )
        .await
        {
            Ok((_token, lifetime)) => {
                if let Some(c) = &self.cache {
                    c.insert(key, (), Some(lifetime));
                }
                ok()
            }
            Err(e) => {
                tracing::debug!(error = %e, "client credentials refused");
                Auth::Refused(
                    ErrorKind::Unauthorized,
                    "the client credentials are not valid".into(),
                )
            }
        }
    }
}

impl Authenticate for ClientCredentials {
    async fn authenticate(&self, cx: &Cx<'_>, r: &Request<'_>, _: i64) -> Result<Auth> {
        Ok(self.exchange(cx.http, r.headers).await)
    }
}
