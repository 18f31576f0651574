//! OAuth 2.0 client metadata in Ory Hydra's JSON shape (which extends RFC 7591), with the rules a
//! client must satisfy before it is stored.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::redirect;
use crate::scope::Scopes;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

impl GrantType {
    pub fn parse(s: &str) -> Option<GrantType> {
        match s {
            "authorization_code" => Some(GrantType::AuthorizationCode),
            "refresh_token" => Some(GrantType::RefreshToken),
            "client_credentials" => Some(GrantType::ClientCredentials),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
    None,
}

impl AuthMethod {
    pub fn parse(s: &str) -> Option<AuthMethod> {
        match s {
            "client_secret_basic" => Some(AuthMethod::ClientSecretBasic),
            "client_secret_post" => Some(AuthMethod::ClientSecretPost),
            "private_key_jwt" => Some(AuthMethod::PrivateKeyJwt),
            "none" => Some(AuthMethod::None),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
            AuthMethod::None => "none",
        }
    }
}

fn default_grant_types() -> Vec<String> {
    vec!["authorization_code".to_owned()]
}
fn default_response_types() -> Vec<String> {
    vec!["code".to_owned()]
}
fn default_scope() -> String {
    "offline_access offline openid".to_owned()
}
fn default_auth_method() -> String {
    "client_secret_basic".to_owned()
}
fn default_subject_type() -> String {
    "public".to_owned()
}
fn default_strategy() -> String {
    String::new()
}

/// A client as stored and as returned by the admin API (without its secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Client {
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub client_name: String,
    #[serde(default = "default_grant_types")]
    pub grant_types: Vec<String>,
    #[serde(default = "default_response_types")]
    pub response_types: Vec<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default = "default_scope")]
    pub scope: String,
    #[serde(default)]
    pub audience: Vec<String>,
    #[serde(default = "default_auth_method")]
    pub token_endpoint_auth_method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_signing_alg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<Value>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub jwks_uri: String,
    #[serde(default = "default_subject_type")]
    pub subject_type: String,
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub policy_uri: String,
    #[serde(default)]
    pub tos_uri: String,
    #[serde(default)]
    pub client_uri: String,
    #[serde(default)]
    pub logo_uri: String,
    #[serde(default)]
    pub contacts: Vec<String>,
    #[serde(default)]
    pub allowed_cors_origins: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    pub frontchannel_logout_uri: String,
    #[serde(default)]
    pub frontchannel_logout_session_required: bool,
    #[serde(default)]
    pub backchannel_logout_uri: String,
    #[serde(default)]
    pub backchannel_logout_session_required: bool,
    #[serde(default)]
    pub skip_consent: bool,
    #[serde(default)]
    pub skip_logout_consent: bool,
    /// `opaque` or `jwt`; empty means the server's `strategies.access_token`.
    #[serde(default = "default_strategy", skip_serializing_if = "String::is_empty")]
    pub access_token_strategy: String,
    #[serde(default)]
    pub metadata: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

pub const MAX_LIST: usize = 64;
pub const MAX_FIELD: usize = 2048;

impl Client {
    pub fn auth_method(&self) -> AuthMethod {
        AuthMethod::parse(&self.token_endpoint_auth_method).unwrap_or(AuthMethod::ClientSecretBasic)
    }

    pub fn is_public(&self) -> bool {
        self.auth_method() == AuthMethod::None
    }

    pub fn allows_grant(&self, g: GrantType) -> bool {
        self.grant_types
            .iter()
            .any(|s| GrantType::parse(s) == Some(g))
    }

    pub fn scopes(&self) -> Scopes {
        Scopes::parse(&self.scope).unwrap_or_default()
    }

    /// Checks the metadata; the error text names the offending field (RFC 7591 §3.2.2).
    pub fn validate(&self) -> Result<(), (crate::ErrorCode, String)> {
        use crate::ErrorCode::{InvalidClientMetadata as Meta, InvalidRedirectUri as Redir};
        if self.client_id.len() > 255 || self.client_id.chars().any(|c| c.is_control() || c == ' ')
        {
            return Err((
                Meta,
                "client_id must be at most 255 printable characters without spaces".into(),
            ));
        }
        for (name, v) in [
            ("client_name", &self.client_name),
            ("owner", &self.owner),
            ("policy_uri", &self.policy_uri),
            ("tos_uri", &self.tos_uri),
            ("client_uri", &self.client_uri),
            ("logo_uri", &self.logo_uri),
            ("jwks_uri", &self.jwks_uri),
            ("frontchannel_logout_uri", &self.frontchannel_logout_uri),
            ("backchannel_logout_uri", &self.backchannel_logout_uri),
        ] {
            if v.len() > MAX_FIELD {
                return Err((
                    Meta,
                    format!("{name} is longer than {MAX_FIELD} characters"),
                ));
            }
        }
        for (name, list) in [
            ("redirect_uris", &self.redirect_uris),
            ("post_logout_redirect_uris", &self.post_logout_redirect_uris),
            ("grant_types", &self.grant_types),
            ("response_types", &self.response_types),
            ("audience", &self.audience),
            ("contacts", &self.contacts),
            ("allowed_cors_origins", &self.allowed_cors_origins),
        ] {
            if list.len() > MAX_LIST || list.iter().any(|v| v.len() > MAX_FIELD) {
                return Err((
                    Meta,
                    format!("{name} has more than {MAX_LIST} entries or an entry that is too long"),
                ));
            }
        }
        for g in &self.grant_types {
            if GrantType::parse(g).is_none() {
                return Err((
                    Meta,
                    format!(
                        "grant_types: {g:?} is not supported (authorization_code, refresh_token, client_credentials)"
                    ),
                ));
            }
        }
        for r in &self.response_types {
            if r != "code" {
                return Err((
                    Meta,
                    format!("response_types: {r:?} is not supported (only \"code\")"),
                ));
            }
        }
        if AuthMethod::parse(&self.token_endpoint_auth_method).is_none() {
            return Err((
                Meta,
                format!(
                    "token_endpoint_auth_method: {:?} is not supported",
                    self.token_endpoint_auth_method
                ),
            ));
        }
        if self.auth_method() == AuthMethod::PrivateKeyJwt
            && self.jwks.is_none()
            && self.jwks_uri.is_empty()
        {
            return Err((Meta, "private_key_jwt requires jwks or jwks_uri".into()));
        }
        if self.auth_method() == AuthMethod::None && self.allows_grant(GrantType::ClientCredentials)
        {
            return Err((
                Meta,
                "a public client (token_endpoint_auth_method none) cannot use client_credentials"
                    .into(),
            ));
        }
        if !matches!(self.access_token_strategy.as_str(), "" | "opaque" | "jwt") {
            return Err((
                Meta,
                "access_token_strategy must be \"opaque\" or \"jwt\"".into(),
            ));
        }
        if !matches!(self.subject_type.as_str(), "public") {
            return Err((Meta, "subject_type must be \"public\"".into()));
        }
        if Scopes::parse(&self.scope).is_err() {
            return Err((
                Meta,
                "scope contains characters that are not allowed".into(),
            ));
        }
        if self.allows_grant(GrantType::AuthorizationCode) && self.redirect_uris.is_empty() {
            return Err((
                Redir,
                "redirect_uris must not be empty for the authorization_code grant".into(),
            ));
        }
        for uri in self
            .redirect_uris
            .iter()
            .chain(&self.post_logout_redirect_uris)
        {
            redirect::validate_registration(uri).map_err(|e| (Redir, e))?;
        }
        for (name, uri) in [
            ("frontchannel_logout_uri", &self.frontchannel_logout_uri),
            ("backchannel_logout_uri", &self.backchannel_logout_uri),
        ] {
            if !uri.is_empty() {
                let u = url::Url::parse(uri)
                    .map_err(|_| (Meta, format!("{name} is not an absolute URI")))?;
                if !matches!(u.scheme(), "http" | "https") {
                    return Err((Meta, format!("{name} must be an http(s) URI")));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_match_hydra() {
        let c: Client = serde_json::from_value(json!({"redirect_uris": ["https://a.example/cb"]}))
            .expect("parse");
        assert_eq!(c.grant_types, vec!["authorization_code"]);
        assert_eq!(c.response_types, vec!["code"]);
        assert_eq!(c.token_endpoint_auth_method, "client_secret_basic");
        assert!(c.validate().is_ok());
    }

    #[test]
    fn bad_metadata_is_refused_with_the_field_named() {
        let c: Client =
            serde_json::from_value(json!({"grant_types": ["implicit"]})).expect("parse");
        assert!(c.validate().expect_err("refused").1.contains("grant_types"));
        let c: Client =
            serde_json::from_value(json!({"grant_types": ["authorization_code"]})).expect("parse");
        assert_eq!(
            c.validate().expect_err("refused").0,
            crate::ErrorCode::InvalidRedirectUri
        );
        let c: Client = serde_json::from_value(
            json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"}),
        )
        .expect("parse");
        assert!(c.validate().is_err());
    }
}
