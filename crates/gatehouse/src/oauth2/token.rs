//! The token endpoint (RFC 6749 §4.1.3, §4.4, §6): authorization codes are single-use and bound
//! to client, redirect URI and PKCE challenge; reuse of a code revokes what it issued. Refresh
//! tokens rotate on every use; reuse of a rotated token outside the grace period revokes the
//! whole family.

use gatehouse_crypto::{PlainToken, TokenKind};
use gatehouse_protocol::ErrorCode;
use gatehouse_protocol::OAuthError;
use gatehouse_protocol::client::GrantType;
use gatehouse_protocol::pkce::CodeChallenge;
use gatehouse_protocol::scope::Scopes;
use gatehouse_protocol::token::TokenResponse;
use gatehouse_protocol::token_request::{Grant, TokenRequest};
use gatehouse_store::TokenRow;

use super::clients::StoredClient;
use super::issue::Subject;
use super::{GrantData, Provider, kind};
use crate::audit::{Event, event};
use crate::error::{Error, Result};

fn grant_err(msg: &str) -> Error {
    Error::OAuth(OAuthError::invalid_grant(msg.to_owned()))
}

fn unauthorized(g: &str) -> Error {
    Error::OAuth(OAuthError::new(
        ErrorCode::UnauthorizedClient,
        format!("The client is not allowed to use the {g} grant."),
    ))
}

impl Provider {
    pub async fn token(&self, req: TokenRequest, now: i64) -> Result<TokenResponse> {
        let client = self.authenticate(&req.client, now).await?;
        let grant_type = match &req.grant {
            Grant::ClientCredentials { .. } => "client_credentials",
            Grant::AuthorizationCode { .. } => "authorization_code",
            Grant::RefreshToken { .. } => "refresh_token",
        };
        let issued = self.grant(&client, req.grant, now).await?;
        self.metrics
            .tokens_issued
            .get_or_create(&crate::metrics::GrantLabels {
                grant_type: grant_type.to_owned(),
            })
            .inc();
        Ok(issued)
    }

    async fn grant(&self, client: &StoredClient, grant: Grant, now: i64) -> Result<TokenResponse> {
        match grant {
            Grant::ClientCredentials { scope, audience } => {
                self.client_credentials(client, scope, audience, now).await
            }
            Grant::AuthorizationCode {
                code,
                redirect_uri,
                code_verifier,
            } => {
                self.exchange_code(
                    client,
                    &code,
                    redirect_uri.as_deref(),
                    code_verifier.as_deref(),
                    now,
                )
                .await
            }
            Grant::RefreshToken {
                refresh_token,
                scope,
            } => self.refresh(client, &refresh_token, scope, now).await,
        }
    }

    async fn client_credentials(
        &self,
        stored: &StoredClient,
        scope: Scopes,
        audience: Vec<String>,
        now: i64,
    ) -> Result<TokenResponse> {
        let client = &stored.client;
        if !client.allows_grant(GrantType::ClientCredentials) {
            return Err(unauthorized("client_credentials"));
        }
        if !scope.is_subset_of(&client.scopes()) {
            return Err(Error::OAuth(OAuthError::invalid_scope(
                "The client is not allowed to request one or more of the scopes.",
            )));
        }
        if let Some(a) = audience.iter().find(|a| !client.audience.contains(a)) {
            return Err(Error::OAuth(OAuthError::new(
                ErrorCode::InvalidTarget,
                format!("The client is not allowed to request the audience {a:?}."),
            )));
        }
        let grant = GrantData {
            scope: scope.0,
            audience,
            grant_type: "client_credentials".into(),
            requested_at: now,
            ..GrantData::default()
        };
        let who = Subject {
            client,
            subject: &client.client_id,
            family_id: "",
            session_id: None,
        };
        let (access_token, exp) = self.mint_access_token(&who, &grant, now).await?;
        Ok(TokenResponse {
            access_token,
            token_type: "bearer",
            expires_in: exp - now,
            scope: grant.scope.join(" "),
            refresh_token: None,
            id_token: None,
        })
    }

    async fn exchange_code(
        &self,
        stored: &StoredClient,
        code: &str,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
        now: i64,
    ) -> Result<TokenResponse> {
        let client = &stored.client;
        if !client.allows_grant(GrantType::AuthorizationCode) {
            return Err(unauthorized("authorization_code"));
        }
        let invalid = || {
            grant_err(
                "The authorization code is invalid, expired, revoked, or was issued to another client.",
            )
        };
        let token =
            PlainToken::parse_as(code, TokenKind::AuthorizationCode).map_err(|_| invalid())?;
        let hash = token.hash().to_hex();
        let row = self
            .store
            .get_token(&hash)
            .await?
            .filter(|r| r.kind == kind::CODE)
            .ok_or_else(invalid)?;
        if row.client_id != client.client_id {
            return Err(invalid());
        }
        if row.used_at.is_some() || !self.store.use_token(&hash, now).await? {
            // RFC 6749 §4.1.2: a reused code revokes every token issued from it.
            let revoked = self.store.revoke_family(&row.family_id).await?;
            self.purge_tokens(&revoked);
            tracing::warn!(client_id = %client.client_id, "authorization code reused; grant revoked");
            self.audit.record(
                event::CODE_REUSED,
                Event {
                    subject: row.subject.as_deref(),
                    client_id: Some(&client.client_id),
                    ..Event::default()
                },
            );
            return Err(invalid());
        }
        if row.revoked || row.expires_at <= now {
            return Err(invalid());
        }
        let grant: GrantData =
            serde_json::from_str(&row.data).map_err(|e| Error::Internal(e.to_string()))?;
        if let Some(expected) = &grant.redirect_uri {
            match redirect_uri {
                Some(r) if r == expected => {}
                Some(_) => {
                    return Err(grant_err(
                        "The redirect_uri does not match the one used in the authorization request.",
                    ));
                }
                None => {
                    return Err(Error::OAuth(OAuthError::invalid_request(
                        "The redirect_uri parameter is required because it was sent in the authorization request.",
                    )));
                }
            }
        }
        match (&grant.code_challenge, verifier) {
            (Some(ch), Some(v)) => {
                if !CodeChallenge(ch.clone()).verify(v) {
                    return Err(grant_err(
                        "The PKCE code_verifier does not match the code_challenge.",
                    ));
                }
            }
            (Some(_), None) => {
                return Err(Error::OAuth(OAuthError::invalid_request(
                    "The code_verifier parameter is required (PKCE).",
                )));
            }
            (None, Some(_)) => {
                return Err(grant_err(
                    "A code_verifier was sent but the authorization request had no code_challenge.",
                ));
            }
            (None, None) => {}
        }
        let subject = row.subject.clone().unwrap_or_default();
        let who = Subject {
            client,
            subject: &subject,
            family_id: &row.family_id,
            session_id: row.session_id.as_deref(),
        };
        let issued = self.issue_for_grant(&who, &grant, now).await?;
        let data = serde_json::json!({"grant_type": "authorization_code", "scope": issued.scope});
        self.audit.record(
            event::TOKENS_ISSUED,
            Event {
                subject: Some(&subject),
                client_id: Some(&client.client_id),
                data,
                ..Event::default()
            },
        );
        Ok(issued)
    }

    async fn issue_for_grant(
        &self,
        who: &Subject<'_>,
        grant: &GrantData,
        now: i64,
    ) -> Result<TokenResponse> {
        let (access_token, exp) = self.mint_access_token(who, grant, now).await?;
        let offline = grant
            .scope
            .iter()
            .any(|s| s == "offline_access" || s == "offline");
        let refresh_token = if offline && who.client.allows_grant(GrantType::RefreshToken) {
            Some(self.mint_refresh_token(who, grant, now).await?)
        } else {
            None
        };
        let id_token = grant
            .scope
            .iter()
            .any(|s| s == "openid")
            .then(|| self.mint_id_token(who, grant, Some(&access_token), now));
        Ok(TokenResponse {
            access_token,
            token_type: "bearer",
            expires_in: exp - now,
            scope: grant.scope.join(" "),
            refresh_token,
            id_token,
        })
    }

    async fn refresh(
        &self,
        stored: &StoredClient,
        refresh_token: &str,
        scope: Option<Scopes>,
        now: i64,
    ) -> Result<TokenResponse> {
        let client = &stored.client;
        if !client.allows_grant(GrantType::RefreshToken) {
            return Err(unauthorized("refresh_token"));
        }
        let invalid = || {
            grant_err(
                "The refresh token is invalid, expired, revoked, or was issued to another client.",
            )
        };
        let token =
            PlainToken::parse_as(refresh_token, TokenKind::RefreshToken).map_err(|_| invalid())?;
        let hash = token.hash().to_hex();
        let row: TokenRow = self
            .store
            .get_token(&hash)
            .await?
            .filter(|r| r.kind == kind::REFRESH)
            .ok_or_else(invalid)?;
        if row.client_id != client.client_id || row.revoked || row.expires_at <= now {
            return Err(invalid());
        }
        let grace = self
            .config
            .oauth2
            .grant
            .refresh_token
            .rotation_grace_period
            .secs();
        let first_use = row.used_at.is_none() && self.store.use_token(&hash, now).await?;
        if !first_use {
            let used_at = match row.used_at {
                Some(t) => t,
                None => self
                    .store
                    .get_token(&hash)
                    .await?
                    .and_then(|r| r.used_at)
                    .unwrap_or(now),
            };
            if grace == 0 || now - used_at > grace {
                let revoked = self.store.revoke_family(&row.family_id).await?;
                self.purge_tokens(&revoked);
                tracing::warn!(client_id = %client.client_id, "rotated refresh token reused; token family revoked");
                self.audit.record(
                    event::REFRESH_REUSED,
                    Event {
                        subject: row.subject.as_deref(),
                        client_id: Some(&client.client_id),
                        ..Event::default()
                    },
                );
                return Err(invalid());
            }
        }
        let mut grant: GrantData =
            serde_json::from_str(&row.data).map_err(|e| Error::Internal(e.to_string()))?;
        if let Some(narrow) = scope {
            let granted = Scopes(grant.scope.clone());
            if !narrow.is_subset_of(&granted) {
                return Err(Error::OAuth(OAuthError::invalid_scope(
                    "The requested scope exceeds the scope originally granted.",
                )));
            }
            if !narrow.is_empty() {
                grant.scope = narrow.0;
            }
        }
        grant.nonce = None;
        let subject = row.subject.clone().unwrap_or_default();
        let who = Subject {
            client,
            subject: &subject,
            family_id: &row.family_id,
            session_id: row.session_id.as_deref(),
        };
        // The refresh token we rotate away from keeps its original scope for the new one.
        let mut next_grant = grant.clone();
        if let Ok(orig) = serde_json::from_str::<GrantData>(&row.data) {
            next_grant.scope = orig.scope;
        }
        let (access_token, exp) = self.mint_access_token(&who, &grant, now).await?;
        let refresh_token = self.mint_refresh_token(&who, &next_grant, now).await?;
        let id_token = grant
            .scope
            .iter()
            .any(|s| s == "openid")
            .then(|| self.mint_id_token(&who, &grant, Some(&access_token), now));
        Ok(TokenResponse {
            access_token,
            token_type: "bearer",
            expires_in: exp - now,
            scope: grant.scope.join(" "),
            refresh_token: Some(refresh_token),
            id_token,
        })
    }
}
