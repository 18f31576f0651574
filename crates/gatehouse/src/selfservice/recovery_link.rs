//! Account recovery by link (Kratos's `link` method, as `POST /admin/recovery/link` issues it).
//!
//! The administrator gets `/self-service/recovery?flow=…&token=…` to hand to the user. Opened in
//! a browser, the link passes the recovery flow exactly as a valid code does: a fresh session
//! (every other session of the identity ends), and the browser goes on to a settings flow to
//! choose a new password within the privileged window. The token is 32 random alphanumerics;
//! only its digest, bound to the flow id, is stored. It works once (it is removed before the
//! session is made) and dies with the flow. A used, wrong or expired link gets, as in Kratos, a
//! new recovery flow saying so.

use gatehouse_crypto::TokenHash;

use super::ui::Message;
use super::{Flow, FlowKind, FlowType, Outcome, SelfService, code};
use crate::error::{Error, Result};
use crate::sessions::Device;

/// Length of a link's token: 32 alphanumerics, about 190 bits.
pub const TOKEN_LEN: usize = 32;

const INVALID: (u32, &str) = (
    4_060_004,
    "The recovery token is invalid or has already been used. Please retry the flow.",
);

/// Whether `token` is the flow's link token. A flow without one (never armed, or used) matches
/// nothing.
pub fn matches(flow: &Flow, token: &str) -> bool {
    flow.link_hash.as_deref().is_some_and(|expected| {
        token.len() == TOKEN_LEN
            && gatehouse_crypto::ct_eq(
                code::digest(&flow.id, token).as_bytes(),
                expected.as_bytes(),
            )
    })
}

impl SelfService {
    /// `POST /admin/recovery/link`: a recovery flow for an identity and the link that completes
    /// it. Returns (link, expires_at).
    pub async fn admin_recovery_link(
        &self,
        identity_id: &str,
        expires_in: Option<i64>,
        now: i64,
    ) -> Result<(String, i64)> {
        let mut flow = self
            .admin_recovery_flow(identity_id, expires_in, "/admin/recovery/link", now)
            .await?;
        let token = gatehouse_crypto::random::alphanumeric(TOKEN_LEN);
        flow.link_hash = Some(code::digest(&flow.id, &token));
        flow.state = "sent_email".into();
        self.save(&flow).await?;
        let link = format!(
            "{}/self-service/recovery?flow={}&token={token}",
            self.issuer, flow.id
        );
        Ok((link, flow.expires_at))
    }

    /// `GET /self-service/recovery?flow=&token=`: the browser holding the CSRF cookie `csrf`
    /// opened a recovery link. The settings flow it goes on to is bound to that cookie.
    pub async fn redeem_recovery_link(
        &self,
        flow_id: &str,
        token: &str,
        csrf: &str,
        device: Device,
        now: i64,
    ) -> Result<Outcome> {
        let mut flow = match self.load(FlowKind::Recovery, flow_id).await {
            Ok(f) => f,
            Err(Error::NotFound(_)) => return self.link_refused(INVALID, csrf, now).await,
            Err(e) => return Err(e),
        };
        if flow.expires_at <= now {
            let minutes = (now - flow.expires_at) as f64 / 60.0;
            let text =
                format!("The recovery flow expired {minutes:.2} minutes ago, please try again.");
            return self
                .link_refused((4_060_005, text.as_str()), csrf, now)
                .await;
        }
        if !matches(&flow, token) {
            return self.link_refused(INVALID, csrf, now).await;
        }
        // Used up before anything else happens, so a second request finds no token.
        flow.link_hash = None;
        flow.csrf_hash = Some(TokenHash::of_secret(csrf).to_hex());
        if !self.save_if_unchanged(&flow).await? {
            // Another request used the link first.
            return self.link_refused(INVALID, csrf, now).await;
        }
        self.recovered(flow, device, now).await
    }

    /// A new recovery flow for this browser, with the reason the link was refused.
    async fn link_refused(&self, (id, text): (u32, &str), csrf: &str, now: i64) -> Result<Outcome> {
        let request_url = format!("{}/self-service/recovery/browser", self.issuer);
        let mut flow = match self
            .init_code_flow(
                FlowKind::Recovery,
                FlowType::Browser,
                None,
                request_url,
                Some(csrf),
                now,
            )
            .await?
        {
            Ok(f) => f,
            Err(e) => return Ok(Outcome::Refused(e)),
        };
        flow.messages = vec![Message::error(id, text)];
        self.invalid_or_shown(flow).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow_with(token: &str) -> Flow {
        let mut f: Flow = serde_json::from_value(serde_json::json!({
            "id": "0b6c3f0e-8d0a-4a37-9c1e-6f9f6e0f4a11", "kind": "recovery", "flow_type": "browser",
            "issued_at": 0, "expires_at": 3600, "request_url": "", "return_to": null,
            "csrf_hash": null, "state": "sent_email", "messages": [],
        }))
        .expect("flow");
        f.link_hash = Some(code::digest(&f.id, token));
        f
    }

    #[test]
    fn only_the_armed_token_matches() {
        let token = "a".repeat(TOKEN_LEN);
        let f = flow_with(&token);
        assert!(matches(&f, &token));
        assert!(!matches(&f, &"b".repeat(TOKEN_LEN)));
        assert!(!matches(&f, &token[1..]), "a shorter token");
        assert!(!matches(&f, &format!(" {token}")), "no trimming");
        assert!(!matches(&f, ""));
    }

    #[test]
    fn the_digest_is_bound_to_the_flow() {
        let token = "c".repeat(TOKEN_LEN);
        let mut f = flow_with(&token);
        f.id = "1b6c3f0e-8d0a-4a37-9c1e-6f9f6e0f4a11".into();
        assert!(!matches(&f, &token), "a token armed on another flow");
    }

    #[test]
    fn a_used_link_matches_nothing() {
        let token = "d".repeat(TOKEN_LEN);
        let mut f = flow_with(&token);
        f.link_hash = None;
        assert!(!matches(&f, &token));
    }
}
