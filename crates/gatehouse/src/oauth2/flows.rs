//! The authorization endpoint's login and consent flow, in Ory Hydra's model: `/oauth2/auth`
//! redirects to the login app with a `login_challenge`; the app accepts it through the admin API
//! and sends the browser back with a `login_verifier`; the same happens for consent; then the
//! code is issued. Challenges and verifiers are single-use, expire, and are stored by digest;
//! a CSRF cookie binds the verifiers to the browser that started the flow. The request's rules,
//! the response to the client and whether login and consent may be skipped are
//! `gatehouse_protocol::authorize`'s; this file keeps the flow's state.

use gatehouse_crypto::{PlainToken, TokenHash, TokenKind};
use gatehouse_protocol::OAuthError;
use gatehouse_protocol::authorize::skip::{self, RememberedConsent};
use gatehouse_protocol::authorize::{
    self, AuthorizeError, AuthorizeRequest, AuthorizeResponse, RawParams, ResponseMode,
};
use gatehouse_protocol::client::Client;
use gatehouse_protocol::hydra::{AcceptConsent, AcceptLogin, Reject};
use gatehouse_store::{ConsentRow, LoginSessionRow, TokenRow};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::login_session::LoginSessionData;
use super::{GrantData, Provider, kind};
use crate::audit::{Event, event};
use crate::error::{Error, Result, decode_stored};

pub const SESSION_COOKIE: &str = "gatehouse_authentication_session";
pub const CSRF_COOKIE_PREFIX: &str = "gatehouse_oauth2_csrf_";

/// A cookie the web layer must set (or clear, with `max_age: Some(0)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetCookie {
    pub name: String,
    pub value: String,
    pub max_age: Option<i64>,
}

/// Where the browser goes next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Redirect {
        location: String,
        cookies: Vec<SetCookie>,
    },
    /// `response_mode=form_post`: an auto-submitting form to the client.
    FormPost {
        action: String,
        fields: Vec<(String, String)>,
        cookies: Vec<SetCookie>,
    },
    /// An error the user sees (the client cannot be trusted with a redirect).
    Page(OAuthError),
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct LoginResult {
    pub subject: String,
    pub remember: bool,
    pub remember_for: i64,
    pub acr: Option<String>,
    pub amr: Vec<String>,
    pub context: Value,
    pub auth_time: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ConsentResult {
    pub grant_scope: Vec<String>,
    pub grant_access_token_audience: Vec<String>,
    pub remember: bool,
    pub remember_for: i64,
    pub access_token: Value,
    pub id_token: Value,
    pub handled_at: i64,
}

/// A flow in progress, stored by id until it expires.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flow {
    pub id: String,
    pub request: AuthorizeRequest,
    pub request_url: String,
    pub csrf_hash: String,
    pub csrf_cookie: String,
    pub requested_at: i64,
    /// The login session the browser already had (login skipped when set).
    pub existing_session: Option<String>,
    pub existing_subject: Option<String>,
    pub existing_auth_time: Option<i64>,
    pub login_challenge: String,
    pub login: Option<LoginResult>,
    pub session_id: Option<String>,
    pub consent_challenge: Option<String>,
    pub consent_skip: bool,
    pub consent: Option<ConsentResult>,
    /// Where a rejected step sent the browser (the client's error redirect, answered again on a
    /// repeat). Never a verifier: verifiers are stored only as digests, and a repeat of an
    /// accepted step is answered with `request_url`, which starts the authorization again.
    #[serde(default)]
    pub redirect_to: Option<String>,
}

impl Flow {
    /// The `redirect_to` of a repeated step: a rejection's redirect to the client, or else the
    /// authorization request itself, which starts again (the verifier of an accepted step is
    /// not kept, so it can be neither stored nor handed out).
    fn handled_redirect(&self) -> String {
        self.redirect_to
            .clone()
            .unwrap_or_else(|| self.request_url.clone())
    }
}

fn page(e: OAuthError) -> Outcome {
    Outcome::Page(e)
}

fn session_hash(cookie: &str) -> String {
    TokenHash::of_secret(cookie).to_hex()
}

impl Provider {
    /// The authorization flow's CSRF cookie, `__Host-`-prefixed when it can be
    /// ([`crate::config::Config::host_cookie_prefix`]), so a sibling subdomain cannot toss one in.
    fn csrf_cookie_name(&self, client_id: &str) -> String {
        format!(
            "{}{CSRF_COOKIE_PREFIX}{:08x}",
            self.config.host_cookie_prefix(),
            crc32(client_id)
        )
    }

    /// The redirect (or form post) back to the client with `params` plus `state` and `iss`
    /// ([`authorize::respond`]), setting `cookies`.
    pub fn respond_to_client(
        &self,
        redirect_uri: &str,
        mode: ResponseMode,
        state: Option<&str>,
        params: Vec<(String, String)>,
        cookies: Vec<SetCookie>,
    ) -> Outcome {
        match authorize::respond(redirect_uri, mode, state, &self.issuer, params) {
            Ok(AuthorizeResponse::Redirect { location }) => Outcome::Redirect { location, cookies },
            Ok(AuthorizeResponse::FormPost { action, fields }) => Outcome::FormPost {
                action,
                fields,
                cookies,
            },
            Err(e) => page(e),
        }
    }

    fn error_to_client(
        &self,
        req: &AuthorizeRequest,
        e: OAuthError,
        cookies: Vec<SetCookie>,
    ) -> Outcome {
        self.respond_to_client(
            &req.redirect_uri,
            req.response_mode,
            req.state.as_deref(),
            authorize::error_params(e),
            cookies,
        )
    }

    /// `GET|POST /oauth2/auth`.
    pub async fn authorize(
        &self,
        pairs: Vec<(String, String)>,
        request_url: &str,
        cookies: &[(String, String)],
        now: i64,
    ) -> Result<Outcome> {
        let raw = RawParams::from_pairs(pairs);
        if let Some(v) = raw.get("login_verifier") {
            return self.after_login(v, cookies, now).await;
        }
        if let Some(v) = raw.get("consent_verifier") {
            return self.after_consent(v, cookies, now).await;
        }
        let client_id = match authorize::client_id(&raw) {
            Ok(id) => id,
            Err(AuthorizeError::Page(e)) | Err(AuthorizeError::Redirect { error: e, .. }) => {
                return Ok(page(e));
            }
        };
        let client = match self.get_client(client_id).await {
            Ok(c) => c,
            Err(Error::NotFound(_)) => {
                return Ok(page(OAuthError::invalid_client(
                    "The client does not exist.",
                )));
            }
            Err(e) => return Err(e),
        };
        let req = match authorize::validate(&raw, &client.client) {
            Ok(r) => r,
            Err(AuthorizeError::Page(e)) => return Ok(page(e)),
            Err(AuthorizeError::Redirect {
                redirect_uri,
                response_mode,
                state,
                error,
            }) => {
                return Ok(self.respond_to_client(
                    &redirect_uri,
                    response_mode,
                    state.as_deref(),
                    authorize::error_params(error),
                    vec![],
                ));
            }
        };

        // An existing login session lets the login app skip asking again.
        let mut existing: Option<LoginSessionRow> = None;
        if let Some(c) = cookie(cookies, SESSION_COOKIE)
            && let Some(s) = self.store.get_login_session(&session_hash(c)).await?
            && s.expires_at > now
        {
            existing = Some(s);
        }
        let reusable = existing
            .as_ref()
            .filter(|s| skip::session_reusable(&req, s.authenticated_at, now));
        if let Err(e) = skip::check_login(&req, reusable.is_some()) {
            return Ok(self.error_to_client(&req, e, vec![]));
        }

        let flow_id = uuid::Uuid::new_v4().to_string();
        let challenge = PlainToken::generate(TokenKind::LoginChallenge);
        let csrf = gatehouse_crypto::random::alphanumeric(32);
        let csrf_name = self.csrf_cookie_name(&client.client.client_id);
        let flow = Flow {
            id: flow_id.clone(),
            request: req,
            request_url: request_url.to_owned(),
            csrf_hash: TokenHash::of_secret(&csrf).to_hex(),
            csrf_cookie: csrf_name.clone(),
            requested_at: now,
            existing_session: reusable.map(|s| s.id.clone()),
            existing_subject: reusable.map(|s| s.subject.clone()),
            existing_auth_time: reusable.map(|s| s.authenticated_at),
            login_challenge: challenge.hash().to_hex(),
            login: None,
            session_id: None,
            consent_challenge: None,
            consent_skip: false,
            consent: None,
            redirect_to: None,
        };
        let ttl = self.config.ttl.login_consent_request.secs();
        self.save_flow(&flow, now).await?;
        self.insert_step(&challenge, kind::LOGIN_CHALLENGE, &flow, now)
            .await?;
        let login_url = self
            .config
            .urls
            .login
            .clone()
            .unwrap_or_else(|| format!("{}/ui/login", self.issuer));
        let mut url =
            url::Url::parse(&login_url).map_err(|e| Error::Internal(format!("urls.login: {e}")))?;
        url.query_pairs_mut()
            .append_pair("login_challenge", challenge.expose());
        Ok(Outcome::Redirect {
            location: url.to_string(),
            cookies: vec![SetCookie {
                name: csrf_name,
                value: csrf,
                max_age: Some(ttl),
            }],
        })
    }

    async fn save_flow(&self, flow: &Flow, now: i64) -> Result<()> {
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

    async fn insert_step(
        &self,
        token: &PlainToken,
        kind: &str,
        flow: &Flow,
        now: i64,
    ) -> Result<()> {
        self.store
            .insert_token(&TokenRow {
                hash: token.hash().to_hex(),
                kind: kind.to_owned(),
                client_id: flow.request.client_id.clone(),
                subject: None,
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

    /// Finds the flow of a challenge or verifier; `Gone` when it was used already.
    async fn flow_for(
        &self,
        value: &str,
        token_kind: TokenKind,
        row_kind: &str,
        now: i64,
    ) -> Result<(Flow, TokenRow)> {
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
        let flow: Flow = decode_stored("authorization flow", &row.family_id, &data)?;
        Ok((flow, row))
    }

    async fn consume(&self, row: &TokenRow, flow: &Flow, now: i64) -> Result<()> {
        if row.used_at.is_some() || !self.store.use_token(&row.hash, now).await? {
            return Err(Error::Gone(flow.handled_redirect()));
        }
        Ok(())
    }

    /// A challenge opened by the built-in pages on the public listener. Only the browser that
    /// started the authorization request may act on it (it holds the flow's CSRF cookie), so a
    /// challenge planted in another browser is refused. A handled challenge is `Gone`, with the
    /// redirect of a rejection (to the client, with the error) but never a verifier: Hydra shows
    /// those on the admin API only.
    async fn flow_in_browser(
        &self,
        challenge: &str,
        token_kind: TokenKind,
        row_kind: &str,
        cookies: &[(String, String)],
        now: i64,
    ) -> Result<(Flow, TokenRow)> {
        let (flow, row) = self.flow_for(challenge, token_kind, row_kind, now).await?;
        if !Self::check_csrf(&flow, cookies) {
            return Err(Error::Forbidden(
                "This sign-in request was started in another browser. Go back to the application and start again."
                    .into(),
            ));
        }
        if row.used_at.is_some() {
            return Err(Error::Gone(flow.redirect_to.clone().unwrap_or_default()));
        }
        Ok((flow, row))
    }

    /// For the built-in login page: the login request of a challenge this browser started, and
    /// the subject it may be accepted for without asking again (`skip`), if any.
    pub async fn browser_login_request(
        &self,
        challenge: &str,
        cookies: &[(String, String)],
        now: i64,
    ) -> Result<Option<String>> {
        let (flow, _) = self
            .flow_in_browser(
                challenge,
                TokenKind::LoginChallenge,
                kind::LOGIN_CHALLENGE,
                cookies,
                now,
            )
            .await?;
        Ok(flow.existing_subject)
    }

    /// For the built-in consent page: the consent request of a challenge this browser started
    /// (the shape of `GET /admin/oauth2/auth/requests/consent`).
    pub async fn browser_consent_request(
        &self,
        challenge: &str,
        cookies: &[(String, String)],
        now: i64,
    ) -> Result<Value> {
        self.flow_in_browser(
            challenge,
            TokenKind::ConsentChallenge,
            kind::CONSENT_CHALLENGE,
            cookies,
            now,
        )
        .await?;
        self.consent_request(challenge, now).await
    }

    /// `GET /admin/oauth2/auth/requests/login`.
    pub async fn login_request(&self, challenge: &str, now: i64) -> Result<Value> {
        let (flow, row) = self
            .flow_for(
                challenge,
                TokenKind::LoginChallenge,
                kind::LOGIN_CHALLENGE,
                now,
            )
            .await?;
        if row.used_at.is_some() {
            return Err(Error::Gone(flow.handled_redirect()));
        }
        let client = self.get_client(&flow.request.client_id).await?;
        let r = &flow.request;
        Ok(json!({
            "challenge": challenge,
            "client": client.client,
            "request_url": flow.request_url,
            "requested_scope": r.scope.0,
            "requested_access_token_audience": r.audience,
            "skip": flow.existing_subject.is_some(),
            "subject": flow.existing_subject.clone().unwrap_or_default(),
            "session_id": flow.existing_session.clone().unwrap_or_default(),
            "oidc_context": {
                "acr_values": r.acr_values,
                "display": r.display,
                "login_hint": r.login_hint,
                "ui_locales": r.ui_locales,
                "id_token_hint_claims": Value::Null,
            },
        }))
    }

    /// `PUT /admin/oauth2/auth/requests/login/accept`: returns `redirect_to`.
    pub async fn accept_login(
        &self,
        challenge: &str,
        body: AcceptLogin,
        now: i64,
    ) -> Result<String> {
        let (mut flow, row) = self
            .flow_for(
                challenge,
                TokenKind::LoginChallenge,
                kind::LOGIN_CHALLENGE,
                now,
            )
            .await?;
        if body.subject.is_empty() || body.subject.len() > 255 {
            return Err(Error::BadRequest(
                "subject must be 1 to 255 characters".into(),
            ));
        }
        if let Some(existing) = &flow.existing_subject
            && *existing != body.subject
        {
            return Err(Error::BadRequest(
                "subject does not match the subject of the existing login session (skip was true)"
                    .into(),
            ));
        }
        if body.remember_for < 0 {
            return Err(Error::BadRequest(
                "remember_for must not be negative".into(),
            ));
        }
        self.consume(&row, &flow, now).await?;
        let _ = (&body.force_subject_identifier, body.extend_session_lifespan);
        flow.login = Some(LoginResult {
            subject: body.subject,
            remember: body.remember,
            remember_for: body.remember_for,
            acr: body.acr,
            amr: body.amr,
            context: body.context,
            auth_time: flow.existing_auth_time.unwrap_or(now),
        });
        if let Some(l) = &flow.login {
            let data = json!({"remember": l.remember, "acr": l.acr, "amr": l.amr});
            self.audit.record(
                event::LOGIN_ACCEPTED,
                Event {
                    subject: Some(&l.subject),
                    client_id: Some(&flow.request.client_id),
                    data,
                    ..Event::default()
                },
            );
        }
        let verifier = PlainToken::generate(TokenKind::LoginVerifier);
        let redirect_to = format!(
            "{}/oauth2/auth?login_verifier={}",
            self.issuer,
            verifier.expose()
        );
        flow.redirect_to = None;
        self.save_flow(&flow, now).await?;
        self.insert_step(&verifier, kind::LOGIN_VERIFIER, &flow, now)
            .await?;
        Ok(redirect_to)
    }

    /// A rejected login or consent goes straight back to the client with the error.
    fn rejection(&self, flow: &Flow, body: Reject) -> String {
        let mut req = flow.request.clone();
        req.response_mode = ResponseMode::Query;
        match self.error_to_client(&req, body.into_error(), vec![]) {
            Outcome::Redirect { location, .. } => location,
            _ => String::new(),
        }
    }

    pub async fn reject_login(&self, challenge: &str, body: Reject, now: i64) -> Result<String> {
        let (mut flow, row) = self
            .flow_for(
                challenge,
                TokenKind::LoginChallenge,
                kind::LOGIN_CHALLENGE,
                now,
            )
            .await?;
        self.consume(&row, &flow, now).await?;
        self.audit.record(
            event::LOGIN_REJECTED,
            Event {
                client_id: Some(&flow.request.client_id),
                ..Event::default()
            },
        );
        let to = self.rejection(&flow, body);
        flow.redirect_to = Some(to.clone());
        self.save_flow(&flow, now).await?;
        Ok(to)
    }

    fn check_csrf(flow: &Flow, cookies: &[(String, String)]) -> bool {
        cookie(cookies, &flow.csrf_cookie).is_some_and(|v| {
            gatehouse_crypto::ct_eq(
                TokenHash::of_secret(v).to_hex().as_bytes(),
                flow.csrf_hash.as_bytes(),
            )
        })
    }

    async fn after_login(
        &self,
        verifier: &str,
        cookies: &[(String, String)],
        now: i64,
    ) -> Result<Outcome> {
        let (mut flow, row) = match self
            .flow_for(
                verifier,
                TokenKind::LoginVerifier,
                kind::LOGIN_VERIFIER,
                now,
            )
            .await
        {
            Ok(v) => v,
            Err(Error::NotFound(_)) => {
                return Ok(page(OAuthError::invalid_request(
                    "The login verifier is invalid or has expired.",
                )));
            }
            Err(e) => return Err(e),
        };
        if row.used_at.is_some() || !self.store.use_token(&row.hash, now).await? {
            return Ok(page(OAuthError::invalid_request(
                "The login verifier has been used already.",
            )));
        }
        if !Self::check_csrf(&flow, cookies) {
            return Ok(page(OAuthError::invalid_request(
                "The login flow was started in another browser (CSRF cookie missing or wrong).",
            )));
        }
        let Some(login) = flow.login.clone() else {
            return Ok(page(OAuthError::invalid_request(
                "The login request was not accepted.",
            )));
        };
        let mut cookies = Vec::new();
        // The login session: reuse the browser's session when login was skipped, else a new one
        // (a new id on every login, so a fixated cookie is worthless).
        let (session_id, cookie_value) = match &flow.existing_session {
            Some(id) => (id.clone(), None),
            None => {
                let v = gatehouse_crypto::random::alphanumeric(43);
                (session_hash(&v), Some(v))
            }
        };
        let lifetime = if login.remember_for > 0 {
            login.remember_for
        } else {
            self.config.ttl.refresh_token.secs()
        };
        // The Gatehouse identity session behind this login (built-in login page), so that
        // RP-initiated logout ends it too, and its end ends this login session.
        let identity_session = login
            .context
            .get("session_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let data = LoginSessionData {
            remember: login.remember,
            acr: login.acr.clone(),
            amr: login.amr.clone(),
            identity_session_id: identity_session.clone(),
        };
        self.store
            .upsert_login_session(&LoginSessionRow {
                id: session_id.clone(),
                subject: login.subject.clone(),
                data: data.to_json()?,
                authenticated_at: login.auth_time,
                expires_at: now + lifetime,
            })
            .await?;
        if let Some(id) = &identity_session {
            self.link_identity_session(id, &session_id, now + lifetime)
                .await?;
        }
        if let (Some(v), true) = (cookie_value, login.remember) {
            cookies.push(SetCookie {
                name: SESSION_COOKIE.into(),
                value: v,
                max_age: (login.remember_for > 0).then_some(login.remember_for),
            });
        }
        flow.session_id = Some(session_id);

        let client = self.get_client(&flow.request.client_id).await?;
        let remembered = self
            .remembered_consent(&client.client, &login.subject, &flow.request, now)
            .await?;
        flow.consent_skip =
            skip::consent_skippable(&flow.request, &client.client, remembered.is_some());
        if let Err(e) = skip::check_consent(&flow.request, flow.consent_skip) {
            return Ok(self.error_to_client(&flow.request, e, cookies));
        }
        let challenge = PlainToken::generate(TokenKind::ConsentChallenge);
        flow.consent_challenge = Some(challenge.hash().to_hex());
        self.save_flow(&flow, now).await?;
        self.insert_step(&challenge, kind::CONSENT_CHALLENGE, &flow, now)
            .await?;
        let consent_url = self
            .config
            .urls
            .consent
            .clone()
            .unwrap_or_else(|| format!("{}/ui/consent", self.issuer));
        let mut url = url::Url::parse(&consent_url)
            .map_err(|e| Error::Internal(format!("urls.consent: {e}")))?;
        url.query_pairs_mut()
            .append_pair("consent_challenge", challenge.expose());
        Ok(Outcome::Redirect {
            location: url.to_string(),
            cookies,
        })
    }

    async fn remembered_consent(
        &self,
        client: &Client,
        subject: &str,
        req: &AuthorizeRequest,
        now: i64,
    ) -> Result<Option<ConsentRow>> {
        let rows = self
            .store
            .list_consents(subject, Some(&client.client_id))
            .await?;
        for c in rows {
            // An unreadable consent is an error, not a consent to ask for again.
            let r = consent_of(&c)?;
            let remembered = RememberedConsent {
                remember: c.remember,
                expires_at: c.expires_at,
                grant_scope: &r.grant_scope,
                grant_audience: &r.grant_access_token_audience,
            };
            if skip::consent_covers(&remembered, req, now) {
                return Ok(Some(c));
            }
        }
        Ok(None)
    }

    /// `GET /admin/oauth2/auth/requests/consent`.
    pub async fn consent_request(&self, challenge: &str, now: i64) -> Result<Value> {
        let (flow, row) = self
            .flow_for(
                challenge,
                TokenKind::ConsentChallenge,
                kind::CONSENT_CHALLENGE,
                now,
            )
            .await?;
        if row.used_at.is_some() {
            return Err(Error::Gone(flow.handled_redirect()));
        }
        let client = self.get_client(&flow.request.client_id).await?;
        let login = flow.login.clone().unwrap_or_default();
        let r = &flow.request;
        Ok(json!({
            "challenge": challenge,
            "client": client.client,
            "request_url": flow.request_url,
            "requested_scope": r.scope.0,
            "requested_access_token_audience": r.audience,
            "skip": flow.consent_skip,
            "subject": login.subject,
            "login_session_id": flow.session_id,
            "acr": login.acr.unwrap_or_default(),
            "amr": login.amr,
            "context": login.context,
            "oidc_context": {
                "acr_values": r.acr_values,
                "display": r.display,
                "login_hint": r.login_hint,
                "ui_locales": r.ui_locales,
            },
        }))
    }

    /// `PUT /admin/oauth2/auth/requests/consent/accept`: returns `redirect_to`.
    pub async fn accept_consent(
        &self,
        challenge: &str,
        body: AcceptConsent,
        now: i64,
    ) -> Result<String> {
        let (mut flow, row) = self
            .flow_for(
                challenge,
                TokenKind::ConsentChallenge,
                kind::CONSENT_CHALLENGE,
                now,
            )
            .await?;
        let client = self.get_client(&flow.request.client_id).await?;
        if let Some(s) = body
            .grant_scope
            .iter()
            .find(|s| !client.client.scopes().contains(s))
        {
            return Err(Error::BadRequest(format!(
                "grant_scope {s:?} is not allowed for this client"
            )));
        }
        if let Some(a) = body
            .grant_access_token_audience
            .iter()
            .find(|a| !client.client.audience.contains(a))
        {
            return Err(Error::BadRequest(format!(
                "grant_access_token_audience {a:?} is not allowed for this client"
            )));
        }
        if body.remember_for < 0 {
            return Err(Error::BadRequest(
                "remember_for must not be negative".into(),
            ));
        }
        self.consume(&row, &flow, now).await?;
        flow.consent = Some(ConsentResult {
            grant_scope: body.grant_scope,
            grant_access_token_audience: body.grant_access_token_audience,
            remember: body.remember,
            remember_for: body.remember_for,
            access_token: body.session.access_token,
            id_token: body.session.id_token,
            handled_at: now,
        });
        if let (Some(l), Some(c)) = (&flow.login, &flow.consent) {
            let data = json!({"grant_scope": c.grant_scope, "remember": c.remember});
            self.audit.record(
                event::CONSENT_ACCEPTED,
                Event {
                    subject: Some(&l.subject),
                    client_id: Some(&flow.request.client_id),
                    data,
                    ..Event::default()
                },
            );
        }
        let verifier = PlainToken::generate(TokenKind::ConsentVerifier);
        let redirect_to = format!(
            "{}/oauth2/auth?consent_verifier={}",
            self.issuer,
            verifier.expose()
        );
        flow.redirect_to = None;
        self.save_flow(&flow, now).await?;
        self.insert_step(&verifier, kind::CONSENT_VERIFIER, &flow, now)
            .await?;
        Ok(redirect_to)
    }

    pub async fn reject_consent(&self, challenge: &str, body: Reject, now: i64) -> Result<String> {
        let (mut flow, row) = self
            .flow_for(
                challenge,
                TokenKind::ConsentChallenge,
                kind::CONSENT_CHALLENGE,
                now,
            )
            .await?;
        self.consume(&row, &flow, now).await?;
        self.audit.record(
            event::CONSENT_REJECTED,
            Event {
                client_id: Some(&flow.request.client_id),
                ..Event::default()
            },
        );
        let to = self.rejection(&flow, body);
        flow.redirect_to = Some(to.clone());
        self.save_flow(&flow, now).await?;
        Ok(to)
    }

    async fn after_consent(
        &self,
        verifier: &str,
        cookies: &[(String, String)],
        now: i64,
    ) -> Result<Outcome> {
        let (flow, row) = match self
            .flow_for(
                verifier,
                TokenKind::ConsentVerifier,
                kind::CONSENT_VERIFIER,
                now,
            )
            .await
        {
            Ok(v) => v,
            Err(Error::NotFound(_)) => {
                return Ok(page(OAuthError::invalid_request(
                    "The consent verifier is invalid or has expired.",
                )));
            }
            Err(e) => return Err(e),
        };
        if row.used_at.is_some() || !self.store.use_token(&row.hash, now).await? {
            return Ok(page(OAuthError::invalid_request(
                "The consent verifier has been used already.",
            )));
        }
        if !Self::check_csrf(&flow, cookies) {
            return Ok(page(OAuthError::invalid_request(
                "The consent flow was started in another browser (CSRF cookie missing or wrong).",
            )));
        }
        let (Some(login), Some(consent)) = (flow.login.clone(), flow.consent.clone()) else {
            return Ok(page(OAuthError::invalid_request(
                "The consent request was not accepted.",
            )));
        };
        let req = &flow.request;
        let family = uuid::Uuid::new_v4().to_string();
        let grant = GrantData {
            scope: consent.grant_scope.clone(),
            audience: consent.grant_access_token_audience.clone(),
            grant_type: "authorization_code".into(),
            ext: consent.access_token.clone(),
            id_token_claims: consent.id_token.clone(),
            auth_time: Some(login.auth_time),
            acr: login.acr.clone(),
            amr: login.amr.clone(),
            nonce: req.nonce.clone(),
            redirect_uri: req.redirect_uri_sent.then(|| req.redirect_uri.clone()),
            code_challenge: req.code_challenge.as_ref().map(|c| c.0.clone()),
            requested_at: flow.requested_at,
        };
        let code = PlainToken::generate(TokenKind::AuthorizationCode);
        self.store
            .insert_token(&TokenRow {
                hash: code.hash().to_hex(),
                kind: kind::CODE.into(),
                client_id: req.client_id.clone(),
                subject: Some(login.subject.clone()),
                family_id: family,
                session_id: flow.session_id.clone(),
                data: serde_json::to_string(&grant).map_err(|e| Error::Internal(e.to_string()))?,
                created_at: now,
                expires_at: now + self.config.ttl.auth_code.secs(),
                revoked: false,
                used_at: None,
            })
            .await?;
        if consent.remember && !flow.consent_skip {
            self.store
                .insert_consent(&ConsentRow {
                    id: uuid::Uuid::new_v4().to_string(),
                    subject: login.subject.clone(),
                    client_id: req.client_id.clone(),
                    login_session_id: flow.session_id.clone(),
                    data: serde_json::to_string(&consent)
                        .map_err(|e| Error::Internal(e.to_string()))?,
                    remember: true,
                    created_at: now,
                    expires_at: (consent.remember_for > 0).then_some(now + consent.remember_for),
                })
                .await?;
        }
        let clear_csrf = SetCookie {
            name: flow.csrf_cookie.clone(),
            value: String::new(),
            max_age: Some(0),
        };
        let mut params = vec![("code".to_owned(), code.expose().to_owned())];
        params.push(("scope".into(), consent.grant_scope.join(" ")));
        Ok(self.respond_to_client(
            &req.redirect_uri,
            req.response_mode,
            req.state.as_deref(),
            params,
            vec![clear_csrf],
        ))
    }

    /// `GET /admin/oauth2/auth/sessions/consent?subject=`: remembered consents in Hydra's shape.
    pub async fn list_consent_sessions(
        &self,
        subject: &str,
        login_session_id: Option<&str>,
    ) -> Result<Vec<Value>> {
        let rows = match login_session_id {
            Some(sid) => self
                .store
                .list_consents_by_login_session(sid)
                .await?
                .into_iter()
                .filter(|c| c.subject == subject)
                .collect(),
            None => self.store.list_consents(subject, None).await?,
        };
        let mut out = Vec::new();
        for c in rows {
            let r = consent_of(&c)?;
            // A client deleted since is listed as none; a client that cannot be read is an
            // error.
            let client = match self.get_client(&c.client_id).await {
                Ok(client) => Some(client.client.clone()),
                Err(Error::NotFound(_)) => None,
                Err(e) => return Err(e),
            };
            out.push(json!({
                "consent_request": {"subject": c.subject, "client": client, "login_session_id": c.login_session_id},
                "grant_scope": r.grant_scope,
                "grant_access_token_audience": r.grant_access_token_audience,
                "remember": c.remember,
                "remember_for": r.remember_for,
                "handled_at": crate::clock::rfc3339(r.handled_at),
                "session": {"access_token": r.access_token, "id_token": r.id_token},
            }));
        }
        Ok(out)
    }

    /// `DELETE /admin/oauth2/auth/sessions/consent`: forgets consents and revokes their tokens.
    pub async fn revoke_consent_sessions(
        &self,
        subject: &str,
        client_id: Option<&str>,
    ) -> Result<()> {
        self.store.delete_consents(subject, client_id).await?;
        self.audit.record(
            event::CONSENT_REVOKED,
            Event {
                subject: Some(subject),
                client_id,
                ..Event::default()
            },
        );
        let revoked = self.store.revoke_subject_tokens(subject, client_id).await?;
        self.purge_tokens(&revoked);
        Ok(())
    }

    /// After an account recovery or a password change: revokes every OAuth 2.0 token issued to
    /// the subject and ends its login sessions here (so no browser skips the next login). The
    /// number of tokens revoked.
    pub async fn revoke_subject_grants(&self, subject: &str) -> Result<usize> {
        let revoked = self.store.revoke_subject_tokens(subject, None).await?;
        self.purge_tokens(&revoked);
        self.store.delete_subject_login_sessions(subject).await?;
        Ok(revoked.len())
    }

    /// `DELETE /admin/oauth2/auth/sessions/login`: ends a subject's login sessions (or one by id).
    pub async fn revoke_login_sessions(
        &self,
        subject: Option<&str>,
        sid: Option<&str>,
    ) -> Result<()> {
        if let Some(sid) = sid {
            self.store.delete_login_session(sid).await?;
        }
        if let Some(subject) = subject {
            self.store.delete_subject_login_sessions(subject).await?;
        }
        Ok(())
    }
}

/// What a stored consent granted; an unreadable row is [`Error::Corrupt`].
fn consent_of(c: &ConsentRow) -> Result<ConsentResult> {
    decode_stored("consent session", &c.id, &c.data)
}

/// The first cookie named `name` in the request's cookies (`http_auth::first`: the first of a
/// repeated name wins, as everywhere).
fn cookie<'a>(cookies: &'a [(String, String)], name: &str) -> Option<&'a str> {
    gatehouse_protocol::http_auth::first(
        cookies.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        name,
    )
}

fn crc32(s: &str) -> u32 {
    let mut h: u32 = 0xFFFF_FFFF;
    for b in s.bytes() {
        h ^= u32::from(b);
        for _ in 0..8 {
            h = if h & 1 != 0 {
                (h >> 1) ^ 0xEDB8_8320
            } else {
                h >> 1
            };
        }
    }
    !h
}
