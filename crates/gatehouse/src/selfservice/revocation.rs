//! What a completed recovery or a password change takes away besides the other sessions: the
//! identity's personal access tokens and every OAuth 2.0 token issued to it, with its login
//! sessions at the provider. Whoever held the account before (an intruder who minted a token or
//! obtained refresh tokens) loses that access too. Each is on by default and can be turned off
//! (`selfservice.flows.recovery.revoke_credentials`,
//! `selfservice.flows.settings.password_change_revokes_credentials`).

use serde_json::json;

use super::SelfService;
use super::ui::{Message, msg};
use crate::audit::{Event, event};
use crate::credentials::Kind;
use crate::error::Result;

/// Why the credentials were revoked, as their revocation reason says.
#[derive(Clone, Copy)]
pub(super) enum Cause {
    Recovery,
    PasswordChange,
}

impl Cause {
    fn reason(self) -> &'static str {
        match self {
            Cause::Recovery => "Account recovered",
            Cause::PasswordChange => "Password changed",
        }
    }
}

impl SelfService {
    /// Revokes the identity's long-lived credentials; a message listing what was revoked, for
    /// the flow that follows (none when nothing was).
    pub(super) async fn revoke_long_lived(
        &self,
        identity_id: &str,
        cause: Cause,
        now: i64,
    ) -> Result<Option<Message>> {
        let enabled = match cause {
            Cause::Recovery => self.config.selfservice.flows.recovery.revoke_credentials,
            Cause::PasswordChange => {
                self.config
                    .selfservice
                    .flows
                    .settings
                    .password_change_revokes_credentials
            }
        };
        if !enabled {
            return Ok(None);
        }
        let pats = self
            .credentials
            .revoke_owner(Kind::Pat, identity_id, cause.reason(), now)
            .await?;
        let oauth_tokens = self.provider.revoke_subject_grants(identity_id).await?;
        self.identities.audit.record(
            event::CREDENTIALS_REVOKED_FOR_ACCOUNT,
            Event {
                subject: Some(identity_id),
                data: json!({
                    "reason": cause.reason(),
                    "personal_access_tokens": pats,
                    "oauth2_tokens": oauth_tokens,
                }),
                ..Event::default()
            },
        );
        if pats == 0 && oauth_tokens == 0 {
            return Ok(None);
        }
        Ok(Some(Message::info(
            msg::CREDENTIALS_REVOKED,
            format!(
                "For your safety, {pats} personal access token(s) and {oauth_tokens} token(s) issued to applications were revoked. Sign in to those applications again and create new tokens where you need them."
            ),
        )))
    }
}
