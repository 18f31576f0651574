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

proptest! {
    /// Forwarded headers of any bytes never panic the reader; what it accepts is normalised
    /// (upper-case method, http/https, a host without path or credentials, a path).
    #[test]
    fn forwarded_headers_never_panic(
        method in proptest::collection::vec(any::<u8>(), 0..24),
        proto in proptest::collection::vec(any::<u8>(), 0..12),
        host in proptest::collection::vec(any::<u8>(), 0..40),
        uri in proptest::collection::vec(any::<u8>(), 0..60),
    ) {
        use gatehouse_protocol::forward;
        let h = forward::ForwardedHeaders {
            method: Some(&method),
            proto: Some(&proto),
            host: Some(&host),
            uri: Some(&uri),
            own_method: "GET",
            own_host: None,
            own_uri: "/",
        };
        if let Ok(f) = forward::parse(&h) {
            prop_assert!(f.method.bytes().all(|b| b.is_ascii_uppercase()));
            prop_assert!(f.scheme == "http" || f.scheme == "https");
            prop_assert!(!f.host.contains(['/', '@', ' ', '?', '#']));
            prop_assert!(f.uri.starts_with('/'));
        }
    }

    /// Joining a request path under an upstream keeps the upstream's scheme and host.
    #[test]
    fn upstream_uris_keep_the_upstream_host(path in "/[a-z0-9/%.?=&]{0,40}", strip in proptest::option::of("/[a-z]{1,6}")) {
        use gatehouse_protocol::forward;
        let u = forward::upstream_uri("http://127.0.0.1:8080/base", strip.as_deref(), &path)
            .expect("a valid upstream");
        prop_assert!(u.starts_with("http://127.0.0.1:8080/base/"), "{}", u);
    }
}

proptest! {
    /// Authorization and Cookie header values of any text never panic the readers; a bearer
    /// token is a non-empty part of the header, a cookie name holds no `;` or `=`, a value no
    /// `;`, and no more than `MAX_COOKIES` pairs come out.
    #[test]
    fn auth_headers_never_panic(authorization in any::<String>(), cookie in proptest::collection::vec(any::<String>(), 0..4)) {
        use gatehouse_protocol::http_auth;
        if let Some(t) = http_auth::bearer(&authorization) {
            prop_assert!(!t.is_empty() && authorization.contains(t));
        }
        let pairs: Vec<_> = http_auth::cookies(cookie.iter().map(String::as_str)).collect();
        prop_assert!(pairs.len() <= http_auth::MAX_COOKIES);
        for (k, v) in pairs {
            prop_assert!(!k.contains([';', '=']) && !v.contains(';'));
        }
    }
}
