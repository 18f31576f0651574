//! The token endpoint (RFC 6749 §4.1.3, §4.4, §6): authorization codes are single-use and bound
//! to client, redirect URI and PKCE challenge; reuse of a code revokes what it issued. Refresh
//! tokens rotate on every use; reuse of a rotated token outside the grace period revokes the
//! whole family. The decisions are `gatehouse_protocol::token`'s; this file loads the stored
//! code or token, asks, and stores what they decided.

use gatehouse_crypto::{PlainToken, TokenKind};
use gatehouse_protocol::client::GrantType;
use gatehouse_protocol::scope::Scopes;
use gatehouse_protocol::token::{
    self, Refused, StoredToken, TokenResponse, client_credentials, code, refresh,
};
use gatehouse_protocol::token_request::{Grant, TokenRequest};
use gatehouse_store::TokenRow;

use super::clients::StoredClient;
use super::issue::Subject;
use super::{GrantData, Provider, kind, stored_grant};
use crate::audit::{Event, event};
use crate::error::Result;

/// What the store holds of a code or refresh token, for the protocol's checks.
fn as_stored(row: &TokenRow) -> StoredToken<'_> {
    StoredToken {
        client_id: &row.client_id,
        revoked: row.revoked,
        expires_at: row.expires_at,
    }
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
        let grant = client_credentials::grant(client, scope, audience, now)?;
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
        token::allow_grant(client, GrantType::AuthorizationCode)?;
        let token = PlainToken::parse_as(code, TokenKind::AuthorizationCode)
            .map_err(|_| code::invalid())?;
        let hash = token.hash().to_hex();
        let row = self
            .store
            .get_token(&hash)
            .await?
            .filter(|r| r.kind == kind::CODE)
            .ok_or_else(code::invalid)?;
        code::check_client(&as_stored(&row), client)?;
        let claimed = row.used_at.is_none() && self.store.use_token(&hash, now).await?;
        match code::check_claimed(&as_stored(&row), claimed, now) {
            Ok(()) => {}
            Err(Refused::Reused(e)) => {
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
                return Err(e.into());
            }
            Err(Refused::Invalid(e)) => return Err(e.into()),
        }
        let grant = stored_grant(&row)?;
        code::check_request(&grant, redirect_uri, verifier)?;
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
        let refresh_token =
            if grant.is_offline() && who.client.allows_grant(GrantType::RefreshToken) {
                Some(self.mint_refresh_token(who, grant, now).await?)
            } else {
                None
            };
        let id_token = grant
            .is_openid()
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
        token::allow_grant(client, GrantType::RefreshToken)?;
        let token = PlainToken::parse_as(refresh_token, TokenKind::RefreshToken)
            .map_err(|_| refresh::invalid())?;
        let hash = token.hash().to_hex();
        let row: TokenRow = self
            .store
            .get_token(&hash)
            .await?
            .filter(|r| r.kind == kind::REFRESH)
            .ok_or_else(refresh::invalid)?;
        refresh::check_token(&as_stored(&row), client, now)?;
        // Read before the token is used up: an unreadable grant is an internal error that
        // leaves the token as it was.
        let original = stored_grant(&row)?;
        let grace = self
            .config
            .oauth2
            .grant
            .refresh_token
            .rotation_grace_period
            .secs();
        let first_use = row.used_at.is_none() && self.store.use_token(&hash, now).await?;
        let previous_use = if first_use {
            None
        } else {
            Some(match row.used_at {
                Some(t) => t,
                None => self
                    .store
                    .get_token(&hash)
                    .await?
                    .and_then(|r| r.used_at)
                    .unwrap_or(now),
            })
        };
        match refresh::check_rotation(previous_use, grace, now) {
            Ok(_) => {}
            Err(Refused::Invalid(e)) => return Err(e.into()),
            Err(Refused::Reused(e)) => {
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
                return Err(e.into());
            }
        }
        let refresh::Rotated {
            access: grant,
            refresh: next_grant,
        } = refresh::rotate(original, scope)?;
        let subject = row.subject.clone().unwrap_or_default();
        let who = Subject {
            client,
            subject: &subject,
            family_id: &row.family_id,
            session_id: row.session_id.as_deref(),
        };
        let (access_token, exp) = self.mint_access_token(&who, &grant, now).await?;
        let refresh_token = self.mint_refresh_token(&who, &next_grant, now).await?;
        let id_token = grant
            .is_openid()
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
