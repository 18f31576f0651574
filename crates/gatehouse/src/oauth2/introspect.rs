//! Token introspection (RFC 7662) in Hydra's shape, revocation (RFC 7009) and userinfo.
//! Introspection is a hot path: rows are cached by digest and purged on revocation.

use std::sync::Arc;

use gatehouse_crypto::jwt::UnverifiedJwt;
use gatehouse_crypto::{PlainToken, TokenHash, TokenKind};
use gatehouse_protocol::introspection::Introspection;
use gatehouse_store::TokenRow;
use serde_json::{Value, json};

use super::clients::StoredClient;
use super::{GrantData, Provider, kind, stored_grant};
use crate::audit::{Event, event};
use crate::error::Result;

/// A verified, active access token, for userinfo and the gateway.
pub struct ActiveToken {
    pub subject: String,
    pub client_id: String,
    pub grant: GrantData,
}

impl Provider {
    async fn cached_token_row(&self, hash: &str) -> Result<Option<Arc<TokenRow>>> {
        if let Some(r) = self.token_cache.get(hash) {
            return Ok(Some(r));
        }
        match self.store.get_token(hash).await? {
            Some(row) => {
                let row = Arc::new(row);
                self.token_cache.insert(hash.to_owned(), row.clone());
                Ok(Some(row))
            }
            None => Ok(None),
        }
    }

    /// Looks a token up: opaque access or refresh token, or one of our JWT access tokens.
    async fn lookup(&self, token: &str, now: i64) -> Result<Option<(Arc<TokenRow>, &'static str)>> {
        if let Ok(plain) = token.parse::<PlainToken>() {
            let use_ = match plain.kind() {
                TokenKind::AccessToken => "access_token",
                TokenKind::RefreshToken => "refresh_token",
                _ => return Ok(None),
            };
            let row = self.cached_token_row(&plain.hash().to_hex()).await?;
            return Ok(row
                .filter(|r| {
                    !r.revoked
                        && r.expires_at > now
                        && (use_ == "access_token" || r.used_at.is_none())
                })
                .filter(|r| r.kind == kind::ACCESS || r.kind == kind::REFRESH)
                .map(|r| (r, use_)));
        }
        if token.len() > 4096 || token.matches('.').count() != 2 {
            return Ok(None);
        }
        let Ok(jwt) = UnverifiedJwt::parse(token) else {
            return Ok(None);
        };
        // Only our access tokens (RFC 9068 `typ`), never ID or logout tokens signed by the same key.
        if jwt
            .header
            .typ
            .as_deref()
            .is_none_or(|t| !t.eq_ignore_ascii_case("at+jwt"))
        {
            return Ok(None);
        }
        let snap = self.keys.current();
        let Ok(claims) = jwt.verify(&snap.jwks.keys) else {
            return Ok(None);
        };
        if claims.get("iss").and_then(Value::as_str) != Some(&self.issuer)
            || claims
                .get("exp")
                .and_then(Value::as_i64)
                .is_none_or(|e| e <= now)
        {
            return Ok(None);
        }
        let Some(jti) = claims.get("jti").and_then(Value::as_str) else {
            return Ok(None);
        };
        let client_id = claims
            .get("client_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if let Some(row) = self
            .cached_token_row(&TokenHash::of_secret(jti).to_hex())
            .await?
        {
            return Ok((!row.revoked).then_some((row, "access_token")));
        }
        if claims.get("sub").and_then(Value::as_str) != Some(client_id.as_str()) {
            return Ok(None);
        }
        // A client_credentials JWT: self-contained, never stored.
        let s = |v: &Value| v.as_str().map(str::to_owned);
        let grant = GrantData {
            scope: claims
                .get("scp")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(s).collect())
                .unwrap_or_default(),
            audience: claims
                .get("aud")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(s).collect())
                .unwrap_or_default(),
            grant_type: "client_credentials".into(),
            ..GrantData::default()
        };
        let row = TokenRow {
            hash: String::new(),
            kind: kind::JWT_ACCESS.into(),
            client_id: client_id.clone(),
            subject: Some(client_id),
            family_id: String::new(),
            session_id: None,
            data: serde_json::to_string(&grant).unwrap_or_default(),
            created_at: claims
                .get("iat")
                .and_then(Value::as_i64)
                .unwrap_or_default(),
            expires_at: claims
                .get("exp")
                .and_then(Value::as_i64)
                .unwrap_or_default(),
            revoked: false,
            used_at: None,
        };
        Ok(Some((Arc::new(row), "access_token")))
    }

    /// RFC 7662. `required_scope` (Hydra's `scope` parameter): every listed scope must be granted.
    pub async fn introspect(
        &self,
        token: &str,
        required_scope: Option<&str>,
        now: i64,
    ) -> Result<Introspection> {
        let Some((row, token_use)) = self.lookup(token, now).await? else {
            return Ok(Introspection::default());
        };
        let grant = stored_grant(&row)?;
        if let Some(req) = required_scope
            && !req
                .split(' ')
                .filter(|s| !s.is_empty())
                .all(|s| grant.scope.iter().any(|g| g == s))
        {
            return Ok(Introspection::default());
        }
        Ok(Introspection {
            active: true,
            scope: Some(grant.scope.join(" ")),
            client_id: Some(row.client_id.clone()),
            sub: row.subject.clone(),
            exp: Some(row.expires_at),
            iat: Some(row.created_at),
            nbf: Some(row.created_at),
            aud: Some(grant.audience.clone()),
            iss: Some(self.issuer.clone()),
            token_type: Some("Bearer"),
            token_use: Some(token_use),
            ext: grant
                .ext
                .as_object()
                .filter(|m| !m.is_empty())
                .map(|m| Value::Object(m.clone())),
        })
    }

    /// RFC 7662 for an authenticated client (the public endpoint): the answer only for the
    /// client's own tokens, or tokens whose audience names the client or one of the audiences
    /// it may request; `{"active": false}` for everything else, so the endpoint tells a client
    /// nothing about other clients' tokens.
    pub async fn introspect_for(
        &self,
        caller: &gatehouse_protocol::client::Client,
        token: &str,
        required_scope: Option<&str>,
        now: i64,
    ) -> Result<Introspection> {
        let result = self.introspect(token, required_scope, now).await?;
        let own = result.client_id.as_deref() == Some(caller.client_id.as_str());
        let for_caller = result.aud.as_ref().is_some_and(|aud| {
            aud.iter()
                .any(|a| *a == caller.client_id || caller.audience.contains(a))
        });
        Ok(if result.active && (own || for_caller) {
            result
        } else {
            Introspection::default()
        })
    }

    /// An active access token (not a refresh token), for userinfo.
    pub async fn active_access_token(&self, token: &str, now: i64) -> Result<Option<ActiveToken>> {
        match self.lookup(token, now).await? {
            Some((row, "access_token")) => Ok(Some(ActiveToken {
                subject: row.subject.clone().unwrap_or_default(),
                client_id: row.client_id.clone(),
                grant: stored_grant(&row)?,
            })),
            _ => Ok(None),
        }
    }

    /// RFC 7009: revoking a refresh token revokes its whole grant; revoking an access token only
    /// that token. Tokens of other clients and unknown tokens are ignored (still a 200).
    pub async fn revoke(&self, client: &StoredClient, token: &str) -> Result<()> {
        let Ok(plain) = token.parse::<PlainToken>() else {
            return Ok(());
        };
        let hash = plain.hash().to_hex();
        let Some(row) = self.store.get_token(&hash).await? else {
            return Ok(());
        };
        if row.client_id != client.client.client_id {
            return Ok(());
        }
        match plain.kind() {
            TokenKind::RefreshToken => {
                let revoked = self.store.revoke_family(&row.family_id).await?;
                self.purge_tokens(&revoked);
            }
            TokenKind::AccessToken => {
                self.store.revoke_token(&hash).await?;
                self.purge_tokens(&[hash]);
            }
            _ => return Ok(()),
        }
        let data = serde_json::json!({"token_use": if plain.kind() == TokenKind::RefreshToken { "refresh_token" } else { "access_token" }});
        self.audit.record(
            event::TOKEN_REVOKED,
            Event {
                subject: row.subject.as_deref(),
                client_id: Some(&row.client_id),
                data,
                ..Event::default()
            },
        );
        Ok(())
    }

    /// Userinfo claims for a token with the `openid` scope.
    pub fn userinfo(&self, t: &ActiveToken) -> Value {
        let mut out = json!({"sub": t.subject});
        if let Value::Object(extra) = &t.grant.id_token_claims {
            for (k, v) in extra {
                if !matches!(
                    k.as_str(),
                    "sub"
                        | "iss"
                        | "aud"
                        | "exp"
                        | "iat"
                        | "nonce"
                        | "at_hash"
                        | "sid"
                        | "auth_time"
                ) {
                    out[k] = v.clone();
                }
            }
        }
        out
    }
}
