//! `courier.*` (Kratos's key names): outgoing e-mail, its SMTP server and sender, and the
//! queue's retries. The connection URI is parsed here, once, into [`SmtpSettings`] and the sender
//! into a [`Mailbox`], so the mailer only connects.
//!
//! `connection_uri` is read the Kratos way: `smtp://` requires STARTTLS unless
//! `?disable_starttls=true`, `smtps://` is implicit TLS, `?skip_ssl_verify=true` accepts any
//! certificate, `?server_name=` sets the TLS name and `?local_name=` the EHLO name.

use std::time::Duration;

use lettre::message::Mailbox;
use serde::{Deserialize, Serialize, Serializer};

use super::{ConfigError, Dur, Secret, SecretUrl, key_err};

/// `courier.smtp.*` as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSmtp {
    /// `smtp://user:pass@host:port/` (STARTTLS), `smtps://...` (implicit TLS), or
    /// `smtp://host:port/?disable_starttls=true` for a local relay. Unset: development mode,
    /// messages are written to the log instead of sent.
    pub connection_uri: Option<String>,
    pub from_address: String,
    /// Empty: the address alone.
    pub from_name: String,
}

impl Default for RawSmtp {
    fn default() -> Self {
        RawSmtp {
            connection_uri: None,
            from_address: "no-reply@gatehouse.local".into(),
            from_name: "Gatehouse".into(),
        }
    }
}

/// `courier.*` as written; resolved into [`Courier`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawCourier {
    pub smtp: RawSmtp,
    /// Retries after a failed send before a message is `abandoned` (Kratos's meaning: a message
    /// is tried at most `1 + message_retries` times, waiting 1 s, 2 s, 4 s, ... up to 1 h between).
    pub message_retries: i64,
    /// How often each replica polls the queue.
    pub poll_interval: Dur,
    /// A directory with `recovery_code_valid.subject.txt`/`.body.txt` etc. overriding the
    /// built-in e-mail templates.
    pub template_override_path: Option<String>,
}

impl Default for RawCourier {
    fn default() -> Self {
        RawCourier {
            smtp: RawSmtp::default(),
            message_retries: 5,
            poll_interval: Dur(Duration::from_secs(1)),
            template_override_path: None,
        }
    }
}

/// `courier.*`, resolved (keys as on [`RawCourier`]). `Serialize` writes the document's shape
/// back (`courier.smtp.connection_uri` with its password redacted).
#[derive(Debug, Clone)]
pub struct Courier {
    /// `courier.smtp.connection_uri`, parsed; `None`: development mode, messages are logged.
    pub smtp: Option<SmtpSettings>,
    /// `courier.smtp.from_address` with `from_name`.
    pub from: Mailbox,
    /// At least 0.
    pub message_retries: i64,
    pub poll_interval: Dur,
    pub template_override_path: Option<String>,
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

/// A parsed `courier.smtp.connection_uri`; made only by [`parse_connection_uri`]. `Debug` and
/// `Serialize` never show the password.
#[derive(Debug, Clone)]
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
    /// Set whenever `username` is (possibly empty).
    pub password: Option<Secret<String>>,
    /// The URI as written, to show it (password redacted).
    written: SecretUrl,
}

impl Serialize for SmtpSettings {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.written.serialize(s)
    }
}

fn flag(v: &str) -> Result<bool, String> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" | "" => Ok(false),
        _ => Err(format!("expected true or false, not {v:?}")),
    }
}

/// Parses a connection URI; the error says what is wrong (the caller names the key) and never
/// repeats the URI.
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
        written: SecretUrl::from(uri),
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
        settings.password = Some(Secret::new(decode(u.password().unwrap_or_default())?));
    }
    Ok(settings)
}

fn percent_decode(s: &str) -> Option<String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

/// The sender from `courier.smtp.from_address` and `from_name` (an empty name: none).
fn from_mailbox(smtp: &RawSmtp) -> Result<Mailbox, String> {
    let address = smtp
        .from_address
        .parse()
        .map_err(|e| format!("not an e-mail address: {e}"))?;
    let name = Some(smtp.from_name.clone()).filter(|n| !n.is_empty());
    Ok(Mailbox::new(name, address))
}

impl RawCourier {
    pub(super) fn resolve(self) -> Result<Courier, ConfigError> {
        let smtp = self
            .smtp
            .connection_uri
            .as_deref()
            .map(parse_connection_uri)
            .transpose()
            .map_err(|e| key_err("courier.smtp.connection_uri", e))?;
        let from = from_mailbox(&self.smtp).map_err(|e| key_err("courier.smtp.from_address", e))?;
        if self.message_retries < 0 {
            return Err(key_err("courier.message_retries", "must not be negative"));
        }
        if self.poll_interval.0.is_zero() {
            return Err(key_err("courier.poll_interval", "must be longer than zero"));
        }
        Ok(Courier {
            smtp,
            from,
            message_retries: self.message_retries,
            poll_interval: self.poll_interval,
            template_override_path: self.template_override_path,
        })
    }
}

impl Serialize for Courier {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Smtp<'a> {
            connection_uri: &'a Option<SmtpSettings>,
            from_address: String,
            from_name: &'a str,
        }
        #[derive(Serialize)]
        struct Shown<'a> {
            smtp: Smtp<'a>,
            message_retries: i64,
            poll_interval: Dur,
            template_override_path: &'a Option<String>,
        }
        Shown {
            smtp: Smtp {
                connection_uri: &self.smtp,
                from_address: self.from.email.to_string(),
                from_name: self.from.name.as_deref().unwrap_or_default(),
            },
            message_retries: self.message_retries,
            poll_interval: self.poll_interval,
            template_override_path: &self.template_override_path,
        }
        .serialize(s)
    }
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
        assert_eq!(
            s.password.as_ref().map(|p| p.expose().as_str()),
            Some("p/ss w")
        );
        assert!(
            !format!("{s:?}").contains("p/ss") && !format!("{s:?}").contains("p%2Fss"),
            "Debug hides the password: {s:?}"
        );
        assert_eq!(
            serde_json::to_value(&s).expect("json"),
            "smtp://user%40x:redacted@mail.example.com:2525/",
            "shown as written, password redacted"
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

    #[test]
    fn the_sender_is_one_mailbox() {
        let c = RawCourier::default().resolve().expect("defaults");
        assert!(c.smtp.is_none(), "development mode by default");
        assert_eq!(c.from.to_string(), "Gatehouse <no-reply@gatehouse.local>");
        let mut raw = RawCourier::default();
        raw.smtp.from_name = String::new();
        assert_eq!(
            raw.resolve().expect("valid").from.to_string(),
            "no-reply@gatehouse.local"
        );
        let mut raw = RawCourier::default();
        raw.smtp.from_address = "not an address".into();
        let e = raw.resolve().expect_err("refused").to_string();
        assert!(e.contains("courier.smtp.from_address"), "{e}");
    }
}
