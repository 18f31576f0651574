//! Back-channel logout (OpenID Connect Back-Channel Logout 1.0): when a login session ends,
//! every client that got tokens in it and registered a `backchannel_logout_uri` is sent a
//! logout token (and, when a browser is there to show them, front-channel logout URLs are
//! collected). A login session ends in one place, [`Provider::end_login_session`], whether by
//! RP-initiated logout ([`super::logout`]) or because the Gatehouse identity session it was made
//! from ended: self-service logout, `DELETE /sessions`, the admin API, and recovery or a password
//! change ending the other sessions ([`Provider::identity_sessions_ended`]).
//!
//! Which login sessions an identity session made is written down when the built-in login
//! accepts a login request for it: a small entry beside the flows, `identity-session:<id>` → the
//! login session ids, which expires with them. When an identity session is replaced (step-up,
//! re-authentication), its entry moves to the new one. Deliveries are queued in the database and
//! retried with backoff; each attempt signs a fresh, short-lived token.

use std::sync::Arc;

use gatehouse_crypto::jwt;
use gatehouse_store::{LoginSessionRow, LogoutDeliveryRow};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Provider;
use crate::error::{Error, Result};

/// Retry schedule for back-channel logout deliveries, in seconds after the previous attempt.
const BACKOFF: [i64; 5] = [10, 60, 300, 1800, 7200];

/// Most login sessions remembered per identity session (one per browser, in practice); the
/// oldest are forgotten first.
pub const MAX_LINKED: usize = 32;

/// The login sessions made from one identity session, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Linked {
    pub login_sessions: Vec<String>,
    /// When the entry may go: the latest expiry of its login sessions.
    pub expires_at: i64,
}

impl Linked {
    /// With one more login session (kept once, newest last, at most [`MAX_LINKED`]).
    pub fn with(mut self, login_session_id: &str, expires_at: i64) -> Linked {
        self.login_sessions.retain(|s| s != login_session_id);
        self.login_sessions.push(login_session_id.to_owned());
        let extra = self.login_sessions.len().saturating_sub(MAX_LINKED);
        self.login_sessions = self.login_sessions.split_off(extra);
        self.expires_at = self.expires_at.max(expires_at);
        self
    }
}

fn index_key(identity_session_id: &str) -> String {
    format!("identity-session:{identity_session_id}")
}

/// The identity session a login session was made from (see `flows::after_login`).
fn identity_session_of(row: &LoginSessionRow) -> Option<String> {
    serde_json::from_str::<Value>(&row.data)
        .ok()?
        .get("identity_session_id")?
        .as_str()
        .map(str::to_owned)
}

impl Provider {
    async fn linked(&self, identity_session_id: &str) -> Result<Linked> {
        match self.store.get_flow(&index_key(identity_session_id)).await? {
            // An unreadable entry is treated as empty: it only ever lists what to log out.
            Some(data) => Ok(serde_json::from_str(&data).unwrap_or_default()),
            None => Ok(Linked::default()),
        }
    }

    async fn save_linked(&self, identity_session_id: &str, linked: &Linked) -> Result<()> {
        let data = serde_json::to_string(linked).map_err(|e| Error::Internal(e.to_string()))?;
        self.store
            .put_flow(&index_key(identity_session_id), &data, linked.expires_at)
            .await?;
        Ok(())
    }

    /// Records that login session `login_session_id`, alive until `expires_at`, was made from
    /// identity session `identity_session_id`.
    pub(super) async fn link_identity_session(
        &self,
        identity_session_id: &str,
        login_session_id: &str,
        expires_at: i64,
    ) -> Result<()> {
        let linked = self
            .linked(identity_session_id)
            .await?
            .with(login_session_id, expires_at);
        self.save_linked(identity_session_id, &linked).await
    }

    /// Identity session `old` was replaced by `new` (step-up, re-authentication): the login
    /// sessions made from `old` now belong to `new`, so that logging out of `new` ends them and
    /// RP-initiated logout of them ends `new`.
    pub async fn identity_session_replaced(&self, old: &str, new: &str) -> Result<()> {
        let from = self.linked(old).await?;
        if from.login_sessions.is_empty() {
            return Ok(());
        }
        let mut to = self.linked(new).await?;
        for sid in &from.login_sessions {
            let Some(mut row) = self.store.get_login_session(sid).await? else {
                continue;
            };
            if identity_session_of(&row).as_deref() != Some(old) {
                continue;
            }
            let mut data: Value = serde_json::from_str(&row.data).unwrap_or_default();
            data["identity_session_id"] = json!(new);
            row.data = data.to_string();
            self.store.upsert_login_session(&row).await?;
            to = to.with(sid, row.expires_at);
        }
        self.save_linked(new, &to).await?;
        self.store.delete_flow(&index_key(old)).await?;
        Ok(())
    }

    /// Identity sessions ended: ends the login sessions made from them, queueing back-channel
    /// logouts for their clients. Whether anything was queued.
    pub async fn identity_sessions_ended(&self, ids: &[String], now: i64) -> Result<bool> {
        let mut ended = false;
        for id in ids {
            let linked = self.linked(id).await?;
            for sid in &linked.login_sessions {
                // Gone already (logged out, revoked, expired), or since made from another
                // identity session: not this one's to end.
                let Some(row) = self.store.get_login_session(sid).await? else {
                    continue;
                };
                if identity_session_of(&row).as_deref() != Some(id.as_str()) {
                    continue;
                }
                self.end_login_session(sid, Some(&row.subject), now).await?;
                ended = true;
            }
            if !linked.login_sessions.is_empty() {
                self.store.delete_flow(&index_key(id)).await?;
            }
        }
        Ok(ended)
    }

    /// Ends a login session: deletes it and queues a back-channel logout for every client that
    /// got tokens in it. Returns the clients' front-channel logout URLs, for a browser to load.
    pub(super) async fn end_login_session(
        &self,
        sid: &str,
        subject: Option<&str>,
        now: i64,
    ) -> Result<Vec<String>> {
        self.store.delete_login_session(sid).await?;
        let mut iframes = Vec::new();
        for client_id in self.store.session_client_ids(sid).await? {
            let Ok(client) = self.get_client(&client_id).await else {
                continue;
            };
            let c = &client.client;
            if !c.frontchannel_logout_uri.is_empty()
                && let Ok(mut u) = url::Url::parse(&c.frontchannel_logout_uri)
            {
                u.query_pairs_mut()
                    .append_pair("iss", &self.issuer)
                    .append_pair("sid", sid);
                iframes.push(u.to_string());
            }
            if !c.backchannel_logout_uri.is_empty() {
                // The claims are queued; each attempt signs a fresh, short-lived token.
                let token = json!({"sub": subject, "sid": sid}).to_string();
                let d = LogoutDeliveryRow {
                    id: uuid::Uuid::new_v4().to_string(),
                    client_id: client_id.clone(),
                    url: c.backchannel_logout_uri.clone(),
                    logout_token: token,
                    attempts: 0,
                    next_attempt_at: now,
                    created_at: now,
                };
                self.store.insert_logout_delivery(&d).await?;
            }
        }
        Ok(iframes)
    }

    /// Sends what is due now, in the background; the janitor retries what fails.
    pub fn deliver_logouts_soon(self: &Arc<Self>) {
        let provider = self.clone();
        tokio::spawn(async move {
            if let Err(e) = provider.deliver_logouts(crate::clock::now()).await {
                tracing::warn!(error = %e, "back-channel logout delivery failed");
            }
        });
    }

    /// A logout token (OIDC Back-Channel Logout §2.4).
    pub fn logout_token(
        &self,
        client_id: &str,
        subject: Option<&str>,
        sid: &str,
        now: i64,
    ) -> String {
        let mut claims = json!({
            "iss": self.issuer,
            "aud": [client_id],
            "iat": now,
            "exp": now + 300,
            "jti": uuid::Uuid::new_v4().to_string(),
            "sid": sid,
            "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
        });
        if let Some(s) = subject {
            claims["sub"] = json!(s);
        }
        jwt::sign(&self.keys.current().signing, Some("logout+jwt"), &claims)
    }

    /// Sends due back-channel logout tokens; failures are rescheduled with backoff and dropped
    /// after the last attempt.
    pub async fn deliver_logouts(&self, now: i64) -> Result<usize> {
        let due = self.store.due_logout_deliveries(now, 50).await?;
        let mut sent = 0;
        for d in due {
            let claims: Value = serde_json::from_str(&d.logout_token).unwrap_or_default();
            let sid = claims
                .get("sid")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let token = self.logout_token(
                &d.client_id,
                claims.get("sub").and_then(Value::as_str),
                sid,
                now,
            );
            let ok = match self
                .outbound
                .post_form(&d.url, &[("logout_token", token.as_str())])
                .await
            {
                Ok(ok) => ok,
                Err(e) => {
                    tracing::debug!(client_id = %d.client_id, error = %e, "back-channel logout not delivered");
                    false
                }
            };
            if ok {
                self.store.delete_logout_delivery(&d.id).await?;
                sent += 1;
            } else if let Some(wait) =
                BACKOFF.get(usize::try_from(d.attempts).unwrap_or(usize::MAX))
            {
                self.store
                    .reschedule_logout_delivery(&d.id, d.attempts + 1, now + wait)
                    .await?;
            } else {
                tracing::warn!(client_id = %d.client_id, url = %d.url, "back-channel logout failed after every retry");
                self.store.delete_logout_delivery(&d.id).await?;
            }
        }
        Ok(sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linked_keeps_each_session_once_newest_last() {
        let l = Linked::default().with("a", 10).with("b", 5).with("a", 7);
        assert_eq!(l.login_sessions, ["b", "a"]);
        assert_eq!(l.expires_at, 10, "the latest expiry wins");
    }

    #[test]
    fn linked_is_bounded() {
        let mut l = Linked::default();
        for i in 0..MAX_LINKED + 5 {
            l = l.with(&format!("s{i}"), 1);
        }
        assert_eq!(l.login_sessions.len(), MAX_LINKED);
        assert_eq!(l.login_sessions[0], "s5", "the oldest are forgotten");
        assert_eq!(
            l.login_sessions[MAX_LINKED - 1],
            format!("s{}", MAX_LINKED + 4)
        );
    }

    #[test]
    fn identity_session_is_read_from_the_login_session() {
        let row = |data: &str| LoginSessionRow {
            id: "l".into(),
            subject: "s".into(),
            data: data.into(),
            authenticated_at: 0,
            expires_at: 0,
        };
        assert_eq!(
            identity_session_of(&row(r#"{"identity_session_id":"i1"}"#)).as_deref(),
            Some("i1")
        );
        assert_eq!(
            identity_session_of(&row(r#"{"identity_session_id":null}"#)),
            None
        );
        assert_eq!(identity_session_of(&row("not json")), None);
    }
}
