//! Address verification by e-mail code. Asking for a code answers the same whether or not the
//! address exists; a valid code marks the address verified. Registration starts one for the new
//! identity's address.

use serde_json::json;

use super::code::{self, Check};
use super::ratelimit::Bucket;
use super::ui::Message;
use super::{Flow, FlowKind, Outcome, SelfService, Submission};
use crate::courier::TemplateType;
use crate::error::Result;
use crate::identity::Identity;
use crate::sessions::Device;

impl SelfService {
    /// Sends a verification code for the identity's first unverified address, in a new flow
    /// for the same browser (same CSRF binding); the flow, if one was started.
    pub async fn start_verification(
        &self,
        after: &Flow,
        identity: &Identity,
        now: i64,
    ) -> Result<Option<Flow>> {
        if !self.config.selfservice.flows.verification.enabled
            || !self.config.selfservice.methods.code.enabled
        {
            return Ok(None);
        }
        let Some(addr) = identity
            .verifiable_addresses
            .iter()
            .find(|a| !a.verified)
            .map(|a| a.value.clone())
        else {
            return Ok(None);
        };
        let mut flow = self.new_flow(
            FlowKind::Verification,
            after.flow_type,
            after.request_url.clone(),
            after.return_to.clone(),
            None,
            now,
        );
        flow.csrf_hash = after.csrf_hash.clone();
        flow.identity_id = Some(identity.id.clone());
        self.send_verification(&mut flow, &addr, now).await?;
        self.save(&flow).await?;
        Ok(Some(flow))
    }

    async fn send_verification(&self, flow: &mut Flow, email: &str, now: i64) -> Result<()> {
        if !self
            .may_send_code(FlowKind::Verification, email, now)
            .await?
        {
            flow.state = "choose_method".into();
            flow.code_hash = None;
            flow.values.insert("email".into(), email.to_owned());
            flow.messages = vec![code::too_many_codes()];
            return Ok(());
        }
        let code = self.arm_code(flow, email, now);
        let found = self.identities.find("address:email", email).await?;
        if let Some(i) = found.filter(|i| {
            i.verifiable_addresses
                .iter()
                .any(|a| a.value == email && !a.verified)
        }) {
            flow.identity_id = Some(i.id.clone());
            self.courier
                .enqueue_email(email, TemplateType::VerificationCodeValid, json!({"code": code, "verification_url": self.flow_page(flow), "expires_in_minutes": code::CODE_TTL / 60}), now)
                .await?;
        } else {
            flow.identity_id = None;
        }
        Ok(())
    }

    /// `POST /self-service/verification?flow=`.
    pub async fn submit_verification(
        &self,
        flow_id: &str,
        sub: Submission,
        csrf_cookie: Option<&str>,
        device: Device,
        now: i64,
    ) -> Result<Outcome> {
        let mut flow = match self
            .load_for_submit(FlowKind::Verification, flow_id, &sub, csrf_cookie, now)
            .await
        {
            Ok(f) => f,
            Err(e) => return Ok(Outcome::Refused(e)),
        };
        let ip = device.ip_address.clone().unwrap_or_default();
        if !self.limits.allow(Bucket::Verification, &ip) {
            return Ok(Outcome::Refused(super::login::rate_limited()));
        }
        flow.field_messages.clear();
        let entered = sub.get("code").unwrap_or("").trim().to_owned();
        if flow.state == "sent_email" && !entered.is_empty() {
            let bad = Message::error(
                4_070_006,
                "The verification code is invalid or has already been used. Please try again.",
            );
            return match self
                .consume_code(&mut flow, &entered, now, bad.clone(), bad)
                .await?
            {
                Check::Valid => self.verified(flow, now).await,
                _ => Ok(Outcome::Invalid(Box::new(flow))),
            };
        }
        let Some(email) = code::submitted_email(&mut flow, sub.get("email")) else {
            return self.invalid(flow).await;
        };
        self.send_verification(&mut flow, &email, now).await?;
        self.invalid_or_shown(flow).await
    }

    async fn verified(&self, mut flow: Flow, now: i64) -> Result<Outcome> {
        if let (Some(id), Some(addr)) = (flow.identity_id.clone(), flow.recipient.clone()) {
            self.identities
                .modify(&id, now, |identity| {
                    for a in identity
                        .verifiable_addresses
                        .iter_mut()
                        .filter(|a| a.value == addr)
                    {
                        a.verified = true;
                        a.status = "completed".into();
                        a.verified_at = Some(now);
                        a.updated_at = now;
                    }
                })
                .await?;
        }
        flow.state = "passed_challenge".into();
        flow.messages = vec![Message::success(
            1_080_002,
            "You successfully verified your email address.",
        )];
        self.save(&flow).await?;
        let body = self.render(&flow, None).await?;
        Ok(Outcome::Success {
            return_to: flow
                .return_to
                .clone()
                .unwrap_or_else(|| self.default_return_to()),
            body,
            session: None,
        })
    }
}
