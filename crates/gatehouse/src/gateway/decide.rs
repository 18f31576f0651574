//! One decision: the rule for the request, then its authenticators (the first that recognises
//! the request decides), its authorizer, its mutators, and on refusal its error handlers.
//!
//! Every allowed request gets the full set of identity headers (empty where they do not apply),
//! so a gateway that copies them overwrites whatever the client sent.

use std::collections::BTreeMap;

use axum::http::HeaderMap;
use gatehouse_protocol::access_rule::{CompiledRule, MatchError};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Gateway;
use super::template::Template;
use crate::credentials::{Rejection, scope};
use crate::error::Result;
use crate::web::extract::cookies;

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
    pub headers: BTreeMap<&'static str, String>,
    pub scopes: Vec<String>,
    pub roles: Vec<String>,
    pub aal: Option<String>,
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

    fn name(self) -> &'static str {
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
    Allow {
        rule_id: String,
        headers: Vec<(String, String)>,
    },
    Deny {
        status: u16,
        headers: Vec<(String, String)>,
        body: Option<Value>,
    },
}

// --- handler configurations (checked at load time) --------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenFrom {
    header: Option<String>,
    query_parameter: Option<String>,
    cookie: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthenticatorConfig {
    subject: Option<String>,
    only: Option<Vec<String>>,
    token_from: Option<TokenFrom>,
    #[serde(default)]
    required_scope: Vec<String>,
    #[serde(default)]
    target_audience: Vec<String>,
    #[serde(default)]
    jwks_urls: Vec<String>,
    #[serde(default)]
    trusted_issuers: Vec<String>,
    #[serde(default)]
    allowed_algorithms: Vec<String>,
}

impl AuthenticatorConfig {
    pub fn parse(
        handler: &str,
        config: &Value,
    ) -> std::result::Result<AuthenticatorConfig, String> {
        let c: AuthenticatorConfig = if config.is_null() {
            AuthenticatorConfig::default()
        } else {
            serde_json::from_value(config.clone())
                .map_err(|e| format!("authenticator `{handler}`: {e}"))?
        };
        for s in &c.required_scope {
            if handler == "api_key" {
                scope::validate(s).map_err(|e| format!("authenticator `{handler}`: {e}"))?;
            }
        }
        if handler == "jwt" {
            if c.jwks_urls.is_empty() {
                return Err("authenticator `jwt` needs `config.jwks_urls`".into());
            }
            for u in &c.jwks_urls {
                let parsed =
                    url::Url::parse(u).map_err(|e| format!("authenticator `jwt`: `{u}`: {e}"))?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    return Err(format!(
                        "authenticator `jwt`: `{u}` must be http:// or https://"
                    ));
                }
            }
            for a in &c.allowed_algorithms {
                if gatehouse_crypto::Algorithm::parse(a).is_none() {
                    return Err(format!(
                        "authenticator `jwt`: algorithm `{a}` is not supported (ES256, RS256, EdDSA)"
                    ));
                }
            }
        }
        Ok(c)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizerConfig {
    #[serde(default)]
    required_scopes: Vec<String>,
    #[serde(default)]
    required_roles: Vec<String>,
    required_aal: Option<String>,
    #[serde(default)]
    allowed_subjects: Vec<String>,
}

impl AuthorizerConfig {
    pub fn parse(handler: &str, config: &Value) -> std::result::Result<AuthorizerConfig, String> {
        if config.is_null() {
            return Ok(AuthorizerConfig::default());
        }
        if handler != "gatehouse" {
            return Err(format!("authorizer `{handler}` takes no configuration"));
        }
        let c: AuthorizerConfig = serde_json::from_value(config.clone())
            .map_err(|e| format!("authorizer `{handler}`: {e}"))?;
        if let Some(a) = &c.required_aal
            && !matches!(a.as_str(), "aal1" | "aal2")
        {
            return Err("authorizer `gatehouse`: `required_aal` must be aal1 or aal2".into());
        }
        Ok(c)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WhenRequest {
    #[serde(default)]
    header: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct When {
    #[serde(default)]
    error: Vec<String>,
    request: Option<WhenRequest>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorConfig {
    to: Option<String>,
    code: Option<u16>,
    return_to_query_param: Option<String>,
    realm: Option<String>,
    verbose: Option<bool>,
    #[serde(default)]
    when: Vec<When>,
}

impl ErrorConfig {
    pub fn parse(handler: &str, config: &Value) -> std::result::Result<ErrorConfig, String> {
        let c: ErrorConfig = if config.is_null() {
            ErrorConfig::default()
        } else {
            serde_json::from_value(config.clone())
                .map_err(|e| format!("error handler `{handler}`: {e}"))?
        };
        if handler == "redirect" {
            let to =
                c.to.as_deref()
                    .ok_or("error handler `redirect` needs `config.to`")?;
            url::Url::parse(to).map_err(|e| format!("error handler `redirect`: `to`: {e}"))?;
            if let Some(code) = c.code
                && !matches!(code, 301 | 302 | 303 | 307 | 308)
            {
                return Err("error handler `redirect`: `code` must be a redirect status".into());
            }
        }
        for w in &c.when {
            for e in &w.error {
                if !matches!(
                    e.as_str(),
                    "unauthorized"
                        | "forbidden"
                        | "not_found"
                        | "bad_request"
                        | "internal_server_error"
                ) {
                    return Err(format!(
                        "error handler `{handler}`: unknown error `{e}` in `when`"
                    ));
                }
            }
        }
        Ok(c)
    }

    fn applies(&self, kind: ErrorKind, headers: &HeaderMap) -> bool {
        if self.when.is_empty() {
            return true;
        }
        self.when.iter().any(|w| {
            (w.error.is_empty() || w.error.iter().any(|e| e == kind.name()))
                && w.request.as_ref().is_none_or(|r| {
                    r.header.iter().all(|(name, wanted)| {
                        let name = name.replace('_', "-");
                        let got = headers
                            .get(name.as_str())
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_ascii_lowercase();
                        wanted.iter().any(|w| media_matches(&got, w))
                    })
                })
        })
    }
}

/// Whether a header listing media types (`text/html,application/xhtml+xml;q=0.9`) names one
/// that `pattern` (`text/html`, `text/*`, `*/*`) covers.
fn media_matches(header: &str, pattern: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
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
    let v = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The token from where `config.token_from` says (`Some`, possibly holding nothing), or `None`
/// when it names no place and the authenticator's default applies.
fn configured_token(from: &Option<TokenFrom>, r: &Request<'_>) -> Option<Option<String>> {
    match from {
        Some(TokenFrom {
            header: Some(h), ..
        }) => Some(
            r.headers
                .get(h.as_str())
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_owned()),
        ),
        Some(TokenFrom {
            query_parameter: Some(q),
            ..
        }) => Some(query_param(r.uri, q)),
        Some(TokenFrom {
            cookie: Some(name), ..
        }) => Some(
            cookies(r.headers)
                .into_iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v),
        ),
        _ => None,
    }
}

fn query_param(uri: &str, name: &str) -> Option<String> {
    let q = uri.split_once('?')?.1;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

impl Gateway {
    fn session_subject(s: &crate::sessions::ActiveSession) -> Subject {
        let i = &s.identity;
        let roles = i.roles();
        let mut headers = BTreeMap::new();
        headers.insert("X-User-ID", i.id.clone());
        headers.insert("X-User-Email", i.email().unwrap_or_default().to_owned());
        headers.insert("X-User-Roles", roles.join(","));
        headers.insert("X-User-Verified", i.verified().to_string());
        headers.insert("X-Session-ID", s.id.clone());
        headers.insert("X-Auth-Time", s.authenticated_at.to_string());
        headers.insert("X-Auth-AAL", s.data.aal.as_str().to_owned());
        Subject {
            id: i.id.clone(),
            extra: json!({
                "email": i.email(),
                "roles": roles,
                "session_id": s.id,
                "aal": s.data.aal.as_str(),
                "traits": i.traits,
                "metadata_public": i.metadata_public,
            }),
            headers,
            scopes: Vec::new(),
            roles,
            aal: Some(s.data.aal.as_str().to_owned()),
        }
    }

    async fn session(&self, token: &str, now: i64) -> Result<Auth> {
        Ok(match self.sessions.whoami(Some(token), now).await? {
            Ok(s) => Auth::Ok(Self::session_subject(&s)),
            Err(_) => Auth::Refused(ErrorKind::Unauthorized, "the session is not valid".into()),
        })
    }

    async fn authenticate(
        &self,
        handler: &str,
        config: &Value,
        r: &Request<'_>,
        now: i64,
    ) -> Result<Auth> {
        let c = AuthenticatorConfig::parse(handler, config).unwrap_or_default();
        match handler {
            "noop" => Ok(Auth::Ok(Subject::default())),
            "anonymous" => {
                let id = c.subject.unwrap_or_else(|| "anonymous".into());
                Ok(Auth::Ok(Subject {
                    headers: BTreeMap::from([("X-User-ID", id.clone())]),
                    id,
                    ..Subject::default()
                }))
            }
            "unauthorized" => Ok(Auth::Refused(
                ErrorKind::Unauthorized,
                "access is not allowed".into(),
            )),
            "cookie_session" => {
                let names = c
                    .only
                    .unwrap_or_else(|| vec![self.config.session.cookie.name.clone()]);
                let jar = cookies(r.headers);
                let Some((_, token)) = jar.iter().find(|(k, _)| names.contains(k)) else {
                    return Ok(Auth::Skip);
                };
                self.session(token, now).await
            }
            "bearer_token" => {
                let token = match configured_token(&c.token_from, r) {
                    Some(t) => t,
                    None => bearer(r.headers)
                        .map(str::to_owned)
                        .or_else(|| {
                            r.headers
                                .get("x-session-token")
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_owned)
                        })
                        .filter(|t| t.starts_with("gst_")),
                };
                match token {
                    Some(t) => self.session(&t, now).await,
                    None => Ok(Auth::Skip),
                }
            }
            "oauth2_introspection" => {
                let Some(token) = bearer(r.headers)
                    .filter(|t| !crate::credentials::Kind::looks_like(t) && !t.starts_with("gst_"))
                else {
                    return Ok(Auth::Skip);
                };
                let scope = (!c.required_scope.is_empty()).then(|| c.required_scope.join(" "));
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
                if !c.target_audience.is_empty() {
                    let aud = i.aud.clone().unwrap_or_default();
                    if !c.target_audience.iter().all(|a| aud.contains(a)) {
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
                let mut headers = BTreeMap::new();
                let sub = i.sub.clone().unwrap_or_default();
                headers.insert("X-User-ID", sub.clone());
                headers.insert("X-Token-Scopes", scopes.join(" "));
                Ok(Auth::Ok(Subject {
                    id: sub,
                    extra: json!({"client_id": i.client_id, "scope": i.scope, "ext": i.ext}),
                    headers,
                    scopes,
                    ..Subject::default()
                }))
            }
            "api_key" => {
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
                if let Some(missing) = c
                    .required_scope
                    .iter()
                    .find(|s| !scope::any_grants(&valid.scopes, s))
                {
                    return Ok(Auth::Refused(
                        ErrorKind::Forbidden,
                        format!("the credential does not grant {missing}"),
                    ));
                }
                let mut headers = BTreeMap::new();
                for (k, v) in valid.headers() {
                    headers.insert(k, v);
                }
                Ok(Auth::Ok(Subject {
                    id: valid.owner.clone(),
                    extra: json!({"kind": valid.kind.as_str(), "credential_id": valid.id, "name": valid.name}),
                    headers,
                    scopes: valid.scopes.clone(),
                    ..Subject::default()
                }))
            }
            "jwt" => {
                let token = configured_token(&c.token_from, r)
                    .unwrap_or_else(|| bearer(r.headers).map(str::to_owned));
                // Only a three-part compact JWS is this authenticator's.
                let Some(token) = token.filter(|t| t.split('.').count() == 3) else {
                    return Ok(Auth::Skip);
                };
                Ok(self.verify_jwt(&token, &c, now).await)
            }
            other => Ok(Auth::Refused(
                ErrorKind::Internal,
                format!("authenticator {other} is not supported"),
            )),
        }
    }

    async fn verify_jwt(&self, token: &str, c: &AuthenticatorConfig, now: i64) -> Auth {
        use gatehouse_crypto::jwt::{JwtError, UnverifiedJwt};
        let refused = |why: &str| Auth::Refused(ErrorKind::Unauthorized, why.to_owned());
        let Ok(parsed) = UnverifiedJwt::parse(token) else {
            return refused("the JWT is malformed");
        };
        if !c.allowed_algorithms.is_empty() && !c.allowed_algorithms.contains(&parsed.header.alg) {
            return refused("the JWT's algorithm is not allowed");
        }
        let http = &self.provider.http;
        let keys = self.jwks.keys(http, &c.jwks_urls, false).await;
        let claims = match UnverifiedJwt::parse(token).and_then(|p| p.verify(&keys)) {
            Ok(claims) => claims,
            // A key id we do not know: the issuer may have rotated; fetch again once.
            Err(JwtError::UnknownKey) => {
                let keys = self.jwks.keys(http, &c.jwks_urls, true).await;
                match parsed.verify(&keys) {
                    Ok(claims) => claims,
                    Err(_) => return refused("the JWT's signature does not verify"),
                }
            }
            Err(_) => return refused("the JWT's signature does not verify"),
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
        let aud: Vec<String> = match claims.get("aud") {
            Some(Value::String(a)) => vec![a.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        };
        if !c.target_audience.iter().all(|t| aud.contains(t)) {
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
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let mut headers = BTreeMap::new();
        headers.insert("X-User-ID", sub.clone());
        headers.insert("X-Token-Scopes", scopes.join(" "));
        if let Some(jti) = claims.get("jti").and_then(Value::as_str) {
            headers.insert("X-Token-ID", jti.to_owned());
        }
        Auth::Ok(Subject {
            id: sub,
            extra: claims,
            headers,
            scopes,
            ..Subject::default()
        })
    }

    fn authorize(
        handler: &str,
        config: &Value,
        s: &Subject,
    ) -> std::result::Result<(), (ErrorKind, String)> {
        match handler {
            "allow" => Ok(()),
            "deny" => Err((ErrorKind::Forbidden, "access is denied by the rule".into())),
            "gatehouse" => {
                let c = AuthorizerConfig::parse(handler, config).unwrap_or_default();
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
                Ok(())
            }
            _ => Err((
                ErrorKind::Internal,
                format!("authorizer {handler} is not supported"),
            )),
        }
    }

    fn mutate(rule: &CompiledRule, s: &Subject) -> Vec<(String, String)> {
        let mut out: BTreeMap<String, String> = IDENTITY_HEADERS
            .iter()
            .map(|h| {
                (
                    (*h).to_owned(),
                    s.headers.get(h).cloned().unwrap_or_default(),
                )
            })
            .collect();
        for m in &rule.rule.mutators {
            if m.handler != "header" {
                continue;
            }
            if let Some(headers) = m.config.get("headers").and_then(Value::as_object) {
                for (name, t) in headers {
                    if let Some(t) = t.as_str().and_then(|t| Template::parse(t).ok()) {
                        // Header values must not break the response: control characters dropped.
                        let v: String = t
                            .render(&s.id, &s.extra)
                            .chars()
                            .filter(|c| !c.is_control())
                            .collect();
                        out.insert(name.clone(), v);
                    }
                }
            }
        }
        out.into_iter().collect()
    }

    fn refuse(
        &self,
        rule: Option<&CompiledRule>,
        kind: ErrorKind,
        reason: &str,
        r: &Request<'_>,
    ) -> Decision {
        let handlers = rule.map(|r| r.rule.errors.as_slice()).unwrap_or_default();
        for h in handlers {
            let Ok(c) = ErrorConfig::parse(&h.handler, &h.config) else {
                continue;
            };
            if !c.applies(kind, r.headers) {
                continue;
            }
            match h.handler.as_str() {
                "redirect" => {
                    let mut to = c.to.clone().unwrap_or_default();
                    if let Some(param) = &c.return_to_query_param {
                        let back = format!("{}://{}{}", r.scheme, r.host, r.uri);
                        let sep = if to.contains('?') { '&' } else { '?' };
                        to = format!(
                            "{to}{sep}{param}={}",
                            url::form_urlencoded::byte_serialize(back.as_bytes())
                                .collect::<String>()
                        );
                    }
                    return Decision::Deny {
                        status: c.code.unwrap_or(302),
                        headers: vec![("Location".into(), to)],
                        body: None,
                    };
                }
                "www_authenticate" => {
                    let realm = c
                        .realm
                        .clone()
                        .unwrap_or_else(|| "Please authenticate.".into());
                    return Decision::Deny {
                        status: 401,
                        headers: vec![(
                            "WWW-Authenticate".into(),
                            format!("Basic realm=\"{}\"", realm.replace('"', "'")),
                        )],
                        body: None,
                    };
                }
                _ => {
                    return self.json_error(kind, reason, c.verbose.unwrap_or(false));
                }
            }
        }
        self.json_error(kind, reason, false)
    }

    fn json_error(&self, kind: ErrorKind, reason: &str, verbose: bool) -> Decision {
        let status = kind.status();
        let code = axum::http::StatusCode::from_u16(status)
            .unwrap_or(axum::http::StatusCode::UNAUTHORIZED);
        let mut error = json!({
            "code": status,
            "status": code.canonical_reason().unwrap_or_default(),
            "message": match kind {
                ErrorKind::Unauthorized => "Access credentials are invalid",
                ErrorKind::Forbidden => "Access credentials are not sufficient to access this resource",
                ErrorKind::NotFound => "Requested url does not match any rules",
                ErrorKind::BadRequest => "The request is malformed",
                ErrorKind::Internal => "An internal server error occurred",
            },
        });
        if verbose {
            error["reason"] = Value::String(reason.to_owned());
        }
        Decision::Deny {
            status,
            headers: Vec::new(),
            body: Some(json!({ "error": error })),
        }
    }

    /// Decides one request.
    pub async fn decide(&self, r: &Request<'_>, now: i64) -> Result<Decision> {
        let rules = self.rules.load();
        let path = r.uri.split(['?', '#']).next().unwrap_or_default();
        let rule = match rules.find(r.method, r.scheme, r.host, path) {
            Ok(rule) => rule,
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
        if let Some(limited) = self.limit_request(r, &rule.rule.id, now).await {
            return Ok(limited);
        }
        let mut subject = None;
        for a in &rule.rule.authenticators {
            match self.authenticate(&a.handler, &a.config, r, now).await? {
                Auth::Skip => continue,
                Auth::Ok(s) => {
                    if let Some(limited) = self.limit_subject(&a.handler, &s, now).await {
                        return Ok(limited);
                    }
                    subject = Some(s);
                    break;
                }
                Auth::Refused(kind, why) => return Ok(self.refuse(Some(rule), kind, &why, r)),
            }
        }
        let Some(subject) = subject else {
            return Ok(self.refuse(
                Some(rule),
                ErrorKind::Unauthorized,
                "no authenticator recognised the request",
                r,
            ));
        };
        if let Err((kind, why)) = Self::authorize(
            &rule.rule.authorizer.handler,
            &rule.rule.authorizer.config,
            &subject,
        ) {
            return Ok(self.refuse(Some(rule), kind, &why, r));
        }
        Ok(Decision::Allow {
            rule_id: rule.rule.id.clone(),
            headers: Self::mutate(rule, &subject),
        })
    }
}
