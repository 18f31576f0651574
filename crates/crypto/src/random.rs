//! Randomness from the operating system through aws-lc-rs.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

/// Fills a fresh array with cryptographically secure random bytes.
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    // The system RNG only fails when the OS cannot provide entropy, which is unrecoverable.
    #[expect(
        clippy::expect_used,
        reason = "no entropy is not a state the server can run in"
    )]
    SystemRandom::new()
        .fill(&mut out)
        .expect("system randomness unavailable");
    out
}

const ALPHANUM: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A random string of `len` characters from `[0-9A-Za-z]` (5.95 bits each), unbiased.
pub fn alphanumeric(len: usize) -> String {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in bytes::<64>() {
            // 248 = 4 * 62: reject the top values so every character is equally likely.
            if b < 248 && out.len() < len {
                out.push(ALPHANUM[(b % 62) as usize] as char);
            }
        }
    }
    out
}

/// Encodes `n` as exactly `width` base62 digits (most significant first).
pub fn base62_fixed(mut n: u64, width: usize) -> String {
    let mut digits = vec![b'0'; width];
    for slot in digits.iter_mut().rev() {
        *slot = ALPHANUM[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(digits).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alphanumeric_has_requested_length_and_alphabet() {
        let s = alphanumeric(43);
        assert_eq!(s.len(), 43);
        assert!(s.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(s, alphanumeric(43));
    }

    #[test]
    fn base62_is_fixed_width() {
        assert_eq!(base62_fixed(0, 6), "000000");
        assert_eq!(base62_fixed(61, 2), "0z");
        assert_eq!(base62_fixed(u32::MAX as u64, 6).len(), 6);
    }
}
