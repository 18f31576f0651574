//! RFC 6238 TOTP with the parameters every authenticator app supports: HMAC-SHA-1, 6 digits,
//! 30-second steps.
//!
//! Why it is shaped so:
//! - [`TotpSecret::verify`] returns the time step it matched, and refuses every step at or before
//!   the `last_used_step` the caller stored after the previous success. A code therefore works
//!   once (RFC 6238 §5.2), even within its own 30 seconds, and an older code inside the skew
//!   window cannot be replayed after a newer one was used.
//! - One step of clock skew either way is accepted (the RFC's recommended window); all three
//!   candidates are computed and compared in constant time whatever the input, and input that is
//!   not exactly six ASCII digits is refused before any HMAC is computed.
//! - The secret is 20 random bytes (RFC 4226 §4 recommends 160 bits), shown to users in base32
//!   without padding (RFC 4648 §6), which is what `otpauth://` URLs carry. `Debug` never prints it.
//! - Digits are a parameter of the internal HOTP function only so that the RFC's 8-digit test
//!   vectors can be checked; the public API is 6 digits.

use std::fmt;

use aws_lc_rs::hmac;
use zeroize::Zeroizing;

/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Length of a time step, in seconds.
pub const PERIOD: i64 = 30;
/// Bytes of a generated secret.
pub const SECRET_LEN: usize = 20;
/// Shortest secret accepted from elsewhere (RFC 4226 §4: at least 128 bits).
pub const MIN_SECRET_LEN: usize = 16;
/// Longest secret accepted from elsewhere.
pub const MAX_SECRET_LEN: usize = 64;

const BASE32_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TotpError {
    #[error("the TOTP secret is not valid base32")]
    InvalidBase32,
    #[error("the TOTP secret must be {MIN_SECRET_LEN} to {MAX_SECRET_LEN} bytes")]
    BadLength,
}

/// A shared TOTP secret. Store it encrypted (keyring); `Debug` hides it.
#[derive(Clone)]
pub struct TotpSecret(Zeroizing<Vec<u8>>);

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

/// The time step that contains `unix_time` (negative before 1970).
pub fn time_step(unix_time: i64) -> i64 {
    unix_time.div_euclid(PERIOD)
}

impl TotpSecret {
    /// A fresh random secret of [`SECRET_LEN`] bytes.
    pub fn generate() -> TotpSecret {
        TotpSecret(Zeroizing::new(
            crate::random::bytes::<SECRET_LEN>().to_vec(),
        ))
    }

    /// A secret from raw bytes, e.g. decrypted from storage.
    pub fn from_bytes(bytes: &[u8]) -> Result<TotpSecret, TotpError> {
        if !(MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&bytes.len()) {
            return Err(TotpError::BadLength);
        }
        Ok(TotpSecret(Zeroizing::new(bytes.to_vec())))
    }

    /// The raw bytes, to be encrypted for storage.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Decodes RFC 4648 base32, ignoring case, spaces and trailing `=` padding.
    pub fn from_base32(encoded: &str) -> Result<TotpSecret, TotpError> {
        let symbols = encoded.trim_end_matches('=');
        if symbols.len() > MAX_SECRET_LEN * 2 {
            return Err(TotpError::BadLength);
        }
        let mut out = Zeroizing::new(Vec::with_capacity(symbols.len() * 5 / 8));
        let (mut buffer, mut bits, mut count) = (0u32, 0u32, 0usize);
        for c in symbols.bytes().filter(|c| *c != b' ') {
            let value = match c.to_ascii_uppercase() {
                c @ b'A'..=b'Z' => c - b'A',
                c @ b'2'..=b'7' => c - b'2' + 26,
                _ => return Err(TotpError::InvalidBase32),
            };
            buffer = (buffer << 5) | u32::from(value);
            bits += 5;
            count += 1;
            if bits >= 8 {
                bits -= 8;
                out.push((buffer >> bits) as u8);
                buffer &= (1 << bits) - 1;
            }
        }
        // 1, 3 or 6 symbols in the last group cannot come from whole bytes.
        if matches!(count % 8, 1 | 3 | 6) {
            return Err(TotpError::InvalidBase32);
        }
        if !(MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&out.len()) {
            return Err(TotpError::BadLength);
        }
        Ok(TotpSecret(out))
    }

    /// RFC 4648 base32 without padding, as shown to users and put in `otpauth://` URLs.
    pub fn to_base32(&self) -> String {
        let mut out = String::with_capacity(self.0.len().div_ceil(5) * 8);
        let (mut buffer, mut bits) = (0u32, 0u32);
        for &byte in self.0.iter() {
            buffer = (buffer << 8) | u32::from(byte);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                out.push(BASE32_ALPHABET[((buffer >> bits) & 31) as usize] as char);
            }
            buffer &= (1 << bits) - 1;
        }
        if bits > 0 {
            out.push(BASE32_ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
        }
        out
    }

    /// The Key URI an authenticator app scans:
    /// `otpauth://totp/Issuer:account?secret=..&issuer=Issuer&algorithm=SHA1&digits=6&period=30`.
    pub fn otpauth_url(&self, issuer: &str, account: &str) -> String {
        let secret = self.to_base32();
        if issuer.is_empty() {
            return format!(
                "otpauth://totp/{}?secret={secret}&algorithm=SHA1&digits={DIGITS}&period={PERIOD}",
                percent_encode(account)
            );
        }
        let issuer = percent_encode(issuer);
        format!(
            "otpauth://totp/{issuer}:{}?secret={secret}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={PERIOD}",
            percent_encode(account)
        )
    }

    /// The code for the step containing `unix_time` (times before 1970 count as step 0).
    pub fn code_at(&self, unix_time: i64) -> String {
        self.code_for_step(time_step(unix_time).max(0), DIGITS)
    }

    /// Checks `code` at `unix_now`, accepting the current step and one either side, but never a
    /// step at or before `last_used_step`. Returns the matched step, to be stored as the new
    /// `last_used_step`.
    pub fn verify(&self, code: &str, unix_now: i64, last_used_step: Option<i64>) -> Option<i64> {
        let code = code.as_bytes();
        if code.len() != DIGITS as usize || !code.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let now = time_step(unix_now);
        let mut matched = None;
        for step in [now - 1, now, now + 1] {
            let allowed = step >= 0 && last_used_step.is_none_or(|last| step > last);
            let expected = self.code_for_step(step.max(0), DIGITS);
            if crate::ct_eq(expected.as_bytes(), code) & allowed {
                matched = Some(step);
            }
        }
        matched
    }

    fn code_for_step(&self, step: i64, digits: u32) -> String {
        let counter = u64::try_from(step).unwrap_or(0);
        hotp(&self.0, counter, digits)
    }
}

/// RFC 4226 HOTP with HMAC-SHA-1 and dynamic truncation.
fn hotp(secret: &[u8], counter: u64, digits: u32) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &counter.to_be_bytes());
    let mac = tag.as_ref();
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([
        mac[offset] & 0x7f,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]);
    let modulus = 10u32.pow(digits.min(9));
    format!(
        "{:0width$}",
        binary % modulus,
        width = digits.min(9) as usize
    )
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B: the SHA-1 seed is the ASCII string "12345678901234567890".
    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(b"12345678901234567890").expect("20 bytes")
    }

    #[test]
    fn rfc6238_appendix_b_sha1_vectors() {
        let secret = rfc_secret();
        let vectors = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        for (time, code) in vectors {
            assert_eq!(secret.code_for_step(time_step(time), 8), code, "T={time}");
            // The 6-digit code is the last six digits of the 8-digit one.
            assert_eq!(secret.code_at(time), code[2..], "T={time}");
        }
    }

    #[test]
    fn rfc4226_appendix_d_hotp_vectors() {
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(hotp(b"12345678901234567890", counter as u64, 6), *code);
        }
    }

    #[test]
    fn verify_accepts_one_step_of_skew_and_returns_the_step() {
        let secret = rfc_secret();
        let now = 1_111_111_111;
        let step = time_step(now);
        assert_eq!(secret.verify(&secret.code_at(now), now, None), Some(step));
        assert_eq!(
            secret.verify(&secret.code_at(now - 30), now, None),
            Some(step - 1)
        );
        assert_eq!(
            secret.verify(&secret.code_at(now + 30), now, None),
            Some(step + 1)
        );
        assert_eq!(secret.verify(&secret.code_at(now - 60), now, None), None);
        assert_eq!(secret.verify(&secret.code_at(now + 60), now, None), None);
    }

    #[test]
    fn a_used_code_is_never_accepted_again() {
        let secret = rfc_secret();
        let now = 2_000_000_000;
        let code = secret.code_at(now);
        let used = secret.verify(&code, now, None).expect("first use");
        assert_eq!(secret.verify(&code, now, Some(used)), None);
        assert_eq!(secret.verify(&code, now + 29, Some(used)), None);
        // The previous step's code, still inside the skew window, is refused too.
        assert_eq!(
            secret.verify(&secret.code_at(now - 30), now, Some(used)),
            None
        );
        // The next step's code is fine.
        assert_eq!(
            secret.verify(&secret.code_at(now + 30), now + 30, Some(used)),
            Some(used + 1)
        );
    }

    #[test]
    fn bad_input_is_refused() {
        let secret = rfc_secret();
        let now = 1_234_567_890;
        let code = secret.code_at(now);
        for bad in [
            "",
            "12345",
            "1234567",
            &format!(" {code}"),
            &format!("{code} "),
            &code.replace(|c: char| c == code.chars().next().unwrap_or('0'), "a"),
            "١٢٣٤٥٦",
            "12 456",
            "-12345",
        ] {
            assert_eq!(secret.verify(bad, now, None), None, "{bad:?}");
        }
        assert_eq!(secret.verify(&code, -5, None), None);
        assert_eq!(secret.verify(&code, i64::MAX, None), None);
        assert_eq!(secret.verify(&code, i64::MIN, None), None);
        let _ = secret.code_at(i64::MIN);
        let _ = secret.code_at(i64::MAX);
    }

    #[test]
    fn base32_round_trip_and_rfc4648_vectors() {
        let secret = rfc_secret();
        assert_eq!(secret.to_base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        let back =
            TotpSecret::from_base32("gezd gnbv gy3t qojq gezd gnbv gy3t qojq").expect("decode");
        assert_eq!(back.expose(), b"12345678901234567890");

        let generated = TotpSecret::generate();
        assert_eq!(generated.expose().len(), SECRET_LEN);
        let encoded = generated.to_base32();
        assert_eq!(encoded.len(), 32);
        assert!(!encoded.contains('='));
        let decoded = TotpSecret::from_base32(&encoded).expect("decode");
        assert_eq!(decoded.expose(), generated.expose());

        // 16 bytes: a length that needs a partial last group.
        let sixteen = TotpSecret::from_bytes(b"foobarfoobarfoob").expect("16 bytes");
        let enc = sixteen.to_base32();
        // Python: base64.b32encode(b"foobarfoobarfoob") == b"MZXW6YTBOJTG633CMFZGM33PMI======".
        assert_eq!(enc, "MZXW6YTBOJTG633CMFZGM33PMI");
        assert_eq!(
            TotpSecret::from_base32(&format!("{enc}========"))
                .expect("padded")
                .expose(),
            b"foobarfoobarfoob"
        );
        let odd = TotpSecret::from_bytes(b"12345678901234567").expect("17 bytes");
        assert_eq!(
            TotpSecret::from_base32(&odd.to_base32())
                .expect("decode")
                .expose(),
            b"12345678901234567"
        );
    }

    #[test]
    fn base32_rejects_garbage() {
        assert_eq!(
            TotpSecret::from_base32("GEZDGNBVGY3TQOJ1GEZDGNBVGY3TQOJQ").map(|_| ()),
            Err(TotpError::InvalidBase32)
        );
        assert_eq!(
            TotpSecret::from_base32("GEZDGNBV").map(|_| ()),
            Err(TotpError::BadLength)
        );
        assert_eq!(
            TotpSecret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQG").map(|_| ()),
            Err(TotpError::InvalidBase32)
        );
        assert!(TotpSecret::from_base32(&"A".repeat(10_000)).is_err());
        assert!(TotpSecret::from_base32("ÄÖÜ").is_err());
        assert!(TotpSecret::from_bytes(&[0; 15]).is_err());
    }

    #[test]
    fn otpauth_url_is_percent_encoded() {
        let secret = rfc_secret();
        assert_eq!(
            secret.otpauth_url("Acme Co", "alice@example.com"),
            "otpauth://totp/Acme%20Co:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Acme%20Co&algorithm=SHA1&digits=6&period=30"
        );
        let url = secret.otpauth_url("A:B&C", "x?y=z#é");
        assert!(
            url.starts_with("otpauth://totp/A%3AB%26C:x%3Fy%3Dz%23%C3%A9?"),
            "{url}"
        );
        assert!(url.contains("&issuer=A%3AB%26C&"), "{url}");
        assert!(
            secret
                .otpauth_url("", "bob")
                .starts_with("otpauth://totp/bob?secret=")
        );
    }

    #[test]
    fn debug_hides_the_secret() {
        let secret = rfc_secret();
        let shown = format!("{secret:?}");
        assert!(!shown.contains("1234"));
        assert!(!shown.contains("GEZD"));
    }
}
