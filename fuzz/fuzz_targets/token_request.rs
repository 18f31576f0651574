//! The token endpoint's parser: any form body and Authorization header.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (header, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (std::str::from_utf8(&data[..i]).ok(), &data[i + 1..]),
        None => (None, data),
    };
    if let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body) {
        let _ = gatehouse_protocol::token_request::parse(pairs, header);
    }
});
