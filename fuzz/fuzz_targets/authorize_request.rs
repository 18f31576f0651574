//! The authorization endpoint's parser and validator against a fixed client.
#![no_main]
use gatehouse_protocol::authorize::{RawParams, client_id, validate};
use gatehouse_protocol::client::Client;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(data) else { return };
    let raw = RawParams::from_pairs(pairs);
    let _ = client_id(&raw);
    let client: Client = serde_json::from_value(serde_json::json!({
        "client_id": "app", "redirect_uris": ["https://app.example/cb", "http://127.0.0.1/cb"],
        "scope": "openid offline_access", "audience": ["https://api.example"],
        "grant_types": ["authorization_code", "refresh_token"]
    }))
    .expect("fixed client");
    let _ = validate(&raw, &client);
});
