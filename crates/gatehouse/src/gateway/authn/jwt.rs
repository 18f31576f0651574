//! `jwt`: a compact JWS bearer token (or one from `token_from`) whose signature verifies against
//! the configured `jwks_urls` (a key id not seen yet fetches them again, once), then `exp`,
//! `nbf`, `trusted_issuers`, `target_audience` (all) and `required_scope` (`scp` or `scope`).
//! A verified signature is remembered per token digest for a minute (never past `exp`); the
//! claim checks run on every request. The subject's `.Extra` is the claims.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::credentials::scope;
use crate::error::Result;
use crate::gateway::extract::{TokenFrom, TokenFromRaw, bearer, configured_token};
use crate::gateway::model::{
    Auth, Authenticate, Cx, ErrorKind, Request, Subject, config, string_or_list, token_subject,
};
use crate::gateway::outbound::{TtlCache, http_url};

/// How long a verified signature is remembered (the JWKS itself is kept 5 minutes).
pub const JWT_VERIFIED_TTL: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct Jwt {
    token_from: Option<TokenFrom>,
    required_scope: Vec<String>,
    target_audience: Vec<String>,
    jwks_urls: Vec<String>,
    trusted_issuers: Vec<String>,
    allowed_algorithms: Vec<String>,
    /// Claims of tokens whose signature verified, by token digest: a signature is checked once
    /// per token and minute (never past its `exp`); the claim checks run every time.
    verified: TtlCache<Arc<Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    token_from: Option<TokenFromRaw>,
    #[serde(default)]
    required_scope: Vec<String>,
    #[serde(default)]
    target_audience: Vec<String>,
    #[serde(default)]
    jwks_urls: Vec<String>,
    #[serde(default)]
    trusted_issuers: Vec<String>,
    #[serde(default)]
    allowed_algorithms: Vec<String>,
}

impl Jwt {
    pub fn compile(c: &Value) -> std::result::Result<Jwt, String> {
        let raw: Raw = config(c)?;
        if raw.jwks_urls.is_empty() {
            return Err("needs `jwks_urls`".into());
        }
        for u in &raw.jwks_urls {
            http_url("jwks_urls", u)?;
        }
        for a in &raw.allowed_algorithms {
            if gatehouse_crypto::Algorithm::parse(a).is_none() {
                return Err(format!(
                    "`allowed_algorithms`: `{a}` is not supported (ES256, RS256, EdDSA)"
                ));
            }
        }
        Ok(Jwt {
            token_from: raw.token_from.map(TokenFromRaw::compile).transpose()?,
            required_scope: raw.required_scope,
            target_audience: raw.target_audience,
            jwks_urls: raw.jwks_urls,
            trusted_issuers: raw.trusted_issuers,
            allowed_algorithms: raw.allowed_algorithms,
            verified: TtlCache::new(JWT_VERIFIED_TTL),
        })
    }

    async fn verify(&self, cx: &Cx<'_>, token: &str, now: i64) -> Auth {
        let refused = |why: &str| Auth::Refused(ErrorKind::Unauthorized, why.to_owned());
        let digest = gatehouse_crypto::sha256(token.as_bytes());
        let claims = match self.verified.get(&digest) {
            Some(claims) => claims,
            None => match self.verify_signature(cx, token).await {
                Ok(claims) => {
                    let claims = Arc::new(claims);
                    // Never remembered past its own expiry (an expired one is refused below).
                    if let Some(left) = claims
                        .get("exp")
                        .and_then(Value::as_i64)
                        .and_then(|exp| u64::try_from(exp - now).ok())
                    {
                        self.verified.insert(
                            digest,
                            claims.clone(),
                            Some(Duration::from_secs(left)),
                        );
                    }
                    claims
                }
                Err(why) => return refused(why),
            },
        };
        let num = |k: &str| claims.get(k).and_then(Value::as_i64);
        match num("exp") {
            Some(exp) if exp > now => {}
            Some(_) => return refused("the JWT has expired"),
            None => return refused("the JWT has no `exp`"),
        }
        if num("nbf").is_some_and(|nbf| nbf > now + 5) {
            return refused("the JWT is not valid yet");
        }
        let iss = claims
            .get("iss")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !self.trusted_issuers.is_empty() && !self.trusted_issuers.iter().any(|t| t == iss) {
            return refused("the JWT's issuer is not trusted");
        }
        let aud = string_or_list(claims.get("aud"));
        if !self
            .target_audience
            .iter()
            .all(|t| aud.contains(&t.as_str()))
        {
            return Auth::Refused(
                ErrorKind::Forbidden,
                "the JWT is not for this audience".into(),
            );
        }
        let scopes: Vec<String> = match (claims.get("scp"), claims.get("scope")) {
            (Some(Value::Array(a)), _) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            (_, Some(Value::String(s))) => s.split_whitespace().map(str::to_owned).collect(),
            _ => Vec::new(),
        };
        if let Some(missing) = self
            .required_scope
            .iter()
            .find(|r| !scopes.iter().any(|g| g == *r || scope::grants(g, r)))
        {
            return Auth::Refused(
                ErrorKind::Forbidden,
                format!("the JWT does not grant {missing}"),
            );
        }
        let subject = token_subject(&claims, scopes);
        Auth::Ok(Subject {
            extra: Value::clone(&claims),
            ..subject
        })
    }

    /// The claims of a JWT whose signature verifies against the configured JWKS.
    async fn verify_signature(
        &self,
        cx: &Cx<'_>,
        token: &str,
    ) -> std::result::Result<Value, &'static str> {
        use gatehouse_crypto::jwt::{JwtError, UnverifiedJwt};
        let Ok(parsed) = UnverifiedJwt::parse(token) else {
            return Err("the JWT is malformed");
        };
        if !self.allowed_algorithms.is_empty()
            && !self.allowed_algorithms.contains(&parsed.header.alg)
        {
            return Err("the JWT's algorithm is not allowed");
        }
        let keys = cx.jwks.keys(cx.http, &self.jwks_urls, false).await;
        match parsed.verify(&keys) {
            Ok(claims) => Ok(claims),
            // A key id we do not know: the issuer may have rotated; fetch again once.
            Err(JwtError::UnknownKey) => {
                let keys = cx.jwks.keys(cx.http, &self.jwks_urls, true).await;
                UnverifiedJwt::parse(token)
                    .and_then(|p| p.verify(&keys))
                    .map_err(|_| "the JWT's signature does not verify")
            }
            Err(_) => Err("the JWT's signature does not verify"),
        }
    }
}

impl Authenticate for Jwt {
    async fn authenticate(&self, cx: &Cx<'_>, r: &Request<'_>, now: i64) -> Result<Auth> {
        let token = configured_token(&self.token_from, r)
            .unwrap_or_else(|| bearer(r.headers).map(str::to_owned));
        // Only a three-part compact JWS is this authenticator's.
        let Some(token) = token.filter(|t| t.split('.').count() == 3) else {
            return Ok(Auth::Skip);
        };
        Ok(self.verify(cx, &token, now).await)
    }
}
