//! The settings flow: profile (traits), password, TOTP enrolment (QR code, confirmed by a first
//! code) and backup codes (shown once, confirmed before they count). Changing a credential, a
//! login identifier or a verifiable or recovery address needs a recent authentication
//! (`privileged_session_max_age`); an old address is told of a change and keeps recovering the
//! account until the new one is verified. A password change ends every other
//! session, and gives a browser a new session id (a native app keeps its token, as in Kratos).

use std::sync::Arc;

use base64::Engine;
use gatehouse_crypto::totp::TotpSecret;
use serde_json::{Value, json};

use super::login::totp_context;
use super::ui::{Autocomplete, Message, Node, msg};
use super::{Flow, FlowError, FlowKind, FlowType, Outcome, SelfService, Submission};
use crate::audit::{Event, event};
use crate::error::{Error, Result};
use crate::identity::Identity;
use crate::identity::model::{Credential, method};
use crate::sessions::{ActiveSession, AuthMethod, Device};

pub fn nodes(ss: &SelfService, flow: &Flow, i: &Identity, nodes: &mut Vec<Node>) -> Result<()> {
    let m = &ss.config.selfservice.methods;
    for f in ss.identities.schemas.default_schema().form_fields() {
        let pointer = format!(
            "/{}",
            f.name.trim_start_matches("traits.").replace('.', "/")
        );
        let current = i.traits.pointer(&pointer).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        let mut n = Node::input("profile", &f.name, f.input_type)
            .value(current.unwrap_or_default())
            .label(1_070_002, &f.title);
        if f.required {
            n = n.required();
        }
        nodes.push(n);
    }
    nodes.push(Node::submit(
        "profile", "method", "profile", 1_050_003, "Save",
    ));
    if m.password.enabled {
        nodes.push(
            Node::input("password", "password", "password")
                .required()
                .autocomplete(Autocomplete::NewPassword)
                .label(1_070_001, "New password"),
        );
        nodes.push(Node::submit(
            "password",
            "method",
            "password",
            1_050_003,
            "Change password",
        ));
    }
    if m.totp.enabled {
        if i.credentials.contains_key(method::TOTP) {
            nodes.push(Node::submit(
                "totp",
                "totp_unlink",
                "true",
                1_050_008,
                "Unlink TOTP Authenticator App",
            ));
        } else if let Some(enc) = &flow.totp_pending {
            let secret = ss.decrypt_pending_totp(enc, &i.id)?;
            let url = secret.otpauth_url(&ss.totp_issuer(), i.email().unwrap_or(&i.id));
            nodes.push(Node::img(
                "totp",
                "totp_qr",
                qr_data_uri(&url),
                1_050_005,
                "Authenticator app QR code",
            ));
            nodes.push(Node::text(
                "totp",
                "totp_secret_key",
                json!({"id": 1_050_017, "text": secret.to_base32(), "type": "info", "context": {"secret": secret.to_base32()}}),
                1_050_006,
                "This is your authenticator app secret. Use it if you can not scan the QR code.",
            ));
            nodes.push(
                Node::input("totp", "totp_code", "text")
                    .required()
                    .autocomplete(Autocomplete::OneTimeCode)
                    .attr("inputmode", "numeric")
                    .attr("pattern", "[0-9]{6}")
                    .attr("maxlength", 6)
                    .label(1_070_006, "Verify code"),
            );
            nodes.push(Node::submit("totp", "method", "totp", 1_050_003, "Save"));
        }
    }
    if m.lookup_secret.enabled {
        if let Some(codes) = &flow.lookup_pending {
            nodes.push(Node::text(
                "lookup_secret",
                "lookup_secret_codes",
                json!({"id": 1_050_015, "text": codes.join(", "), "type": "info",
                       "context": {"secrets": codes.iter().map(|c| json!({"id": 1_050_009, "text": c, "type": "info"})).collect::<Vec<_>>()}}),
                1_050_010,
                "These are your back up recovery codes. Please keep them in a safe place!",
            ));
            nodes.push(Node::submit(
                "lookup_secret",
                "lookup_secret_confirm",
                "true",
                1_050_011,
                "Confirm backup recovery codes",
            ));
        } else {
            nodes.push(Node::submit(
                "lookup_secret",
                "lookup_secret_regenerate",
                "true",
                1_050_008,
                "Generate new backup recovery codes",
            ));
            if i.credentials.contains_key(method::LOOKUP_SECRET) {
                nodes.push(Node::submit(
                    "lookup_secret",
                    "lookup_secret_disable",
                    "true",
                    1_050_016,
                    "Disable this method",
                ));
            }
        }
    }
    ss.webauthn_settings_nodes(flow, i, nodes)
}

fn qr_data_uri(text: &str) -> String {
    let svg = fast_qr::qr::QRBuilder::new(text)
        .build()
        .map(|qr| fast_qr::convert::svg::SvgBuilder::default().to_str(&qr))
        .unwrap_or_default();
    format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    )
}

impl SelfService {
    fn totp_issuer(&self) -> String {
        self.config
            .selfservice
            .methods
            .totp
            .issuer
            .clone()
            .unwrap_or_else(|| {
                url::Url::parse(&self.issuer)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned))
                    .unwrap_or_else(|| "Gatehouse".into())
            })
    }

    fn decrypt_pending_totp(&self, enc: &str, identity_id: &str) -> Result<TotpSecret> {
        let blob = gatehouse_crypto::b64::decode(enc)
            .ok_or_else(|| Error::Internal("pending TOTP".into()))?;
        let plain = self
            .keyring
            .decrypt(&blob, totp_context(identity_id).as_bytes())
            .map_err(|e| Error::Internal(e.to_string()))?;
        TotpSecret::from_bytes(&plain).map_err(|e| Error::Internal(e.to_string()))
    }

    fn encrypt_totp(&self, secret: &TotpSecret, identity_id: &str) -> String {
        gatehouse_crypto::b64::encode(
            self.keyring
                .encrypt(secret.expose(), totp_context(identity_id).as_bytes()),
        )
    }

    /// `GET /self-service/settings/{browser,api}`: needs a session.
    pub async fn init_settings(
        &self,
        flow_type: FlowType,
        return_to: Option<&str>,
        request_url: String,
        csrf: Option<&str>,
        session: &ActiveSession,
        now: i64,
    ) -> Result<Flow> {
        let return_to = self.checked_return_to(return_to)?;
        let mut flow = self.new_flow(
            FlowKind::Settings,
            flow_type,
            request_url,
            return_to,
            csrf,
            now,
        );
        flow.identity_id = Some(session.identity.id.clone());
        flow.state = "show_form".into();
        self.prepare_totp(&mut flow, &session.identity);
        self.prepare_webauthn_registration(&mut flow, &session.identity)?;
        self.save(&flow).await?;
        Ok(flow)
    }

    fn prepare_totp(&self, flow: &mut Flow, i: &Identity) {
        if self.config.selfservice.methods.totp.enabled
            && !i.credentials.contains_key(method::TOTP)
            && flow.totp_pending.is_none()
        {
            flow.totp_pending = Some(self.encrypt_totp(&TotpSecret::generate(), &i.id));
        }
    }

    /// `POST /self-service/settings?flow=`.
    pub async fn submit_settings(
        &self,
        flow_id: &str,
        sub: Submission,
        csrf_cookie: Option<&str>,
        session: Option<Arc<ActiveSession>>,
        device: Device,
        now: i64,
    ) -> Result<Outcome> {
        let mut flow = match self
            .load_for_submit(FlowKind::Settings, flow_id, &sub, csrf_cookie, now)
            .await
        {
            Ok(f) => f,
            Err(e) => return Ok(Outcome::Refused(e)),
        };
        let Some(session) = session.filter(|s| Some(&s.identity.id) == flow.identity_id.as_ref())
        else {
            return Ok(Outcome::Refused(FlowError::new(
                401,
                "session_inactive",
                "No valid session credentials found in the request.",
            )));
        };
        if !session.meets(&self.config.selfservice.flows.settings.required_aal) {
            let mut e = FlowError::new(
                403,
                "session_aal2_required",
                "The session must be upgraded to a second factor (aal2) first.",
            );
            e.details = json!({"redirect_browser_to": format!("{}/self-service/login/browser?aal=aal2&return_to={}", self.issuer, urlenc(&self.flow_page(&flow)))});
            return Ok(Outcome::Refused(e));
        }
        flow.messages.clear();
        flow.field_messages.clear();
        // Fresh from the store, not the session's cached copy: a save is only accepted over the
        // version read (a concurrent change makes it a 409, never a silent revert).
        let mut identity = self.identities.get(&session.identity.id).await?;
        let credential_change = sub.get("method") == Some("password")
            || sub.get("method") == Some("totp")
            || sub.get("totp_unlink").is_some()
            || sub.get("lookup_secret_regenerate").is_some()
            || sub.get("lookup_secret_confirm").is_some()
            || sub.get("lookup_secret_disable").is_some()
            || sub.get("webauthn_register").is_some_and(|v| !v.is_empty())
            || sub.get("webauthn_remove").is_some();
        // A profile change that touches a login identifier or a verifiable or recovery address
        // is privileged too (as in Kratos): with it, an old session could take the account over
        // through recovery.
        let fields = self.identities.schemas.default_schema().form_fields();
        let new_traits = (sub.get("method") == Some("profile")).then(|| sub.traits(&fields));
        let identifying_change = match &new_traits {
            Some(t) => {
                self.identities.identifying_traits(&identity.schema_id, t)?
                    != self
                        .identities
                        .identifying_traits(&identity.schema_id, &identity.traits)?
            }
            None => false,
        };
        if (credential_change || identifying_change)
            && now - session.authenticated_at
                > self
                    .config
                    .selfservice
                    .flows
                    .settings
                    .privileged_session_max_age
                    .secs()
        {
            let mut e = FlowError::new(
                403,
                "session_refresh_required",
                "The login session is too old and thus not allowed to update these fields. Please re-authenticate.",
            );
            e.details = json!({"redirect_browser_to": format!("{}/self-service/login/browser?refresh=true&return_to={}", self.issuer, urlenc(&self.flow_page(&flow)))});
            return Ok(Outcome::Refused(e));
        }
        let mut new_session = None;
        let mut revoked = None;
        let method_name = match sub.get("method") {
            None if sub.get("webauthn_register").is_some()
                || sub.get("webauthn_remove").is_some() =>
            {
                "webauthn"
            }
            m => m.unwrap_or(""),
        };
        if method_name == "webauthn" {
            let outcome = if let Some(id) = sub.get("webauthn_remove") {
                self.remove_webauthn_key(&mut identity, id, now)?
            } else {
                let raw = sub.get("webauthn_register").unwrap_or("");
                let name = sub.get("webauthn_register_displayname").unwrap_or("");
                let done =
                    self.finish_webauthn_registration(&mut flow, &mut identity, raw, name, now)?;
                // A new challenge for the next key, whatever happened to this one.
                self.prepare_webauthn_registration(&mut flow, &identity)?;
                done
            };
            if let Err(refusal) = outcome {
                let field = if sub.get("webauthn_remove").is_some() {
                    "webauthn_remove"
                } else {
                    "webauthn_register"
                };
                flow.field_messages
                    .insert(field.into(), vec![refusal.message()]);
                return self.invalid(flow).await;
            }
            if let Err(e) = self.identities.save(&mut identity, now).await {
                return self.settings_error(flow, e).await;
            }
            flow.webauthn = None;
            self.prepare_webauthn_registration(&mut flow, &identity)?;
        } else if let Some(traits) = new_traits {
            let before = identity.verifiable_addresses.clone();
            identity.traits = traits;
            if let Err(e) = self.identities.save(&mut identity, now).await {
                return self.settings_error(flow, e).await;
            }
            if identifying_change {
                self.addresses_changed(&flow, &identity, &before, now)
                    .await?;
            }
        } else if method_name == "password" {
            let password = sub.get("password").unwrap_or("").to_owned();
            let ids: Vec<String> = identity
                .verifiable_addresses
                .iter()
                .map(|a| a.value.clone())
                .collect();
            if let Err(e) = self.identities.check_password_policy(&password, &ids) {
                return self.settings_error(flow, e).await;
            }
            let hash = self.identities.hasher.hash(password).await?;
            let created = identity
                .credentials
                .get(method::PASSWORD)
                .map_or(now, |c| c.created_at);
            identity.credentials.insert(
                method::PASSWORD.into(),
                Credential {
                    identifiers: vec![],
                    config: json!({"hashed_password": hash}),
                    version: 0,
                    created_at: created,
                    updated_at: now,
                },
            );
            self.identities.save(&mut identity, now).await?;
            if flow.flow_type == FlowType::Api {
                // A native app keeps its session token, as in Kratos: the settings flow it gets
                // back has no place for a new one. Every other session ends.
                self.sessions
                    .revoke_all(&identity.id, Some(&session.id), now)
                    .await?;
            } else {
                // A browser gets a new session id (in a new cookie) for the new credential;
                // every other session ends.
                let (token, active) = self
                    .sessions
                    .issue(
                        &identity,
                        AuthMethod {
                            method: "password".into(),
                            aal: session.data.aal,
                            completed_at: now,
                        },
                        Some(&session),
                        device,
                        now,
                    )
                    .await?;
                self.sessions
                    .revoke_all(&identity.id, Some(&active.id), now)
                    .await?;
                new_session = Some((token, active));
            }
            revoked = self
                .revoke_long_lived(&identity.id, super::revocation::Cause::PasswordChange, now)
                .await?;
        } else if method_name == "totp" {
            let Some(enc) = flow.totp_pending.clone() else {
                return self
                    .settings_error(
                        flow,
                        Error::BadRequest("No authenticator app is being set up.".into()),
                    )
                    .await;
            };
            let secret = self.decrypt_pending_totp(&enc, &identity.id)?;
            let Some(step) = secret.verify(sub.get("totp_code").unwrap_or("").trim(), now, None)
            else {
                flow.field_messages.insert(
                    "totp_code".into(),
                    vec![Message::error(
                        msg::TOTP_INVALID,
                        "The provided authentication code is invalid, please try again.",
                    )],
                );
                return self.invalid(flow).await;
            };
            identity.credentials.insert(
                method::TOTP.into(),
                Credential {
                    identifiers: vec![],
                    config: json!({"secret": enc, "last_used_step": step}),
                    version: 0,
                    created_at: now,
                    updated_at: now,
                },
            );
            flow.totp_pending = None;
            self.identities.save(&mut identity, now).await?;
        } else if sub.get("totp_unlink").is_some() {
            identity.credentials.remove(method::TOTP);
            self.identities.save(&mut identity, now).await?;
            self.prepare_totp(&mut flow, &identity);
        } else if sub.get("lookup_secret_regenerate").is_some() {
            flow.lookup_pending = Some(gatehouse_crypto::lookup::generate_backup_codes(
                gatehouse_crypto::lookup::DEFAULT_BACKUP_CODES,
            ));
        } else if sub.get("lookup_secret_confirm").is_some() {
            let Some(codes) = flow.lookup_pending.take() else {
                return self
                    .settings_error(
                        flow,
                        Error::BadRequest("There are no new backup codes to confirm.".into()),
                    )
                    .await;
            };
            let hashed = self.backup_code_entries(&identity.id, &codes)?;
            identity.credentials.insert(
                method::LOOKUP_SECRET.into(),
                Credential {
                    identifiers: vec![],
                    config: json!({"codes": hashed}),
                    version: 0,
                    created_at: now,
                    updated_at: now,
                },
            );
            self.identities.save(&mut identity, now).await?;
        } else if sub.get("lookup_secret_disable").is_some() {
            identity.credentials.remove(method::LOOKUP_SECRET);
            self.identities.save(&mut identity, now).await?;
        } else {
            flow.messages.push(Message::error(msg::VALIDATION, "Could not find a strategy to update your settings. Did you fill out the form correctly?"));
            return self.invalid(flow).await;
        }
        if credential_change || identifying_change {
            self.identities.audit.record(
                event::CREDENTIAL_CHANGED,
                Event {
                    subject: Some(&identity.id),
                    ip: None,
                    data: json!({"method": method_name}),
                    ..Event::default()
                },
            );
        }
        // Cached sessions carry the identity: refresh them.
        if new_session.is_none() {
            self.sessions.cache.invalidate(&session.token_hash);
        }
        flow.state = "success".into();
        flow.messages.push(Message::success(
            msg::SETTINGS_SAVED,
            "Your changes have been saved!",
        ));
        flow.messages.extend(revoked);
        self.save(&flow).await?;
        let body = self.render(&flow, None).await?;
        Ok(Outcome::Success {
            return_to: self.flow_page(&flow),
            body,
            session: new_session,
        })
    }

    /// After the settings changed the identity's addresses: every address it no longer has is
    /// told (it stays the recovery address until a new one is verified), and the first new
    /// unverified address is sent a verification code.
    async fn addresses_changed(
        &self,
        flow: &Flow,
        identity: &Identity,
        before: &[crate::identity::model::VerifiableAddress],
        now: i64,
    ) -> Result<()> {
        let current: Vec<&str> = identity
            .verifiable_addresses
            .iter()
            .map(|a| a.value.as_str())
            .collect();
        for old in before
            .iter()
            .filter(|a| !current.contains(&a.value.as_str()))
        {
            if old.via != "email" {
                continue;
            }
            self.courier
                .enqueue_email(
                    &old.value,
                    crate::courier::TemplateType::AddressChanged,
                    json!({"new_addresses": current.join(", ")}),
                    now,
                )
                .await?;
        }
        if before
            .iter()
            .map(|a| a.value.as_str())
            .ne(current.iter().copied())
        {
            self.start_verification(flow, identity, now).await?;
        }
        Ok(())
    }

    async fn settings_error(&self, mut flow: Flow, e: Error) -> Result<Outcome> {
        match e {
            Error::BadRequest(reason) | Error::Conflict(reason) => {
                let id = if reason.starts_with("The password") {
                    msg::PASSWORD_POLICY
                } else {
                    msg::VALIDATION
                };
                flow.messages.push(Message::error(id, reason));
                self.invalid(flow).await
            }
            other => Err(other),
        }
    }
}

fn urlenc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
