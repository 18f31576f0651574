//! Handler configurations compiled once, when the rules load: every authenticator, authorizer,
//! mutator and error handler of a rule becomes a typed value (templates parsed, URLs parsed,
//! header names checked, caches created), so a decision never reads JSON configuration. An
//! invalid configuration refuses the whole rules file with the rule, the handler and the key.

use std::collections::BTreeMap;

use axum::http::{HeaderName, HeaderValue};
use gatehouse_protocol::access_rule::Rule;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::client_credentials::ClientCredentials;
use super::hydrator::Hydrator;
use super::id_token::IdToken;
use super::introspection::RemoteIntrospection;
use super::remote_json::RemoteJson;
use super::session_check::SessionSource;
use super::template::Template;
use crate::credentials::scope;

/// The handlers this gateway runs (all of Oathkeeper's, plus `api_key` and `gatehouse`): every
/// handler name the rules format knows.
pub use gatehouse_protocol::access_rule::{
    AUTHENTICATORS as SUPPORTED_AUTHENTICATORS, AUTHORIZERS as SUPPORTED_AUTHORIZERS,
    MUTATORS as SUPPORTED_MUTATORS,
};

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

/// Where a token is read from (`token_from`).
#[derive(Debug, Clone)]
pub enum TokenFrom {
    Header(HeaderName),
    Query(String),
    Cookie(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenFromRaw {
    header: Option<String>,
    query_parameter: Option<String>,
    cookie: Option<String>,
}

impl TokenFromRaw {
    pub fn compile(self) -> Result<TokenFrom, String> {
        match (self.header, self.query_parameter, self.cookie) {
            (Some(h), None, None) => HeaderName::from_bytes(h.as_bytes())
                .map(TokenFrom::Header)
                .map_err(|_| format!("`token_from.header`: `{h}` is not a header name")),
            (None, Some(q), None) if !q.is_empty() => Ok(TokenFrom::Query(q)),
            (None, None, Some(c)) if !c.is_empty() => Ok(TokenFrom::Cookie(c)),
            _ => Err("`token_from`: exactly one of `header`, `query_parameter` or `cookie`".into()),
        }
    }
}

#[derive(Debug)]
pub enum Authenticator {
    Noop,
    Anonymous {
        subject: String,
    },
    Unauthorized,
    CookieSession {
        /// Cookie names; `None`: Gatehouse's session cookie (locally) or any cookie (remote).
        only: Option<Vec<String>>,
        source: SessionSource,
    },
    BearerToken {
        token_from: Option<TokenFrom>,
        prefix: Option<String>,
        source: SessionSource,
    },
    Introspection {
        token_from: Option<TokenFrom>,
        prefix: Option<String>,
        required_scope: Vec<String>,
        target_audience: Vec<String>,
        /// `None`: Gatehouse's own tokens, introspected locally.
        remote: Option<Box<RemoteIntrospection>>,
    },
    ClientCredentials(Box<ClientCredentials>),
    Jwt(JwtConfig),
    ApiKey {
        required_scope: Vec<String>,
    },
}

#[derive(Debug)]
pub struct JwtConfig {
    pub token_from: Option<TokenFrom>,
    pub required_scope: Vec<String>,
    pub target_audience: Vec<String>,
    pub jwks_urls: Vec<String>,
    pub trusted_issuers: Vec<String>,
    pub allowed_algorithms: Vec<String>,
    /// Claims of tokens whose signature verified, by token digest: a signature is checked once
    /// per token and minute (never past its `exp`); the claim checks run every time.
    pub verified: super::outbound::TtlCache<std::sync::Arc<Value>>,
}

/// How long a verified signature is remembered (the JWKS itself is kept 5 minutes).
pub const JWT_VERIFIED_TTL: std::time::Duration = std::time::Duration::from_secs(60);

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
    Some(Vec<super::decide::ErrorKind>),
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

/// Reads a handler's configuration: `null` is the defaults, unknown keys are refused.
pub fn config<T: DeserializeOwned + Default>(config: &Value) -> Result<T, String> {
    if config.is_null() {
        return Ok(T::default());
    }
    T::deserialize(config).map_err(|e| e.to_string())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnonymousRaw {
    subject: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiKeyRaw {
    #[serde(default)]
    required_scope: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct JwtRaw {
    token_from: Option<TokenFromRaw>,
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoConfig {}

fn authenticator(handler: &str, c: &Value, own: &Own) -> Result<Authenticator, String> {
    Ok(match handler {
        "noop" => {
            config::<NoConfig>(c)?;
            Authenticator::Noop
        }
        "unauthorized" => {
            config::<NoConfig>(c)?;
            Authenticator::Unauthorized
        }
        "anonymous" => Authenticator::Anonymous {
            subject: config::<AnonymousRaw>(c)?
                .subject
                .unwrap_or_else(|| "anonymous".into()),
        },
        "cookie_session" => super::session_check::cookie_session(c, own)?,
        "bearer_token" => super::session_check::bearer_token(c, own)?,
        "oauth2_introspection" => super::introspection::compile(c)?,
        "oauth2_client_credentials" => {
            Authenticator::ClientCredentials(Box::new(ClientCredentials::compile(c)?))
        }
        "jwt" => {
            let raw: JwtRaw = config(c)?;
            if raw.jwks_urls.is_empty() {
                return Err("needs `jwks_urls`".into());
            }
            for u in &raw.jwks_urls {
                super::outbound::http_url("jwks_urls", u)?;
            }
            for a in &raw.allowed_algorithms {
                if gatehouse_crypto::Algorithm::parse(a).is_none() {
                    return Err(format!(
                        "`allowed_algorithms`: `{a}` is not supported (ES256, RS256, EdDSA)"
                    ));
                }
            }
            Authenticator::Jwt(JwtConfig {
                token_from: raw.token_from.map(TokenFromRaw::compile).transpose()?,
                required_scope: raw.required_scope,
                target_audience: raw.target_audience,
                jwks_urls: raw.jwks_urls,
                trusted_issuers: raw.trusted_issuers,
                allowed_algorithms: raw.allowed_algorithms,
                verified: super::outbound::TtlCache::new(JWT_VERIFIED_TTL),
            })
        }
        "api_key" => {
            let raw: ApiKeyRaw = config(c)?;
            for s in &raw.required_scope {
                scope::validate(s).map_err(|e| format!("`required_scope`: {e}"))?;
            }
            Authenticator::ApiKey {
                required_scope: raw.required_scope,
            }
        }
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
    use super::decide::ErrorKind;
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
