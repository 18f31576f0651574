//! Transports for outgoing e-mail behind one small trait, so the queue does not care how a
//! message leaves: SMTP through lettre (rustls), or — when `courier.smtp.connection_uri` is
//! unset — the development [`LogMailer`] that writes the message to the log.
//!
//! `connection_uri` is read the Kratos way: `smtp://` requires STARTTLS unless
//! `?disable_starttls=true`, `smtps://` is implicit TLS, `?skip_ssl_verify=true` accepts any
//! certificate, `?server_name=` sets the TLS name and `?local_name=` the EHLO name.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::config::Smtp;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// `smtp://...?disable_starttls=true`: plain text, for local relays.
    None,
    /// `smtp://`: the server must offer STARTTLS.
    StartTls,
    /// `smtps://`: TLS from the first byte.
    Implicit,
}

/// A parsed `courier.smtp.connection_uri`.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub skip_ssl_verify: bool,
    /// The name the server certificate must carry; the host by default.
    pub server_name: Option<String>,
    /// The EHLO name; the machine's hostname by default.
    pub local_name: Option<String>,
    pub username: Option<String>,
    password: Option<String>,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("skip_ssl_verify", &self.skip_ssl_verify)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

fn flag(v: &str) -> Result<bool, String> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" | "" => Ok(false),
        _ => Err(format!("expected true or false, not {v:?}")),
    }
}

/// Parses a connection URI; the error says what is wrong (the caller names the key).
pub fn parse_connection_uri(uri: &str) -> Result<SmtpSettings, String> {
    let u = url::Url::parse(uri).map_err(|e| format!("not a URL: {e}"))?;
    let (mut tls, default_port) = match u.scheme() {
        "smtp" => (TlsMode::StartTls, 587),
        "smtps" => (TlsMode::Implicit, 465),
        s => {
            return Err(format!(
                "unknown scheme {s:?}: expected smtp:// or smtps://"
            ));
        }
    };
    let host = u
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or("the host is missing")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let mut settings = SmtpSettings {
        host,
        port: u.port().unwrap_or(default_port),
        tls,
        skip_ssl_verify: false,
        server_name: None,
        local_name: None,
        username: None,
        password: None,
    };
    for (k, v) in u.query_pairs() {
        match k.as_ref() {
            "disable_starttls" => {
                if flag(&v)? {
                    if tls == TlsMode::Implicit {
                        return Err("disable_starttls applies to smtp://, not smtps://".into());
                    }
                    tls = TlsMode::None;
                }
            }
            "skip_ssl_verify" => settings.skip_ssl_verify = flag(&v)?,
            // Kratos's spelling for implicit TLS on smtps://, which is what smtps:// means here.
            "legacy_ssl" => {
                flag(&v)?;
            }
            "server_name" => settings.server_name = Some(v.into_owned()),
            "local_name" => settings.local_name = Some(v.into_owned()),
            other => return Err(format!("unknown query parameter {other:?}")),
        }
    }
    settings.tls = tls;
    if !u.username().is_empty() {
        let decode = |s: &str| {
            percent_decode(s).ok_or_else(|| "the user or password is not valid UTF-8".to_owned())
        };
        settings.username = Some(decode(u.username())?);
        settings.password = Some(decode(u.password().unwrap_or_default())?);
    }
    Ok(settings)
}

fn percent_decode(s: &str) -> Option<String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
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
            builder = builder.credentials(Credentials::new(u.clone(), p.clone()));
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

/// The sender address from `courier.smtp.from_address` and `from_name`.
pub fn from_mailbox(smtp: &Smtp) -> Result<Mailbox, String> {
    let address = smtp
        .from_address
        .parse()
        .map_err(|e| format!("not an e-mail address: {e}"))?;
    let name = Some(smtp.from_name.clone()).filter(|n| !n.is_empty());
    Ok(Mailbox::new(name, address))
}

/// The transport the config asks for.
pub fn from_config(smtp: &Smtp) -> Result<Arc<dyn Mailer>, String> {
    let Some(uri) = &smtp.connection_uri else {
        return Ok(Arc::new(LogMailer));
    };
    let settings = parse_connection_uri(uri)?;
    let mailer = SmtpMailer::new(&settings, from_mailbox(smtp)?).map_err(|e| e.to_string())?;
    Ok(Arc::new(mailer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kratos_connection_uris() {
        let s =
            parse_connection_uri("smtp://user%40x:p%2Fss%20w@mail.example.com:2525/").expect("ok");
        assert_eq!(
            (s.host.as_str(), s.port, s.tls),
            ("mail.example.com", 2525, TlsMode::StartTls)
        );
        assert_eq!(s.username.as_deref(), Some("user@x"));
        assert_eq!(s.password.as_deref(), Some("p/ss w"));
        assert!(
            !format!("{s:?}").contains("p/ss"),
            "Debug hides the password"
        );

        let s = parse_connection_uri("smtp://127.0.0.1:1025/?disable_starttls=true").expect("ok");
        assert_eq!((s.port, s.tls, s.username), (1025, TlsMode::None, None));

        let s =
            parse_connection_uri("smtps://mail.example.com/?skip_ssl_verify=true&legacy_ssl=true")
                .expect("ok");
        assert_eq!(
            (s.port, s.tls, s.skip_ssl_verify),
            (465, TlsMode::Implicit, true)
        );

        let s = parse_connection_uri("smtp://mail.example.com").expect("ok");
        assert_eq!((s.port, s.tls), (587, TlsMode::StartTls));
    }

    #[test]
    fn bad_connection_uris_say_why() {
        for (uri, why) in [
            ("http://mail.example.com", "unknown scheme"),
            ("mail.example.com:25", "unknown scheme"),
            ("//mail.example.com", "not a URL"),
            (
                "smtp://mail.example.com/?tls=required",
                "unknown query parameter",
            ),
            (
                "smtp://mail.example.com/?disable_starttls=maybe",
                "true or false",
            ),
            (
                "smtps://mail.example.com/?disable_starttls=true",
                "not smtps",
            ),
        ] {
            let e = parse_connection_uri(uri).expect_err(uri);
            assert!(e.contains(why), "{uri}: {e}");
        }
    }
}
