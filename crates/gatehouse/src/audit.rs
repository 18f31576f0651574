//! The audit log: security events (logins, consents, client changes, revocations, detected token
//! reuse, failed client authentication, key rotation, logout) written to the database without
//! holding up the request that caused them, and queryable through the admin API.

use std::sync::Arc;

use gatehouse_store::{AuditRow, Store};
use serde_json::Value;

/// Event kinds, stable strings for filtering.
pub mod event {
    pub const CLIENT_CREATED: &str = "client.created";
    pub const CLIENT_UPDATED: &str = "client.updated";
    pub const CLIENT_DELETED: &str = "client.deleted";
    pub const CLIENT_REGISTERED: &str = "client.registered";
    pub const CLIENT_AUTH_FAILED: &str = "client.authentication_failed";
    pub const LOGIN_ACCEPTED: &str = "login.accepted";
    pub const LOGIN_REJECTED: &str = "login.rejected";
    pub const CONSENT_ACCEPTED: &str = "consent.accepted";
    pub const CONSENT_REJECTED: &str = "consent.rejected";
    pub const CONSENT_REVOKED: &str = "consent.revoked";
    pub const TOKENS_ISSUED: &str = "token.issued";
    pub const CODE_REUSED: &str = "token.code_reused";
    pub const REFRESH_REUSED: &str = "token.refresh_reused";
    pub const TOKEN_REVOKED: &str = "token.revoked";
    pub const LOGOUT: &str = "session.logout";
    pub const KEY_ROTATED: &str = "key.rotated";
    pub const IDENTITY_CREATED: &str = "identity.created";
    pub const IDENTITY_UPDATED: &str = "identity.updated";
    pub const IDENTITY_DELETED: &str = "identity.deleted";
    pub const IDENTITY_LOGIN: &str = "identity.login";
    pub const IDENTITY_LOGIN_FAILED: &str = "identity.login_failed";
    pub const IDENTITY_REGISTERED: &str = "identity.registered";
    pub const IDENTITY_LOGOUT: &str = "identity.logout";
    pub const CREDENTIAL_CHANGED: &str = "identity.credential_changed";
    pub const SESSION_REVOKED: &str = "identity.session_revoked";
    pub const RECOVERY_COMPLETED: &str = "identity.recovered";
    /// Long-lived credentials revoked because the account was recovered or its password changed.
    pub const CREDENTIALS_REVOKED_FOR_ACCOUNT: &str = "identity.credentials_revoked";
    /// Too many wrong second-factor codes: the identity's second factor is locked for a while.
    pub const SECOND_FACTOR_LOCKED: &str = "identity.second_factor_locked";
    pub const CREDENTIAL_CREATED: &str = "credential.created";
    pub const CREDENTIAL_REGENERATED: &str = "credential.regenerated";
    pub const CREDENTIAL_REVOKED: &str = "credential.revoked";
    pub const CREDENTIAL_VALIDATION_FAILED: &str = "credential.validation_failed";
    pub const ORGANIZATION_CREATED: &str = "organization.created";
    pub const ORGANIZATION_DELETED: &str = "organization.deleted";
    pub const ORGANIZATION_MEMBER_CHANGED: &str = "organization.member_changed";
}

/// Who and what an event is about.
#[derive(Default)]
pub struct Event<'a> {
    pub subject: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub ip: Option<String>,
    pub data: Value,
}

#[derive(Clone)]
pub struct AuditLog {
    store: Arc<dyn Store>,
    /// Writes started and not yet finished (see [`AuditLog::flush`]).
    pending: Arc<std::sync::atomic::AtomicUsize>,
}

impl AuditLog {
    pub fn new(store: Arc<dyn Store>) -> AuditLog {
        AuditLog {
            store,
            pending: Arc::default(),
        }
    }

    /// Waits (at most `timeout`) for the background writes to finish: a short-lived process
    /// such as a CLI command calls this before it exits, so its events are not lost.
    pub async fn flush(&self, timeout: std::time::Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.pending.load(std::sync::atomic::Ordering::Acquire) > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Records an event in the background; a failure to record is logged, never returned.
    pub fn record(&self, kind: &'static str, e: Event<'_>) {
        let row = AuditRow {
            id: uuid::Uuid::new_v4().to_string(),
            at: crate::clock::now(),
            kind: kind.to_owned(),
            subject: e.subject.map(str::to_owned),
            client_id: e.client_id.map(str::to_owned),
            ip: e.ip,
            data: if e.data.is_null() {
                "{}".to_owned()
            } else {
                e.data.to_string()
            },
        };
        tracing::info!(target: "gatehouse::audit", kind, subject = row.subject.as_deref().unwrap_or_default(), client_id = row.client_id.as_deref().unwrap_or_default(), "audit");
        let store = self.store.clone();
        let pending = self.pending.clone();
        pending.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        tokio::spawn(async move {
            if let Err(err) = store.insert_audit(&row).await {
                tracing::error!(error = %err, kind = row.kind, "writing an audit event failed");
            }
            pending.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
        });
    }
}
