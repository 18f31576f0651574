//! One decision: the rule for the request, then its authenticators (the first that recognises
//! the request decides), its authorizer, its mutators, and on refusal its error handlers.
//!
//! Every allowed request gets the full set of identity headers (empty where they do not apply),
//! so a gateway that copies them overwrites whatever the client sent.
//!
//! The handlers run from their compiled form (`handlers`): nothing here reads a JSON
//! configuration.

use std::sync::Arc;

use axum::http::HeaderMap;
use gatehouse_protocol::access_rule::MatchError;
use gatehouse_protocol::http_auth;
use serde_json::{Value, json};

use super::Gateway;
use super::handlers::{
    Authenticator, Authorizer, ErrorAction, ErrorHandler, ErrorKindSet, JwtConfig, Mutator,
    RuleHandlers, TokenFrom,
};
use super::outbound::at_path;
use super::session_check::SessionSource;
use super::template::{Context, Escape};
use crate::credentials::{Rejection, scope};
use crate::error::Result;

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
pub(super) fn string_or_list(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// The subject of a token's claims (a JWT's, or an introspection answer): `sub` in `X-User-ID`,
/// the granted scopes in `X-Token-Scopes`, `jti` in `X-Token-ID`. `extra` is the caller's.
pub(super) fn token_subject(claims: &Value, scopes: Vec<String>) -> Subject {
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

impl ErrorHandler {
    fn applies(&self, kind: ErrorKind, headers: &HeaderMap) -> bool {
        if self.when.is_empty() {
            return true;
        }
        self.when.iter().any(|w| {
            let kind_ok = match &w.errors {
                ErrorKindSet::Any => true,
                ErrorKindSet::Some(k) => k.contains(&kind),
            };
            kind_ok
                && w.headers.iter().all(|(name, wanted)| {
                    let got = headers.get(name).and_then(|v| v.to_str().ok());
                    if name == axum::http::header::ACCEPT {
                        // Read by quality values, not as a substring: `text/html;q=0` refuses
                        // HTML, and `*/*` alone (curl, SDKs) does not make a browser.
                        let offers: Vec<&str> = wanted.iter().map(String::as_str).collect();
                        return gatehouse_protocol::media::names_explicitly(got, &offers);
                    }
                    let got = got.unwrap_or_default().to_ascii_lowercase();
                    wanted.iter().any(|w| media_matches(&got, w))
                })
        })
    }
}

/// Whether a header listing media types (`text/html,application/xhtml+xml;q=0.9`) names one
/// that `pattern` (lower case: `text/html`, `text/*`, `*/*`) covers.
fn media_matches(header: &str, pattern: &str) -> bool {
    header.split(',').any(|m| {
        let m = m.split(';').next().unwrap_or_default().trim();
        match pattern.strip_suffix("/*") {
            Some(prefix) => m.split('/').next() == Some(prefix) || pattern == "*/*",
            None => m == pattern,
        }
    })
}

// --- the pipeline ------------------------------------------------------------------------------

enum Auth {
    /// Not this authenticator's kind of credential: try the next one.
    Skip,
    Ok(Subject),
    Refused(ErrorKind, String),
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    http_auth::bearer(headers.get("authorization")?.to_str().ok()?)
}

/// The request's `Cookie` header values (those that are text).
fn cookie_headers(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
}

/// The token from where `token_from` says (`Some`, possibly holding nothing), or `None` when it
/// names no place and the authenticator's default applies.
fn configured_token(from: &Option<TokenFrom>, r: &Request<'_>) -> Option<Option<String>> {
    Some(match from.as_ref()? {
        TokenFrom::Header(h) => r
            .headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_owned()),
        TokenFrom::Query(q) => query_param(r.uri, q),
        TokenFrom::Cookie(name) => {
            http_auth::cookie(cookie_headers(r.headers), name).map(str::to_owned)
        }
    })
}

fn query_param(uri: &str, name: &str) -> Option<String> {
    let q = uri.split_once('?')?.1;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The token for an authenticator with `token_from` and `prefix`: the configured place, or the
/// bearer token (`default_ok` filters it).
fn token_for(
    from: &Option<TokenFrom>,
    prefix: &Option<String>,
    r: &Request<'_>,
    default_ok: impl Fn(&str) -> bool,
) -> Option<String> {
    let t = match configured_token(from, r) {
        Some(t) => t,
        None => bearer(r.headers)
            .filter(|t| default_ok(t))
            .map(str::to_owned),
    }?;
    match prefix {
        Some(p) if !t.starts_with(p.as_str()) => None,
        _ => Some(t).filter(|t| !t.is_empty() && t.len() <= 16 * 1024),
    }
}

/// The value of the first cookie whose name `wanted` accepts, read without copying.
fn find_cookie(headers: &HeaderMap, wanted: impl Fn(&str) -> bool) -> Option<&str> {
    http_auth::cookies(cookie_headers(headers))
        .find(|(k, _)| wanted(k))
        .map(|(_, v)| v)
}

/// A cookie value with only the characters RFC 6265 allows (`cookie-octet`).
fn cookie_value(v: &str) -> String {
    v.bytes()
        .filter(|b| matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E))
        .map(char::from)
        .collect()
}

/// Sets a header in the upstream list, replacing an earlier one of the same name.
fn set_header(out: &mut Vec<(String, String)>, name: &str, value: String) {
    match out.iter_mut().find(|(k, _)| k.eq_ignore_ascii_case(name)) {
        Some(slot) => slot.1 = value,
        None => out.push((name.to_owned(), value)),
    }
}

impl Gateway {
    /// `with_extra`: build `.Extra` (only rules whose later handlers read it need it).
    fn session_subject(s: &crate::sessions::ActiveSession, with_extra: bool) -> Subject {
        let i = &s.identity;
        let roles = i.roles();
        let aal = s.data.aal.as_str();
        Subject {
            id: i.id.clone(),
            extra: if with_extra {
                json!({
                    "email": i.email(),
                    "roles": roles,
                    "session_id": s.id,
                    "aal": aal,
                    "traits": i.traits,
                    "metadata_public": i.metadata_public,
                })
            } else {
                Value::Null
            },
            headers: vec![
                ("X-User-ID", i.id.clone()),
                ("X-User-Email", i.email().unwrap_or_default().to_owned()),
                ("X-User-Roles", roles.join(",")),
                ("X-User-Verified", i.verified().to_string()),
                ("X-Session-ID", s.id.clone()),
                ("X-Auth-Time", s.authenticated_at.to_string()),
                ("X-Auth-AAL", aal.to_owned()),
            ],
            scopes: Vec::new(),
            roles,
            aal: Some(aal.to_owned()),
        }
    }

    async fn session(&self, token: &str, now: i64, with_extra: bool) -> Result<Auth> {
        Ok(match self.sessions.whoami(Some(token), now).await? {
            Ok(s) => Auth::Ok(Self::session_subject(&s, with_extra)),
            Err(_) => Auth::Refused(ErrorKind::Unauthorized, "the session is not valid".into()),
        })
    }

    /// A `check_session_url` that is this Gatehouse's own whoami, answered locally: Gatehouse's
    /// identity headers, and the subject and `.Extra` read from the whoami answer at
    /// `subject_from` and `extra_from`, as the HTTP call would have given them.
    async fn own_whoami(
        &self,
        token: &str,
        now: i64,
        subject_from: &str,
        extra_from: &str,
        with_extra: bool,
    ) -> Result<Auth> {
        let s = match self.sessions.whoami(Some(token), now).await? {
            Ok(s) => s,
            Err(_) => {
                return Ok(Auth::Refused(
                    ErrorKind::Unauthorized,
                    "the session is not valid".into(),
                ));
            }
        };
        let mut subject = Self::session_subject(&s, false);
        let custom_subject = subject_from != "identity.id";
        if !(with_extra || custom_subject) {
            return Ok(Auth::Ok(subject));
        }
        let Ok(doc) = serde_json::from_slice::<Value>(&s.json) else {
            return Ok(Auth::Refused(
                ErrorKind::Internal,
                "the session could not be read".into(),
            ));
        };
        if custom_subject {
            let Some(Value::String(id)) = at_path(&doc, subject_from) else {
                return Ok(Auth::Refused(
                    ErrorKind::Unauthorized,
                    format!("the session has no string at `{subject_from}`"),
                ));
            };
            if let Some(h) = subject.headers.iter_mut().find(|(k, _)| *k == "X-User-ID") {
                h.1 = id.clone();
            }
            subject.id = id.clone();
        }
        if with_extra {
            subject.extra = at_path(&doc, extra_from).cloned().unwrap_or(Value::Null);
        }
        Ok(Auth::Ok(subject))
    }

    fn checked(c: super::session_check::Checked) -> Auth {
        match c {
            super::session_check::Checked::Ok(s) => Auth::Ok(s),
            super::session_check::Checked::Refused(k, why) => Auth::Refused(k, why),
        }
    }

    async fn authenticate(
        &self,
        a: &Authenticator,
        r: &Request<'_>,
        now: i64,
        with_extra: bool,
    ) -> Result<Auth> {
        let http = &self.provider.http;
        match a {
            Authenticator::Noop => Ok(Auth::Ok(Subject::default())),
            Authenticator::Anonymous { subject } => Ok(Auth::Ok(Subject {
                headers: vec![("X-User-ID", subject.clone())],
                id: subject.clone(),
                ..Subject::default()
            })),
            Authenticator::Unauthorized => Ok(Auth::Refused(
                ErrorKind::Unauthorized,
                "access is not allowed".into(),
            )),
            Authenticator::CookieSession { only, source } => {
                let found = match (only, source) {
                    (Some(names), _) => find_cookie(r.headers, |k| names.iter().any(|n| n == k)),
                    (None, SessionSource::Remote(_)) => find_cookie(r.headers, |_| true),
                    (None, _) => {
                        let own = self.config.session.cookie.name.as_str();
                        find_cookie(r.headers, |k| k == own)
                    }
                };
                let Some(token) = found else {
                    return Ok(Auth::Skip);
                };
                match source {
                    SessionSource::Remote(remote) => {
                        Ok(Self::checked(remote.check(http, r, None).await))
                    }
                    SessionSource::Local => self.session(token, now, with_extra).await,
                    SessionSource::OwnWhoami {
                        subject_from,
                        extra_from,
                    } => {
                        self.own_whoami(token, now, subject_from, extra_from, with_extra)
                            .await
                    }
                }
            }
            Authenticator::BearerToken {
                token_from,
                prefix,
                source,
            } => {
                let own_whoami = match source {
                    SessionSource::Local => None,
                    SessionSource::OwnWhoami {
                        subject_from,
                        extra_from,
                    } => Some((subject_from, extra_from)),
                    SessionSource::Remote(remote) => {
                        return match token_for(token_from, prefix, r, |_| true) {
                            Some(t) => Ok(Self::checked(remote.check(http, r, Some(&t)).await)),
                            None => Ok(Auth::Skip),
                        };
                    }
                };
                if let Some((subject_from, extra_from)) = own_whoami {
                    // As the HTTP call would: any bearer token is this authenticator's.
                    return match token_for(token_from, prefix, r, |_| true) {
                        Some(t) => {
                            self.own_whoami(&t, now, subject_from, extra_from, with_extra)
                                .await
                        }
                        None => Ok(Auth::Skip),
                    };
                }
                let token = match configured_token(token_from, r) {
                    Some(t) => t,
                    None => bearer(r.headers)
                        .or_else(|| {
                            r.headers
                                .get("x-session-token")
                                .and_then(|v| v.to_str().ok())
                        })
                        .filter(|t| t.starts_with("gst_"))
                        .map(str::to_owned),
                };
                let token =
                    token.filter(|t| prefix.as_ref().is_none_or(|p| t.starts_with(p.as_str())));
                match token {
                    Some(t) => self.session(&t, now, with_extra).await,
                    None => Ok(Auth::Skip),
                }
            }
            Authenticator::Introspection {
                token_from,
                prefix,
                required_scope,
                target_audience,
                remote,
            } => {
                let local = remote.is_none();
                let Some(token) = token_for(token_from, prefix, r, |t| {
                    !local || (!crate::credentials::Kind::looks_like(t) && !t.starts_with("gst_"))
                }) else {
                    return Ok(Auth::Skip);
                };
                if let Some(remote) = remote {
                    return Ok(
                        match remote
                            .introspect(http, &token, required_scope, target_audience, now)
                            .await
                        {
                            super::introspection::Introspected::Ok(s) => Auth::Ok(s),
                            super::introspection::Introspected::Refused(k, why) => {
                                Auth::Refused(k, why)
                            }
                        },
                    );
                }
                self.introspect_locally(&token, required_scope, target_audience, now)
                    .await
            }
            Authenticator::ClientCredentials(c) => {
                Ok(match c.authenticate(http, r.headers).await {
                    super::client_credentials::Exchanged::Skip => Auth::Skip,
                    super::client_credentials::Exchanged::Ok(s) => Auth::Ok(s),
                    super::client_credentials::Exchanged::Refused(k, why) => Auth::Refused(k, why),
                })
            }
            Authenticator::ApiKey { required_scope } => {
                let token = r
                    .headers
                    .get("x-api-key")
                    .and_then(|v| v.to_str().ok())
                    .map(str::trim)
                    .or_else(|| {
                        bearer(r.headers).filter(|t| crate::credentials::Kind::looks_like(t))
                    });
                let Some(token) = token else {
                    return Ok(Auth::Skip);
                };
                let valid = match self
                    .credentials
                    .validate(token, None, r.client_ip.clone(), now)
                    .await?
                {
                    Ok(v) => v,
                    Err(Rejection::InsufficientScope(_)) => {
                        return Ok(Auth::Refused(
                            ErrorKind::Forbidden,
                            "insufficient scope".into(),
                        ));
                    }
                    Err(rej) => {
                        return Ok(Auth::Refused(ErrorKind::Unauthorized, rej.description()));
                    }
                };
                if let Some(missing) = required_scope
                    .iter()
                    .find(|s| !scope::any_grants(&valid.scopes, s))
                {
                    return Ok(Auth::Refused(
                        ErrorKind::Forbidden,
                        format!("the credential does not grant {missing}"),
                    ));
                }
                Ok(Auth::Ok(Subject {
                    id: valid.owner.clone(),
                    extra: json!({"kind": valid.kind.as_str(), "credential_id": valid.id, "name": valid.name}),
                    headers: valid.headers(),
                    scopes: valid.scopes.clone(),
                    ..Subject::default()
                }))
            }
            Authenticator::Jwt(c) => {
                let token = configured_token(&c.token_from, r)
                    .unwrap_or_else(|| bearer(r.headers).map(str::to_owned));
                // Only a three-part compact JWS is this authenticator's.
                let Some(token) = token.filter(|t| t.split('.').count() == 3) else {
                    return Ok(Auth::Skip);
                };
                Ok(self.verify_jwt(&token, c, now).await)
            }
        }
    }

    async fn introspect_locally(
        &self,
        token: &str,
        required_scope: &[String],
        target_audience: &[String],
        now: i64,
    ) -> Result<Auth> {
        let scope = (!required_scope.is_empty()).then(|| required_scope.join(" "));
        let i = self
            .provider
            .introspect(token, scope.as_deref(), now)
            .await?;
        if !i.active {
            return Ok(Auth::Refused(
                ErrorKind::Unauthorized,
                "the access token is not active".into(),
            ));
        }
        if !target_audience.is_empty() {
            let aud = i.aud.clone().unwrap_or_default();
            if !target_audience.iter().all(|a| aud.contains(a)) {
                return Ok(Auth::Refused(
                    ErrorKind::Forbidden,
                    "the access token is not for this audience".into(),
                ));
            }
        }
        let scopes: Vec<String> = i
            .scope
            .as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        let sub = i.sub.clone().unwrap_or_default();
        Ok(Auth::Ok(Subject {
            headers: vec![
                ("X-User-ID", sub.clone()),
                ("X-Token-Scopes", scopes.join(" ")),
            ],
            id: sub,
            extra: json!({"client_id": i.client_id, "scope": i.scope, "ext": i.ext}),
            scopes,
            ..Subject::default()
        }))
    }

    async fn verify_jwt(&self, token: &str, c: &JwtConfig, now: i64) -> Auth {
        let refused = |why: &str| Auth::Refused(ErrorKind::Unauthorized, why.to_owned());
        let digest = gatehouse_crypto::sha256(token.as_bytes());
        let claims = match c.verified.get(&digest) {
            Some(claims) => claims,
            None => match self.verify_jwt_signature(token, c).await {
                Ok(claims) => {
                    let claims = Arc::new(claims);
                    // Never remembered past its own expiry (an expired one is refused below).
                    if let Some(left) = claims
                        .get("exp")
                        .and_then(Value::as_i64)
                        .and_then(|exp| u64::try_from(exp - now).ok())
                    {
                        c.verified.insert(
                            digest,
                            claims.clone(),
                            Some(std::time::Duration::from_secs(left)),
                        );
                    }
                    claims
                }
                Err(why) => return refused(why),
            },
        };
        let num = |k: &str| claims.get(k).and_then(Value::as_i64);
        match num("exp") {
            Some(exp) if exp > now => {}
            Some(_) => return refused("the JWT has expired"),
            None => return refused("the JWT has no `exp`"),
        }
        if num("nbf").is_some_and(|nbf| nbf > now + 5) {
            return refused("the JWT is not valid yet");
        }
        let iss = claims
            .get("iss")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !c.trusted_issuers.is_empty() && !c.trusted_issuers.iter().any(|t| t == iss) {
            return refused("the JWT's issuer is not trusted");
        }
        let aud = string_or_list(claims.get("aud"));
        if !c.target_audience.iter().all(|t| aud.contains(&t.as_str())) {
            return Auth::Refused(
                ErrorKind::Forbidden,
                "the JWT is not for this audience".into(),
            );
        }
        let scopes: Vec<String> = match (claims.get("scp"), claims.get("scope")) {
            (Some(Value::Array(a)), _) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            (_, Some(Value::String(s))) => s.split_whitespace().map(str::to_owned).collect(),
            _ => Vec::new(),
        };
        if let Some(missing) = c
            .required_scope
            .iter()
            .find(|r| !scopes.iter().any(|g| g == *r || scope::grants(g, r)))
        {
            return Auth::Refused(
                ErrorKind::Forbidden,
                format!("the JWT does not grant {missing}"),
            );
        }
        let subject = token_subject(&claims, scopes);
        Auth::Ok(Subject {
            extra: Value::clone(&claims),
            ..subject
        })
    }

    /// The claims of a JWT whose signature verifies against the configured JWKS.
    async fn verify_jwt_signature(
        &self,
        token: &str,
        c: &JwtConfig,
    ) -> std::result::Result<Value, &'static str> {
        use gatehouse_crypto::jwt::{JwtError, UnverifiedJwt};
        let Ok(parsed) = UnverifiedJwt::parse(token) else {
            return Err("the JWT is malformed");
        };
        if !c.allowed_algorithms.is_empty() && !c.allowed_algorithms.contains(&parsed.header.alg) {
            return Err("the JWT's algorithm is not allowed");
        }
        let http = &self.provider.http;
        let keys = self.jwks.keys(http, &c.jwks_urls, false).await;
        match parsed.verify(&keys) {
            Ok(claims) => Ok(claims),
            // A key id we do not know: the issuer may have rotated; fetch again once.
            Err(JwtError::UnknownKey) => {
                let keys = self.jwks.keys(http, &c.jwks_urls, true).await;
                UnverifiedJwt::parse(token)
                    .and_then(|p| p.verify(&keys))
                    .map_err(|_| "the JWT's signature does not verify")
            }
            Err(_) => Err("the JWT's signature does not verify"),
        }
    }

    async fn authorize(
        &self,
        a: &Authorizer,
        s: &Subject,
        r: &Request<'_>,
    ) -> std::result::Result<Vec<(String, String)>, (ErrorKind, String)> {
        match a {
            Authorizer::Allow => Ok(Vec::new()),
            Authorizer::Deny => Err((ErrorKind::Forbidden, "access is denied by the rule".into())),
            Authorizer::Gatehouse(c) => {
                if let Some(missing) = c
                    .required_scopes
                    .iter()
                    .find(|r| !scope::any_grants(&s.scopes, r))
                {
                    return Err((
                        ErrorKind::Forbidden,
                        format!("the scope {missing} is required"),
                    ));
                }
                if let Some(missing) = c.required_roles.iter().find(|r| !s.roles.contains(r)) {
                    return Err((
                        ErrorKind::Forbidden,
                        format!("the role {missing} is required"),
                    ));
                }
                if c.required_aal.as_deref() == Some("aal2") && s.aal.as_deref() != Some("aal2") {
                    return Err((
                        ErrorKind::Forbidden,
                        "a second factor (aal2) is required".into(),
                    ));
                }
                if !c.allowed_subjects.is_empty() && !c.allowed_subjects.contains(&s.id) {
                    return Err((ErrorKind::Forbidden, "this subject is not allowed".into()));
                }
                Ok(Vec::new())
            }
            Authorizer::RemoteJson(c) => {
                c.authorize(&self.provider.http, &Self::context(s, r)).await
            }
        }
    }

    fn context<'a>(s: &'a Subject, r: &'a Request<'_>) -> Context<'a> {
        Context {
            subject: &s.id,
            extra: &s.extra,
            method: r.method,
            scheme: r.scheme,
            host: r.host,
            uri: r.uri,
        }
    }

    /// The upstream headers: every identity header, then what the authorizer forwards and the
    /// mutators set, in order (a later one replaces an earlier one of the same name).
    async fn mutate(
        &self,
        h: &RuleHandlers,
        mut s: Subject,
        r: &Request<'_>,
        forwarded: Vec<(String, String)>,
        now: i64,
    ) -> std::result::Result<Vec<(String, String)>, (ErrorKind, String)> {
        let mut set = forwarded;
        for m in &h.mutators {
            match m {
                Mutator::Noop => {}
                Mutator::Header(headers) => {
                    let ctx = Self::context(&s, r);
                    for (name, t) in headers {
                        let mut v = match t.literal() {
                            Some(l) => l.to_owned(),
                            None => {
                                let mut v = String::new();
                                t.render_into(&mut v, &ctx, Escape::None);
                                v
                            }
                        };
                        // Header values must not break the response: control characters dropped.
                        v.retain(|c| !c.is_control());
                        set_header(&mut set, name.as_str(), v);
                    }
                }
                Mutator::Cookie(rule_cookies) => {
                    let ctx = Self::context(&s, r);
                    let mut jar: Vec<(String, String)> =
                        http_auth::cookies(cookie_headers(r.headers))
                            .map(|(k, v)| (k.to_owned(), v.to_owned()))
                            .collect();
                    for (name, t) in rule_cookies {
                        let mut v = String::new();
                        t.render_into(&mut v, &ctx, Escape::None);
                        let v = cookie_value(&v);
                        match jar.iter_mut().find(|(k, _)| k == name) {
                            Some(slot) => slot.1 = v,
                            None => jar.push((name.clone(), v)),
                        }
                    }
                    let header = jar
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join("; ");
                    set_header(&mut set, "Cookie", header);
                }
                Mutator::IdToken(t) => {
                    let keys = self.provider.keys.current();
                    let jwt = t
                        .mint(
                            &keys.signing,
                            &self.provider.issuer,
                            &Self::context(&s, r),
                            now,
                        )
                        .map_err(|e| (ErrorKind::Internal, e))?;
                    set_header(&mut set, "Authorization", format!("Bearer {jwt}"));
                }
                Mutator::Hydrator(hy) => {
                    let got = hy
                        .hydrate(&self.provider.http, &s.id, &s.extra, &set, r)
                        .await?;
                    if let Some(extra) = &got.extra {
                        s.extra = extra.clone();
                    }
                    if let Some(header) = &got.header {
                        set.clone_from(header);
                    }
                }
            }
        }
        let mut out: Vec<(String, String)> = Vec::with_capacity(IDENTITY_HEADERS.len() + set.len());
        for name in IDENTITY_HEADERS {
            let v = s
                .headers
                .iter_mut()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| std::mem::take(v))
                .unwrap_or_default();
            out.push((name.to_owned(), v));
        }
        for (k, v) in set {
            set_header(&mut out, &k, v);
        }
        Ok(out)
    }

    fn refuse(
        &self,
        handlers: Option<&RuleHandlers>,
        kind: ErrorKind,
        reason: &str,
        r: &Request<'_>,
    ) -> Decision {
        let handlers = handlers.map(|h| h.errors.as_slice()).unwrap_or_default();
        for h in handlers {
            if !h.applies(kind, r.headers) {
                continue;
            }
            match &h.action {
                ErrorAction::Redirect {
                    to,
                    code,
                    return_to_query_param,
                } => {
                    let mut to = to.clone();
                    if let Some(param) = return_to_query_param {
                        let back = format!("{}://{}{}", r.scheme, r.host, r.uri);
                        let sep = if to.contains('?') { '&' } else { '?' };
                        to = format!(
                            "{to}{sep}{param}={}",
                            url::form_urlencoded::byte_serialize(back.as_bytes())
                                .collect::<String>()
                        );
                    }
                    return Decision::Deny {
                        status: *code,
                        headers: vec![("Location".into(), to)],
                        body: None,
                    };
                }
                ErrorAction::WwwAuthenticate { header } => {
                    return Decision::Deny {
                        status: 401,
                        headers: vec![(
                            "WWW-Authenticate".into(),
                            header.to_str().unwrap_or_default().to_owned(),
                        )],
                        body: None,
                    };
                }
                ErrorAction::Json { verbose } => {
                    return self.json_error(kind, reason, *verbose);
                }
            }
        }
        self.json_error(kind, reason, false)
    }

    fn json_error(&self, kind: ErrorKind, reason: &str, verbose: bool) -> Decision {
        let status = kind.status();
        let message = match kind {
            ErrorKind::Unauthorized => "Access credentials are invalid",
            ErrorKind::Forbidden => "Access credentials are not sufficient to access this resource",
            ErrorKind::NotFound => "Requested url does not match any rules",
            ErrorKind::BadRequest => "The request is malformed",
            ErrorKind::Internal => "An internal server error occurred",
        };
        Decision::Deny {
            status,
            headers: Vec::new(),
            body: Some(super::error_body(
                status,
                message,
                verbose.then_some(reason),
            )),
        }
    }

    /// Decides one request.
    pub async fn decide(&self, r: &Request<'_>, now: i64) -> Result<Decision> {
        let rules = self.rules.load();
        let path = r.uri.split(['?', '#']).next().unwrap_or_default();
        let index = match rules.set.find_index(r.method, r.scheme, r.host, path) {
            Ok(i) => i,
            Err(MatchError::BadUrl(why)) => {
                return Ok(self.refuse(None, ErrorKind::BadRequest, &why, r));
            }
            Err(e @ MatchError::Ambiguous { .. }) => {
                tracing::warn!(error = %e, "ambiguous access rules: denied");
                return Ok(self.refuse(None, ErrorKind::Internal, &e.to_string(), r));
            }
            Err(e @ MatchError::NoMatch { .. }) => {
                tracing::debug!(error = %e, "no access rule: denied");
                return Ok(self.refuse(None, ErrorKind::NotFound, &e.to_string(), r));
            }
        };
        let (Some(rule), Some(h)) = (rules.set.rules.get(index), rules.handlers.get(index)) else {
            return Ok(self.refuse(None, ErrorKind::Internal, "the rule has no handlers", r));
        };
        if let Some(limited) = self.limit_request(r, &rule.rule.id, now).await {
            return Ok(limited);
        }
        let mut subject = None;
        for a in &h.authenticators {
            match self.authenticate(a, r, now, h.needs_extra).await? {
                Auth::Skip => continue,
                Auth::Ok(s) => {
                    if let Some(limited) = self
                        .limit_subject(
                            matches!(a, Authenticator::Noop | Authenticator::Anonymous { .. }),
                            &s,
                            now,
                        )
                        .await
                    {
                        return Ok(limited);
                    }
                    subject = Some(s);
                    break;
                }
                Auth::Refused(kind, why) => return Ok(self.refuse(Some(h), kind, &why, r)),
            }
        }
        let Some(subject) = subject else {
            return Ok(self.refuse(
                Some(h),
                ErrorKind::Unauthorized,
                "no authenticator recognised the request",
                r,
            ));
        };
        let forwarded = match self.authorize(&h.authorizer, &subject, r).await {
            Ok(f) => f,
            Err((kind, why)) => return Ok(self.refuse(Some(h), kind, &why, r)),
        };
        match self.mutate(h, subject, r, forwarded, now).await {
            Ok(headers) => Ok(Decision::Allow {
                rule_id: rule.rule.id.clone(),
                headers,
                upstream: rule.rule.upstream.clone(),
            }),
            Err((kind, why)) => Ok(self.refuse(Some(h), kind, &why, r)),
        }
    }
}
