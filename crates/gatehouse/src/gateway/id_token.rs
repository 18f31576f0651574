//! The `id_token` mutator: a short-lived JWT for the upstream, signed with Gatehouse's current
//! signing key (the one the OAuth provider signs ID tokens with), so the upstream verifies it
//! with Gatehouse's `/.well-known/jwks.json`. `iss` is `issuer_url` or Gatehouse's issuer, `sub`
//! the subject, `claims` a JSON template (e.g. `{"aud": ["app"], "email":
//! "{{ print .Extra.email }}"}`), `exp` = now + `ttl` (default 1 minute), `iat`, `nbf` and a
//! fresh `jti`; the registered claims are always Gatehouse's. Sent as
//! `Authorization: Bearer <jwt>`, as Oathkeeper does.
//!
//! Signing is the expensive part of a decision, so a token is reused for the first half of its
//! life for the same key, issuer, subject and rendered claims (Oathkeeper caches it too): the
//! upstream always gets a token with at least `ttl / 2` left, and a revoked session never
//! reaches the mutators.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::model::config;
use super::outbound::{TtlCache, cache_key, http_url};
use super::template::{Context, Escape, Template};
use crate::config::Dur;

const DEFAULT_TTL: Duration = Duration::from_secs(60);
const MAX_TTL: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    issuer_url: Option<String>,
    claims: Option<String>,
    ttl: Option<Dur>,
    jwks_url: Option<String>,
}

#[derive(Debug)]
pub struct IdToken {
    issuer: Option<String>,
    claims: Option<Template>,
    ttl: i64,
    /// Signed tokens by (kid, iss, sub, rendered claims), for `ttl / 2`.
    minted: TtlCache<String>,
}

impl IdToken {
    pub fn compile(c: &Value) -> Result<IdToken, String> {
        let raw: Raw = config(c)?;
        if raw.jwks_url.is_some() {
            return Err(
                "`jwks_url`: Gatehouse signs with its own current key (published at /.well-known/jwks.json); remove the key"
                    .into(),
            );
        }
        let issuer = match raw.issuer_url {
            Some(u) => {
                http_url("issuer_url", &u)?;
                Some(u)
            }
            None => None,
        };
        let claims = match raw.claims {
            None => None,
            Some(t) => {
                let tpl = Template::parse(&t).map_err(|e| format!("`claims`: {e}"))?;
                match tpl.probe_json() {
                    Ok(Value::Object(_)) => {}
                    _ => return Err("`claims` must be a JSON object".into()),
                }
                Some(tpl)
            }
        };
        let ttl = raw.ttl.map_or(DEFAULT_TTL, |d| d.0);
        if ttl.is_zero() || ttl > MAX_TTL {
            return Err("`ttl` must be between 1s and 24h".into());
        }
        Ok(IdToken {
            issuer,
            claims,
            ttl: i64::try_from(ttl.as_secs()).unwrap_or(60),
            minted: TtlCache::new(ttl / 2),
        })
    }

    /// The signed token: a fresh one, or the same one again within the first half of its life.
    pub fn mint(
        &self,
        key: &gatehouse_crypto::SigningKey,
        default_issuer: &str,
        ctx: &Context<'_>,
        now: i64,
    ) -> Result<String, String> {
        let mut rendered = String::new();
        if let Some(t) = &self.claims {
            t.render_into(&mut rendered, ctx, Escape::Json);
        }
        let iss = self.issuer.as_deref().unwrap_or(default_issuer);
        let cached = cache_key(&[
            key.kid().as_bytes(),
            iss.as_bytes(),
            ctx.subject.as_bytes(),
            rendered.as_bytes(),
        ]);
        if let Some(jwt) = self.minted.get(&cached) {
            return Ok(jwt);
        }
        let mut claims = if self.claims.is_none() {
            serde_json::Map::new()
        } else {
            match serde_json::from_str::<Value>(&rendered) {
                Ok(Value::Object(m)) => m,
                _ => return Err("the rendered `claims` are not a JSON object".into()),
            }
        };
        claims.insert("iss".into(), Value::from(iss));
        claims.insert("sub".into(), Value::from(ctx.subject));
        claims.insert("iat".into(), Value::from(now));
        claims.insert("nbf".into(), Value::from(now));
        claims.insert("exp".into(), Value::from(now + self.ttl));
        claims.insert("jti".into(), Value::from(uuid::Uuid::new_v4().to_string()));
        let jwt = gatehouse_crypto::jwt::sign(key, Some("JWT"), &Value::Object(claims));
        self.minted.insert(cached, jwt.clone(), None);
        Ok(jwt)
    }
}
