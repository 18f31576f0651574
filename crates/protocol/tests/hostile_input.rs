//! The parsers of untrusted input never panic, whatever they are fed (the fuzz targets in
//! `fuzz/` explore further; these run in every test run).

use gatehouse_protocol::authorize::{RawParams, client_id, validate};
use gatehouse_protocol::client::Client;
use gatehouse_protocol::redirect;
use gatehouse_protocol::scope::Scopes;
use gatehouse_protocol::token_request;
use proptest::prelude::*;

fn client() -> Client {
    serde_json::from_value(serde_json::json!({
        "client_id": "app", "redirect_uris": ["https://app.example/cb", "http://127.0.0.1/cb"],
        "scope": "openid offline_access", "audience": ["https://api.example"],
        "grant_types": ["authorization_code", "refresh_token"]
    }))
    .expect("client")
}

const KEYS: &[&str] = &[
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "prompt",
    "max_age",
    "code_challenge",
    "code_challenge_method",
    "response_mode",
    "resource",
    "audience",
    "request",
    "grant_type",
    "code",
    "refresh_token",
    "client_secret",
    "code_verifier",
];

fn pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(
        (
            prop::sample::select(KEYS).prop_map(str::to_owned),
            any::<String>(),
        ),
        0..12,
    )
}

proptest! {
    #[test]
    fn authorize_never_panics(p in pairs()) {
        let raw = RawParams::from_pairs(p);
        let _ = client_id(&raw);
        let _ = validate(&raw, &client());
    }

    #[test]
    fn token_request_never_panics(p in pairs(), header in proptest::option::of(any::<String>())) {
        let _ = token_request::parse(p, header.as_deref());
    }

    #[test]
    fn redirect_matching_never_panics_and_is_exact(uri in any::<String>()) {
        let reg = vec!["https://app.example/cb".to_owned()];
        prop_assert_eq!(redirect::matches(&reg, &uri), uri == "https://app.example/cb");
    }

    #[test]
    fn scopes_never_panic(s in any::<String>()) {
        if let Ok(scopes) = Scopes::parse(&s) {
            prop_assert!(scopes.iter().all(|x| !x.contains(' ') && !x.is_empty()));
        }
    }

    #[test]
    fn opaque_tokens_never_panic(s in any::<String>()) {
        let _ = s.parse::<gatehouse_crypto::PlainToken>();
        let _ = gatehouse_crypto::jwt::UnverifiedJwt::parse(&s);
    }
}
