//! The answer of token introspection (RFC 7662 §2.2) in Ory Hydra's shape: `{"active": false}`
//! and nothing else for a token that is not active, the claims below for one that is.

use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Introspection {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    /// Hydra's `token_use`: `access_token`, `refresh_token` (or Gatehouse's `credential`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_use: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ext: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inactive_token_says_only_that() {
        assert_eq!(
            serde_json::to_value(Introspection::default()).expect("json"),
            serde_json::json!({"active": false})
        );
    }
}
