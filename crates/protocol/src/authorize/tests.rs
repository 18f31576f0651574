//! The authorization request's rules, refusal by refusal.

use super::*;
use serde_json::json;

fn client() -> Client {
    serde_json::from_value(json!({
        "client_id": "app", "redirect_uris": ["https://app.example/cb"], "scope": "openid offline_access",
        "audience": ["https://api.example"], "grant_types": ["authorization_code", "refresh_token"]
    }))
    .expect("client")
}

fn params(q: &str) -> RawParams {
    RawParams::from_pairs(serde_urlencoded::from_str::<Vec<(String, String)>>(q).expect("query"))
}

const CH: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

#[test]
fn a_good_request_validates() {
    let p = params(&format!(
        "client_id=app&response_type=code&scope=openid&state=xyz&code_challenge={CH}&code_challenge_method=S256&resource=https%3A%2F%2Fapi.example"
    ));
    assert_eq!(client_id(&p), Ok("app"));
    let r = validate(&p, &client()).expect("valid");
    assert_eq!(r.redirect_uri, "https://app.example/cb");
    assert_eq!(r.audience, vec!["https://api.example"]);
    assert_eq!(r.state.as_deref(), Some("xyz"));
}

#[test]
fn unregistered_redirect_uri_is_never_redirected() {
    let p = params("client_id=app&response_type=code&redirect_uri=https%3A%2F%2Fevil.example%2Fcb");
    assert!(matches!(
        validate(&p, &client()),
        Err(AuthorizeError::Page(_))
    ));
}

#[test]
fn later_errors_redirect_with_state() {
    let p = params("client_id=app&response_type=token&state=s1");
    match validate(&p, &client()) {
        Err(AuthorizeError::Redirect { error, state, .. }) => {
            assert_eq!(error.error, ErrorCode::UnsupportedResponseType);
            assert_eq!(state.as_deref(), Some("s1"));
        }
        other => panic!("unexpected {other:?}"),
    }
    for q in [
        "client_id=app&response_type=code&scope=admin",
        "client_id=app&response_type=code&prompt=none%20login",
        "client_id=app&response_type=code&code_challenge=abc&code_challenge_method=plain",
        "client_id=app&response_type=code&resource=https%3A%2F%2Fother.example",
        "client_id=app&response_type=code&state=a&state=b",
        "client_id=app&response_type=code&max_age=-1",
    ] {
        assert!(
            matches!(
                validate(&params(q), &client()),
                Err(AuthorizeError::Redirect { .. })
            ),
            "{q}"
        );
    }
}

#[test]
fn public_clients_need_pkce() {
    let mut c = client();
    c.token_endpoint_auth_method = "none".into();
    assert!(validate(&params("client_id=app&response_type=code"), &c).is_err());
    assert!(
        validate(
            &params(&format!(
                "client_id=app&response_type=code&code_challenge={CH}&code_challenge_method=S256"
            )),
            &c
        )
        .is_ok()
    );
}
