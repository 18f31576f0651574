//! The registration flow: traits from the identity schema plus a password, then a session (as
//! Kratos's `session` hook after registration).

use std::sync::Arc;

use serde_json::json;

use super::ratelimit::Bucket;
use super::ui::{Autocomplete, Message, Node, msg};
use super::{Flow, FlowError, FlowKind, FlowType, Outcome, SelfService, Submission};
use crate::audit::{Event, event};
use crate::error::{Error, Result};
use crate::identity::service::{
    CreateIdentity, CredentialsInput, PasswordConfigInput, PasswordInput,
};
use crate::sessions::{Aal, ActiveSession, AuthMethod, Device};

pub fn nodes(ss: &SelfService, flow: &Flow, nodes: &mut Vec<Node>) {
    for f in ss.identities.schemas.default_schema().form_fields() {
        let mut n = Node::input("default", &f.name, f.input_type)
            .value(flow.values.get(&f.name).cloned().unwrap_or_default())
            .label(1_070_002, &f.title);
        if f.required {
            n = n.required();
        }
        if f.input_type == "email" {
            n = n.autocomplete(Autocomplete::Email);
        }
        nodes.push(n);
    }
    nodes.push(
        Node::input("password", "password", "password")
            .required()
            .autocomplete(Autocomplete::NewPassword)
            .attr(
                "minlength",
                ss.config.selfservice.methods.password.min_password_length,
            )
            .label(1_070_001, "Password"),
    );
    nodes.push(Node::submit(
        "password", "method", "password", 1_040_001, "Sign up",
    ));
}

impl SelfService {
    /// `GET /self-service/registration/{browser,api}`.
    pub async fn init_registration(
        &self,
        flow_type: FlowType,
        return_to: Option<&str>,
        request_url: String,
        csrf: Option<&str>,
        session: Option<Arc<ActiveSession>>,
        now: i64,
    ) -> Result<std::result::Result<Flow, FlowError>> {
        if !self.config.selfservice.flows.registration.enabled {
            return Ok(Err(FlowError::new(
                400,
                "self_service_flow_disabled",
                "Registration is not allowed because it was disabled.",
            )));
        }
        if session.is_some() {
            return Ok(Err(already()));
        }
        let return_to = self.checked_return_to(return_to)?;
        let flow = self.new_flow(
            FlowKind::Registration,
            flow_type,
            request_url,
            return_to,
            csrf,
            now,
        );
        self.save(&flow).await?;
        Ok(Ok(flow))
    }

    /// `POST /self-service/registration?flow=`.
    pub async fn submit_registration(
        &self,
        flow_id: &str,
        sub: Submission,
        csrf_cookie: Option<&str>,
        session: Option<Arc<ActiveSession>>,
        device: Device,
        now: i64,
    ) -> Result<Outcome> {
        let mut flow = match self
            .load_for_submit(FlowKind::Registration, flow_id, &sub, csrf_cookie, now)
            .await
        {
            Ok(f) => f,
            Err(e) => return Ok(Outcome::Refused(e)),
        };
        if session.is_some() {
            return Ok(Outcome::Refused(already()));
        }
        let ip = device.ip_address.clone().unwrap_or_default();
        if !self.limits.allow(Bucket::Registration, &ip) {
            return Ok(Outcome::Refused(super::login::rate_limited()));
        }
        flow.messages.clear();
        flow.field_messages.clear();
        let fields = self.identities.schemas.default_schema().form_fields();
        for f in &fields {
            if let Some(v) = sub.get(&f.name) {
                flow.values.insert(f.name.clone(), v.to_owned());
            }
        }
        if sub.get("method") != Some("password")
            || !self.config.selfservice.methods.password.enabled
        {
            flow.messages.push(Message::error(msg::VALIDATION, "Could not find a strategy to sign you up with. Did you fill out the form correctly?"));
            return self.invalid(flow).await;
        }
        let password = sub.get("password").unwrap_or("").to_owned();
        if password.is_empty() {
            flow.field_messages.insert(
                "password".into(),
                vec![Message::error(
                    msg::REQUIRED,
                    "Property password is missing.",
                )],
            );
            return self.invalid(flow).await;
        }
        let body = CreateIdentity {
            traits: sub.traits(&fields),
            credentials: Some(CredentialsInput {
                password: Some(PasswordInput {
                    config: PasswordConfigInput {
                        password: Some(password),
                        hashed_password: None,
                    },
                }),
                oidc: None,
            }),
            ..CreateIdentity::default()
        };
        let identity = match self.identities.create(body, now).await {
            Ok(i) => i,
            Err(Error::Conflict(_)) => {
                flow.messages.push(Message::error(msg::IDENTIFIER_EXISTS, "An account with the same identifier (email, phone, username, ...) exists already."));
                return self.invalid(flow).await;
            }
            Err(Error::BadRequest(reason)) => {
                let (field, id) = if reason.starts_with("The password") {
                    ("password", msg::PASSWORD_POLICY)
                } else {
                    ("", msg::VALIDATION)
                };
                let m = Message::error(id, reason);
                if field.is_empty() {
                    flow.messages.push(m);
                } else {
                    flow.field_messages.insert(field.into(), vec![m]);
                }
                return self.invalid(flow).await;
            }
            Err(e) => return Err(e),
        };
        let (token, active) = self
            .sessions
            .issue(
                &identity,
                AuthMethod {
                    method: "password".into(),
                    aal: Aal::Aal1,
                    completed_at: now,
                },
                None,
                device,
                now,
            )
            .await?;
        self.identities.audit.record(
            event::IDENTITY_REGISTERED,
            Event {
                subject: Some(&identity.id),
                ip: Some(ip),
                ..Event::default()
            },
        );
        flow.state = "passed_challenge".into();
        self.save(&flow).await?;
        let verification = self.start_verification(&flow, &identity, now).await?;
        let session_json: serde_json::Value =
            serde_json::from_slice(&active.json).unwrap_or_default();
        let mut body =
            json!({ "identity": identity.to_public(&self.issuer), "session": session_json });
        let mut cont = Vec::new();
        if flow.flow_type == FlowType::Api {
            body["session_token"] = json!(token.expose());
            cont.push(
                json!({"action": "set_ory_session_token", "ory_session_token": token.expose()}),
            );
        }
        if let Some(v) = &verification {
            cont.push(json!({"action": "show_verification_ui", "flow": {"id": v.id, "verifiable_address": v.recipient, "url": self.flow_page(v)}}));
        }
        if !cont.is_empty() {
            body["continue_with"] = json!(cont);
        }
        let return_to = match &verification {
            Some(v) => self.flow_page(v),
            None => flow
                .return_to
                .clone()
                .unwrap_or_else(|| self.default_return_to()),
        };
        Ok(Outcome::Success {
            return_to,
            body,
            session: Some((token, active)),
        })
    }
}

fn already() -> FlowError {
    FlowError::new(
        400,
        "session_already_available",
        "A valid session was detected and thus registration is not possible.",
    )
}
