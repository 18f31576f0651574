//! Transports for outgoing e-mail behind one small trait, so the queue does not care how a
//! message leaves: SMTP through lettre (rustls), or — when `courier.smtp.connection_uri` is
//! unset — the development [`LogMailer`] that writes the message to the log. The connection URI
//! is parsed when the configuration is resolved ([`config::SmtpSettings`]); here it is only
//! connected to.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::config::{self, SmtpSettings, TlsMode};

/// How long one SMTP command may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// One message to send. `Debug` leaves the body out: it holds one-time codes.
pub struct Email {
    pub to: String,
    pub subject: String,
    pub body: String,
    pub html_body: Option<String>,
}

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Email")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid address {0:?}")]
    Address(String),
    #[error("building the message: {0}")]
    Build(String),
    #[error("SMTP: {0}")]
    Transport(String),
}

#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, email: &Email) -> Result<(), MailError>;
}

/// Development mode: the message goes to the log at info level instead of a mail server.
pub struct LogMailer;

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        tracing::info!(
            to = %email.to,
            subject = %email.subject,
            body = %email.body,
            "courier development mode (no courier.smtp.connection_uri): e-mail written here instead of sent"
        );
        Ok(())
    }
}

/// Sends through an SMTP server; one connection per message (the queue is not a bulk mailer).
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    pub fn new(settings: &SmtpSettings, from: Mailbox) -> Result<SmtpMailer, MailError> {
        let tls_params = || {
            let name = settings
                .server_name
                .clone()
                .unwrap_or_else(|| settings.host.clone());
            TlsParameters::builder(name)
                .dangerous_accept_invalid_certs(settings.skip_ssl_verify)
                .dangerous_accept_invalid_hostnames(settings.skip_ssl_verify)
                .build_rustls()
                .map_err(|e| MailError::Transport(e.to_string()))
        };
        let tls = match settings.tls {
            TlsMode::None => Tls::None,
            TlsMode::StartTls => Tls::Required(tls_params()?),
            TlsMode::Implicit => Tls::Wrapper(tls_params()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            .port(settings.port)
            .tls(tls)
            .timeout(Some(SMTP_TIMEOUT));
        if let Some(name) = &settings.local_name {
            builder = builder.hello_name(ClientId::Domain(name.clone()));
        }
        if let (Some(u), Some(p)) = (&settings.username, &settings.password) {
            builder = builder.credentials(Credentials::new(u.clone(), p.expose().clone()));
        }
        Ok(SmtpMailer {
            transport: builder.build(),
            from,
        })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        let to: Mailbox = email
            .to
            .parse()
            .map_err(|_| MailError::Address(email.to.clone()))?;
        let builder = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone());
        let message = match &email.html_body {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                email.body.clone(),
                html.clone(),
            )),
            None => builder.singlepart(SinglePart::plain(email.body.clone())),
        }
        .map_err(|e| MailError::Build(e.to_string()))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| MailError::Transport(e.to_string()))
    }
}

/// The transport the config asks for: SMTP with the parsed settings, or the log.
pub fn from_config(courier: &config::Courier) -> Result<Arc<dyn Mailer>, MailError> {
    let Some(settings) = &courier.smtp else {
        return Ok(Arc::new(LogMailer));
    };
    Ok(Arc::new(SmtpMailer::new(settings, courier.from.clone())?))
}
