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

/// Where a refusal goes, and its error code.
#[derive(Debug, PartialEq, Eq)]
enum Channel {
    /// Shown on our page (the client or redirect URI is not settled).
    Page,
    /// Sent back to the redirect URI, with `state` and in this response mode.
    Redirect(ResponseMode, Option<String>),
}

fn refusal(q: &str, client: &Client) -> (Channel, ErrorCode) {
    let p = params(q);
    let result = match super::client_id(&p) {
        Ok(_) => validate(&p, client),
        Err(e) => Err(e),
    };
    match result.expect_err(q) {
        AuthorizeError::Page(e) => (Channel::Page, e.error),
        AuthorizeError::Redirect {
            redirect_uri,
            response_mode,
            state,
            error,
        } => {
            assert!(
                client.redirect_uris.contains(&redirect_uri),
                "{q}: redirected to {redirect_uri}"
            );
            (Channel::Redirect(response_mode, state), error.error)
        }
    }
}

fn client_with(overrides: serde_json::Value) -> Client {
    let mut c = serde_json::to_value(client()).expect("json");
    if let (serde_json::Value::Object(c), serde_json::Value::Object(o)) = (&mut c, overrides) {
        c.extend(o);
    }
    serde_json::from_value(c).expect("client")
}

/// Every refusal of the authorization endpoint's request rules, with where it is shown and its
/// exact error code (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6, RFC 7636 §4.4.1, RFC 8707 §2,
/// RFC 9101 §6 for request objects).
#[test]
fn every_refusal_of_the_authorization_request() {
    use Channel::{Page, Redirect};
    use ErrorCode::*;
    let q = |state: &str| Redirect(ResponseMode::Query, Some(state.to_owned()));
    let base = "client_id=app&state=s1";
    let code = "client_id=app&state=s1&response_type=code";
    let long = "x".repeat(MAX_PARAM_LEN + 1);
    let many: String = (0..MAX_PARAMS).map(|i| format!("&p{i}=v")).collect();
    let many_scopes: String = (0..65).map(|i| format!("s{i}%20")).collect();
    let two_uris = client_with(
        json!({"redirect_uris": ["https://app.example/cb", "https://app.example/cb2"]}),
    );
    let public = client_with(json!({"token_endpoint_auth_method": "none"}));
    let machine = client_with(json!({"grant_types": ["client_credentials"]}));
    let no_code = client_with(json!({"response_types": []}));
    let default = client();
    let cases: Vec<(&str, String, &Client, Channel, ErrorCode)> = vec![
        // Before the client and redirect URI are settled: a page, never a redirect.
        (
            "a parameter too long",
            format!("{code}&nonce={long}"),
            &default,
            Page,
            InvalidRequest,
        ),
        (
            "too many parameters",
            format!("{code}{many}"),
            &default,
            Page,
            InvalidRequest,
        ),
        (
            "client_id repeated",
            format!("{code}&client_id=app"),
            &default,
            Page,
            InvalidRequest,
        ),
        (
            "redirect_uri repeated",
            format!(
                "{code}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&redirect_uri=https%3A%2F%2Fapp.example%2Fcb"
            ),
            &default,
            Page,
            InvalidRequest,
        ),
        (
            "client_id missing",
            "response_type=code&state=s1".into(),
            &default,
            Page,
            InvalidRequest,
        ),
        (
            "client_id empty",
            "client_id=&response_type=code".into(),
            &default,
            Page,
            InvalidRequest,
        ),
        (
            "redirect_uri not registered",
            format!("{code}&redirect_uri=https%3A%2F%2Fevil.example%2Fcb"),
            &default,
            Page,
            InvalidRequest,
        ),
        (
            "redirect_uri registered with another path",
            format!("{code}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb%2Fmore"),
            &default,
            Page,
            InvalidRequest,
        ),
        (
            "redirect_uri not registered, and a bad response_type",
            format!("{base}&response_type=token&redirect_uri=https%3A%2F%2Fevil.example%2Fcb"),
            &default,
            Page,
            InvalidRequest,
        ),
        (
            "redirect_uri missing, two registered",
            code.into(),
            &two_uris,
            Page,
            InvalidRequest,
        ),
        // After: back to the client's redirect URI, with state.
        (
            "state repeated",
            format!("{code}&state=s2"),
            &default,
            q("s1"),
            InvalidRequest,
        ),
        (
            "scope repeated",
            format!("{code}&scope=openid&scope=openid"),
            &default,
            q("s1"),
            InvalidRequest,
        ),
        (
            "response_mode fragment",
            format!("{code}&response_mode=fragment"),
            &default,
            q("s1"),
            InvalidRequest,
        ),
        (
            "response_mode web_message",
            format!("{code}&response_mode=web_message"),
            &default,
            q("s1"),
            InvalidRequest,
        ),
        (
            "a request object",
            format!("{code}&request=eyJhbGciOiJub25lIn0.e30."),
            &default,
            q("s1"),
            RequestNotSupported,
        ),
        (
            "a request_uri",
            format!("{code}&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3Ax"),
            &default,
            q("s1"),
            RequestUriNotSupported,
        ),
        (
            "response_type missing",
            base.into(),
            &default,
            q("s1"),
            InvalidRequest,
        ),
        (
            "response_type token (implicit)",
            format!("{base}&response_type=token"),
            &default,
            q("s1"),
            UnsupportedResponseType,
        ),
        (
            "response_type code id_token (hybrid)",
            format!("{base}&response_type=code%20id_token"),
            &default,
            q("s1"),
            UnsupportedResponseType,
        ),
        (
            "response_type in another case",
            format!("{base}&response_type=CODE"),
            &default,
            q("s1"),
            UnsupportedResponseType,
        ),
        (
            "a client without the authorization_code grant",
            code.into(),
            &machine,
            q("s1"),
            UnauthorizedClient,
        ),
        (
            "a client without the code response type",
            code.into(),
            &no_code,
            q("s1"),
            UnauthorizedClient,
        ),
        (
            "scope with a quote",
            format!("{code}&scope=open%22id"),
            &default,
            q("s1"),
            InvalidScope,
        ),
        (
            "scope not ASCII",
            format!("{code}&scope=%C3%A9"),
            &default,
            q("s1"),
            InvalidScope,
        ),
        (
            "too many scopes",
            format!("{code}&scope={many_scopes}"),
            &default,
            q("s1"),
            InvalidScope,
        ),
        (
            "a scope the client may not have",
            format!("{code}&scope=openid%20admin"),
            &default,
            q("s1"),
            InvalidScope,
        ),
        (
            "code_challenge_method without code_challenge",
            format!("{code}&code_challenge_method=S256"),
            &default,
            q("s1"),
            InvalidRequest,
        ),
        (
            "code_challenge_method plain",
            format!("{code}&code_challenge={CH}&code_challenge_method=plain"),
            &default,
            q("s1"),
            InvalidRequest,
        ),
        (
            "code_challenge without a method (plain by default)",
            format!("{code}&code_challenge={CH}"),
            &default,
            q("s1"),
            InvalidRequest,
        ),
        (
            "code_challenge_method in another case",
            format!("{code}&code_challenge={CH}&code_challenge_method=s256"),
            &default,
            q("s1"),
            InvalidRequest,
        ),
        (
            "code_challenge too short",
            format!("{code}&code_challenge=abc&code_challenge_method=S256"),
            &default,
            q("s1"),
            InvalidRequest,
        ),
        (
            "code_challenge with a character outside base64url",
            format!(
                "{code}&code_challenge={}%2B&code_challenge_method=S256",
                &CH[..42]
            ),
            &default,
            q("s1"),
            InvalidRequest,
        ),
        (
            "a public client without PKCE",
            code.into(),
            &public,
            q("s1"),
            InvalidRequest,
        ),
        (
            "prompt unknown",
            format!("{code}&prompt=always"),
            &default,
            q("s1"),
            InvalidRequest,
        ),
        (
            "prompt none with login",
            format!("{code}&prompt=none%20login"),
            &default,
            q("s1"),
            InvalidRequest,
        ),
        (
            "prompt none with consent",
            format!("{code}&prompt=consent%20none"),
            &default,
            q("s1"),
            InvalidRequest,
        ),
        (
            "max_age negative",
            format!("{code}&max_age=-1"),
            &default,
            q("s1"),
            InvalidRequest,
        ),
        (
            "max_age not a number",
            format!("{code}&max_age=soon"),
            &default,
            q("s1"),
            InvalidRequest,
        ),
        (
            "max_age a fraction",
            format!("{code}&max_age=1.5"),
            &default,
            q("s1"),
            InvalidRequest,
        ),
        (
            "resource relative",
            format!("{code}&resource=%2Fapi"),
            &default,
            q("s1"),
            InvalidTarget,
        ),
        (
            "resource with a fragment",
            format!("{code}&resource=https%3A%2F%2Fapi.example%23x"),
            &default,
            q("s1"),
            InvalidTarget,
        ),
        (
            "resource the client may not have",
            format!("{code}&resource=https%3A%2F%2Fother.example"),
            &default,
            q("s1"),
            InvalidTarget,
        ),
        (
            "a second resource the client may not have",
            format!(
                "{code}&resource=https%3A%2F%2Fapi.example&resource=https%3A%2F%2Fother.example"
            ),
            &default,
            q("s1"),
            InvalidTarget,
        ),
        (
            "audience the client may not have",
            format!("{code}&audience=https%3A%2F%2Fapi.example%20https%3A%2F%2Fother.example"),
            &default,
            q("s1"),
            InvalidTarget,
        ),
        // The error goes back in the request's response mode, without state when it had none.
        (
            "form_post, response_type token",
            "client_id=app&state=s1&response_type=token&response_mode=form_post".into(),
            &default,
            Redirect(ResponseMode::FormPost, Some("s1".into())),
            UnsupportedResponseType,
        ),
        (
            "no state, response_type token",
            "client_id=app&response_type=token".into(),
            &default,
            Redirect(ResponseMode::Query, None),
            UnsupportedResponseType,
        ),
        (
            "redirect_uri missing with two registered, and a bad response_type",
            format!("{base}&response_type=token"),
            &two_uris,
            Page,
            InvalidRequest,
        ),
    ];
    for (name, query, client, channel, code) in cases {
        assert_eq!(refusal(&query, client), (channel, code), "{name}");
    }
}

#[test]
fn errors_after_the_redirect_uri_go_to_the_one_requested() {
    let c =
        client_with(json!({"redirect_uris": ["https://app.example/cb", "http://127.0.0.1/cb"]}));
    let p =
        params("client_id=app&response_type=token&redirect_uri=http%3A%2F%2F127.0.0.1%3A5123%2Fcb");
    match validate(&p, &c) {
        Err(AuthorizeError::Redirect { redirect_uri, .. }) => {
            assert_eq!(redirect_uri, "http://127.0.0.1:5123/cb");
        }
        other => panic!("unexpected {other:?}"),
    }
}
