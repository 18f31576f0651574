//! Compact JWT parsing and verification (client assertions, id_token_hint, introspection).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data)
        && let Ok(jwt) = gatehouse_crypto::jwt::UnverifiedJwt::parse(s)
    {
        let _ = jwt.verify(&[]);
    }
});
