//! Stored password hashes (argon2id/argon2i PHC strings, bcrypt, Kratos's PBKDF2 and scrypt
//! formats) through `verify_password`, as an import would hand them to us.
#![no_main]
use gatehouse_crypto::{Argon2Params, verify_password};
use libfuzzer_sys::fuzz_target;

const CHEAP: Argon2Params = Argon2Params {
    m_cost_kib: 64,
    t_cost: 1,
    p_cost: 1,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(stored) = std::str::from_utf8(data) {
        let _ = verify_password("correct horse battery staple", stored, &CHEAP);
    }
});
