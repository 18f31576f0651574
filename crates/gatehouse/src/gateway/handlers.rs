//! Handler configurations compiled once, when the rules load: every authenticator, authorizer,
//! mutator and error handler of a rule becomes a typed value (templates parsed, URLs parsed,
//! header names checked, caches created), so a decision never reads JSON configuration. An
//! invalid configuration refuses the whole rules file with the rule, the handler and the key.
//!
//! This is the one file that knows every handler: it builds the `Authenticator`, `Authorizer`
//! and `Mutator` enums from the handler files' compiled forms (each handler file knows only
//! the vocabulary in `model`), and dispatches `Authenticate` over the enum, statically.

use std::collections::BTreeMap;

use axum::http::{HeaderName, HeaderValue};
use gatehouse_protocol::access_rule::Rule;
use serde::Deserialize;
use serde_json::Value;

use super::authn::api_key::ApiKey;
use super::authn::client_credentials::ClientCredentials;
use super::authn::fixed::{Anonymous, Noop, Unauthorized};
use super::authn::introspection::Introspection;
use super::authn::jwt::Jwt;
use super::authn::session::{BearerToken, CookieSession};
use super::hydrator::Hydrator;
use super::id_token::IdToken;
use super::model::{Auth, Authenticate, Cx, ErrorKind, NoConfig, Own, Request, config};
use super::remote_json::RemoteJson;
use super::template::Template;

/// The handlers this gateway runs (all of Oathkeeper's, plus `api_key` and `gatehouse`): every
/// handler name the rules format knows.
pub use gatehouse_protocol::access_rule::{
    AUTHENTICATORS as SUPPORTED_AUTHENTICATORS, AUTHORIZERS as SUPPORTED_AUTHORIZERS,
    MUTATORS as SUPPORTED_MUTATORS,
};

/// One rule's handlers, ready to run.
#[derive(Debug)]
pub struct RuleHandlers {
    pub authenticators: Vec<Authenticator>,
    pub authorizer: Authorizer,
    pub mutators: Vec<Mutator>,
    pub errors: Vec<ErrorHandler>,
    /// Whether a later handler reads the subject's `.Extra` (so authenticators need not build
    /// it otherwise).
    pub needs_extra: bool,
}

/// An authenticator of a rule: each variant is a handler file's compiled form.
#[derive(Debug)]
pub enum Authenticator {
    Noop(Noop),
    Anonymous(Anonymous),
    Unauthorized(Unauthorized),
    CookieSession(CookieSession),
    BearerToken(BearerToken),
    Introspection(Introspection),
    ClientCredentials(Box<ClientCredentials>),
    Jwt(Jwt),
    ApiKey(ApiKey),
}

impl Authenticator {
    /// Whether the subject it vouches for is no one in particular (`noop`, `anonymous`): not
    /// counted against the per-subject rate limit.
    pub fn is_anonymous(&self) -> bool {
        matches!(self, Authenticator::Noop(_) | Authenticator::Anonymous(_))
    }
}

impl Authenticate for Authenticator {
    async fn authenticate(
        &self,
        cx: &Cx<'_>,
        r: &Request<'_>,
        now: i64,
    ) -> crate::error::Result<Auth> {
        match self {
            Authenticator::Noop(a) => a.authenticate(cx, r, now).await,
            Authenticator::Anonymous(a) => a.authenticate(cx, r, now).await,
            Authenticator::Unauthorized(a) => a.authenticate(cx, r, now).await,
            Authenticator::CookieSession(a) => a.authenticate(cx, r, now).await,
            Authenticator::BearerToken(a) => a.authenticate(cx, r, now).await,
            Authenticator::Introspection(a) => a.authenticate(cx, r, now).await,
            Authenticator::ClientCredentials(a) => a.authenticate(cx, r, now).await,
            Authenticator::Jwt(a) => a.authenticate(cx, r, now).await,
            Authenticator::ApiKey(a) => a.authenticate(cx, r, now).await,
        }
    }
}

#[derive(Debug)]
pub enum Authorizer {
    Allow,
    Deny,
    Gatehouse(GatehouseAuthorizer),
    RemoteJson(RemoteJson),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatehouseAuthorizer {
    #[serde(default)]
    pub required_scopes: Vec<String>,
    #[serde(default)]
    pub required_roles: Vec<String>,
    pub required_aal: Option<String>,
    #[serde(default)]
    pub allowed_subjects: Vec<String>,
}

#[derive(Debug)]
pub enum Mutator {
    Noop,
    Header(Vec<(HeaderName, Template)>),
    Cookie(Vec<(String, Template)>),
    IdToken(IdToken),
    Hydrator(Hydrator),
}

#[derive(Debug)]
pub enum ErrorKindSet {
    Any,
    Some(Vec<ErrorKind>),
}

/// One `when` entry: the error kinds and the request headers (media types) it applies to.
#[derive(Debug)]
pub struct When {
    pub errors: ErrorKindSet,
    pub headers: Vec<(HeaderName, Vec<String>)>,
}

#[derive(Debug)]
pub enum ErrorAction {
    Json {
        verbose: bool,
    },
    Redirect {
        to: String,
        code: u16,
        return_to_query_param: Option<String>,
    },
    WwwAuthenticate {
        header: HeaderValue,
    },
}

#[derive(Debug)]
pub struct ErrorHandler {
    pub action: ErrorAction,
    pub when: Vec<When>,
}

fn authenticator(handler: &str, c: &Value, own: &Own) -> Result<Authenticator, String> {
    Ok(match handler {
        "noop" => Authenticator::Noop(Noop::compile(c)?),
        "unauthorized" => Authenticator::Unauthorized(Unauthorized::compile(c)?),
        "anonymous" => Authenticator::Anonymous(Anonymous::compile(c)?),
        "cookie_session" => Authenticator::CookieSession(CookieSession::compile(c, own)?),
        "bearer_token" => Authenticator::BearerToken(BearerToken::compile(c, own)?),
        "oauth2_introspection" => Authenticator::Introspection(Introspection::compile(c)?),
        "oauth2_client_credentials" => {
            Authenticator::ClientCredentials(Box::new(ClientCredentials::compile(c)?))
        }
        "jwt" => Authenticator::Jwt(Jwt::compile(c)?),
        "api_key" => Authenticator::ApiKey(ApiKey::compile(c)?),
        _ => {
            return Err(format!(
                "is not supported by Gatehouse (supported: {})",
                SUPPORTED_AUTHENTICATORS.join(", ")
            ));
        }
    })
}

fn authorizer(handler: &str, c: &Value) -> Result<Authorizer, String> {
    Ok(match handler {
        "allow" => {
            config::<NoConfig>(c).map_err(|_| "takes no configuration".to_owned())?;
            Authorizer::Allow
        }
        "deny" => {
            config::<NoConfig>(c).map_err(|_| "takes no configuration".to_owned())?;
            Authorizer::Deny
        }
        "gatehouse" => {
            let g: GatehouseAuthorizer = config(c)?;
            if let Some(a) = &g.required_aal
                && !matches!(a.as_str(), "aal1" | "aal2")
            {
                return Err("`required_aal` must be aal1 or aal2".into());
            }
            Authorizer::Gatehouse(g)
        }
        "remote_json" => Authorizer::RemoteJson(RemoteJson::compile(c)?),
        _ => {
            return Err(format!(
                "is not supported by Gatehouse (supported: {})",
                SUPPORTED_AUTHORIZERS.join(", ")
            ));
        }
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HeaderRaw {
    headers: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CookieRaw {
    cookies: Option<BTreeMap<String, String>>,
}

/// A cookie name per RFC 6265 (a token).
fn cookie_name_ok(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 256
        && n.bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
}

fn mutator(handler: &str, c: &Value) -> Result<Mutator, String> {
    Ok(match handler {
        "noop" => {
            config::<NoConfig>(c)?;
            Mutator::Noop
        }
        "header" => {
            // Without `config` Oathkeeper takes the global `mutators.header.config`; Gatehouse
            // has none, so the mutator adds nothing beyond the identity headers.
            let raw: HeaderRaw = config(c)?;
            let headers = raw.headers.unwrap_or_default();
            let mut out = Vec::with_capacity(headers.len());
            for (name, t) in headers {
                let h = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| format!("`headers`: `{name}` is not a header name"))?;
                let t = Template::parse(&t).map_err(|e| format!("`headers.{name}`: {e}"))?;
                out.push((h, t));
            }
            Mutator::Header(out)
        }
        "cookie" => {
            let raw: CookieRaw = config(c)?;
            let cookies = raw.cookies.ok_or("needs `cookies`")?;
            let mut out = Vec::with_capacity(cookies.len());
            for (name, t) in cookies {
                if !cookie_name_ok(&name) {
                    return Err(format!("`cookies`: `{name}` is not a cookie name"));
                }
                let t = Template::parse(&t).map_err(|e| format!("`cookies.{name}`: {e}"))?;
                out.push((name, t));
            }
            Mutator::Cookie(out)
        }
        "id_token" => Mutator::IdToken(IdToken::compile(c)?),
        "hydrator" => Mutator::Hydrator(Hydrator::compile(c)?),
        _ => {
            return Err(format!(
                "is not supported by Gatehouse (supported: {})",
                SUPPORTED_MUTATORS.join(", ")
            ));
        }
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WhenRequestRaw {
    #[serde(default)]
    header: BTreeMap<String, Vec<String>>,
    /// Refused when not empty: Gatehouse matches on headers only.
    #[serde(default)]
    cidr: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WhenRaw {
    #[serde(default)]
    error: Vec<String>,
    request: Option<WhenRequestRaw>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ErrorRaw {
    to: Option<String>,
    code: Option<u16>,
    return_to_query_param: Option<String>,
    realm: Option<String>,
    verbose: Option<bool>,
    #[serde(default)]
    when: Vec<WhenRaw>,
}

fn error_handler(handler: &str, c: &Value) -> Result<ErrorHandler, String> {
    let raw: ErrorRaw = config(c)?;
    let action = match handler {
        "json" => ErrorAction::Json {
            verbose: raw.verbose.unwrap_or(false),
        },
        "redirect" => {
            let to = raw.to.ok_or("needs `to`")?;
            url::Url::parse(&to).map_err(|e| format!("`to`: {e}"))?;
            let code = raw.code.unwrap_or(302);
            if !matches!(code, 301 | 302 | 303 | 307 | 308) {
                return Err("`code` must be a redirect status".into());
            }
            ErrorAction::Redirect {
                to,
                code,
                return_to_query_param: raw.return_to_query_param,
            }
        }
        "www_authenticate" => {
            let realm = raw.realm.unwrap_or_else(|| "Please authenticate.".into());
            let header = HeaderValue::from_str(&format!(
                "Basic realm=\"{}\"",
                realm.replace(['"', '\\'], "'")
            ))
            .map_err(|_| "`realm`: not a valid header value".to_owned())?;
            ErrorAction::WwwAuthenticate { header }
        }
        _ => return Err("is not a known error handler".into()),
    };
    let mut when = Vec::with_capacity(raw.when.len());
    for w in raw.when {
        let errors = if w.error.is_empty() {
            ErrorKindSet::Any
        } else {
            let mut kinds = Vec::new();
            for e in &w.error {
                kinds.push(
                    ErrorKind::from_name(e)
                        .ok_or_else(|| format!("`when.error`: unknown `{e}`"))?,
                );
            }
            ErrorKindSet::Some(kinds)
        };
        let mut headers = Vec::new();
        if let Some(r) = w.request {
            if !r.cidr.is_empty() {
                return Err("`when.request.cidr` is not supported by Gatehouse".into());
            }
            for (name, wanted) in r.header {
                let h = HeaderName::from_bytes(name.replace('_', "-").as_bytes())
                    .map_err(|_| format!("`when.request.header`: `{name}` is not a header"))?;
                headers.push((h, wanted.iter().map(|w| w.to_ascii_lowercase()).collect()));
            }
        }
        when.push(When { errors, headers });
    }
    Ok(ErrorHandler { action, when })
}

/// Compiles one rule's handlers; the error names the handler and the key. What is logged while
/// compiling carries the rule's id.
pub fn compile(rule: &Rule, own: &Own) -> Result<RuleHandlers, String> {
    let _span = tracing::info_span!("rule", id = %rule.id).entered();
    let mut authenticators = Vec::with_capacity(rule.authenticators.len());
    for a in &rule.authenticators {
        authenticators.push(
            authenticator(&a.handler, &a.config, own)
                .map_err(|e| format!("authenticator `{}`: {e}", a.handler))?,
        );
    }
    let authorizer = authorizer(&rule.authorizer.handler, &rule.authorizer.config)
        .map_err(|e| format!("authorizer `{}`: {e}", rule.authorizer.handler))?;
    let mut mutators = Vec::with_capacity(rule.mutators.len());
    for m in &rule.mutators {
        mutators.push(
            mutator(&m.handler, &m.config).map_err(|e| format!("mutator `{}`: {e}", m.handler))?,
        );
    }
    let mut errors = Vec::with_capacity(rule.errors.len());
    for e in &rule.errors {
        errors.push(
            error_handler(&e.handler, &e.config)
                .map_err(|m| format!("error handler `{}`: {m}", e.handler))?,
        );
    }
    let needs_extra = matches!(authorizer, Authorizer::RemoteJson(_))
        || mutators.iter().any(|m| !matches!(m, Mutator::Noop));
    Ok(RuleHandlers {
        authenticators,
        authorizer,
        mutators,
        errors,
        needs_extra,
    })
}
