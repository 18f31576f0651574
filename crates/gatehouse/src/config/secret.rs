//! Values that must not be printed: [`Secret`] (a key or token, hidden whole) and [`SecretUrl`] (a
//! URL that may carry a password, hidden in part). Both redact themselves in `Debug` and in
//! `Serialize`, so `gatehouse check-config` prints the configuration as it is and a configuration
//! logged by mistake gives nothing away; reading the value takes [`Secret::expose`] or
//! [`SecretUrl::expose`], which is easy to find in a review.

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};

/// What a redacted value is shown as.
pub const REDACTED: &str = "<redacted>";

/// A secret value (`secrets.system`, `serve.admin.auth.token`, the SMTP password): shown as
/// `<redacted>`.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Secret<T> {
        Secret(value)
    }

    /// The value itself.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T> Serialize for Secret<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

impl From<&str> for Secret<String> {
    fn from(s: &str) -> Self {
        Secret(s.to_owned())
    }
}

impl From<String> for Secret<String> {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

/// A URL that may carry a password (`dsn`, `redis.url`): shown with the password replaced by
/// `redacted`, the rest as written.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct SecretUrl(String);

impl SecretUrl {
    /// The URL as written, password included.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The URL with its password replaced by `redacted`. One that does not parse is shown as
    /// `<redacted>` when it may hold a user and password (it has an `@`), else as written.
    pub fn redacted(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(mut u) if u.password().is_some() => {
                let _ = u.set_password(Some("redacted"));
                u.to_string()
            }
            Ok(_) => self.0.clone(),
            Err(_) if self.0.contains('@') => REDACTED.to_owned(),
            Err(_) => self.0.clone(),
        }
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.redacted(), f)
    }
}

impl Serialize for SecretUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

impl From<&str> for SecretUrl {
    fn from(s: &str) -> Self {
        SecretUrl(s.to_owned())
    }
}

impl From<String> for SecretUrl {
    fn from(s: String) -> Self {
        SecretUrl(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_redact_themselves() {
        let s = Secret::from("hunter2-hunter2-hunter2");
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(
            serde_json::to_value(&s).expect("json"),
            serde_json::json!("<redacted>")
        );
        assert_eq!(s.expose(), "hunter2-hunter2-hunter2");
        let back: Secret<String> = serde_json::from_value(serde_json::json!("x")).expect("de");
        assert_eq!(back.expose(), "x");
    }

    #[test]
    fn urls_hide_only_the_password() {
        let u = SecretUrl::from("postgres://gatehouse:s3cret@db.internal:5432/gatehouse");
        assert_eq!(
            u.redacted(),
            "postgres://gatehouse:redacted@db.internal:5432/gatehouse"
        );
        assert!(!format!("{u:?}").contains("s3cret"));
        assert!(!serde_json::to_string(&u).expect("json").contains("s3cret"));
        assert_eq!(
            u.expose(),
            "postgres://gatehouse:s3cret@db.internal:5432/gatehouse"
        );
        for as_is in [
            "",
            "sqlite::memory:",
            "redis://127.0.0.1:6379/0",
            "sqlite://a b",
        ] {
            assert_eq!(SecretUrl::from(as_is).redacted(), as_is);
        }
        assert_eq!(
            SecretUrl::from("redis://:pw@[::1").redacted(),
            "<redacted>",
            "an unparsable URL with a password is hidden whole"
        );
    }
}
