//! Compact JWS tokens (RFC 7515/7519): signing with our keys and verifying with public JWKs.
//!
//! Verification here checks only the signature and the header; claim rules (`exp`, `aud`, `iss`)
//! belong to the protocol that uses the token.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::b64;
use crate::jwk::{Algorithm, PublicJwk, SigningKey};

/// Largest compact JWT we will even try to parse.
pub const MAX_JWT_LEN: usize = 16 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    pub alg: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("the token is not a compact JWS")]
    Malformed,
    #[error("the token's algorithm is not accepted")]
    Algorithm,
    #[error("no key matches the token")]
    UnknownKey,
    #[error("the signature does not verify")]
    Signature,
}

/// Signs `claims` with `key`; `typ` is e.g. `at+jwt` (RFC 9068) or `logout+jwt`.
pub fn sign(key: &SigningKey, typ: Option<&str>, claims: &Value) -> String {
    let header = Header {
        alg: key.alg().as_str().to_owned(),
        kid: Some(key.kid().to_owned()),
        typ: typ.map(str::to_owned),
    };
    let h = b64::encode(serde_json::to_vec(&header).unwrap_or_default());
    let c = b64::encode(serde_json::to_vec(claims).unwrap_or_default());
    let mut out = format!("{h}.{c}");
    let sig = key.sign(out.as_bytes());
    out.push('.');
    out.push_str(&b64::encode(sig));
    out
}

/// A parsed but not yet verified JWT.
#[derive(Debug)]
pub struct UnverifiedJwt {
    pub header: Header,
    pub claims: Value,
    signing_input: String,
    signature: Vec<u8>,
}

impl UnverifiedJwt {
    pub fn parse(token: &str) -> Result<UnverifiedJwt, JwtError> {
        if token.len() > MAX_JWT_LEN {
            return Err(JwtError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed);
        };
        let header: Header = b64::decode(h)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(JwtError::Malformed)?;
        let claims: Value = b64::decode(c)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(JwtError::Malformed)?;
        if !claims.is_object() {
            return Err(JwtError::Malformed);
        }
        let signature = b64::decode(s).ok_or(JwtError::Malformed)?;
        Ok(UnverifiedJwt {
            header,
            claims,
            signing_input: format!("{h}.{c}"),
            signature,
        })
    }

    /// Verifies against a key set: the key is chosen by `kid` when present, else every key whose
    /// type fits is tried. `none` and symmetric algorithms are never accepted.
    pub fn verify(self, keys: &[PublicJwk]) -> Result<Value, JwtError> {
        let alg = Algorithm::parse(&self.header.alg).ok_or(JwtError::Algorithm)?;
        let candidates: Vec<&PublicJwk> = keys
            .iter()
            .filter(|k| self.header.kid.is_none() || k.kid == self.header.kid)
            .filter(|k| k.algorithm() == Some(alg))
            .collect();
        if candidates.is_empty() {
            return Err(JwtError::UnknownKey);
        }
        if candidates
            .iter()
            .any(|k| k.verify(alg, self.signing_input.as_bytes(), &self.signature))
        {
            Ok(self.claims)
        } else {
            Err(JwtError::Signature)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sign_then_verify() {
        let key = SigningKey::generate(Algorithm::ES256).expect("key");
        let token = sign(&key, Some("at+jwt"), &json!({"sub": "alice"}));
        let parsed = UnverifiedJwt::parse(&token).expect("parse");
        assert_eq!(parsed.header.typ.as_deref(), Some("at+jwt"));
        let claims = parsed.verify(&[key.public_jwk()]).expect("verify");
        assert_eq!(claims["sub"], "alice");
    }

    #[test]
    fn tampering_and_wrong_keys_fail() {
        let key = SigningKey::generate(Algorithm::EdDSA).expect("key");
        let other = SigningKey::generate(Algorithm::EdDSA).expect("key");
        let token = sign(&key, None, &json!({"sub": "alice"}));
        let forged = token.replacen(
            &token[token.find('.').unwrap_or(0) + 1..token.rfind('.').unwrap_or(0)],
            &b64::encode(br#"{"sub":"mallory"}"#),
            1,
        );
        assert_eq!(
            UnverifiedJwt::parse(&forged)
                .and_then(|j| j.verify(&[key.public_jwk()]))
                .err(),
            Some(JwtError::Signature)
        );
        assert_eq!(
            UnverifiedJwt::parse(&token)
                .and_then(|j| j.verify(&[other.public_jwk()]))
                .err(),
            Some(JwtError::UnknownKey)
        );
        let none = format!(
            "{}.{}.",
            b64::encode(br#"{"alg":"none"}"#),
            b64::encode(br#"{}"#)
        );
        assert_eq!(
            UnverifiedJwt::parse(&none)
                .and_then(|j| j.verify(&[key.public_jwk()]))
                .err(),
            Some(JwtError::Algorithm)
        );
        for bad in ["", "a.b", "a.b.c.d", "!!.!!.!!"] {
            assert!(UnverifiedJwt::parse(bad).is_err());
        }
    }
}
