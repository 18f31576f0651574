//! The token endpoint's request (RFC 6749 §4.1.3, §4.4.2, §6) and client authentication
//! (RFC 6749 §2.3.1, RFC 7523 §2.2), parsed into enums so the rest never sees raw strings.

use std::collections::HashMap;

use base64::Engine;

use crate::error::{ErrorCode, OAuthError};
use crate::scope::Scopes;

pub const MAX_FIELD_LEN: usize = 8192;
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    AuthorizationCode {
        code: String,
        redirect_uri: Option<String>,
        code_verifier: Option<String>,
    },
    RefreshToken {
        refresh_token: String,
        scope: Option<Scopes>,
    },
    ClientCredentials {
        scope: Scopes,
        audience: Vec<String>,
    },
}

/// How the client authenticated (not yet verified).
#[derive(Clone, PartialEq, Eq)]
pub enum ClientCredentials {
    Basic {
        client_id: String,
        secret: String,
    },
    Post {
        client_id: String,
        secret: String,
    },
    Assertion {
        client_id: Option<String>,
        assertion: String,
    },
    None {
        client_id: String,
    },
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientCredentials::Basic { client_id, .. } => write!(f, "Basic({client_id})"),
            ClientCredentials::Post { client_id, .. } => write!(f, "Post({client_id})"),
            ClientCredentials::Assertion { client_id, .. } => write!(f, "Assertion({client_id:?})"),
            ClientCredentials::None { client_id } => write!(f, "None({client_id})"),
        }
    }
}

impl ClientCredentials {
    pub fn claimed_client_id(&self) -> Option<&str> {
        match self {
            ClientCredentials::Basic { client_id, .. }
            | ClientCredentials::Post { client_id, .. }
            | ClientCredentials::None { client_id } => Some(client_id),
            ClientCredentials::Assertion { client_id, .. } => client_id.as_deref(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    pub grant: Grant,
    pub client: ClientCredentials,
}

/// Parses form pairs and an optional `Authorization` header value.
pub fn parse(
    pairs: Vec<(String, String)>,
    authorization: Option<&str>,
) -> Result<TokenRequest, OAuthError> {
    let mut form: HashMap<String, String> = HashMap::new();
    let mut resources: Vec<String> = Vec::new();
    for (k, v) in pairs {
        if v.len() > MAX_FIELD_LEN || form.len() > 64 {
            return Err(OAuthError::invalid_request("A parameter is too long."));
        }
        if k == "resource" {
            resources.push(v);
            continue;
        }
        if form.contains_key(&k) {
            return Err(OAuthError::invalid_request(format!(
                "The {k} parameter must not be repeated."
            )));
        }
        if !v.is_empty() {
            form.insert(k, v);
        }
    }
    let client = parse_client_auth(&mut form, authorization)?;
    let mut take = |k: &str| form.remove(k);
    let grant = match take("grant_type").as_deref() {
        None => {
            return Err(OAuthError::invalid_request(
                "The grant_type parameter is missing.",
            ));
        }
        Some("authorization_code") => Grant::AuthorizationCode {
            code: take("code")
                .ok_or_else(|| OAuthError::invalid_request("The code parameter is missing."))?,
            redirect_uri: take("redirect_uri"),
            code_verifier: take("code_verifier"),
        },
        Some("refresh_token") => Grant::RefreshToken {
            refresh_token: take("refresh_token").ok_or_else(|| {
                OAuthError::invalid_request("The refresh_token parameter is missing.")
            })?,
            scope: take("scope").map(|s| Scopes::parse(&s)).transpose()?,
        },
        Some("client_credentials") => {
            let scope = Scopes::parse(&take("scope").unwrap_or_default())?;
            let mut audience = resources;
            if let Some(a) = take("audience") {
                audience.extend(a.split(' ').filter(|s| !s.is_empty()).map(str::to_owned));
            }
            audience.dedup();
            Grant::ClientCredentials { scope, audience }
        }
        Some(_) => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                "The grant_type is not supported.",
            ));
        }
    };
    Ok(TokenRequest { grant, client })
}

/// Client authentication from the header or the body; using more than one method is an error
/// (RFC 6749 §2.3).
pub fn parse_client_auth(
    form: &mut HashMap<String, String>,
    authorization: Option<&str>,
) -> Result<ClientCredentials, OAuthError> {
    let basic = authorization.map(parse_basic).transpose()?;
    let form_id = form.remove("client_id");
    let form_secret = form.remove("client_secret");
    let assertion_type = form.remove("client_assertion_type");
    let assertion = form.remove("client_assertion");
    let methods = usize::from(basic.is_some())
        + usize::from(form_secret.is_some())
        + usize::from(assertion.is_some());
    if methods > 1 {
        return Err(OAuthError::invalid_request(
            "The client used more than one authentication method.",
        ));
    }
    if let Some((client_id, secret)) = basic {
        if form_id.as_deref().is_some_and(|f| f != client_id) {
            return Err(OAuthError::invalid_request(
                "client_id in the body does not match the Authorization header.",
            ));
        }
        return Ok(ClientCredentials::Basic { client_id, secret });
    }
    if let Some(assertion) = assertion {
        if assertion_type.as_deref() != Some(JWT_BEARER_ASSERTION) {
            return Err(OAuthError::invalid_request(
                "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.",
            ));
        }
        return Ok(ClientCredentials::Assertion {
            client_id: form_id,
            assertion,
        });
    }
    match (form_id, form_secret) {
        (Some(client_id), Some(secret)) => Ok(ClientCredentials::Post { client_id, secret }),
        (Some(client_id), None) => Ok(ClientCredentials::None { client_id }),
        (None, _) => Err(OAuthError::invalid_client(
            "Client authentication failed: no client credentials were sent.",
        )),
    }
}

/// `Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
pub fn parse_basic(header: &str) -> Result<(String, String), OAuthError> {
    let bad = || OAuthError::invalid_client("The Authorization header is malformed.");
    let (scheme, value) = header.trim().split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad());
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    let unescape = |s: &str| -> Result<String, OAuthError> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(&format!("v={}", s.replace('&', "%26").replace('=', "%3D")))
                .map_err(|_| bad())?;
        Ok(pairs.into_iter().next().map(|(_, v)| v).unwrap_or_default())
    };
    let id = unescape(id)?;
    if id.is_empty() {
        return Err(bad());
    }
    Ok((id, unescape(secret)?))
}

#[cfg(test)]
mod tests;
