//! Credential scopes from untrusted input (a `required_scope` in a validation request, scopes in
//! a create request): validation, normalisation and matching never panic, and a malformed scope
//! never grants or is granted anything.
#![no_main]

use gatehouse_protocol::credential_scope::{grants, normalize, validate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let (a, b) = s.split_at(s.len() / 2);
    let granted = grants(a, b);
    if validate(a).is_err() || validate(b).is_err() {
        assert!(!granted);
    }
    if grants(a, a) {
        assert!(validate(a).is_ok());
    }
    let list: Vec<&str> = s.split(',').collect();
    if let Ok(n) = normalize(&list) {
        assert!(n.windows(2).all(|w| w[0] < w[1]));
    }
});
