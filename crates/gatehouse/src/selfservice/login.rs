//! The login flow: a first factor (password) gives an aal1 session; an identity with a second
//! factor then steps up (`aal=aal2`) with TOTP or a backup code. Unknown identifiers and wrong
//! passwords get the same message after the same work. With an OAuth 2.0 `login_challenge`, a
//! completed login accepts the provider's login request and the browser continues to it.

use std::sync::Arc;

use gatehouse_crypto::lookup::Stored;
use gatehouse_crypto::totp::TotpSecret;
use gatehouse_protocol::hydra::AcceptLogin;
use serde_json::{Value, json};

use super::lockout::{Claim, Policy};
use super::ratelimit::Bucket;
use super::ui::{Autocomplete, Message, Node, msg};
use super::{Flow, FlowError, FlowKind, FlowType, Outcome, SelfService, Submission};
use crate::audit::{Event, event};
use crate::courier::TemplateType;
use crate::error::{Error, Result};
use crate::identity::Identity;
use crate::identity::model::{State, method};
use crate::sessions::{Aal, ActiveSession, AuthMethod, Device};

/// Where a login request goes first.
pub enum Init {
    Flow(Box<Flow>),
    /// Already logged in well enough: straight on (browsers), or Kratos's
    /// `session_already_available` (API clients).
    AlreadyAuthenticated {
        return_to: String,
    },
    Refused(FlowError),
}

pub struct InitParams {
    pub flow_type: FlowType,
    pub refresh: bool,
    pub aal: Option<Aal>,
    pub return_to: Option<String>,
    pub login_challenge: Option<String>,
    pub request_url: String,
    pub csrf: Option<String>,
    /// The browser's cookies: a `login_challenge` is acted on only in the browser that started
    /// the authorization request (it holds that request's CSRF cookie).
    pub cookies: Vec<(String, String)>,
}

const INVALID: &str = "The provided credentials are invalid, check for spelling mistakes in your password or username, email address, or phone number.";

pub fn nodes(ss: &SelfService, flow: &Flow, identity: Option<&Identity>, nodes: &mut Vec<Node>) {
    let methods = &ss.config.selfservice.methods;
    if flow.requested_aal == Aal::Aal1 {
        if methods.password.enabled {
            let ident = flow.values.get("identifier").cloned().unwrap_or_default();
            // Kratos's values only: "username webauthn" with passkeys, else none (Kratos's
            // schema has no plain "username").
            let mut identifier = Node::input("default", "identifier", "text")
                .value(ident)
                .required()
                .label(1_070_004, "E-mail");
            if ss.webauthn_enabled() && methods.webauthn.passwordless {
                identifier = identifier.autocomplete(Autocomplete::UsernameWebauthn);
            }
            nodes.push(identifier);
            nodes.push(
                Node::input("password", "password", "password")
                    .required()
                    .autocomplete(Autocomplete::CurrentPassword)
                    .label(1_070_001, "Password"),
            );
            nodes.push(Node::submit(
                "password", "method", "password", 1_010_001, "Sign in",
            ));
        }
        ss.webauthn_login_nodes(flow, nodes);
        return;
    }
    let Some(i) = identity else { return };
    ss.webauthn_login_nodes(flow, nodes);
    if methods.totp.enabled && i.credentials.contains_key(method::TOTP) {
        nodes.push(
            Node::input("totp", "totp_code", "text")
                .required()
                .autocomplete(Autocomplete::OneTimeCode)
                .attr("inputmode", "numeric")
                .attr("pattern", "[0-9]{6}")
                .attr("maxlength", 6)
                .label(1_010_006, "Authentication code"),
        );
        nodes.push(Node::submit(
            "totp",
            "method",
            "totp",
            1_010_009,
            "Use authenticator",
        ));
    }
    if methods.lookup_secret.enabled && i.credentials.contains_key(method::LOOKUP_SECRET) {
        nodes.push(
            Node::input("lookup_secret", "lookup_secret", "text")
                .required()
                .label(1_010_007, "Backup recovery code"),
        );
        nodes.push(Node::submit(
            "lookup_secret",
            "method",
            "lookup_secret",
            1_010_010,
            "Use backup code",
        ));
    }
}

impl SelfService {
    /// `GET /self-service/login/{browser,api}`.
    pub async fn init_login(
        &self,
        p: InitParams,
        session: Option<Arc<ActiveSession>>,
        now: i64,
    ) -> Result<Init> {
        let return_to = self.checked_return_to(p.return_to.as_deref())?;
        let aal = p.aal.unwrap_or(Aal::Aal1);
        if aal == Aal::Aal2 && session.is_none() {
            return Ok(Init::Refused(FlowError::new(
                401,
                "session_aal1_required",
                "You can not requested a higher AAL (AAL2/AAL3) without an active session.",
            )));
        }
        // A login request is answered without asking only when the provider says `skip` (its
        // own login session, young enough for `max_age`, no `prompt=login`) for this very
        // identity; otherwise the user authenticates afresh, as a refresh of the session.
        let mut refresh = p.refresh;
        let skip_subject = match &p.login_challenge {
            Some(c) => match self
                .provider
                .browser_login_request(c, &p.cookies, now)
                .await
            {
                Ok(subject) => subject,
                Err(e) => return challenge_refused(e),
            },
            None => None,
        };
        if let Some(s) = &session {
            let enough = s.data.aal >= aal;
            if enough && !refresh {
                match &p.login_challenge {
                    Some(c) if skip_subject.as_deref() == Some(s.identity.id.as_str()) => {
                        let target = self.accept_oauth_login(c, s, now).await?;
                        return Ok(Init::AlreadyAuthenticated { return_to: target });
                    }
                    Some(_) => refresh = true,
                    None => {
                        let target = return_to
                            .clone()
                            .unwrap_or_else(|| self.default_return_to());
                        return Ok(Init::AlreadyAuthenticated { return_to: target });
                    }
                }
            }
        }
        let mut flow = self.new_flow(
            FlowKind::Login,
            p.flow_type,
            p.request_url,
            return_to,
            p.csrf.as_deref(),
            now,
        );
        flow.refresh = refresh;
        flow.requested_aal = aal;
        flow.oauth2_login_challenge = p.login_challenge;
        if let Some(s) = session.as_ref().filter(|_| aal == Aal::Aal2) {
            self.prepare_webauthn_login(&mut flow, Some(&*s.identity))?;
        } else {
            self.prepare_webauthn_login(&mut flow, None)?;
        }
        if let Some(s) = &session {
            if aal == Aal::Aal2 {
                flow.identity_id = Some(s.identity.id.clone());
                flow.messages.push(Message::info(
                    msg::LOGIN_AAL2,
                    "Please complete the second authentication challenge.",
                ));
            } else if refresh {
                flow.values.insert(
                    "identifier".into(),
                    s.identity.email().unwrap_or_default().to_owned(),
                );
                flow.messages.push(Message::info(
                    msg::LOGIN_REFRESH,
                    "Please confirm this action by verifying that it is you.",
                ));
            }
        }
        self.save(&flow).await?;
        Ok(Init::Flow(Box::new(flow)))
    }

    /// Accepts the provider's login request for a session; the URL the browser goes to next.
    pub async fn accept_oauth_login(
        &self,
        challenge: &str,
        s: &ActiveSession,
        now: i64,
    ) -> Result<String> {
        self.provider
            .accept_login(
                challenge,
                AcceptLogin {
                    subject: s.identity.id.clone(),
                    remember: true,
                    remember_for: (s.expires_at - now).max(0),
                    acr: Some(s.data.aal.as_str().to_owned()),
                    amr: s.data.methods.iter().map(|m| amr(&m.method)).collect(),
                    context: json!({"session_id": s.id}),
                    force_subject_identifier: None,
                    extend_session_lifespan: false,
                },
                now,
            )
            .await
            .map_err(|e| match e {
                // Never the handled request's verifier: this is the public listener.
                Error::Gone(_) => Error::Gone(CHALLENGE_USED.into()),
                e => e,
            })
    }

    /// `POST /self-service/login?flow=`.
    pub async fn submit_login(
        &self,
        flow_id: &str,
        sub: Submission,
        csrf_cookie: Option<&str>,
        session: Option<Arc<ActiveSession>>,
        device: Device,
        now: i64,
    ) -> Result<Outcome> {
        let mut flow = match self
            .load_for_submit(FlowKind::Login, flow_id, &sub, csrf_cookie, now)
            .await
        {
            Ok(f) => f,
            Err(e) => return Ok(Outcome::Refused(e)),
        };
        let ip = device.ip_address.clone().unwrap_or_default();
        if !self.limits.allow(Bucket::Login, &ip) {
            return Ok(Outcome::Refused(rate_limited()));
        }
        flow.messages.clear();
        flow.field_messages.clear();
        let method = match sub.get("method") {
            None if sub.get("webauthn_login").is_some_and(|v| !v.is_empty()) => "webauthn",
            m => m.unwrap_or(""),
        }
        .to_owned();
        let identity = match method.as_str() {
            "webauthn" if flow.requested_aal == Aal::Aal1 => {
                let raw = sub.get("webauthn_login").unwrap_or("");
                let found = self
                    .finish_webauthn_passwordless(&mut flow, raw, now)
                    .await?;
                self.prepare_webauthn_login(&mut flow, None)?;
                let found = match found {
                    Ok(mut identity) => match self.identities.save(&mut identity, now).await {
                        Ok(()) => Ok(identity),
                        // Another request used this identity's key at the same moment.
                        Err(Error::Stale(_)) => Err(super::webauthn::Refusal(LOST_RACE)),
                        Err(e) => return Err(e),
                    },
                    Err(refusal) => Err(refusal),
                };
                match found {
                    Ok(identity) => identity,
                    Err(refusal) => {
                        flow.field_messages
                            .insert("webauthn_login".into(), vec![refusal.message()]);
                        return self.invalid(flow).await;
                    }
                }
            }
            "password" if flow.requested_aal == Aal::Aal1 => {
                match self.password_step(&mut flow, &sub, &ip).await? {
                    Some(i) => i,
                    None => return self.invalid(flow).await,
                }
            }
            m @ ("totp" | "lookup_secret" | "webauthn") if flow.requested_aal == Aal::Aal2 => {
                let Some(s) = session
                    .as_ref()
                    .filter(|s| Some(&s.identity.id) == flow.identity_id.as_ref())
                else {
                    return Ok(Outcome::Refused(FlowError::new(
                        401,
                        "session_aal1_required",
                        "A first-factor session is required for this step.",
                    )));
                };
                match self
                    .second_factor(&mut flow, m, &sub, &s.identity, &ip, now)
                    .await?
                {
                    Some(identity) => identity,
                    None => return self.invalid(flow).await,
                }
            }
            _ => {
                flow.messages.push(Message::error(
                    msg::VALIDATION,
                    "Could not find a strategy to log you in with. Did you fill out the form correctly?",
                ));
                return self.invalid(flow).await;
            }
        };
        let method = method.as_str();
        let aal = flow.requested_aal;
        let previous = session.as_deref().filter(|s| s.identity.id == identity.id);
        let (token, active) = self
            .sessions
            .issue(
                &identity,
                AuthMethod {
                    method: method.to_owned(),
                    aal,
                    completed_at: now,
                },
                previous,
                device,
                now,
            )
            .await?;
        self.identities.audit.record(
            event::IDENTITY_LOGIN,
            Event {
                subject: Some(&identity.id),
                ip: Some(ip.clone()),
                data: json!({"method": method, "aal": aal.as_str(), "session_id": active.id}),
                ..Event::default()
            },
        );
        let needs_aal2 = !active.meets(&self.config.session.whoami.required_aal);
        let return_to = if needs_aal2 && flow.flow_type == FlowType::Browser {
            let mut u = url::Url::parse(&format!("{}/self-service/login/browser", self.issuer))
                .map_err(|e| Error::Internal(e.to_string()))?;
            {
                let mut q = u.query_pairs_mut();
                q.append_pair("aal", "aal2");
                if let Some(r) = &flow.return_to {
                    q.append_pair("return_to", r);
                }
                if let Some(c) = &flow.oauth2_login_challenge {
                    q.append_pair("login_challenge", c);
                }
            }
            u.to_string()
        } else if let Some(c) = &flow.oauth2_login_challenge {
            self.accept_oauth_login(c, &active, now).await?
        } else {
            flow.return_to
                .clone()
                .unwrap_or_else(|| self.default_return_to())
        };
        flow.state = "passed_challenge".into();
        self.save(&flow).await?;
        let session_json: Value = serde_json::from_slice(&active.json).unwrap_or_default();
        let mut body = json!({ "session": session_json });
        if flow.flow_type == FlowType::Api {
            body["session_token"] = json!(token.expose());
        }
        if flow.oauth2_login_challenge.is_some() || needs_aal2 {
            body["continue_with"] =
                json!([{"action": "redirect_browser_to", "redirect_browser_to": return_to}]);
        }
        Ok(Outcome::Success {
            return_to,
            body,
            session: Some((token, active)),
        })
    }

    pub(super) async fn invalid(&self, flow: Flow) -> Result<Outcome> {
        self.save(&flow).await?;
        Ok(Outcome::Invalid(Box::new(flow)))
    }

    fn audit_failure(&self, subject: &str, ip: &str, method: &str) {
        self.identities.audit.record(
            event::IDENTITY_LOGIN_FAILED,
            Event {
                subject: Some(subject),
                ip: Some(ip.to_owned()),
                data: json!({"method": method}),
                ..Event::default()
            },
        );
    }

    /// A failed login for an identifier no identity has: recorded like a real account's failure
    /// (no subject), which is both a credential-stuffing signal and the same work.
    fn audit_failure_unknown(&self, ip: &str) {
        self.identities.audit.record(
            event::IDENTITY_LOGIN_FAILED,
            Event {
                subject: None,
                ip: Some(ip.to_owned()),
                data: json!({"method": "password"}),
                ..Event::default()
            },
        );
    }

    /// The second factor of an aal2 step for the session's identity: the identity as saved, or
    /// `None` with the flow's messages set.
    ///
    /// The identity is read fresh from the store (never the session's cached copy) and saved
    /// only over the version read, so two submissions of one code cannot both pass: the one that
    /// loses the race reads again and finds the code used (TOTP: its time step), and a different
    /// code submitted at the same moment is checked again against the fresh copy and marked too.
    ///
    /// TOTP and backup codes count against the identity's lockout ([`super::lockout`]) before
    /// they are checked; while locked, no code is checked, right or wrong.
    async fn second_factor(
        &self,
        flow: &mut Flow,
        m: &str,
        sub: &Submission,
        cached: &Identity,
        ip: &str,
        now: i64,
    ) -> Result<Option<Identity>> {
        if m == "webauthn" {
            let raw = sub.get("webauthn_login").unwrap_or("");
            let mut identity = self.identities.get(&cached.id).await?;
            let done = self.finish_webauthn_second_factor(flow, &mut identity, raw, now)?;
            self.prepare_webauthn_login(flow, Some(&identity))?;
            let done = match done {
                Ok(()) if identity.state != State::Active => Err(super::webauthn::Refusal(INVALID)),
                Ok(()) => match self.identities.save(&mut identity, now).await {
                    Ok(()) => Ok(()),
                    Err(Error::Stale(_)) => Err(super::webauthn::Refusal(LOST_RACE)),
                    Err(e) => return Err(e),
                },
                Err(r) => Err(r),
            };
            if let Err(refusal) = done {
                flow.field_messages
                    .insert("webauthn_login".into(), vec![refusal.message()]);
                self.audit_failure(&identity.id, ip, m);
                return Ok(None);
            }
            return Ok(Some(identity));
        }
        let (field, input, id, text) = if m == "totp" {
            (
                "totp_code",
                sub.get("totp_code").unwrap_or(""),
                msg::TOTP_INVALID,
                "The TOTP code is invalid or has been used already.",
            )
        } else {
            (
                "lookup_secret",
                sub.get("lookup_secret").unwrap_or(""),
                msg::LOOKUP_INVALID,
                "The backup recovery code is not valid.",
            )
        };
        let key = second_factor_key(&cached.id);
        let policy = self.second_factor_policy();
        let mut lock_started = None;
        if self.limits.enabled() {
            match self.claim_attempt(&key, &policy, now).await? {
                Claim::Locked { until } => {
                    flow.field_messages
                        .insert(field.into(), vec![locked_message(until - now)]);
                    self.audit_failure(&cached.id, ip, m);
                    return Ok(None);
                }
                Claim::Allowed { lock_started: l } => lock_started = l,
            }
        }
        let mut passed = None;
        for _ in 0..crate::identity::service::SAVE_RETRIES {
            let mut identity = self.identities.get(&cached.id).await?;
            if identity.state != State::Active {
                break;
            }
            let ok = if m == "totp" {
                self.totp_step(&mut identity, input, now)?
            } else {
                self.lookup_step(&mut identity, input, now)?
            };
            if !ok {
                break;
            }
            match self.identities.save(&mut identity, now).await {
                Ok(()) => {
                    passed = Some(identity);
                    break;
                }
                // Saved by another request since it was read: check again on a fresh copy.
                Err(Error::Stale(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        if let Some(identity) = passed {
            if self.limits.enabled() {
                self.clear_attempts(&key).await?;
            }
            return Ok(Some(identity));
        }
        let mut messages = vec![Message::error(id, text)];
        if let Some(secs) = lock_started {
            messages.push(locked_message(secs));
            self.notify_second_factor_locked(cached, secs, now).await?;
        }
        flow.field_messages.insert(field.into(), messages);
        self.audit_failure(&cached.id, ip, m);
        Ok(None)
    }

    fn second_factor_policy(&self) -> Policy {
        let c = self.limits.config();
        Policy {
            free: c.second_factor_failures.max(1),
            base_secs: c.second_factor_lockout.secs().max(1),
            max_secs: c
                .second_factor_lockout_max
                .secs()
                .max(c.second_factor_lockout.secs()),
            forget_after_secs: 24 * 3600,
        }
    }

    /// Tells the identity (its first e-mail address) that its second factor is locked.
    async fn notify_second_factor_locked(&self, i: &Identity, secs: i64, now: i64) -> Result<()> {
        self.identities.audit.record(
            event::SECOND_FACTOR_LOCKED,
            Event {
                subject: Some(&i.id),
                data: json!({"locked_seconds": secs}),
                ..Event::default()
            },
        );
        let Some(to) = i
            .verifiable_addresses
            .iter()
            .find(|a| a.via == "email")
            .map(|a| a.value.clone())
            .or_else(|| {
                i.recovery_addresses
                    .iter()
                    .find(|a| a.via == "email")
                    .map(|a| a.value.clone())
            })
        else {
            return Ok(());
        };
        self.courier
            .enqueue_email(
                &to,
                TemplateType::SecondFactorLocked,
                json!({"locked_minutes": (secs + 59) / 60, "identity": {"id": i.id, "traits": i.traits}}),
                now,
            )
            .await?;
        Ok(())
    }

    /// Checks identifier and password; the identity, or `None` with the flow's messages set.
    async fn password_step(
        &self,
        flow: &mut Flow,
        sub: &Submission,
        ip: &str,
    ) -> Result<Option<Identity>> {
        let identifier = sub.get("identifier").unwrap_or("").trim().to_owned();
        let password = sub.get("password").unwrap_or("").to_owned();
        flow.values.insert("identifier".into(), identifier.clone());
        if identifier.is_empty() || password.is_empty() {
            for (field, v) in [("identifier", &identifier), ("password", &password)] {
                if v.is_empty() {
                    flow.field_messages.insert(
                        field.into(),
                        vec![Message::error(msg::REQUIRED, "Property is missing.")],
                    );
                }
            }
            return Ok(None);
        }
        let id_key = crate::identity::model::normalize_identifier(&identifier);
        let now = crate::clock::now();
        if self.limits.password_allowed(&id_key, ip, now).is_err() {
            // Per (identifier, client): other clients can still log in to this account. The
            // same for unknown identifiers, so this does not tell whether the account exists.
            flow.messages.push(Message::error(
                msg::RATE_LIMITED,
                "Too many failed attempts for this account from your network; wait a few minutes and try again.",
            ));
            return Ok(None);
        }
        let found = self.identities.find(method::PASSWORD, &identifier).await?;
        let hash = found.as_ref().and_then(|i| {
            i.credentials
                .get(method::PASSWORD)
                .and_then(|c| c.config.get("hashed_password"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        let (Some(mut identity), Some(hash)) = (found, hash) else {
            // The same work as a real check (a hash, an audit event): timing does not tell
            // whether the account exists.
            self.identities.hasher.dummy(password).await?;
            self.audit_failure_unknown(ip);
            self.limits.password_failed(&id_key, ip, now);
            flow.messages
                .push(Message::error(msg::INVALID_CREDENTIALS, INVALID));
            return Ok(None);
        };
        let verified = match self.identities.hasher.verify(password.clone(), hash).await {
            Ok(v) => v,
            Err(crate::identity::hasher::HashError::Busy) => return Err(Error::Busy),
            Err(e) => {
                tracing::warn!(identity = %identity.id, error = %e, "stored password hash cannot be checked");
                gatehouse_crypto::password::Verification {
                    matched: false,
                    needs_rehash: false,
                }
            }
        };
        if !verified.matched || identity.state != State::Active {
            self.limits.password_failed(&id_key, ip, now);
            self.audit_failure(&identity.id, ip, "password");
            flow.messages
                .push(Message::error(msg::INVALID_CREDENTIALS, INVALID));
            return Ok(None);
        }
        self.limits.password_passed(&id_key, ip);
        if verified.needs_rehash {
            // Imported (bcrypt, pbkdf2, scrypt, argon2i) or weaker hashes become argon2id.
            let new_hash = self.identities.hasher.hash(password).await?;
            if let Some(c) = identity.credentials.get_mut(method::PASSWORD) {
                c.config = json!({ "hashed_password": new_hash });
                c.updated_at = now;
            }
            self.identities.save(&mut identity, now).await?;
        }
        Ok(Some(identity))
    }

    /// Checks a TOTP code, refusing any time step already used; records the step.
    fn totp_step(&self, identity: &mut Identity, code: &str, now: i64) -> Result<bool> {
        let Some(cred) = identity.credentials.get_mut(method::TOTP) else {
            return Ok(false);
        };
        let secret = self.totp_secret(&cred.config, &identity.id)?;
        let last = cred.config.get("last_used_step").and_then(Value::as_i64);
        match secret.verify(code.trim(), now, last) {
            Some(step) => {
                cred.config["last_used_step"] = json!(step);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    pub(super) fn totp_secret(&self, config: &Value, identity_id: &str) -> Result<TotpSecret> {
        let blob = config
            .get("secret")
            .and_then(Value::as_str)
            .and_then(gatehouse_crypto::b64::decode)
            .ok_or_else(|| Error::Internal("TOTP credential without a secret".into()))?;
        let plain = self
            .keyring
            .decrypt(&blob, totp_context(identity_id).as_bytes())
            .map_err(|e| Error::Internal(format!("TOTP secret: {e}")))?;
        TotpSecret::from_bytes(&plain).map_err(|e| Error::Internal(format!("TOTP secret: {e}")))
    }

    /// Checks a backup code; a used one is marked and never works again. Stored codes are
    /// keyed MACs ([`gatehouse_crypto::lookup::mac_backup_code`]) or, from before those, plain
    /// SHA-256 (still accepted, once). A malformed stored entry never matches.
    fn lookup_step(&self, identity: &mut Identity, code: &str, now: i64) -> Result<bool> {
        let keys = self.keyring.mac_keys(LOOKUP_MAC_PURPOSE);
        let key_refs: Vec<&[u8; 32]> = keys.iter().map(|k| &**k).collect();
        let id = identity.id.clone();
        let Some(cred) = identity.credentials.get_mut(method::LOOKUP_SECRET) else {
            return Ok(false);
        };
        let Some(codes) = cred.config.get_mut("codes").and_then(Value::as_array_mut) else {
            return Ok(false);
        };
        let unused: Vec<(usize, Stored)> = codes
            .iter()
            .enumerate()
            .filter(|(_, c)| c.get("used_at").is_none_or(Value::is_null))
            .filter_map(|(i, c)| {
                if let Some(h) = c.get("hmac").and_then(Value::as_str) {
                    Some((i, Stored::Mac(h.to_owned())))
                } else {
                    c.get("hash")
                        .and_then(Value::as_str)
                        .map(|h| (i, Stored::Legacy(h.to_owned())))
                }
            })
            .collect();
        let stored: Vec<Stored> = unused.iter().map(|(_, h)| h.clone()).collect();
        match gatehouse_crypto::lookup::find_backup_code_keyed(code, &id, &key_refs, &stored) {
            Some(k) => {
                let Some(entry) = unused.get(k).and_then(|(i, _)| codes.get_mut(*i)) else {
                    return Ok(false);
                };
                entry["used_at"] = json!(now);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The stored form of new backup codes for an identity (see [`Self::lookup_step`]).
    pub(super) fn backup_code_entries(
        &self,
        identity_id: &str,
        codes: &[String],
    ) -> Result<Vec<Value>> {
        let keys = self.keyring.mac_keys(LOOKUP_MAC_PURPOSE);
        let key = keys
            .first()
            .ok_or_else(|| Error::Internal("the keyring is empty".into()))?;
        Ok(codes
            .iter()
            .map(|c| {
                json!({
                    "hmac": gatehouse_crypto::lookup::mac_backup_code(key, identity_id, c),
                    "used_at": null,
                })
            })
            .collect())
    }
}

/// The keyring purpose of backup-code MAC keys.
const LOOKUP_MAC_PURPOSE: &str = "lookup_secret";

/// Why a second factor that checked out was refused: another request changed the identity at the
/// same moment (and may have used the same code).
const LOST_RACE: &str =
    "This code or key was used by another request at the same moment; please try again.";

/// The flows-table key of an identity's second-factor failure counter.
fn second_factor_key(identity_id: &str) -> String {
    format!("mfa-failures:{identity_id}")
}

/// A locked second factor: says so, and for how long, whatever the code was.
fn locked_message(secs: i64) -> Message {
    let minutes = (secs.max(1) + 59) / 60;
    Message::error(
        msg::RATE_LIMITED,
        format!(
            "Too many wrong codes: the second factor of this account is locked for {minutes} minute(s)."
        ),
    )
}

const CHALLENGE_USED: &str =
    "This sign-in request was used already. Go back to the application and start again.";

/// A `login_challenge` that this browser may not act on, as the flow's refusal.
fn challenge_refused(e: Error) -> Result<Init> {
    Ok(Init::Refused(match e {
        Error::Forbidden(m) => FlowError::new(403, "security_csrf_violation", m),
        Error::Gone(_) => FlowError::new(410, "self_service_flow_expired", CHALLENGE_USED),
        Error::NotFound(_) => FlowError::new(
            404,
            "not_found",
            "The sign-in request does not exist or has expired. Go back to the application and start again.",
        ),
        e => return Err(e),
    }))
}

pub(super) fn totp_context(identity_id: &str) -> String {
    format!("totp:{identity_id}")
}

fn amr(method: &str) -> String {
    match method {
        "password" => "pwd",
        "totp" => "otp",
        "lookup_secret" => "otp",
        "webauthn" => "hwk",
        other => other,
    }
    .to_owned()
}

pub(super) fn rate_limited() -> FlowError {
    FlowError::new(
        429,
        "rate_limit_exceeded",
        "Too many attempts; wait a minute and try again.",
    )
}
