//! The keyring that encrypts secrets at rest (signing keys, later external-service tokens).
//!
//! `secrets.system` is a list: the first secret encrypts, every secret decrypts, so an operator can
//! rotate by prepending a new secret and re-encrypting. A blob is `nonce (24 bytes) || ciphertext`
//! under XChaCha20-Poly1305 with a key derived from the secret by SHA-256; the random 192-bit nonce
//! makes nonce reuse negligible without any counter state shared between replicas.
//!
//! The same secrets also key an HMAC-SHA256 ([`Keyring::mac`], [`Keyring::verify_mac`]) for values
//! the server must recognise as its own (CSRF tokens), with a key derived apart from the AEAD key.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

const NONCE_LEN: usize = 24;
/// Hydra's minimum length for a system secret.
pub const MIN_SECRET_LEN: usize = 16;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyringError {
    #[error("the keyring is empty: secrets.system needs at least one secret")]
    Empty,
    #[error("secrets.system[{0}] is shorter than {MIN_SECRET_LEN} characters")]
    TooShort(usize),
    #[error("no secret in secrets.system can decrypt this value")]
    Undecryptable,
}

pub struct Keyring {
    keys: Vec<XChaCha20Poly1305>,
    /// SHA-256 of each secret, in order: the root that [`Keyring::mac_keys`] derives from.
    roots: Vec<Zeroizing<[u8; 32]>>,
    /// The HMAC key of each secret for [`Keyring::mac`], derived from its root.
    macs: Vec<aws_lc_rs::hmac::Key>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keyring({} keys)", self.keys.len())
    }
}

impl Keyring {
    pub fn new<S: AsRef<str>>(secrets: &[S]) -> Result<Keyring, KeyringError> {
        if secrets.is_empty() {
            return Err(KeyringError::Empty);
        }
        let mut keys = Vec::with_capacity(secrets.len());
        let mut roots = Vec::with_capacity(secrets.len());
        let mut macs = Vec::with_capacity(secrets.len());
        for (i, s) in secrets.iter().enumerate() {
            let s = s.as_ref();
            if s.len() < MIN_SECRET_LEN {
                return Err(KeyringError::TooShort(i));
            }
            let key = Zeroizing::new(crate::sha256(s.as_bytes()));
            keys.push(XChaCha20Poly1305::new(key.as_ref().into()));
            // A separate key for MACs: HMAC(sha256(secret), label), never the AEAD key itself.
            let derive = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key.as_ref());
            let mac_key = aws_lc_rs::hmac::sign(&derive, b"gatehouse keyring mac v1");
            macs.push(aws_lc_rs::hmac::Key::new(
                aws_lc_rs::hmac::HMAC_SHA256,
                mac_key.as_ref(),
            ));
            roots.push(key);
        }
        Ok(Keyring { keys, roots, macs })
    }

    /// HMAC-SHA256 of `data` under the first secret, for the purpose `context` (so a MAC made for
    /// one purpose is never valid for another).
    pub fn mac(&self, context: &[u8], data: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        if let Some(k) = self.macs.first() {
            let tag = aws_lc_rs::hmac::sign(k, &mac_input(context, data));
            out.copy_from_slice(tag.as_ref());
        }
        out
    }

    /// Whether `tag` is the MAC of `data` for `context` under any secret (so MACs made before a
    /// rotation still verify). Constant-time in the tag.
    pub fn verify_mac(&self, context: &[u8], data: &[u8], tag: &[u8]) -> bool {
        let input = mac_input(context, data);
        self.macs
            .iter()
            .any(|k| aws_lc_rs::hmac::verify(k, &input, tag).is_ok())
    }

    /// HMAC-SHA256 keys for `purpose`, one per secret in keyring order (the first is current):
    /// `HMAC-SHA256(SHA-256(secret), "gatehouse keyring mac v1:" || purpose)`. A different
    /// purpose gives unrelated keys, and none of them is the encryption key. Values keyed this
    /// way cannot be re-keyed, so checking them tries every key.
    pub fn mac_keys(&self, purpose: &str) -> Vec<Zeroizing<[u8; 32]>> {
        self.roots
            .iter()
            .map(|root| {
                let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, root.as_ref());
                let mut msg = b"gatehouse keyring mac v1:".to_vec();
                msg.extend_from_slice(purpose.as_bytes());
                let tag = aws_lc_rs::hmac::sign(&key, &msg);
                let mut out = Zeroizing::new([0u8; 32]);
                out.copy_from_slice(tag.as_ref());
                out
            })
            .collect()
    }

    /// Encrypts with the first secret. `context` is authenticated but not stored (e.g. a key id),
    /// so a blob cannot be moved to another row.
    pub fn encrypt(&self, plaintext: &[u8], context: &[u8]) -> Vec<u8> {
        let nonce_bytes = crate::random::bytes::<NONCE_LEN>();
        let nonce = XNonce::from_slice(&nonce_bytes);
        let Some(first) = self.keys.first() else {
            return Vec::new();
        };
        // Encryption only fails for plaintexts over ~256 GiB.
        let ct = first
            .encrypt(
                nonce,
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            .unwrap_or_default();
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&ct);
        out
    }

    /// Decrypts with whichever secret encrypted the blob.
    pub fn decrypt(&self, blob: &[u8], context: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyringError> {
        if blob.len() < NONCE_LEN {
            return Err(KeyringError::Undecryptable);
        }
        let (nonce, ct) = blob.split_at(NONCE_LEN);
        let nonce = XNonce::from_slice(nonce);
        self.keys
            .iter()
            .find_map(|k| {
                k.decrypt(
                    nonce,
                    Payload {
                        msg: ct,
                        aad: context,
                    },
                )
                .ok()
            })
            .map(Zeroizing::new)
            .ok_or(KeyringError::Undecryptable)
    }

    /// Whether the blob is already under the first (current) secret.
    pub fn is_current(&self, blob: &[u8], context: &[u8]) -> bool {
        if blob.len() < NONCE_LEN {
            return false;
        }
        let (nonce, ct) = blob.split_at(NONCE_LEN);
        self.keys.first().is_some_and(|k| {
            k.decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: context,
                },
            )
            .is_ok()
        })
    }
}

/// `len(context) || context || data`: no two (context, data) pairs share an input.
fn mac_input(context: &[u8], data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + context.len() + data.len());
    v.extend_from_slice(&(context.len() as u64).to_be_bytes());
    v.extend_from_slice(context);
    v.extend_from_slice(data);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_verify_per_purpose_and_across_rotation() {
        let old = Keyring::new(&["an-old-secret-of-32-characters!!"]).expect("ok");
        let tag = old.mac(b"ui-csrf", b"cookie");
        assert!(old.verify_mac(b"ui-csrf", b"cookie", &tag));
        assert!(!old.verify_mac(b"other", b"cookie", &tag));
        assert!(!old.verify_mac(b"ui-csrf", b"cookie2", &tag));
        assert!(!old.verify_mac(b"ui-csrf", b"cookie", &tag[..31]));
        // Length-prefixed: moving bytes between purpose and data changes the MAC.
        assert_ne!(old.mac(b"ab", b"c"), old.mac(b"a", b"bc"));
        let rotated = Keyring::new(&[
            "a-new-secret-of-32-characters!!!",
            "an-old-secret-of-32-characters!!",
        ])
        .expect("ok");
        assert!(rotated.verify_mac(b"ui-csrf", b"cookie", &tag));
        assert_ne!(rotated.mac(b"ui-csrf", b"cookie"), tag);
        let other = Keyring::new(&["a-new-secret-of-32-characters!!!"]).expect("ok");
        assert!(!other.verify_mac(b"ui-csrf", b"cookie", &tag));
    }

    #[test]
    fn mac_keys_follow_the_secrets_and_the_purpose() {
        let one = Keyring::new(&["an-old-secret-of-32-characters!!"]).expect("ok");
        let two = Keyring::new(&[
            "a-new-secret-of-32-characters!!!",
            "an-old-secret-of-32-characters!!",
        ])
        .expect("ok");
        let a = one.mac_keys("lookup_secret");
        let b = two.mac_keys("lookup_secret");
        assert_eq!(a.len(), 1);
        assert_eq!(b.len(), 2);
        assert_eq!(*a[0], *b[1], "the same secret gives the same key");
        assert_ne!(*b[0], *b[1]);
        assert_ne!(*one.mac_keys("other")[0], *a[0], "purposes are separated");
        assert_ne!(
            *a[0],
            crate::sha256(b"an-old-secret-of-32-characters!!"),
            "not the encryption key"
        );
    }

    #[test]
    fn round_trip_and_rotation() {
        let old = Keyring::new(&["an-old-secret-of-32-characters!!"]).expect("ok");
        let blob = old.encrypt(b"private key", b"kid-1");
        let rotated = Keyring::new(&[
            "a-new-secret-of-32-characters!!!",
            "an-old-secret-of-32-characters!!",
        ])
        .expect("ok");
        assert_eq!(
            rotated
                .decrypt(&blob, b"kid-1")
                .expect("decrypts")
                .as_slice(),
            b"private key"
        );
        assert!(!rotated.is_current(&blob, b"kid-1"));
        let again = rotated.encrypt(b"private key", b"kid-1");
        assert!(rotated.is_current(&again, b"kid-1"));
        let only_new = Keyring::new(&["a-new-secret-of-32-characters!!!"]).expect("ok");
        assert_eq!(
            only_new.decrypt(&blob, b"kid-1"),
            Err(KeyringError::Undecryptable)
        );
    }

    #[test]
    fn context_is_bound() {
        let k = Keyring::new(&["0123456789abcdef"]).expect("ok");
        let blob = k.encrypt(b"x", b"a");
        assert!(k.decrypt(&blob, b"b").is_err());
        assert!(k.decrypt(&blob[..10], b"a").is_err());
    }

    #[test]
    fn short_or_missing_secrets_are_refused() {
        assert_eq!(Keyring::new::<&str>(&[]).err(), Some(KeyringError::Empty));
        assert_eq!(
            Keyring::new(&["short"]).err(),
            Some(KeyringError::TooShort(0))
        );
    }
}
