//! `courier.*` (Kratos's key names): outgoing e-mail, its SMTP server and sender, and the
//! queue's retries.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, Dur, key_err};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Smtp {
    /// `smtp://user:pass@host:port/` (STARTTLS), `smtps://...` (implicit TLS), or
    /// `smtp://host:port/?disable_starttls=true` for a local relay. Unset: development mode,
    /// messages are written to the log instead of sent.
    pub connection_uri: Option<String>,
    pub from_address: String,
    pub from_name: String,
}

impl Default for Smtp {
    fn default() -> Self {
        Smtp {
            connection_uri: None,
            from_address: "no-reply@gatehouse.local".into(),
            from_name: "Gatehouse".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Courier {
    pub smtp: Smtp,
    /// Retries after a failed send before a message is `abandoned` (Kratos's meaning: a message
    /// is tried at most `1 + message_retries` times, waiting 1 s, 2 s, 4 s, ... up to 1 h between).
    pub message_retries: i64,
    /// How often each replica polls the queue.
    pub poll_interval: Dur,
    /// A directory with `recovery_code_valid.subject.txt`/`.body.txt` etc. overriding the
    /// built-in e-mail templates.
    pub template_override_path: Option<String>,
}

impl Default for Courier {
    fn default() -> Self {
        Courier {
            smtp: Smtp::default(),
            message_retries: 5,
            poll_interval: Dur(Duration::from_secs(1)),
            template_override_path: None,
        }
    }
}

impl Courier {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(uri) = &self.smtp.connection_uri {
            crate::courier::mailer::parse_connection_uri(uri)
                .map_err(|e| key_err("courier.smtp.connection_uri", e))?;
        }
        crate::courier::mailer::from_mailbox(&self.smtp)
            .map_err(|e| key_err("courier.smtp.from_address", e))?;
        if self.message_retries < 0 {
            return Err(key_err("courier.message_retries", "must not be negative"));
        }
        if self.poll_interval.0.is_zero() {
            return Err(key_err("courier.poll_interval", "must be longer than zero"));
        }
        Ok(())
    }
}
