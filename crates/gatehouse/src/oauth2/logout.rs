//! Logout: RP-initiated (OIDC RP-Initiated Logout 1.0) through a logout app in Hydra's model
//! (`logout_challenge`, admin accept/reject), then front-channel iframes and back-channel logout
//! tokens (OIDC Back-Channel Logout 1.0, see [`super::backchannel`]) to every client that got
//! tokens in the session.
//!
//! Without `urls.logout` the logout app is Gatehouse's own confirmation page (`/ui/logout`),
//! which acts on a challenge only in the browser whose login session it would end
//! ([`Provider::browser_logout_request`]). That page is skipped when the request carries an
//! `id_token_hint` that is the ID token of the browser's current login session (same `sub` and
//! `sid`): RP-Initiated Logout §2 requires asking only when no hint was given or it does not
//! belong to the current session. A configured logout app is always asked, as Hydra does.

use gatehouse_crypto::jwt::UnverifiedJwt;
use gatehouse_crypto::{PlainToken, TokenKind};
use gatehouse_protocol::OAuthError;
use gatehouse_store::{LoginSessionRow, TokenRow};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::flows::{SESSION_COOKIE, SetCookie};
use super::login_session::LoginSessionData;
use super::{Provider, kind};
use crate::audit::{Event, event};
use crate::error::{Error, Result, decode_stored};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogoutFlow {
    pub id: String,
    pub subject: Option<String>,
    pub sid: Option<String>,
    pub client_id: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
    pub rp_initiated: bool,
    pub request_url: String,
    pub accepted: bool,
}

/// What the browser gets at the end of a logout.
#[derive(Debug)]
pub enum LogoutOutcome {
    Redirect {
        location: String,
        cookies: Vec<SetCookie>,
    },
    /// Front-channel logout iframes, then on to `next`.
    Frontchannel {
        iframes: Vec<String>,
        next: String,
        cookies: Vec<SetCookie>,
    },
    Page(OAuthError),
}

/// A logout request as the built-in confirmation page shows it.
#[derive(Debug, Clone)]
pub struct BrowserLogoutRequest {
    /// The subject whose login session the request ends.
    pub subject: Option<String>,
    /// The client that asked (`client_id` or the hint's audience), when it exists.
    pub client: Option<gatehouse_protocol::client::Client>,
    /// Where the browser goes afterwards, as the request asked (registered for the client,
    /// checked when the request was made).
    pub post_logout_redirect_uri: Option<String>,
}

/// The claims of a verified `id_token_hint` that logout looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hint {
    aud: Option<String>,
    sub: Option<String>,
    sid: Option<String>,
}

impl Hint {
    /// An ID token this issuer signed (it may have expired: RP-Initiated Logout §2), or the
    /// reason it is not one. Access and logout tokens are JWTs signed with the same keys but are
    /// typed (`at+jwt`, `logout+jwt`); they are no ID tokens.
    fn verify(
        hint: &str,
        issuer: &str,
        keys: &[gatehouse_crypto::jwk::PublicJwk],
    ) -> Result<Hint, &'static str> {
        let jwt = UnverifiedJwt::parse(hint)
            .map_err(|_| "The id_token_hint is not a valid ID token from this issuer.")?;
        if jwt
            .header
            .typ
            .as_deref()
            .is_some_and(|t| !t.eq_ignore_ascii_case("JWT"))
        {
            return Err("The id_token_hint is not an ID token.");
        }
        let claims = jwt
            .verify(keys)
            .map_err(|_| "The id_token_hint is not a valid ID token from this issuer.")?;
        if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
            return Err("The id_token_hint was issued by another issuer.");
        }
        let aud = match claims.get("aud") {
            Some(Value::Array(a)) => a.first().and_then(Value::as_str).map(str::to_owned),
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        };
        let text = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_owned);
        Ok(Hint {
            aud,
            sub: text("sub"),
            sid: text("sid"),
        })
    }

    /// Whether this is the ID token of `session` (its subject and its `sid`), so that the
    /// End-User need not be asked (RP-Initiated Logout §2).
    fn is_for(&self, session: &LoginSessionRow) -> bool {
        self.sub.as_deref() == Some(session.subject.as_str())
            && self.sid.as_deref() == Some(session.id.as_str())
    }
}

impl Provider {
    /// `GET|POST /oauth2/sessions/logout`.
    pub async fn logout(
        &self,
        pairs: Vec<(String, String)>,
        request_url: &str,
        cookies: &[(String, String)],
        now: i64,
    ) -> Result<LogoutOutcome> {
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty())
        };
        if let Some(v) = get("logout_verifier") {
            return self.finish_logout(v, now).await;
        }
        let session = match cookies.iter().find(|(k, _)| k == SESSION_COOKIE) {
            Some((_, v)) => self
                .store
                .get_login_session(&gatehouse_crypto::TokenHash::of_secret(v).to_hex())
                .await?
                .filter(|s| s.expires_at > now),
            None => None,
        };
        let mut client_id = get("client_id").map(str::to_owned);
        let mut hint = None;
        if let Some(raw) = get("id_token_hint") {
            let h = match Hint::verify(raw, &self.issuer, &self.keys.current().jwks.keys) {
                Ok(h) => h,
                Err(why) => return Ok(LogoutOutcome::Page(OAuthError::invalid_request(why))),
            };
            if client_id.is_some() && client_id != h.aud {
                return Ok(LogoutOutcome::Page(OAuthError::invalid_request(
                    "client_id does not match the id_token_hint audience.",
                )));
            }
            client_id.clone_from(&h.aud);
            hint = Some(h);
        }
        let post_logout = get("post_logout_redirect_uri").map(str::to_owned);
        if let Some(uri) = &post_logout {
            let Some(cid) = &client_id else {
                return Ok(LogoutOutcome::Page(OAuthError::invalid_request(
                    "post_logout_redirect_uri requires id_token_hint or client_id.",
                )));
            };
            let client = match self.get_client(cid).await {
                Ok(c) => c,
                Err(Error::NotFound(_)) => {
                    return Ok(LogoutOutcome::Page(OAuthError::invalid_request(
                        "The client does not exist.",
                    )));
                }
                Err(e) => return Err(e),
            };
            if !client
                .client
                .post_logout_redirect_uris
                .iter()
                .any(|u| u == uri)
            {
                return Ok(LogoutOutcome::Page(OAuthError::invalid_request(
                    "The post_logout_redirect_uri is not registered for this client.",
                )));
            }
        }
        let Some(session) = session else {
            // Nobody to log out: go straight on.
            return Ok(LogoutOutcome::Redirect {
                location: self.after_logout_url(post_logout.as_deref(), get("state")),
                cookies: vec![],
            });
        };
        if let Some(h) = &hint
            && h.sub.as_deref() != Some(session.subject.as_str())
        {
            return Ok(LogoutOutcome::Page(OAuthError::invalid_request(
                "The id_token_hint belongs to another user than the current session.",
            )));
        }
        let mut flow = LogoutFlow {
            id: uuid::Uuid::new_v4().to_string(),
            subject: Some(session.subject.clone()),
            sid: Some(session.id.clone()),
            client_id,
            post_logout_redirect_uri: post_logout,
            state: get("state").map(str::to_owned),
            rp_initiated: get("id_token_hint").is_some() || get("client_id").is_some(),
            request_url: request_url.to_owned(),
            accepted: false,
        };
        let Some(logout_app) = &self.config.urls.logout else {
            if hint.as_ref().is_some_and(|h| h.is_for(&session)) {
                // The built-in page would ask what the RP has shown already.
                flow.accepted = true;
                let identity_session = self.identity_session_behind(&session.id).await?;
                return self
                    .complete_logout(&flow, identity_session.as_deref(), now)
                    .await;
            }
            return self
                .ask_logout_app(&flow, &format!("{}/ui/logout", self.issuer), now)
                .await;
        };
        self.ask_logout_app(&flow, logout_app, now).await
    }

    /// Saves the request and sends the browser to `app` with its `logout_challenge`.
    async fn ask_logout_app(
        &self,
        flow: &LogoutFlow,
        app: &str,
        now: i64,
    ) -> Result<LogoutOutcome> {
        let challenge = PlainToken::generate(TokenKind::LogoutChallenge);
        self.save_logout(flow, now).await?;
        self.insert_logout_step(&challenge, kind::LOGOUT_CHALLENGE, flow, now)
            .await?;
        let mut url =
            url::Url::parse(app).map_err(|e| Error::Internal(format!("urls.logout: {e}")))?;
        url.query_pairs_mut()
            .append_pair("logout_challenge", challenge.expose());
        Ok(LogoutOutcome::Redirect {
            location: url.to_string(),
            cookies: vec![],
        })
    }

    fn after_logout_url(&self, post_logout: Option<&str>, state: Option<&str>) -> String {
        match post_logout {
            Some(uri) => match url::Url::parse(uri) {
                Ok(mut u) => {
                    if let Some(s) = state {
                        u.query_pairs_mut().append_pair("state", s);
                    }
                    u.to_string()
                }
                Err(_) => uri.to_owned(),
            },
            None => self
                .config
                .urls
                .post_logout_redirect
                .clone()
                .unwrap_or_else(|| format!("{}/oauth2/fallbacks/logout/callback", self.issuer)),
        }
    }

    async fn save_logout(&self, flow: &LogoutFlow, now: i64) -> Result<()> {
        let data = serde_json::to_string(flow).map_err(|e| Error::Internal(e.to_string()))?;
        self.store
            .put_flow(
                &flow.id,
                &data,
                now + self.config.ttl.login_consent_request.secs(),
            )
            .await?;
        Ok(())
    }

    async fn insert_logout_step(
        &self,
        token: &PlainToken,
        kind: &str,
        flow: &LogoutFlow,
        now: i64,
    ) -> Result<()> {
        self.store
            .insert_token(&TokenRow {
                hash: token.hash().to_hex(),
                kind: kind.to_owned(),
                client_id: flow.client_id.clone().unwrap_or_default(),
                subject: flow.subject.clone(),
                family_id: flow.id.clone(),
                session_id: None,
                data: "{}".into(),
                created_at: now,
                expires_at: now + self.config.ttl.login_consent_request.secs(),
                revoked: false,
                used_at: None,
            })
            .await?;
        Ok(())
    }

    async fn logout_flow(
        &self,
        value: &str,
        token_kind: TokenKind,
        row_kind: &str,
        now: i64,
    ) -> Result<(LogoutFlow, TokenRow)> {
        let not_found = || Error::NotFound(format!("the {row_kind} does not exist or has expired"));
        let token = PlainToken::parse_as(value, token_kind).map_err(|_| not_found())?;
        let row = self
            .store
            .get_token(&token.hash().to_hex())
            .await?
            .filter(|r| r.kind == row_kind && r.expires_at > now)
            .ok_or_else(not_found)?;
        let data = self
            .store
            .get_flow(&row.family_id)
            .await?
            .ok_or_else(not_found)?;
        Ok((decode_stored("logout flow", &row.family_id, &data)?, row))
    }

    /// The identity session a login session was made from, if it still exists and has one. An
    /// unreadable login session is [`Error::Corrupt`]: logout then fails, and never goes on
    /// without ending the identity session behind it.
    async fn identity_session_behind(&self, login_session_id: &str) -> Result<Option<String>> {
        let Some(row) = self.store.get_login_session(login_session_id).await? else {
            return Ok(None);
        };
        Ok(LoginSessionData::of(&row)?.identity_session_id)
    }

    /// Ends an identity session (SSO: logging out of one app logs the browser out of
    /// Gatehouse), purging it from the whoami cache at once.
    async fn end_identity_session(&self, identity_session_id: &str) -> Result<()> {
        if let Some(hash) = self.store.deactivate_session(identity_session_id).await? {
            self.session_cache.invalidate(&hash);
        }
        Ok(())
    }

    /// `GET /admin/oauth2/auth/requests/logout`.
    pub async fn logout_request(&self, challenge: &str, now: i64) -> Result<Value> {
        let (flow, row) = self
            .logout_flow(
                challenge,
                TokenKind::LogoutChallenge,
                kind::LOGOUT_CHALLENGE,
                now,
            )
            .await?;
        if row.used_at.is_some() {
            return Err(Error::Gone(String::new()));
        }
        // A client deleted since the logout started is shown as none; one that cannot be read
        // is an error.
        let client = match &flow.client_id {
            Some(id) => match self.get_client(id).await {
                Ok(c) => Some(
                    serde_json::to_value(&c.client).map_err(|e| Error::Internal(e.to_string()))?,
                ),
                Err(Error::NotFound(_)) => None,
                Err(e) => return Err(e),
            },
            None => None,
        };
        Ok(json!({
            "challenge": challenge,
            "subject": flow.subject.unwrap_or_default(),
            "sid": flow.sid.unwrap_or_default(),
            "request_url": flow.request_url,
            "rp_initiated": flow.rp_initiated,
            "client": client,
        }))
    }

    /// `PUT /admin/oauth2/auth/requests/logout/accept`: returns `redirect_to`.
    pub async fn accept_logout(&self, challenge: &str, now: i64) -> Result<String> {
        let (mut flow, row) = self
            .logout_flow(
                challenge,
                TokenKind::LogoutChallenge,
                kind::LOGOUT_CHALLENGE,
                now,
            )
            .await?;
        if row.used_at.is_some() || !self.store.use_token(&row.hash, now).await? {
            return Err(Error::Gone(String::new()));
        }
        flow.accepted = true;
        self.save_logout(&flow, now).await?;
        let verifier = PlainToken::generate(TokenKind::LogoutVerifier);
        self.insert_logout_step(&verifier, kind::LOGOUT_VERIFIER, &flow, now)
            .await?;
        Ok(format!(
            "{}/oauth2/sessions/logout?logout_verifier={}",
            self.issuer,
            verifier.expose()
        ))
    }

    /// `PUT /admin/oauth2/auth/requests/logout/reject`: the user stays logged in.
    pub async fn reject_logout(&self, challenge: &str, now: i64) -> Result<()> {
        let (_, row) = self
            .logout_flow(
                challenge,
                TokenKind::LogoutChallenge,
                kind::LOGOUT_CHALLENGE,
                now,
            )
            .await?;
        if row.used_at.is_some() || !self.store.use_token(&row.hash, now).await? {
            return Err(Error::Gone(String::new()));
        }
        Ok(())
    }

    /// The logout request of `challenge` if this browser holds the login session it would end.
    /// A challenge sent to another browser is refused (`Forbidden`), so it can neither end nor
    /// keep someone else's session; a handled one is `Gone`.
    async fn logout_flow_in_browser(
        &self,
        challenge: &str,
        cookies: &[(String, String)],
        now: i64,
    ) -> Result<LogoutFlow> {
        let (flow, row) = self
            .logout_flow(
                challenge,
                TokenKind::LogoutChallenge,
                kind::LOGOUT_CHALLENGE,
                now,
            )
            .await?;
        let browser_session = cookies
            .iter()
            .find(|(k, _)| k == SESSION_COOKIE)
            .map(|(_, v)| gatehouse_crypto::TokenHash::of_secret(v).to_hex());
        if flow.sid.is_none() || browser_session != flow.sid {
            return Err(Error::Forbidden(
                "This sign-out request was made in another browser. Go back to the application and sign out there."
                    .into(),
            ));
        }
        if row.used_at.is_some() {
            return Err(Error::Gone(String::new()));
        }
        Ok(flow)
    }

    /// For the built-in logout page: the request it asks about ([`Self::logout_flow_in_browser`]).
    pub async fn browser_logout_request(
        &self,
        challenge: &str,
        cookies: &[(String, String)],
        now: i64,
    ) -> Result<BrowserLogoutRequest> {
        let flow = self.logout_flow_in_browser(challenge, cookies, now).await?;
        let client = match &flow.client_id {
            Some(id) => match self.get_client(id).await {
                Ok(c) => Some(c.client.clone()),
                Err(Error::NotFound(_)) => None,
                Err(e) => return Err(e),
            },
            None => None,
        };
        Ok(BrowserLogoutRequest {
            subject: flow.subject,
            client,
            post_logout_redirect_uri: flow.post_logout_redirect_uri,
        })
    }

    /// The built-in page's "Sign out": [`Self::accept_logout`] for this browser's request; where
    /// the browser goes next (the `logout_verifier` URL).
    pub async fn browser_accept_logout(
        &self,
        challenge: &str,
        cookies: &[(String, String)],
        now: i64,
    ) -> Result<String> {
        self.logout_flow_in_browser(challenge, cookies, now).await?;
        self.accept_logout(challenge, now).await
    }

    /// The built-in page's "Cancel": [`Self::reject_logout`] for this browser's request. The
    /// session stays; the browser goes back to the request's `post_logout_redirect_uri` (with
    /// its `state`) when it named one, else `None`.
    pub async fn browser_reject_logout(
        &self,
        challenge: &str,
        cookies: &[(String, String)],
        now: i64,
    ) -> Result<Option<String>> {
        let flow = self.logout_flow_in_browser(challenge, cookies, now).await?;
        self.reject_logout(challenge, now).await?;
        Ok(flow
            .post_logout_redirect_uri
            .as_deref()
            .map(|uri| self.after_logout_url(Some(uri), flow.state.as_deref())))
    }

    async fn finish_logout(&self, verifier: &str, now: i64) -> Result<LogoutOutcome> {
        let (flow, row) = match self
            .logout_flow(
                verifier,
                TokenKind::LogoutVerifier,
                kind::LOGOUT_VERIFIER,
                now,
            )
            .await
        {
            Ok(v) => v,
            Err(Error::NotFound(_)) => {
                return Ok(LogoutOutcome::Page(OAuthError::invalid_request(
                    "The logout verifier is invalid or has expired.",
                )));
            }
            Err(e) => return Err(e),
        };
        // Read before the verifier is used up: a login session that cannot be read fails the
        // logout with nothing changed, rather than end it and leave its identity session.
        let identity_session = match &flow.sid {
            Some(sid) if row.used_at.is_none() && flow.accepted => {
                self.identity_session_behind(sid).await?
            }
            _ => None,
        };
        if row.used_at.is_some() || !self.store.use_token(&row.hash, now).await? || !flow.accepted {
            return Ok(LogoutOutcome::Page(OAuthError::invalid_request(
                "The logout verifier has been used already.",
            )));
        }
        self.complete_logout(&flow, identity_session.as_deref(), now)
            .await
    }

    /// Ends an accepted logout request's sessions (`identity_session`, read before anything was
    /// changed, is the identity session behind its login session) and says where the browser
    /// goes next.
    async fn complete_logout(
        &self,
        flow: &LogoutFlow,
        identity_session: Option<&str>,
        now: i64,
    ) -> Result<LogoutOutcome> {
        if let Some(id) = identity_session {
            self.end_identity_session(id).await?;
        }
        let iframes = match &flow.sid {
            Some(sid) => {
                self.end_login_session(sid, flow.subject.as_deref(), now)
                    .await?
            }
            None => Vec::new(),
        };
        let cookies = vec![SetCookie {
            name: SESSION_COOKIE.into(),
            value: String::new(),
            max_age: Some(0),
        }];
        let next = self.after_logout_url(
            flow.post_logout_redirect_uri.as_deref(),
            flow.state.as_deref(),
        );
        self.audit.record(
            event::LOGOUT,
            Event {
                subject: flow.subject.as_deref(),
                client_id: flow.client_id.as_deref(),
                ..Event::default()
            },
        );
        tracing::info!(
            subject = flow.subject.as_deref().unwrap_or_default(),
            "logged out"
        );
        if iframes.is_empty() {
            Ok(LogoutOutcome::Redirect {
                location: next,
                cookies,
            })
        } else {
            Ok(LogoutOutcome::Frontchannel {
                iframes,
                next,
                cookies,
            })
        }
    }
}
