//! Backup codes (Kratos's `lookup_secret` method): a handful of one-time codes a user prints or
//! stores to get in when the second factor is lost.
//!
//! Why it is shaped so:
//! - A code is 8 characters from the 32-symbol lowercase Crockford alphabet (`0-9a-z` without
//!   `i`, `l`, `o` and `u`), so each carries exactly 40 bits and is drawn without bias from 5 bits
//!   of a random byte; the letters that are easily confused with digits are left out.
//! - Only MACs are stored: [`mac_backup_code`] is hex HMAC-SHA256 of the normalised code
//!   (trimmed, lowercased, spaces and dashes removed, so `ABCD-EFGH` and `abcd efgh` are the
//!   same code), keyed by a key derived from `secrets.system` (a pepper that is not in the
//!   database) and salted with the identity id. A database dump alone gives nothing to search:
//!   without the key, 40 bits per code cannot be tried offline, and with it each identity's
//!   codes must still be searched separately.
//! - Codes stored before that are plain hex SHA-256 ([`hash_backup_code`], [`Stored::Legacy`]);
//!   they still verify, so their owners are not locked out, and each works once like any code.
//!   New codes are never stored that way.
//! - [`find_backup_code_keyed`] compares against every stored value in constant time and does
//!   not stop at the first match, so timing does not reveal which code was used. Marking the
//!   code used is the caller's job (remove or flag the returned index).

use std::fmt::Write;

/// Codes generated for a user by default (Kratos shows 12).
pub const DEFAULT_BACKUP_CODES: usize = 12;
/// Characters in a code.
pub const BACKUP_CODE_LEN: usize = 8;
/// Longest input considered a possible code (longer input is refused without hashing).
const MAX_INPUT_LEN: usize = 64;

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// `n` distinct fresh codes ([`DEFAULT_BACKUP_CODES`] is the usual `n`).
pub fn generate_backup_codes(n: usize) -> Vec<String> {
    let mut codes: Vec<String> = Vec::with_capacity(n);
    while codes.len() < n {
        let bytes = crate::random::bytes::<BACKUP_CODE_LEN>();
        let code: String = bytes
            .iter()
            .map(|b| ALPHABET[usize::from(b & 31)] as char)
            .collect();
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    codes
}

/// A stored code as found in an identity: a keyed MAC, or an unsalted SHA-256 from before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// Hex [`mac_backup_code`].
    Mac(String),
    /// Hex [`hash_backup_code`] (codes made before keyed MACs).
    Legacy(String),
}

/// Hex HMAC-SHA256 under `key` of the identity id and the normalised code: what is stored.
pub fn mac_backup_code(key: &[u8; 32], identity_id: &str, code: &str) -> String {
    let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    let mut msg = b"gatehouse lookup_secret v1\0".to_vec();
    msg.extend_from_slice(identity_id.as_bytes());
    msg.push(0);
    msg.extend_from_slice(normalise(code).as_bytes());
    hex(aws_lc_rs::hmac::sign(&k, &msg).as_ref())
}

/// The index of the stored code that `input` matches, if any. `keys` are the MAC keys in
/// keyring order (every one is tried, so codes made under an older `secrets.system` entry still
/// work); legacy entries are compared with the unsalted SHA-256.
pub fn find_backup_code_keyed(
    input: &str,
    identity_id: &str,
    keys: &[&[u8; 32]],
    stored: &[Stored],
) -> Option<usize> {
    if input.len() > MAX_INPUT_LEN || normalise(input).is_empty() {
        return None;
    }
    let macs: Vec<String> = keys
        .iter()
        .map(|k| mac_backup_code(k, identity_id, input))
        .collect();
    let legacy = hash_backup_code(input);
    let mut found = None;
    for (i, s) in stored.iter().enumerate() {
        let matched = match s {
            Stored::Mac(h) => macs.iter().fold(false, |acc, m| {
                acc | crate::ct_eq(m.as_bytes(), h.as_bytes())
            }),
            Stored::Legacy(h) => crate::ct_eq(legacy.as_bytes(), h.as_bytes()),
        };
        if matched && found.is_none() {
            found = Some(i);
        }
    }
    found
}

fn hex(bytes: &[u8]) -> String {
    let mut hex = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

/// Hex SHA-256 of the normalised code: the legacy stored form (see [`Stored::Legacy`]).
pub fn hash_backup_code(code: &str) -> String {
    hex(&crate::sha256(normalise(code).as_bytes()))
}

/// The index of the stored hash that `input` matches, if any.
pub fn find_backup_code(input: &str, hashes: &[String]) -> Option<usize> {
    if input.len() > MAX_INPUT_LEN || normalise(input).is_empty() {
        return None;
    }
    let candidate = hash_backup_code(input);
    let mut found = None;
    for (i, stored) in hashes.iter().enumerate() {
        let matched = crate::ct_eq(candidate.as_bytes(), stored.as_bytes());
        if matched && found.is_none() {
            found = Some(i);
        }
    }
    found
}

fn normalise(code: &str) -> String {
    code.trim()
        .chars()
        .filter(|c| *c != ' ' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_the_promised_shape() {
        let codes = generate_backup_codes(DEFAULT_BACKUP_CODES);
        assert_eq!(codes.len(), 12);
        for code in &codes {
            assert_eq!(code.len(), BACKUP_CODE_LEN);
            assert!(code.bytes().all(|b| ALPHABET.contains(&b)), "{code}");
            assert!(!code.contains(['i', 'l', 'o', 'u']), "{code}");
        }
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), codes.len());
        assert!(generate_backup_codes(0).is_empty());
        // 8 symbols of 5 bits each.
        assert!(BACKUP_CODE_LEN as f64 * (ALPHABET.len() as f64).log2() >= 40.0);
    }

    #[test]
    fn every_symbol_appears() {
        let all: String = generate_backup_codes(200).concat();
        for &symbol in ALPHABET {
            assert!(all.as_bytes().contains(&symbol), "{}", symbol as char);
        }
    }

    #[test]
    fn hash_is_hex_sha256_of_the_normalised_code() {
        // sha256("abcdefgh")
        let expected = "9c56cc51b374c3ba189210d5b6d4bf57790d351c96c47c02190ecf1e430635ab";
        assert_eq!(hash_backup_code("abcdefgh"), expected);
        for variant in ["ABCDEFGH", " abcd-efgh ", "abcd efgh", "AbCd-EfGh\n"] {
            assert_eq!(hash_backup_code(variant), expected, "{variant:?}");
        }
    }

    #[test]
    fn find_returns_the_matching_index() {
        let codes = generate_backup_codes(DEFAULT_BACKUP_CODES);
        let hashes: Vec<String> = codes.iter().map(|c| hash_backup_code(c)).collect();
        for (i, code) in codes.iter().enumerate() {
            assert_eq!(find_backup_code(code, &hashes), Some(i));
            let typed = format!("{}-{}", &code[..4], &code[4..]).to_uppercase();
            assert_eq!(find_backup_code(&typed, &hashes), Some(i));
        }
        assert_eq!(find_backup_code("zzzzzzzz", &hashes[..0]), None);
        let other = generate_backup_codes(1).remove(0);
        if !codes.contains(&other) {
            assert_eq!(find_backup_code(&other, &hashes), None);
        }
    }

    #[test]
    fn keyed_macs_are_salted_peppered_and_legacy_still_matches() {
        let key = [7u8; 32];
        let other_key = [8u8; 32];
        let code = "abcdefgh";
        let mac = mac_backup_code(&key, "id-1", code);
        assert_eq!(mac.len(), 64);
        assert_ne!(mac, hash_backup_code(code), "not sha256(code)");
        assert_ne!(
            mac,
            mac_backup_code(&key, "id-2", code),
            "salted by identity"
        );
        assert_ne!(mac, mac_backup_code(&other_key, "id-1", code), "keyed");
        assert_eq!(
            mac,
            mac_backup_code(&key, "id-1", "ABCD-EFGH"),
            "normalised"
        );
        let stored = vec![
            Stored::Legacy(hash_backup_code("zzzzzzzz")),
            Stored::Mac(mac.clone()),
            Stored::Legacy(hash_backup_code("yyyyyyyy")),
        ];
        assert_eq!(
            find_backup_code_keyed(code, "id-1", &[&key], &stored),
            Some(1)
        );
        assert_eq!(
            find_backup_code_keyed(code, "id-1", &[&other_key, &key], &stored),
            Some(1),
            "an older key still verifies"
        );
        assert_eq!(find_backup_code_keyed(code, "id-2", &[&key], &stored), None);
        assert_eq!(
            find_backup_code_keyed(code, "id-1", &[&other_key], &stored),
            None
        );
        assert_eq!(
            find_backup_code_keyed("YYYY-YYYY", "id-1", &[&key], &stored),
            Some(2),
            "legacy entries verify"
        );
        assert_eq!(find_backup_code_keyed("", "id-1", &[&key], &stored), None);
    }

    #[test]
    fn find_refuses_empty_and_oversized_input() {
        let hashes = vec![hash_backup_code(""), hash_backup_code(&"a".repeat(100))];
        assert_eq!(find_backup_code("", &hashes), None);
        assert_eq!(find_backup_code(" - ", &hashes), None);
        assert_eq!(find_backup_code(&"a".repeat(100), &hashes), None);
    }
}
