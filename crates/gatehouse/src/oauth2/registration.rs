//! Dynamic Client Registration (RFC 7591) and its management protocol (RFC 7592), off by default
//! and held to a policy: allowed redirect URI patterns, allowed grant types, allowed scopes, URLs
//! the server would call (`jwks_uri`, `backchannel_logout_uri`) and a browser would load
//! (`frontchannel_logout_uri`) only on public addresses ([`crate::outbound_guard`]), and (in the
//! web layer) a rate limit per IP. A registered client never gets privileged settings
//! (`skip_consent`, `audience`, `owner`, `metadata`), whatever it sends.

use gatehouse_crypto::{PlainToken, TokenHash, TokenKind};
use gatehouse_protocol::{ErrorCode, OAuthError};
use serde_json::{Value, json};

use super::Provider;
use super::clients::Created;
use crate::audit::{Event, event};
use crate::error::{Error, Result};

/// Client URLs that the server calls or has a browser load: they must not point into the
/// server's network.
const FETCHED_URIS: [&str; 3] = [
    "jwks_uri",
    "backchannel_logout_uri",
    "frontchannel_logout_uri",
];

const PRIVILEGED: [&str; 7] = [
    "client_id",
    "skip_consent",
    "skip_logout_consent",
    "audience",
    "owner",
    "metadata",
    "client_secret",
];

/// `*` matches any run of characters except `/`, `?`, `#` and `@` (so it never crosses into
/// another host, path segment or query); everything else matches literally.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // reach[j]: the first i pattern characters can match the first j text characters.
    let mut reach = vec![false; t.len() + 1];
    reach[0] = true;
    for pc in p {
        let mut next = vec![false; t.len() + 1];
        if pc == '*' {
            for j in 0..=t.len() {
                next[j] = reach[j]
                    || (j > 0 && next[j - 1] && !matches!(t[j - 1], '/' | '?' | '#' | '@'));
            }
        } else {
            for j in 1..=t.len() {
                next[j] = reach[j - 1] && t[j - 1] == pc;
            }
        }
        reach = next;
    }
    reach[t.len()]
}

impl Provider {
    async fn registration_policy(&self, mut body: Value) -> Result<Value> {
        let policy = &self.config.oidc.dynamic_client_registration;
        let meta = |m: String| Error::OAuth(OAuthError::new(ErrorCode::InvalidClientMetadata, m));
        let obj = body
            .as_object_mut()
            .ok_or_else(|| meta("the registration request must be a JSON object".into()))?;
        for k in PRIVILEGED {
            obj.remove(k);
        }
        if !obj.contains_key("scope") {
            let default = if policy.default_scope.is_empty() {
                &policy.allowed_scopes
            } else {
                &policy.default_scope
            };
            obj.insert("scope".into(), json!(default.join(" ")));
        }
        let scope = match obj.get("scope") {
            Some(Value::String(s)) => s.as_str(),
            Some(Value::Null) => "",
            Some(_) => return Err(meta("scope must be a space-separated string".into())),
            None => "",
        };
        if let Some(s) = scope
            .split(' ')
            .filter(|s| !s.is_empty())
            .find(|s| !policy.allowed_scopes.iter().any(|a| a == s))
        {
            return Err(meta(format!(
                "scope {s:?} is not allowed for dynamically registered clients"
            )));
        }
        for key in FETCHED_URIS {
            let Some(v) = obj.get(key) else { continue };
            let raw = match v {
                Value::String(s) if s.is_empty() => continue,
                Value::String(s) => s.as_str(),
                Value::Null => continue,
                _ => return Err(meta(format!("{key} must be a string"))),
            };
            if let Err(e) = self.outbound.check_registered(raw).await {
                return Err(meta(format!("{key} is not allowed: {e}")));
            }
        }
        let grants: Vec<String> = match obj.get("grant_types") {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => vec!["authorization_code".into()],
        };
        if let Some(g) = grants
            .iter()
            .find(|g| !policy.allowed_grant_types.contains(g))
        {
            return Err(meta(format!(
                "grant type {g:?} is not allowed for dynamically registered clients"
            )));
        }
        if !policy.allowed_redirect_uri_patterns.is_empty()
            && let Some(Value::Array(uris)) = obj.get("redirect_uris")
            && let Some(bad) = uris.iter().filter_map(Value::as_str).find(|u| {
                !policy
                    .allowed_redirect_uri_patterns
                    .iter()
                    .any(|p| glob_match(p, u))
            })
        {
            return Err(Error::OAuth(OAuthError::new(
                ErrorCode::InvalidRedirectUri,
                format!("redirect URI {bad:?} is not allowed by the registration policy"),
            )));
        }
        Ok(body)
    }

    /// RFC 7591 §3: registers a client and returns it with its secret and registration token.
    pub async fn register_client(&self, body: Value, now: i64) -> Result<Value> {
        let body = self.registration_policy(body).await?;
        let created = self.create_client(body, true, now).await?;
        self.audit.record(
            event::CLIENT_REGISTERED,
            Event {
                client_id: Some(&created.client.client_id),
                ..Event::default()
            },
        );
        Ok(self.registration_response(created))
    }

    fn registration_response(&self, c: Created) -> Value {
        let mut v = serde_json::to_value(&c.client).unwrap_or_default();
        if let Value::Object(m) = &mut v {
            m.insert(
                "registration_client_uri".into(),
                json!(format!(
                    "{}/oauth2/register/{}",
                    self.issuer, c.client.client_id
                )),
            );
            m.insert("client_id_issued_at".into(), json!(crate::clock::now()));
            if let Some(s) = c.secret {
                m.insert("client_secret".into(), json!(s));
                m.insert("client_secret_expires_at".into(), json!(0));
            }
            if let Some(t) = c.registration_token {
                m.insert("registration_access_token".into(), json!(t));
            }
        }
        v
    }

    /// RFC 7592 §2: the registration access token authorises reading, updating and deleting.
    /// Every failure is the same 401, so the answer reveals nothing about other clients.
    pub async fn check_registration_token(
        &self,
        client_id: &str,
        bearer: Option<&str>,
    ) -> Result<()> {
        let denied = || {
            Error::OAuth(OAuthError::new(
                ErrorCode::InvalidToken,
                "The registration access token is invalid.",
            ))
        };
        let token = bearer
            .and_then(|b| PlainToken::parse_as(b, TokenKind::RegistrationAccessToken).ok())
            .ok_or_else(denied)?;
        let row = self.store.get_client(client_id).await?.ok_or_else(denied)?;
        let ok = row.registration_token_hash.as_deref().is_some_and(|h| {
            gatehouse_crypto::ct_eq(h.as_bytes(), token.hash().to_hex().as_bytes())
        });
        if ok { Ok(()) } else { Err(denied()) }
    }

    pub async fn registered_client(&self, client_id: &str) -> Result<Value> {
        let c = self.get_client(client_id).await?;
        Ok(serde_json::to_value(&c.client).unwrap_or_default())
    }

    /// RFC 7592 §2.2: replaces the metadata; privileged settings keep their current values and
    /// a new registration access token is issued.
    pub async fn update_registered_client(
        &self,
        client_id: &str,
        body: Value,
        now: i64,
    ) -> Result<Value> {
        let current = self.get_client(client_id).await?;
        let mut body = self.registration_policy(body).await?;
        let existing = serde_json::to_value(&current.client).unwrap_or_default();
        if let Value::Object(m) = &mut body {
            for k in PRIVILEGED {
                if let Some(v) = existing.get(k) {
                    m.insert(k.to_owned(), v.clone());
                }
            }
        }
        let mut updated = self.update_client(client_id, body, now).await?;
        let token = PlainToken::generate(TokenKind::RegistrationAccessToken);
        if let Some(mut row) = self.store.get_client(client_id).await? {
            row.registration_token_hash = Some(TokenHash(token.hash().0).to_hex());
            row.updated_at = now;
            self.store.update_client(&row).await?;
        }
        updated.registration_token = Some(token.expose().to_owned());
        updated.secret = None;
        Ok(self.registration_response(updated))
    }
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        assert!(glob_match(
            "https://*.example.com/cb",
            "https://app.example.com/cb"
        ));
        assert!(!glob_match(
            "https://*.example.com/cb",
            "https://example.org/cb"
        ));
        assert!(!glob_match(
            "https://*.example.com/cb",
            "https://evil.com/x.example.com/cb"
        ));
        assert!(!glob_match(
            "https://*.example.com/cb",
            "https://user@evil.com#.example.com/cb"
        ));
        assert!(glob_match(
            "http://127.0.0.1:*/callback",
            "http://127.0.0.1:5000/callback"
        ));
        assert!(glob_match("exact", "exact") && !glob_match("exact", "exactly"));
        assert!(!glob_match("a*a", "a"));
    }
}
