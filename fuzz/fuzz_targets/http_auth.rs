//! The readers of `Authorization: Bearer` and `Cookie` header values (every listener and the
//! gateway's authenticators find tokens and cookies with them), from untrusted text. Never
//! panics; a bearer token is a non-empty part of the header, cookie names hold no `;` or `=`,
//! values no `;`, and at most `MAX_COOKIES` pairs are read.
#![no_main]

use gatehouse_protocol::http_auth;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(t) = http_auth::bearer(s) {
        assert!(!t.is_empty() && s.contains(t));
    }
    // Lines stand for several Cookie headers of one request.
    let mut n = 0;
    for (k, v) in http_auth::cookies(s.split('\n')) {
        assert!(!k.contains([';', '=']) && !v.contains(';'));
        n += 1;
    }
    assert!(n <= http_auth::MAX_COOKIES);
    if let Some((name, _)) = s.split_once('=') {
        let _ = http_auth::cookie(s.split('\n'), name);
    }
});
