//! Scopes (RFC 6749 §3.3): space-delimited, each a string of printable ASCII without `"` or `\`.

use std::collections::BTreeSet;

use crate::error::OAuthError;

pub const MAX_SCOPES: usize = 64;
pub const MAX_SCOPE_LEN: usize = 256;

/// The scopes the server knows: advertised in discovery's `scopes_supported`, and by default the
/// scopes a dynamically registered client may have
/// (`oidc.dynamic_client_registration.allowed_scopes`).
pub const SCOPES_SUPPORTED: [&str; 5] = ["openid", "offline_access", "offline", "profile", "email"];

/// A set of scopes in request order, without duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Scopes(pub Vec<String>);

impl Scopes {
    pub fn parse(s: &str) -> Result<Scopes, OAuthError> {
        let mut out: Vec<String> = Vec::new();
        for token in s.split(' ').filter(|t| !t.is_empty()) {
            if token.len() > MAX_SCOPE_LEN
                || !token
                    .bytes()
                    .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
            {
                return Err(OAuthError::invalid_scope(
                    "A scope contains characters that are not allowed.",
                ));
            }
            if !out.iter().any(|t| t == token) {
                out.push(token.to_owned());
            }
        }
        if out.len() > MAX_SCOPES {
            return Err(OAuthError::invalid_scope("Too many scopes were requested."));
        }
        Ok(Scopes(out))
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s == scope)
    }

    /// Every scope of `self` is allowed by `allowed`.
    pub fn is_subset_of(&self, allowed: &Scopes) -> bool {
        self.0.iter().all(|s| allowed.contains(s))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub fn to_set(&self) -> BTreeSet<&str> {
        self.iter().collect()
    }
}

impl std::fmt::Display for Scopes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dedups_and_checks_subsets() {
        let s = Scopes::parse("openid  offline_access openid").expect("ok");
        assert_eq!(s.0, vec!["openid", "offline_access"]);
        assert!(s.is_subset_of(&Scopes::parse("openid offline_access email").expect("ok")));
        assert!(!Scopes::parse("admin").expect("ok").is_subset_of(&s));
        assert!(Scopes::parse("bad\"scope").is_err());
        assert!(Scopes::parse("é").is_err());
    }
}
