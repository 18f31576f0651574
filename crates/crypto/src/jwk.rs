//! Signing keys (ES256, RS256, EdDSA through aws-lc-rs) and their public JWKs (RFC 7517).
//!
//! Private keys travel only as PKCS#8 DER, which the store keeps encrypted under the keyring.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    self, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair,
    UnparsedPublicKey,
};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::b64;

/// A JWS signing algorithm Gatehouse can sign with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Algorithm {
    ES256,
    RS256,
    EdDSA,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::ES256 => "ES256",
            Algorithm::RS256 => "RS256",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    pub fn parse(s: &str) -> Option<Algorithm> {
        match s {
            "ES256" => Some(Algorithm::ES256),
            "RS256" => Some(Algorithm::RS256),
            "EdDSA" => Some(Algorithm::EdDSA),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key generation failed")]
    Generate,
    #[error("stored private key is not valid PKCS#8 for {0:?}")]
    BadPrivateKey(Algorithm),
}

enum Inner {
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    Rsa(RsaKeyPair),
}

/// A private signing key with its key id.
pub struct SigningKey {
    kid: String,
    alg: Algorithm,
    inner: Inner,
    pkcs8: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({}, {})", self.alg.as_str(), self.kid)
    }
}

impl SigningKey {
    /// A new key with a random key id.
    pub fn generate(alg: Algorithm) -> Result<SigningKey, KeyError> {
        let rng = SystemRandom::new();
        let pkcs8: Vec<u8> = match alg {
            Algorithm::ES256 => {
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .map_err(|_| KeyError::Generate)?
                    .as_ref()
                    .to_vec()
            }
            Algorithm::EdDSA => Ed25519KeyPair::generate_pkcs8(&rng)
                .map_err(|_| KeyError::Generate)?
                .as_ref()
                .to_vec(),
            Algorithm::RS256 => {
                let kp = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| KeyError::Generate)?;
                let der: aws_lc_rs::encoding::Pkcs8V1Der<'static> =
                    kp.as_der().map_err(|_| KeyError::Generate)?;
                der.as_ref().to_vec()
            }
        };
        let kid = crate::random::alphanumeric(22);
        SigningKey::from_pkcs8(kid, alg, &pkcs8)
    }

    pub fn from_pkcs8(kid: String, alg: Algorithm, pkcs8: &[u8]) -> Result<SigningKey, KeyError> {
        let bad = |_| KeyError::BadPrivateKey(alg);
        let inner = match alg {
            Algorithm::ES256 => Inner::Ec(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8).map_err(bad)?,
            ),
            Algorithm::EdDSA => {
                Inner::Ed(Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).map_err(bad)?)
            }
            Algorithm::RS256 => Inner::Rsa(RsaKeyPair::from_pkcs8(pkcs8).map_err(bad)?),
        };
        Ok(SigningKey {
            kid,
            alg,
            inner,
            pkcs8: Zeroizing::new(pkcs8.to_vec()),
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The private key as PKCS#8 DER, for encryption before storage.
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// A JWS signature over `msg` in the JOSE encoding (raw r||s for ECDSA).
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.inner {
            Inner::Ec(k) => k
                .sign(&rng, msg)
                .map(|s| s.as_ref().to_vec())
                .unwrap_or_default(),
            Inner::Ed(k) => k.sign(msg).as_ref().to_vec(),
            Inner::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                match k.sign(&signature::RSA_PKCS1_SHA256, &rng, msg, &mut sig) {
                    Ok(()) => sig,
                    Err(_) => Vec::new(),
                }
            }
        }
    }

    /// The public half as a JWK with `kid`, `alg` and `use: sig`.
    pub fn public_jwk(&self) -> PublicJwk {
        let base = PublicJwk {
            kty: String::new(),
            kid: Some(self.kid.clone()),
            alg: Some(self.alg.as_str().to_owned()),
            use_: Some("sig".to_owned()),
            crv: None,
            x: None,
            y: None,
            n: None,
            e: None,
        };
        match &self.inner {
            Inner::Ec(k) => {
                let point = k.public_key().as_ref();
                // Uncompressed SEC1 point: 0x04 || x (32) || y (32).
                let (x, y) = point
                    .get(1..)
                    .unwrap_or_default()
                    .split_at(32.min(point.len().saturating_sub(1)));
                PublicJwk {
                    kty: "EC".into(),
                    crv: Some("P-256".into()),
                    x: Some(b64::encode(x)),
                    y: Some(b64::encode(y)),
                    ..base
                }
            }
            Inner::Ed(k) => PublicJwk {
                kty: "OKP".into(),
                crv: Some("Ed25519".into()),
                x: Some(b64::encode(k.public_key().as_ref())),
                ..base
            },
            Inner::Rsa(k) => {
                let c: PublicKeyComponents<Vec<u8>> = k.public_key().into();
                PublicJwk {
                    kty: "RSA".into(),
                    n: Some(b64::encode(&c.n)),
                    e: Some(b64::encode(&c.e)),
                    ..base
                }
            }
        }
    }
}

/// A public JSON Web Key, as published in a JWKS or registered by a client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    pub kty: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    #[serde(rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
}

/// A JWK Set.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Jwks {
    pub keys: Vec<PublicJwk>,
}

impl PublicJwk {
    /// The algorithm this key verifies, from its type and curve (RSA keys verify RS256).
    pub fn algorithm(&self) -> Option<Algorithm> {
        match (self.kty.as_str(), self.crv.as_deref()) {
            ("EC", Some("P-256")) => Some(Algorithm::ES256),
            ("OKP", Some("Ed25519")) => Some(Algorithm::EdDSA),
            ("RSA", _) => Some(Algorithm::RS256),
            _ => None,
        }
    }

    /// Verifies a JWS signature made with `alg` over `msg`. Any malformed key is a failure.
    pub fn verify(&self, alg: Algorithm, msg: &[u8], sig: &[u8]) -> bool {
        if self.algorithm() != Some(alg) {
            return false;
        }
        let dec = |v: &Option<String>| v.as_deref().and_then(b64::decode);
        match alg {
            Algorithm::ES256 => {
                let (Some(x), Some(y)) = (dec(&self.x), dec(&self.y)) else {
                    return false;
                };
                if x.len() != 32 || y.len() != 32 {
                    return false;
                }
                let mut point = Vec::with_capacity(65);
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(msg, sig)
                    .is_ok()
            }
            Algorithm::EdDSA => {
                let Some(x) = dec(&self.x) else { return false };
                UnparsedPublicKey::new(&signature::ED25519, x)
                    .verify(msg, sig)
                    .is_ok()
            }
            Algorithm::RS256 => {
                let (Some(n), Some(e)) = (dec(&self.n), dec(&self.e)) else {
                    return false;
                };
                if n.first() == Some(&0) || e.first() == Some(&0) {
                    return false;
                }
                let c = PublicKeyComponents { n, e };
                c.verify(&signature::RSA_PKCS1_2048_8192_SHA256, msg, sig)
                    .is_ok()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_signs_and_verifies_and_survives_pkcs8() {
        for alg in [Algorithm::ES256, Algorithm::EdDSA, Algorithm::RS256] {
            let key = SigningKey::generate(alg).expect("generate");
            let again =
                SigningKey::from_pkcs8(key.kid().to_owned(), alg, key.pkcs8()).expect("reload");
            let sig = again.sign(b"hello");
            let jwk = key.public_jwk();
            assert!(jwk.verify(alg, b"hello", &sig), "{alg:?}");
            assert!(!jwk.verify(alg, b"hellO", &sig), "{alg:?}");
            let json = serde_json::to_value(&jwk).expect("json");
            assert_eq!(json["use"], "sig");
            assert_eq!(json["kid"], key.kid());
        }
    }
}
