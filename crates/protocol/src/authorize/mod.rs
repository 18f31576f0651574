//! The authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1, RFC 7636, RFC 8707).
//!
//! Parsing happens in two steps because the error channel depends on how far we got: until the
//! client and its redirect URI are known, errors are shown on a page (never redirected, so the
//! endpoint is no open redirector); after that, errors go back to the client's redirect URI.
//!
//! [`respond`] builds what goes back to the client (a code or an error); [`skip`] decides
//! whether the login and consent steps may be skipped, and what `prompt=none` answers when not.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::client::{Client, GrantType};
use crate::error::{ErrorCode, OAuthError};
use crate::pkce::CodeChallenge;
use crate::redirect;
use crate::scope::Scopes;

mod respond;
pub mod skip;

pub use respond::{AuthorizeResponse, error_params, respond};

pub const MAX_PARAM_LEN: usize = 4096;
pub const MAX_PARAMS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    Query,
    FormPost,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prompt {
    None,
    Login,
    Consent,
    SelectAccount,
}

/// The raw parameters, with repeated parameters detected (RFC 6749 §3.1). `resource` is the one
/// parameter that may repeat (RFC 8707).
#[derive(Debug, Default, Clone)]
pub struct RawParams {
    single: HashMap<String, String>,
    resources: Vec<String>,
    duplicate: Option<String>,
    oversized: bool,
}

impl RawParams {
    pub fn from_pairs<I: IntoIterator<Item = (String, String)>>(pairs: I) -> RawParams {
        let mut p = RawParams::default();
        for (i, (k, v)) in pairs.into_iter().enumerate() {
            if i >= MAX_PARAMS || v.len() > MAX_PARAM_LEN || k.len() > 64 {
                p.oversized = true;
                continue;
            }
            if k == "resource" {
                p.resources.push(v);
            } else if let std::collections::hash_map::Entry::Vacant(slot) =
                p.single.entry(k.clone())
            {
                slot.insert(v);
            } else {
                p.duplicate.get_or_insert(k);
            }
        }
        p
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.single
            .get(k)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// An error of the authorization endpoint and where it must be shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// Shown to the user; the client or redirect URI cannot be trusted.
    Page(OAuthError),
    /// Sent to the client's redirect URI.
    Redirect {
        redirect_uri: String,
        response_mode: ResponseMode,
        state: Option<String>,
        error: OAuthError,
    },
}

/// A validated authorization request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizeRequest {
    pub client_id: String,
    pub redirect_uri: String,
    /// Whether `redirect_uri` was sent (then it must be repeated at the token endpoint).
    pub redirect_uri_sent: bool,
    pub response_mode: ResponseMode,
    pub scope: Scopes,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<CodeChallenge>,
    pub prompt: Vec<Prompt>,
    pub max_age: Option<i64>,
    pub audience: Vec<String>,
    pub login_hint: Option<String>,
    pub id_token_hint: Option<String>,
    pub acr_values: Vec<String>,
    pub ui_locales: Vec<String>,
    pub display: Option<String>,
}

/// Step one: the client id, before the client is looked up.
pub fn client_id(p: &RawParams) -> Result<&str, AuthorizeError> {
    if p.oversized {
        return Err(AuthorizeError::Page(OAuthError::invalid_request(
            "The request has too many or too long parameters.",
        )));
    }
    if p.duplicate.as_deref() == Some("client_id") || p.duplicate.as_deref() == Some("redirect_uri")
    {
        return Err(AuthorizeError::Page(OAuthError::invalid_request(
            "client_id and redirect_uri must not be repeated.",
        )));
    }
    p.get("client_id").ok_or_else(|| {
        AuthorizeError::Page(OAuthError::invalid_request(
            "The client_id parameter is missing.",
        ))
    })
}

/// Step two: every other rule, given the client.
pub fn validate(p: &RawParams, client: &Client) -> Result<AuthorizeRequest, AuthorizeError> {
    let page = |e: OAuthError| AuthorizeError::Page(e);
    // The redirect URI is settled first; nothing is redirected before it is.
    let (redirect_uri, redirect_uri_sent) = match p.get("redirect_uri") {
        Some(r) if redirect::matches(&client.redirect_uris, r) => (r.to_owned(), true),
        Some(_) => {
            return Err(page(OAuthError::new(
                ErrorCode::InvalidRequest,
                "The redirect_uri does not match any URI registered for this client.",
            )));
        }
        None if client.redirect_uris.len() == 1 => (client.redirect_uris[0].clone(), false),
        None => {
            return Err(page(OAuthError::invalid_request(
                "The redirect_uri parameter is required for this client.",
            )));
        }
    };
    let state = p.get("state").map(str::to_owned);
    let response_mode = match p.get("response_mode") {
        None | Some("query") => ResponseMode::Query,
        Some("form_post") => ResponseMode::FormPost,
        Some(_) => ResponseMode::Query,
    };
    let fail = |error: OAuthError| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.clone(),
        response_mode,
        state: state.clone(),
        error,
    };

    if let Some(d) = &p.duplicate {
        return Err(fail(OAuthError::invalid_request(format!(
            "The {d} parameter must not be repeated."
        ))));
    }
    if !matches!(
        p.get("response_mode"),
        None | Some("query") | Some("form_post")
    ) {
        return Err(fail(OAuthError::invalid_request(
            "response_mode must be query or form_post.",
        )));
    }
    if p.get("request").is_some() {
        return Err(fail(OAuthError::new(
            ErrorCode::RequestNotSupported,
            "Request objects are not supported.",
        )));
    }
    if p.get("request_uri").is_some() {
        return Err(fail(OAuthError::new(
            ErrorCode::RequestUriNotSupported,
            "request_uri is not supported.",
        )));
    }
    match p.get("response_type") {
        Some("code") => {}
        None => {
            return Err(fail(OAuthError::invalid_request(
                "The response_type parameter is missing.",
            )));
        }
        Some(_) => {
            return Err(fail(OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                "Only the code response type is supported.",
            )));
        }
    }
    if !client.allows_grant(GrantType::AuthorizationCode)
        || !client.response_types.iter().any(|r| r == "code")
    {
        return Err(fail(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "The client is not allowed to use the authorization code grant.",
        )));
    }
    let scope = Scopes::parse(p.get("scope").unwrap_or_default()).map_err(fail)?;
    if !scope.is_subset_of(&client.scopes()) {
        return Err(fail(OAuthError::invalid_scope(
            "The client is not allowed to request one or more of the scopes.",
        )));
    }
    let code_challenge =
        CodeChallenge::parse(p.get("code_challenge"), p.get("code_challenge_method"))
            .map_err(fail)?;
    if code_challenge.is_none() && client.is_public() {
        return Err(fail(OAuthError::invalid_request(
            "PKCE (code_challenge with S256) is required for public clients.",
        )));
    }
    let prompt = parse_prompt(p.get("prompt")).map_err(fail)?;
    let max_age = match p.get("max_age") {
        None => None,
        Some(s) => match s.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => {
                return Err(fail(OAuthError::invalid_request(
                    "max_age must be a non-negative integer.",
                )));
            }
        },
    };
    let mut audience: Vec<String> = Vec::new();
    for r in p.resources.iter().map(String::as_str).chain(
        p.get("audience")
            .map(|a| a.split(' '))
            .into_iter()
            .flatten(),
    ) {
        if r.is_empty() {
            continue;
        }
        if url::Url::parse(r)
            .map(|u| u.fragment().is_some())
            .unwrap_or(true)
        {
            return Err(fail(OAuthError::new(
                ErrorCode::InvalidTarget,
                "A resource must be an absolute URI without a fragment.",
            )));
        }
        if !client.audience.iter().any(|a| a == r) {
            return Err(fail(OAuthError::new(
                ErrorCode::InvalidTarget,
                "The client is not allowed to request this resource (audience).",
            )));
        }
        if !audience.iter().any(|a| a == r) {
            audience.push(r.to_owned());
        }
    }
    let list = |k: &str| {
        p.get(k)
            .map(|s| {
                s.split(' ')
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok(AuthorizeRequest {
        client_id: client.client_id.clone(),
        redirect_uri,
        redirect_uri_sent,
        response_mode,
        scope,
        state,
        nonce: p.get("nonce").map(str::to_owned),
        code_challenge,
        prompt,
        max_age,
        audience,
        login_hint: p.get("login_hint").map(str::to_owned),
        id_token_hint: p.get("id_token_hint").map(str::to_owned),
        acr_values: list("acr_values"),
        ui_locales: list("ui_locales"),
        display: p.get("display").map(str::to_owned),
    })
}

fn parse_prompt(s: Option<&str>) -> Result<Vec<Prompt>, OAuthError> {
    let mut out = Vec::new();
    for v in s.unwrap_or_default().split(' ').filter(|v| !v.is_empty()) {
        let p = match v {
            "none" => Prompt::None,
            "login" => Prompt::Login,
            "consent" => Prompt::Consent,
            "select_account" => Prompt::SelectAccount,
            _ => {
                return Err(OAuthError::invalid_request(format!(
                    "Unknown prompt value {v:?}."
                )));
            }
        };
        if !out.contains(&p) {
            out.push(p);
        }
    }
    if out.contains(&Prompt::None) && out.len() > 1 {
        return Err(OAuthError::invalid_request(
            "prompt=none cannot be combined with other values.",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
