//! The authenticators whose answer does not depend on a credential: `noop` (an empty subject,
//! for rules that need none), `anonymous` (a fixed subject, `anonymous` unless configured) and
//! `unauthorized` (always refused).

use serde::Deserialize;
use serde_json::Value;

use crate::error::Result;
use crate::gateway::model::{
    Auth, Authenticate, Cx, ErrorKind, NoConfig, Request, Subject, config,
};

#[derive(Debug)]
pub struct Noop;

impl Noop {
    pub fn compile(c: &Value) -> std::result::Result<Noop, String> {
        config::<NoConfig>(c)?;
        Ok(Noop)
    }
}

impl Authenticate for Noop {
    async fn authenticate(&self, _: &Cx<'_>, _: &Request<'_>, _: i64) -> Result<Auth> {
        Ok(Auth::Ok(Subject::default()))
    }
}

#[derive(Debug)]
pub struct Anonymous {
    subject: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnonymousRaw {
    subject: Option<String>,
}

impl Anonymous {
    pub fn compile(c: &Value) -> std::result::Result<Anonymous, String> {
        Ok(Anonymous {
            subject: config::<AnonymousRaw>(c)?
                .subject
                .unwrap_or_else(|| "anonymous".into()),
        })
    }
}

impl Authenticate for Anonymous {
    async fn authenticate(&self, _: &Cx<'_>, _: &Request<'_>, _: i64) -> Result<Auth> {
        Ok(Auth::Ok(Subject {
            headers: vec![("X-User-ID", self.subject.clone())],
            id: self.subject.clone(),
            ..Subject::default()
        }))
    }
}

#[derive(Debug)]
pub struct Unauthorized;

impl Unauthorized {
    pub fn compile(c: &Value) -> std::result::Result<Unauthorized, String> {
        config::<NoConfig>(c)?;
        Ok(Unauthorized)
    }
}

impl Authenticate for Unauthorized {
    async fn authenticate(&self, _: &Cx<'_>, _: &Request<'_>, _: i64) -> Result<Auth> {
        Ok(Auth::Refused(
            ErrorKind::Unauthorized,
            "access is not allowed".into(),
        ))
    }
}
