//! The claims of a client assertion (RFC 7523 §3, `private_key_jwt` in OIDC Core §9), once its
//! signature has been verified with one of the client's keys: `iss` and `sub` are the client,
//! `aud` is our token endpoint or our issuer, `exp` is in the next hour, and there is a `jti`.
//! The domain fetches the keys before and records the `jti` after (until `exp`), so that an
//! assertion is good once.
//!
//! `nbf` and `iat` are not looked at.

use serde_json::Value;

use crate::error::OAuthError;

/// The longest an assertion may live, so that the recorded `jti`s stay few.
pub const MAX_LIFETIME_SECS: i64 = 3600;

/// An assertion whose claims hold: its `jti`, to be recorded until `exp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assertion<'c> {
    pub jti: &'c str,
    pub exp: i64,
}

/// Why the claims of an assertion are refused. Each is `invalid_client` on the wire
/// ([`OAuthError::from`]); the reason is for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssertionRefused {
    /// `iss` or `sub` is missing or not the client's id.
    NotTheClient,
    /// `aud` names neither the token endpoint nor the issuer.
    NotForUs,
    /// `exp` is missing or not an integer.
    NoExpiry,
    /// `exp` has passed, or is more than [`MAX_LIFETIME_SECS`] away.
    Expired,
    /// `jti` is missing or not a string.
    NoJti,
}

impl AssertionRefused {
    pub fn reason(self) -> &'static str {
        match self {
            AssertionRefused::NotTheClient => "iss and sub must be the client_id",
            AssertionRefused::NotForUs => "aud must be the token endpoint",
            AssertionRefused::NoExpiry => "exp is required",
            AssertionRefused::Expired => "assertion expired or too long-lived",
            AssertionRefused::NoJti => "jti is required",
        }
    }
}

impl std::fmt::Display for AssertionRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

impl From<AssertionRefused> for OAuthError {
    fn from(r: AssertionRefused) -> OAuthError {
        OAuthError::invalid_client(r.reason())
    }
}

/// Checks the verified `claims` of an assertion by `client_id` for the server at `issuer`,
/// whose token endpoint is `{issuer}/oauth2/token`.
pub fn check_claims<'c>(
    claims: &'c Value,
    client_id: &str,
    issuer: &str,
    now: i64,
) -> Result<Assertion<'c>, AssertionRefused> {
    let s = |k: &str| claims.get(k).and_then(Value::as_str);
    if s("iss") != Some(client_id) || s("sub") != Some(client_id) {
        return Err(AssertionRefused::NotTheClient);
    }
    let token_endpoint = format!("{issuer}/oauth2/token");
    let for_us = |a: &str| a == token_endpoint || a == issuer;
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => for_us(a),
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).any(for_us),
        _ => false,
    };
    if !aud_ok {
        return Err(AssertionRefused::NotForUs);
    }
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or(AssertionRefused::NoExpiry)?;
    if exp <= now || exp > now + MAX_LIFETIME_SECS {
        return Err(AssertionRefused::Expired);
    }
    let jti = s("jti").ok_or(AssertionRefused::NoJti)?;
    Ok(Assertion { jti, exp })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::AssertionRefused::*;
    use super::*;
    use crate::ErrorCode;

    const NOW: i64 = 1_000_000;
    const ISSUER: &str = "https://auth.example";
    const TOKEN_ENDPOINT: &str = "https://auth.example/oauth2/token";

    /// Good claims, changed by `overrides` (a `null` removes the claim).
    fn claims(overrides: Value) -> Value {
        let mut c = json!({
            "iss": "app", "sub": "app", "aud": TOKEN_ENDPOINT,
            "exp": NOW + 60, "iat": NOW, "jti": "j-1",
        });
        if let (Value::Object(c), Value::Object(o)) = (&mut c, overrides) {
            for (k, v) in o {
                if v.is_null() {
                    c.remove(&k);
                } else {
                    c.insert(k, v);
                }
            }
        }
        c
    }

    #[test]
    fn every_refusal_is_invalid_client() {
        let cases = [
            ("iss missing", json!({"iss": null}), NotTheClient),
            ("iss another client", json!({"iss": "other"}), NotTheClient),
            ("iss not a string", json!({"iss": 1}), NotTheClient),
            ("sub missing", json!({"sub": null}), NotTheClient),
            ("sub another client", json!({"sub": "other"}), NotTheClient),
            (
                "iss and sub another client",
                json!({"iss": "other", "sub": "other"}),
                NotTheClient,
            ),
            ("aud missing", json!({"aud": null}), NotForUs),
            (
                "aud another server",
                json!({"aud": "https://other.example/oauth2/token"}),
                NotForUs,
            ),
            (
                "aud another endpoint of ours",
                json!({"aud": "https://auth.example/oauth2/introspect"}),
                NotForUs,
            ),
            (
                "aud a list without us",
                json!({"aud": ["https://other.example"]}),
                NotForUs,
            ),
            ("aud an empty list", json!({"aud": []}), NotForUs),
            ("aud a number", json!({"aud": 1}), NotForUs),
            ("exp missing", json!({"exp": null}), NoExpiry),
            ("exp a string", json!({"exp": "1000060"}), NoExpiry),
            ("exp a fraction", json!({"exp": 1_000_060.5}), NoExpiry),
            ("expires now", json!({"exp": NOW}), Expired),
            ("expired", json!({"exp": NOW - 1}), Expired),
            (
                "lives longer than an hour",
                json!({"exp": NOW + MAX_LIFETIME_SECS + 1}),
                Expired,
            ),
            ("jti missing", json!({"jti": null}), NoJti),
            ("jti a number", json!({"jti": 7}), NoJti),
        ];
        for (name, overrides, refused) in cases {
            let c = claims(overrides);
            let got = check_claims(&c, "app", ISSUER, NOW).expect_err(name);
            assert_eq!(got, refused, "{name}");
            let e = OAuthError::from(got);
            assert_eq!(e.error, ErrorCode::InvalidClient, "{name}");
            assert_eq!(e.error_description.as_deref(), Some(refused.reason()));
        }
    }

    #[test]
    fn claims_are_checked_in_order() {
        // A claim set wrong in every way is refused for the first rule it breaks.
        let c = json!({"iss": "other", "aud": 1});
        assert_eq!(check_claims(&c, "app", ISSUER, NOW), Err(NotTheClient));
        let c = claims(json!({"aud": 1, "exp": null, "jti": null}));
        assert_eq!(check_claims(&c, "app", ISSUER, NOW), Err(NotForUs));
        let c = claims(json!({"exp": NOW, "jti": null}));
        assert_eq!(check_claims(&c, "app", ISSUER, NOW), Err(Expired));
    }

    #[test]
    fn good_claims_give_the_jti_to_record() {
        for aud in [
            json!(TOKEN_ENDPOINT),
            json!(ISSUER),
            json!(["https://other.example", ISSUER]),
            json!([7, TOKEN_ENDPOINT]),
        ] {
            let c = claims(json!({ "aud": aud }));
            assert_eq!(
                check_claims(&c, "app", ISSUER, NOW),
                Ok(Assertion {
                    jti: "j-1",
                    exp: NOW + 60
                }),
                "{aud}"
            );
        }
        let c = claims(json!({"exp": NOW + MAX_LIFETIME_SECS}));
        assert!(check_claims(&c, "app", ISSUER, NOW).is_ok());
    }
}
