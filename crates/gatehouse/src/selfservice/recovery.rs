//! Account recovery by e-mail code (Kratos's `code` strategy): the same answer whether or not
//! the address has an account; a valid code gives a fresh session (every other session ends)
//! and sends the browser to a settings flow to choose a new password within the privileged
//! window.

use serde_json::json;

use super::code::{self, Check};
use super::ratelimit::Bucket;
use super::ui::Message;
use super::{Flow, FlowError, FlowKind, FlowType, Outcome, SelfService, Submission};
use crate::audit::{Event, event};
use crate::courier::TemplateType;
use crate::error::Result;
use crate::identity::model::State;
use crate::sessions::{Aal, AuthMethod, Device};

impl SelfService {
    /// `GET /self-service/{recovery,verification}/{browser,api}`.
    pub async fn init_code_flow(
        &self,
        kind: FlowKind,
        flow_type: FlowType,
        return_to: Option<&str>,
        request_url: String,
        csrf: Option<&str>,
        now: i64,
    ) -> Result<std::result::Result<Flow, FlowError>> {
        let flows = &self.config.selfservice.flows;
        let enabled = match kind {
            FlowKind::Recovery => flows.recovery.enabled,
            _ => flows.verification.enabled,
        } && self.config.selfservice.methods.code.enabled;
        if !enabled {
            return Ok(Err(FlowError::new(
                400,
                "self_service_flow_disabled",
                format!("The {} flow is disabled.", kind.as_str()),
            )));
        }
        let return_to = self.checked_return_to(return_to)?;
        let flow = self.new_flow(kind, flow_type, request_url, return_to, csrf, now);
        self.save(&flow).await?;
        Ok(Ok(flow))
    }

    /// Sets a new code on the flow; the code, for the e-mail.
    pub(super) fn arm_code(&self, flow: &mut Flow, recipient: &str, now: i64) -> String {
        let c = code::generate();
        flow.code_hash = Some(code::digest(&flow.id, &c));
        flow.code_expires_at = now + code::CODE_TTL.min((flow.expires_at - now).max(0));
        flow.code_attempts = 0;
        flow.recipient = Some(recipient.to_owned());
        flow.state = "sent_email".into();
        flow.messages = vec![code::sent_message(flow.kind == FlowKind::Recovery)];
        c
    }

    /// `POST /self-service/recovery?flow=`.
    pub async fn submit_recovery(
        &self,
        flow_id: &str,
        sub: Submission,
        csrf_cookie: Option<&str>,
        device: Device,
        now: i64,
    ) -> Result<Outcome> {
        let mut flow = match self
            .load_for_submit(FlowKind::Recovery, flow_id, &sub, csrf_cookie, now)
            .await
        {
            Ok(f) => f,
            Err(e) => return Ok(Outcome::Refused(e)),
        };
        let ip = device.ip_address.clone().unwrap_or_default();
        if !self.limits.allow(Bucket::Recovery, &ip) {
            return Ok(Outcome::Refused(super::login::rate_limited()));
        }
        flow.field_messages.clear();
        let entered = sub.get("code").unwrap_or("").trim().to_owned();
        if flow.state == "sent_email" && !entered.is_empty() {
            let invalid = Message::error(
                4_060_006,
                "The recovery code is invalid or has already been used. Please try again.",
            );
            let exhausted = Message::error(
                4_060_006,
                "The recovery code is invalid or has already been used. Please request a new code.",
            );
            let result = self
                .consume_code(&mut flow, &entered, now, invalid, exhausted)
                .await?;
            if result != Check::Valid {
                return Ok(Outcome::Invalid(Box::new(flow)));
            }
            if flow.admin_issued
                && flow.flow_type == FlowType::Browser
                && let Some(cookie) = csrf_cookie
            {
                // A flow an administrator issued belongs to no browser yet: the one that
                // entered its code gets it, so the settings flow that follows takes this
                // browser's CSRF token (as a recovery link does).
                flow.csrf_hash = Some(gatehouse_crypto::TokenHash::of_secret(cookie).to_hex());
            }
            return self.recovered(flow, device, now).await;
        }
        let Some(email) = code::submitted_email(&mut flow, sub.get("email")) else {
            return self.invalid(flow).await;
        };
        if !self.may_send_code(FlowKind::Recovery, &email, now).await? {
            flow.state = "choose_method".into();
            flow.code_hash = None;
            flow.messages = vec![code::too_many_codes()];
            return self.invalid(flow).await;
        }
        let code = self.arm_code(&mut flow, &email, now);
        match self.identities.find("recovery:email", &email).await? {
            Some(i) if i.state == State::Active => {
                flow.identity_id = Some(i.id.clone());
                self.courier
                    .enqueue_email(&email, TemplateType::RecoveryCodeValid, json!({"code": code, "expires_in_minutes": code::CODE_TTL / 60, "identity": {"id": i.id, "traits": i.traits}}), now)
                    .await?;
            }
            // No account: nothing is sent, and the answer is the same.
            _ => flow.identity_id = None,
        }
        self.invalid_or_shown(flow).await
    }

    /// `POST /admin/recovery/code`: a recovery flow for an identity, with its code, to hand to
    /// the user out of band. Returns (flow page URL, code, expires_at).
    pub async fn admin_recovery_code(
        &self,
        identity_id: &str,
        expires_in: Option<i64>,
        now: i64,
    ) -> Result<(String, String, i64)> {
        let mut flow = self
            .admin_recovery_flow(identity_id, expires_in, "/admin/recovery/code", now)
            .await?;
        let recipient = flow.recipient.clone().unwrap_or_default();
        let code = self.arm_code(&mut flow, &recipient, now);
        flow.code_expires_at = flow.expires_at;
        flow.messages.clear();
        self.save(&flow).await?;
        Ok((self.flow_page(&flow), code, flow.expires_at))
    }

    /// A recovery flow an administrator makes for an active identity (code or link): it lives
    /// `expires_in` seconds (default an hour, between a minute and a week), is bound to no
    /// browser, and names the identity's first recovery address. Not saved yet.
    pub(super) async fn admin_recovery_flow(
        &self,
        identity_id: &str,
        expires_in: Option<i64>,
        endpoint: &str,
        now: i64,
    ) -> Result<Flow> {
        let identity = self.identities.get(identity_id).await?;
        if identity.state != State::Active {
            return Err(crate::error::Error::BadRequest(
                "The identity is not active.".into(),
            ));
        }
        let mut flow = self.new_flow(
            FlowKind::Recovery,
            FlowType::Browser,
            format!("{}{endpoint}", self.issuer),
            None,
            None,
            now,
        );
        let ttl = expires_in.unwrap_or(3600).clamp(60, 7 * 24 * 3600);
        flow.expires_at = now + ttl;
        flow.admin_issued = true;
        flow.recipient = Some(
            identity
                .recovery_addresses
                .first()
                .map(|a| a.value.clone())
                .unwrap_or_default(),
        );
        flow.identity_id = Some(identity.id.clone());
        Ok(flow)
    }

    /// Saves the flow and shows it again (not an error: the next step of the flow).
    pub(super) async fn invalid_or_shown(&self, flow: Flow) -> Result<Outcome> {
        self.save(&flow).await?;
        Ok(Outcome::Invalid(Box::new(flow)))
    }

    /// A recovery flow passed (valid code or link): a fresh session, every other session of the
    /// identity ended, and a settings flow to go on to.
    pub(super) async fn recovered(
        &self,
        mut flow: Flow,
        device: Device,
        now: i64,
    ) -> Result<Outcome> {
        let Some(id) = flow.identity_id.clone() else {
            // A code for an unknown address never matches (none was sent), so this is unreachable
            // in practice; answer as an invalid code.
            flow.field_messages.insert(
                "code".into(),
                vec![Message::error(
                    4_060_006,
                    "The recovery code is invalid or has already been used. Please try again.",
                )],
            );
            return self.invalid(flow).await;
        };
        let recipient = flow.recipient.clone();
        let identity = self
            .identities
            .modify(&id, now, |identity| {
                if let Some(r) = &recipient {
                    for a in identity
                        .verifiable_addresses
                        .iter_mut()
                        .filter(|a| &a.value == r && !a.verified)
                    {
                        a.verified = true;
                        a.status = "completed".into();
                        a.verified_at = Some(now);
                        a.updated_at = now;
                    }
                }
            })
            .await?;
        let (token, active) = self
            .sessions
            .issue(
                &identity,
                AuthMethod {
                    method: "code".into(),
                    aal: Aal::Aal1,
                    completed_at: now,
                },
                None,
                device,
                now,
            )
            .await?;
        self.sessions
            .revoke_all(&identity.id, Some(&active.id), now)
            .await?;
        let revoked = self
            .revoke_long_lived(&identity.id, super::revocation::Cause::Recovery, now)
            .await?;
        self.identities.audit.record(
            event::RECOVERY_COMPLETED,
            Event {
                subject: Some(&identity.id),
                ..Event::default()
            },
        );
        let mut settings = self.new_flow(
            FlowKind::Settings,
            flow.flow_type,
            flow.request_url.clone(),
            flow.return_to.clone(),
            None,
            now,
        );
        settings.csrf_hash = flow.csrf_hash.clone();
        settings.identity_id = Some(identity.id.clone());
        settings.state = "show_form".into();
        let minutes = self
            .config
            .selfservice
            .flows
            .settings
            .privileged_session_max_age
            .secs()
            / 60;
        settings.messages.push(Message::info(1_060_001, format!("You successfully recovered your account. Please change your password or set up an alternative login method within the next {minutes} minutes.")));
        settings.messages.extend(revoked);
        self.save(&settings).await?;
        flow.state = "passed_challenge".into();
        flow.messages.clear();
        self.save(&flow).await?;
        let mut body = self.render(&flow, None).await?;
        let mut cont = vec![
            json!({"action": "show_settings_ui", "flow": {"id": settings.id, "url": self.flow_page(&settings)}}),
        ];
        if flow.flow_type == FlowType::Api {
            cont.insert(
                0,
                json!({"action": "set_ory_session_token", "ory_session_token": token.expose()}),
            );
            body["session_token"] = json!(token.expose());
        }
        body["continue_with"] = json!(cont);
        Ok(Outcome::Success {
            return_to: self.flow_page(&settings),
            body,
            session: Some((token, active)),
        })
    }
}
