//! Content negotiation on untrusted `Accept` and `Content-Type` headers: never panics, and the
//! answer is always one of the offers.
#![no_main]

use gatehouse_protocol::media::{names_explicitly, negotiate, prefers_json};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let offers = ["text/html", "application/json"];
    if let Some(o) = negotiate(Some(s), &offers) {
        assert!(offers.contains(&o));
    }
    let _ = names_explicitly(Some(s), &offers);
    let _ = prefers_json(Some(s), Some(s));
});
