//! The courier (Kratos's name): outgoing e-mail through a queue in the database.
//!
//! A flow calls [`Courier::enqueue_email`], which renders the template and stores the message —
//! subject and body encrypted under the keyring, since they carry one-time codes — as `queued`.
//! The [`worker`] on every replica polls the queue, claims each due message with a conditional
//! update (so no two replicas send it), hands it to the [`Mailer`], and marks it `sent`, or
//! reschedules it with exponential backoff until `courier.message_retries` is used up and it is
//! `abandoned`. No HTTP here: the admin API in `web::admin_courier` is an adapter over this.

pub mod mailer;
pub mod templates;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_crypto::Keyring;
use gatehouse_store::{CourierMessageRow, Store};
use serde::Serialize;
use serde_json::{Value, json};

pub use mailer::{Email, LogMailer, MailError, Mailer, SmtpMailer};
pub use templates::{Rendered, TemplateType, Templates};

use crate::clock::rfc3339;
use crate::config::Config;
use crate::error::{Error, Result};

/// Where a message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageStatus {
    Queued,
    Processing,
    Sent,
    Abandoned,
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Queued => "queued",
            MessageStatus::Processing => "processing",
            MessageStatus::Sent => "sent",
            MessageStatus::Abandoned => "abandoned",
        }
    }
}

impl std::str::FromStr for MessageStatus {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        [
            MessageStatus::Queued,
            MessageStatus::Processing,
            MessageStatus::Sent,
            MessageStatus::Abandoned,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
        .ok_or(())
    }
}

/// A message as the admin API shows it (Kratos's `courierMessage`), body decrypted.
#[derive(Serialize)]
pub struct MessageView {
    pub id: String,
    pub status: String,
    #[serde(rename = "type")]
    pub channel: String,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub template_type: String,
    pub send_count: i64,
    pub created_at: String,
    pub updated_at: String,
}

pub struct Courier {
    store: Arc<dyn Store>,
    keyring: Arc<Keyring>,
    templates: Templates,
    mailer: Arc<dyn Mailer>,
    /// Retries after the first failed attempt (Kratos's `message_retries`).
    retries: i64,
    poll_interval: Duration,
}

/// The authenticated context of a message's sealed data: a blob cannot move to another row.
fn context(id: &str) -> Vec<u8> {
    format!("courier_message:{id}").into_bytes()
}

impl Courier {
    /// A courier with the transport the config names (SMTP, or the log in development mode).
    pub fn from_config(
        config: &Config,
        store: Arc<dyn Store>,
        keyring: Arc<Keyring>,
    ) -> anyhow::Result<Courier> {
        let mailer = mailer::from_config(&config.courier)
            .map_err(|e| anyhow::anyhow!("`courier.smtp.connection_uri`: {e}"))?;
        if config.courier.smtp.is_none() {
            tracing::info!(
                "courier.smtp.connection_uri is not set: e-mails are written to the log, not sent"
            );
        }
        Courier::new(config, store, keyring, mailer)
    }

    pub fn new(
        config: &Config,
        store: Arc<dyn Store>,
        keyring: Arc<Keyring>,
        mailer: Arc<dyn Mailer>,
    ) -> anyhow::Result<Courier> {
        let dir = config
            .courier
            .template_override_path
            .as_deref()
            .map(std::path::Path::new);
        let templates = Templates::load(dir)
            .map_err(|e| anyhow::anyhow!("`courier.template_override_path`: {e}"))?;
        Ok(Courier {
            store,
            keyring,
            templates,
            mailer,
            retries: config.courier.message_retries.max(0),
            poll_interval: config.courier.poll_interval.0,
        })
    }

    /// Renders `template_type` with `model` and queues the e-mail to `recipient`; the message id.
    pub async fn enqueue_email(
        &self,
        recipient: &str,
        template_type: TemplateType,
        model: Value,
        now: i64,
    ) -> Result<String> {
        let recipient = recipient.trim();
        if recipient.parse::<lettre::Address>().is_err() {
            return Err(Error::BadRequest(format!(
                "{recipient:?} is not an e-mail address"
            )));
        }
        let rendered = self
            .templates
            .render(template_type, &model)
            .map_err(|e| Error::Internal(e.to_string()))?;
        let id = uuid::Uuid::new_v4().to_string();
        let plain = zeroize::Zeroizing::new(
            serde_json::to_vec(&rendered).map_err(|e| Error::Internal(e.to_string()))?,
        );
        let sealed = self.keyring.encrypt(&plain, &context(&id));
        let row = CourierMessageRow {
            id: id.clone(),
            status: MessageStatus::Queued.as_str().into(),
            channel: "email".into(),
            recipient: recipient.to_owned(),
            template_type: template_type.as_str().into(),
            data: json!({"sealed": URL_SAFE_NO_PAD.encode(sealed)}).to_string(),
            send_count: 0,
            next_attempt_at: now,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_message(&row).await?;
        tracing::debug!(message_id = %id, template_type = %template_type, "e-mail queued");
        Ok(id)
    }

    /// The subject and body of a stored message.
    fn open(&self, row: &CourierMessageRow) -> Result<Rendered> {
        let undecryptable = || {
            Error::Internal(format!(
                "courier message {} cannot be decrypted with secrets.system",
                row.id
            ))
        };
        let data: Value = serde_json::from_str(&row.data).map_err(|_| undecryptable())?;
        let blob = data
            .get("sealed")
            .and_then(Value::as_str)
            .and_then(|s| URL_SAFE_NO_PAD.decode(s).ok())
            .ok_or_else(undecryptable)?;
        let plain = self
            .keyring
            .decrypt(&blob, &context(&row.id))
            .map_err(|_| undecryptable())?;
        serde_json::from_slice(&plain).map_err(|_| undecryptable())
    }

    fn view(&self, row: CourierMessageRow) -> Result<MessageView> {
        let r = self.open(&row)?;
        Ok(MessageView {
            id: row.id,
            status: row.status,
            channel: row.channel,
            recipient: row.recipient,
            subject: r.subject,
            body: r.body,
            template_type: row.template_type,
            send_count: row.send_count,
            created_at: rfc3339(row.created_at),
            updated_at: rfc3339(row.updated_at),
        })
    }

    pub async fn get_message(&self, id: &str) -> Result<MessageView> {
        let row = self
            .store
            .get_message(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no courier message with id {id:?}")))?;
        self.view(row)
    }

    /// Messages, newest first.
    pub async fn list_messages(
        &self,
        status: Option<MessageStatus>,
        recipient: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<MessageView>> {
        let rows = self
            .store
            .list_messages(status.map(MessageStatus::as_str), recipient, limit, offset)
            .await?;
        rows.into_iter().map(|r| self.view(r)).collect()
    }
}
