//! Opaque token parsing (prefix, alphabet, checksum).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = s.parse::<gatehouse_crypto::PlainToken>();
    }
});
