//! What a login session ("remember me" at the provider) keeps beside its subject: one typed
//! document, written when a login is accepted ([`super::flows`]) and read when the session ends
//! ([`super::logout`], [`super::backchannel`]), so that no reader can take an unreadable row for
//! an empty one. An unreadable row is [`Error::Corrupt`]: logging out must then fail loudly,
//! never skip ending the identity session behind it.

use gatehouse_store::LoginSessionRow;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A login session's `data`. Unknown fields are kept out of the type but not refused, so that a
/// row written by a later version still reads; a row that is not such a document is corrupt.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginSessionData {
    pub remember: bool,
    pub acr: Option<String>,
    pub amr: Vec<String>,
    /// The Gatehouse identity session the login was made from (the built-in login page), so
    /// that RP-initiated logout ends it too, and its end ends this login session. Absent in rows
    /// written before it was recorded, and for logins accepted by another login app: no
    /// identity session then.
    #[serde(default)]
    pub identity_session_id: Option<String>,
}

impl LoginSessionData {
    /// The data of a stored login session.
    pub fn of(row: &LoginSessionRow) -> Result<LoginSessionData> {
        serde_json::from_str(&row.data).map_err(Error::corrupt("login session", row.id.as_str()))
    }

    /// The document to store.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::Internal(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(data: &str) -> LoginSessionRow {
        LoginSessionRow {
            id: "l".into(),
            subject: "s".into(),
            data: data.into(),
            authenticated_at: 0,
            expires_at: 0,
        }
    }

    #[test]
    fn rows_written_by_earlier_versions_still_read() {
        // As written by `after_login` since login sessions link identity sessions...
        let d = LoginSessionData::of(&row(
            r#"{"remember":true,"acr":null,"amr":["pwd"],"identity_session_id":"i1"}"#,
        ))
        .expect("current rows read");
        assert_eq!(d.identity_session_id.as_deref(), Some("i1"));
        assert_eq!(d.amr, ["pwd"]);
        // ...and before: no identity session.
        let d = LoginSessionData::of(&row(r#"{"remember":false,"acr":"0","amr":[]}"#))
            .expect("older rows read");
        assert_eq!(d.identity_session_id, None);
    }

    #[test]
    fn an_unreadable_row_is_corrupt_never_empty() {
        for bad in [
            "not json",
            "null",
            r#""a string""#,
            "{}",
            r#"{"remember":true,"acr":null,"amr":[],"identity_session_id":5}"#,
        ] {
            assert!(
                matches!(LoginSessionData::of(&row(bad)), Err(Error::Corrupt { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn what_is_written_reads_back() {
        let d = LoginSessionData {
            remember: true,
            acr: Some("1".into()),
            amr: vec!["webauthn".into()],
            identity_session_id: Some("i".into()),
        };
        let written = row(&d.to_json().expect("json"));
        assert_eq!(LoginSessionData::of(&written).expect("reads"), d);
    }
}
