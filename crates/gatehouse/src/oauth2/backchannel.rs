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
use gatehouse_store::LogoutDeliveryRow;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Provider;
use super::login_session::LoginSessionData;
use crate::error::{Error, Result, decode_stored};

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

/// A queued back-channel logout: the claims each attempt signs a fresh token with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct QueuedLogout {
    sub: Option<String>,
    sid: String,
}

impl Provider {
    /// The login sessions made from an identity session. An unreadable entry is
    /// [`crate::error::Error::Corrupt`], never an empty one: it lists what to log out.
    async fn linked(&self, identity_session_id: &str) -> Result<Linked> {
        let key = index_key(identity_session_id);
        match self.store.get_flow(&key).await? {
            Some(data) => decode_stored("login-session index", &key, &data),
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
            let mut data = LoginSessionData::of(&row)?;
            if data.identity_session_id.as_deref() != Some(old) {
                continue;
            }
            data.identity_session_id = Some(new.to_owned());
            row.data = data.to_json()?;
            self.store.upsert_login_session(&row).await?;
            to = to.with(sid, row.expires_at);
        }
        self.save_linked(new, &to).await?;
        self.store.delete_flow(&index_key(old)).await?;
        Ok(())
    }

    /// Identity sessions ended: ends the login sessions made from them, queueing back-channel
    /// logouts for their clients. Whether anything was queued.
    ///
    /// An index entry or a login session that cannot be read fails the call
    /// ([`crate::error::Error::Corrupt`]) once the readable ones have ended: it is never taken
    /// for "nothing to end", and it does not stop the others from ending. Its index entry is
    /// kept.
    pub async fn identity_sessions_ended(&self, ids: &[String], now: i64) -> Result<bool> {
        let mut ended = false;
        let mut unreadable = None;
        for id in ids {
            let linked = match self.linked(id).await {
                Ok(l) => l,
                Err(e @ Error::Corrupt { .. }) => {
                    unreadable.get_or_insert(e);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut complete = true;
            for sid in &linked.login_sessions {
                // Gone already (logged out, revoked, expired), or since made from another
                // identity session: not this one's to end.
                let Some(row) = self.store.get_login_session(sid).await? else {
                    continue;
                };
                let data = match LoginSessionData::of(&row) {
                    Ok(d) => d,
                    Err(e) => {
                        complete = false;
                        unreadable.get_or_insert(e);
                        continue;
                    }
                };
                if data.identity_session_id.as_deref() != Some(id.as_str()) {
                    continue;
                }
                self.end_login_session(sid, Some(&row.subject), now).await?;
                ended = true;
            }
            if complete && !linked.login_sessions.is_empty() {
                self.store.delete_flow(&index_key(id)).await?;
            }
        }
        match unreadable {
            Some(e) => Err(e),
            None => Ok(ended),
        }
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
            // A client deleted since has nobody to tell; one that cannot be read is an error.
            let client = match self.get_client(&client_id).await {
                Ok(c) => c,
                Err(Error::NotFound(_)) => continue,
                Err(e) => return Err(e),
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
                let token = serde_json::to_string(&QueuedLogout {
                    sub: subject.map(str::to_owned),
                    sid: sid.to_owned(),
                })
                .map_err(|e| Error::Internal(e.to_string()))?;
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
    /// after the last attempt. A queued delivery that cannot be read is never sent (a token
    /// without its session would be no logout at all): it is logged as an error, once, and
    /// dropped, as it can never be delivered.
    pub async fn deliver_logouts(&self, now: i64) -> Result<usize> {
        let due = self.store.due_logout_deliveries(now, 50).await?;
        let mut sent = 0;
        for d in due {
            let claims: QueuedLogout = match decode_stored(
                "back-channel logout delivery",
                &d.id,
                &d.logout_token,
            ) {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(client_id = %d.client_id, url = %d.url, error = %e, "back-channel logout dropped: the queued delivery is unreadable");
                    self.store.delete_logout_delivery(&d.id).await?;
                    continue;
                }
            };
            let token = self.logout_token(&d.client_id, claims.sub.as_deref(), &claims.sid, now);
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
    fn a_queued_delivery_reads_as_it_was_written() {
        // As queued before the claims were typed: `json!({"sub": subject, "sid": sid})`.
        for (written, sub) in [
            (r#"{"sub":"u1","sid":"l1"}"#, Some("u1")),
            (r#"{"sub":null,"sid":"l1"}"#, None),
        ] {
            let q: QueuedLogout = serde_json::from_str(written).expect("reads");
            assert_eq!((q.sub.as_deref(), q.sid.as_str()), (sub, "l1"));
        }
        for bad in ["not json", "{}", r#"{"sub":"u1"}"#, r#"{"sid":7}"#] {
            assert!(serde_json::from_str::<QueuedLogout>(bad).is_err(), "{bad}");
        }
    }
}
