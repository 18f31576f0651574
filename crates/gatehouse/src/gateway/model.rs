//! The gateway's shared vocabulary, in a leaf that every other gateway file may import and that
//! imports none of them (beyond the template context and the JWKS cache its types name): the
//! request as the gateway in front saw it (`Request`), who it is from (`Subject`), what an
//! authenticator answers (`Auth`) and the services it may use (`Cx`, `Authenticate`), the kinds
//! of refusal (`ErrorKind`), what the gateway answers (`Decision`, `error_body`), and how a
//! handler's configuration is read (`config`, `Own`).
//!
//! Keeping these here is what lets the authenticator, authorizer and mutator files depend on
//! the vocabulary only: `handlers` (the compiled rules) imports them, and `decide` runs them.

use std::future::Future;

use axum::http::HeaderMap;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::jwks::JwksCache;
use super::template::Context;
use crate::credentials::CredentialService;
use crate::error::Result;
use crate::oauth2::Provider;
use crate::sessions::SessionService;

/// The identity headers a decision always answers with.
pub const IDENTITY_HEADERS: [&str; 14] = [
    "X-User-ID",
    "X-User-Email",
    "X-User-Roles",
    "X-User-Verified",
    "X-Session-ID",
    "X-Auth-Time",
    "X-Token-ID",
    "X-Token-Scopes",
    "X-Org-ID",
    "X-Key-ID",
    "X-Key-Scopes",
    "X-Service-Name",
    "X-Service-Scopes",
    "X-Auth-AAL",
];

/// The request as the gateway in front saw it.
pub struct Request<'a> {
    pub method: &'a str,
    pub scheme: &'a str,
    pub host: &'a str,
    /// Path and query.
    pub uri: &'a str,
    pub headers: &'a HeaderMap,
    pub client_ip: Option<String>,
}

/// Who the request is from.
#[derive(Debug, Clone, Default)]
pub struct Subject {
    pub id: String,
    pub extra: Value,
    /// Identity headers (names from `IDENTITY_HEADERS`) and their values.
    pub headers: Vec<(&'static str, String)>,
    pub scopes: Vec<String>,
    pub roles: Vec<String>,
    pub aal: Option<String>,
}

/// A claim that is one string or a list of them (`aud`), as its strings.
pub fn string_or_list(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// The subject of a token's claims (a JWT's, or an introspection answer): `sub` in `X-User-ID`,
/// the granted scopes in `X-Token-Scopes`, `jti` in `X-Token-ID`. `extra` is the caller's.
pub fn token_subject(claims: &Value, scopes: Vec<String>) -> Subject {
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut headers = vec![
        ("X-User-ID", sub.clone()),
        ("X-Token-Scopes", scopes.join(" ")),
    ];
    if let Some(jti) = claims.get("jti").and_then(Value::as_str) {
        headers.push(("X-Token-ID", jti.to_owned()));
    }
    Subject {
        id: sub,
        headers,
        scopes,
        ..Subject::default()
    }
}

/// The template context of a subject and a request (header and cookie mutators, `id_token`
/// claims, a `remote_json` payload).
pub fn context<'a>(s: &'a Subject, r: &'a Request<'_>) -> Context<'a> {
    Context {
        subject: &s.id,
        extra: &s.extra,
        method: r.method,
        scheme: r.scheme,
        host: r.host,
        uri: r.uri,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Unauthorized,
    Forbidden,
    NotFound,
    BadRequest,
    Internal,
}

impl ErrorKind {
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::Unauthorized => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::BadRequest => 400,
            ErrorKind::Internal => 500,
        }
    }

    pub fn from_name(s: &str) -> Option<ErrorKind> {
        Some(match s {
            "unauthorized" => ErrorKind::Unauthorized,
            "forbidden" => ErrorKind::Forbidden,
            "not_found" => ErrorKind::NotFound,
            "bad_request" => ErrorKind::BadRequest,
            "internal_server_error" => ErrorKind::Internal,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not_found",
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::Internal => "internal_server_error",
        }
    }
}

/// What the gateway answers.
#[derive(Debug, Clone)]
pub enum Decision {
    /// Forward the request. `headers` replace the client's copies on the upstream request: the
    /// identity headers (all of them, empty where they do not apply), then what the mutators
    /// set — a `header` mutator's headers, the `cookie` mutator's single `Cookie` header (the
    /// client's cookies with the rule's added or replaced), the `id_token` mutator's
    /// `Authorization: Bearer <jwt>`, a `hydrator`'s headers, and the response headers a
    /// `remote_json` authorizer forwards.
    Allow {
        rule_id: String,
        headers: Vec<(String, String)>,
        /// Where the proxy listener passes the request (the rule's `upstream`).
        upstream: Option<gatehouse_protocol::access_rule::Upstream>,
    },
    Deny {
        status: u16,
        headers: Vec<(String, String)>,
        body: Option<Value>,
    },
}

/// The gateway's error body, in Oathkeeper's shape, for decisions and the proxy alike:
/// `{"error": {"code", "status", "message", "reason"?}}`.
pub fn error_body(status: u16, message: &str, reason: Option<&str>) -> Value {
    let mut error = serde_json::json!({
        "code": status,
        "status": axum::http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or_default(),
        "message": message,
    });
    if let Some(reason) = reason {
        error["reason"] = Value::String(reason.to_owned());
    }
    serde_json::json!({ "error": error })
}

/// What one authenticator makes of a request.
#[derive(Debug)]
pub enum Auth {
    /// Not this authenticator's kind of credential: the next one is asked.
    Skip,
    /// The credential is valid: the request is from this subject.
    Ok(Subject),
    /// The credential is this authenticator's and is refused; no other authenticator is asked.
    Refused(ErrorKind, String),
}

/// What an authenticator may use while it decides, borrowed from the gateway for one decision.
pub struct Cx<'a> {
    /// Outbound HTTP: remote session checks, introspection and token endpoints, JWKS.
    pub http: &'a reqwest::Client,
    pub sessions: &'a SessionService,
    pub credentials: &'a CredentialService,
    pub provider: &'a Provider,
    pub jwks: &'a JwksCache,
    /// Gatehouse's own session cookie (`session.cookie.name`).
    pub session_cookie: &'a str,
    /// Whether a later handler of the rule reads the subject's `.Extra` (so an authenticator
    /// need not build it otherwise).
    pub with_extra: bool,
}

/// An authenticator, compiled from its rule configuration: recognises its kind of credential in
/// the request (or answers `Skip`) and checks it. An error is a failure of Gatehouse itself
/// (the database), not a refusal.
pub trait Authenticate {
    fn authenticate(
        &self,
        cx: &Cx<'_>,
        r: &Request<'_>,
        now: i64,
    ) -> impl Future<Output = Result<Auth>> + Send;
}

/// What compiling rules needs to know about this Gatehouse.
#[derive(Debug, Clone)]
pub struct Own {
    /// `{issuer}/sessions/whoami`: a `check_session_url` naming it is answered locally.
    pub whoami: Option<url::Url>,
    /// `session.cookie.name`, read where a rule names Kratos's `ory_kratos_session`.
    pub session_cookie: String,
}

impl Own {
    pub fn of(config: &crate::config::Config) -> Own {
        Own {
            whoami: url::Url::parse(&format!("{}/sessions/whoami", config.issuer())).ok(),
            session_cookie: config.session.cookie.name.clone(),
        }
    }
}

/// Reads a handler's configuration: `null` is the defaults, unknown keys are refused.
pub fn config<T: DeserializeOwned + Default>(config: &Value) -> std::result::Result<T, String> {
    if config.is_null() {
        return Ok(T::default());
    }
    T::deserialize(config).map_err(|e| e.to_string())
}

/// The configuration of a handler that takes none.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoConfig {}
