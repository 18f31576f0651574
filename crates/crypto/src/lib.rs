//! Cryptography for Gatehouse: opaque prefixed tokens stored as SHA-256 digests, the keyring that
//! encrypts secrets at rest (XChaCha20-Poly1305), signing keys with their JWKs, and compact JWTs.
//!
//! Everything here is synchronous and free of I/O so that it can be unit-tested and fuzzed alone.

pub mod b64;
pub mod jwk;
pub mod jwt;
pub mod keyring;
pub mod random;
pub mod token;

pub use jwk::{Algorithm, PublicJwk, SigningKey};
pub use keyring::{Keyring, KeyringError};
pub use token::{PlainToken, TokenHash, TokenKind, TokenParseError};

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Constant-time equality of two byte strings (length is not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
