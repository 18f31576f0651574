//! Cryptography for Gatehouse: opaque prefixed tokens stored as SHA-256 digests, the keyring that
//! encrypts secrets at rest (XChaCha20-Poly1305), signing keys with their JWKs, and compact JWTs;
//! and for the identity service, password hashing (argon2id, plus verification of imported
//! argon2i, bcrypt, PBKDF2 and scrypt hashes), a common-password check, RFC 6238 TOTP and
//! backup codes (Kratos's `lookup_secret`).
//!
//! Everything here is synchronous and free of I/O so that it can be unit-tested and fuzzed alone.

pub mod b64;
pub mod breached;
pub mod jwk;
pub mod jwt;
pub mod keyring;
pub mod lookup;
pub mod password;
pub mod random;
pub mod token;
pub mod totp;

pub use breached::is_common_password;
pub use jwk::{Algorithm, PublicJwk, SigningKey};
pub use keyring::{Keyring, KeyringError};
pub use lookup::{
    find_backup_code, find_backup_code_keyed, generate_backup_codes, hash_backup_code,
    mac_backup_code,
};
pub use password::{
    Argon2Params, PasswordError, Verification, dummy_verify, hash_password, verify_password,
};
pub use token::{PlainToken, TokenHash, TokenKind, TokenParseError};
pub use totp::{TotpError, TotpSecret};

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
