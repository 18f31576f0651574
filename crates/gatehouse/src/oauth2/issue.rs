//! Minting tokens: opaque access and refresh tokens (stored by digest), RFC 9068 JWT access
//! tokens, and OpenID Connect ID tokens.

use gatehouse_crypto::{PlainToken, TokenHash, TokenKind, b64, jwt};
use gatehouse_protocol::client::Client;
use gatehouse_store::TokenRow;
use serde_json::{Map, Value, json};

use super::{GrantData, Provider, kind};
use crate::config::AccessTokenStrategy;
use crate::error::{Error, Result};

/// Who a token is for and which grant it belongs to.
pub struct Subject<'a> {
    pub client: &'a Client,
    /// The end user; for client_credentials the client itself.
    pub subject: &'a str,
    /// Empty for tokens that belong to no grant family (client_credentials).
    pub family_id: &'a str,
    pub session_id: Option<&'a str>,
}

impl Provider {
    pub fn strategy_for(&self, client: &Client) -> AccessTokenStrategy {
        match client.access_token_strategy.as_str() {
            "jwt" => AccessTokenStrategy::Jwt,
            "opaque" => AccessTokenStrategy::Opaque,
            _ => self.config.strategies.access_token,
        }
    }

    fn token_row(
        &self,
        hash: String,
        kind: &str,
        who: &Subject<'_>,
        grant: &GrantData,
        now: i64,
        exp: i64,
    ) -> Result<TokenRow> {
        Ok(TokenRow {
            hash,
            kind: kind.to_owned(),
            client_id: who.client.client_id.clone(),
            subject: Some(who.subject.to_owned()),
            family_id: who.family_id.to_owned(),
            session_id: who.session_id.map(str::to_owned),
            data: serde_json::to_string(grant).map_err(|e| Error::Internal(e.to_string()))?,
            created_at: now,
            expires_at: exp,
            revoked: false,
            used_at: None,
        })
    }

    /// An access token and its expiry. JWT tokens are stored (by `jti` digest) only when they
    /// belong to a grant family, so revoking the grant revokes them for introspection too.
    pub async fn mint_access_token(
        &self,
        who: &Subject<'_>,
        grant: &GrantData,
        now: i64,
    ) -> Result<(String, i64)> {
        let exp = now + self.config.ttl.access_token.secs();
        match self.strategy_for(who.client) {
            AccessTokenStrategy::Opaque => {
                let token = PlainToken::generate(TokenKind::AccessToken);
                let row =
                    self.token_row(token.hash().to_hex(), kind::ACCESS, who, grant, now, exp)?;
                self.store.insert_token(&row).await?;
                Ok((token.expose().to_owned(), exp))
            }
            AccessTokenStrategy::Jwt => {
                let jti = uuid::Uuid::new_v4().to_string();
                let mut aud: Vec<Value> = grant
                    .audience
                    .iter()
                    .map(|a| Value::String(a.clone()))
                    .collect();
                if aud.is_empty() {
                    aud.push(Value::String(who.client.client_id.clone()));
                }
                let mut claims = json!({
                    "iss": self.issuer,
                    "sub": who.subject,
                    "aud": aud,
                    "exp": exp,
                    "iat": now,
                    "nbf": now,
                    "jti": jti,
                    "client_id": who.client.client_id,
                    "scope": grant.scope.join(" "),
                    "scp": grant.scope,
                });
                if let Some(t) = grant.auth_time {
                    claims["auth_time"] = json!(t);
                }
                if let Some(a) = &grant.acr {
                    claims["acr"] = json!(a);
                }
                if grant.ext.as_object().is_some_and(|m| !m.is_empty()) {
                    claims["ext"] = grant.ext.clone();
                }
                let snap = self.keys.current();
                let token = jwt::sign(&snap.signing, Some("at+jwt"), &claims);
                if !who.family_id.is_empty() {
                    let row = self.token_row(
                        TokenHash::of_secret(&jti).to_hex(),
                        kind::JWT_ACCESS,
                        who,
                        grant,
                        now,
                        exp,
                    )?;
                    self.store.insert_token(&row).await?;
                }
                Ok((token, exp))
            }
        }
    }

    pub async fn mint_refresh_token(
        &self,
        who: &Subject<'_>,
        grant: &GrantData,
        now: i64,
    ) -> Result<String> {
        let token = PlainToken::generate(TokenKind::RefreshToken);
        let exp = now + self.config.ttl.refresh_token.secs();
        let row = self.token_row(token.hash().to_hex(), kind::REFRESH, who, grant, now, exp)?;
        self.store.insert_token(&row).await?;
        Ok(token.expose().to_owned())
    }

    /// An ID token (OIDC Core §2) with `at_hash` for the access token issued beside it.
    pub fn mint_id_token(
        &self,
        who: &Subject<'_>,
        grant: &GrantData,
        access_token: Option<&str>,
        now: i64,
    ) -> String {
        let snap = self.keys.current();
        let mut claims = Map::new();
        if let Value::Object(extra) = &grant.id_token_claims {
            for (k, v) in extra {
                claims.insert(k.clone(), v.clone());
            }
        }
        let mut set = |k: &str, v: Value| {
            claims.insert(k.to_owned(), v);
        };
        set("iss", json!(self.issuer));
        set("sub", json!(who.subject));
        set("aud", json!([who.client.client_id]));
        set("exp", json!(now + self.config.ttl.id_token.secs()));
        set("iat", json!(now));
        set("jti", json!(uuid::Uuid::new_v4().to_string()));
        set("rat", json!(grant.requested_at));
        if let Some(t) = grant.auth_time {
            set("auth_time", json!(t));
        }
        if let Some(n) = &grant.nonce {
            set("nonce", json!(n));
        }
        if let Some(a) = &grant.acr {
            set("acr", json!(a));
        }
        if !grant.amr.is_empty() {
            set("amr", json!(grant.amr));
        }
        if let Some(sid) = who.session_id {
            set("sid", json!(sid));
        }
        if let Some(at) = access_token {
            set("at_hash", json!(half_hash(at)));
        }
        jwt::sign(&snap.signing, None, &Value::Object(claims))
    }
}

/// `at_hash`: the left half of the SHA-256 of the token, base64url (OIDC Core §3.1.3.6; all our
/// algorithms use SHA-256).
pub fn half_hash(token: &str) -> String {
    let d = gatehouse_crypto::sha256(token.as_bytes());
    b64::encode(&d[..16])
}
