//! Backup codes (Kratos's `lookup_secret` method): a handful of one-time codes a user prints or
//! stores to get in when the second factor is lost.
//!
//! Why it is shaped so:
//! - A code is 8 characters from the 32-symbol lowercase Crockford alphabet (`0-9a-z` without
//!   `i`, `l`, `o` and `u`), so each carries exactly 40 bits and is drawn without bias from 5 bits
//!   of a random byte; the letters that are easily confused with digits are left out.
//! - Only hashes are stored: [`hash_backup_code`] is hex SHA-256 of the normalised code (trimmed,
//!   lowercased, spaces and dashes removed, so `ABCD-EFGH` and `abcd efgh` are the same code).
//!   40 random bits make a slow hash unnecessary for codes that are also rate-limited.
//! - [`find_backup_code`] compares against every stored hash in constant time and does not stop
//!   at the first match, so timing does not reveal which code was used. Marking the code used is
//!   the caller's job (remove or flag the returned index).

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

/// Hex SHA-256 of the normalised code: what is stored.
pub fn hash_backup_code(code: &str) -> String {
    let digest = crate::sha256(normalise(code).as_bytes());
    let mut hex = String::with_capacity(64);
    for b in digest {
        let _ = write!(hex, "{b:02x}");
    }
    hex
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
    fn find_refuses_empty_and_oversized_input() {
        let hashes = vec![hash_backup_code(""), hash_backup_code(&"a".repeat(100))];
        assert_eq!(find_backup_code("", &hashes), None);
        assert_eq!(find_backup_code(" - ", &hashes), None);
        assert_eq!(find_backup_code(&"a".repeat(100), &hashes), None);
    }
}
