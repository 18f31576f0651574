//! The token request's parsing, refusal by refusal.

use super::*;

fn pairs(q: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str(q).expect("form")
}

#[test]
fn parses_each_grant() {
    let r = parse(
        pairs("grant_type=client_credentials&scope=read%20write"),
        Some("Basic YXBwOnMzY3JldA=="),
    )
    .expect("ok");
    assert_eq!(
        r.client,
        ClientCredentials::Basic {
            client_id: "app".into(),
            secret: "s3cret".into()
        }
    );
    assert!(
        matches!(r.grant, Grant::ClientCredentials { ref scope, .. } if scope.0 == vec!["read", "write"])
    );
    let r = parse(
        pairs("grant_type=authorization_code&code=c&client_id=app&code_verifier=v"),
        None,
    )
    .expect("ok");
    assert_eq!(
        r.client,
        ClientCredentials::None {
            client_id: "app".into()
        }
    );
    let r = parse(
        pairs("grant_type=refresh_token&refresh_token=r&client_id=app&client_secret=x"),
        None,
    )
    .expect("ok");
    assert!(matches!(r.client, ClientCredentials::Post { .. }));
}

#[test]
fn errors_follow_rfc6749() {
    assert_eq!(
        parse(pairs("grant_type=password&client_id=a"), None)
            .expect_err("e")
            .error,
        ErrorCode::UnsupportedGrantType
    );
    assert_eq!(
        parse(pairs("client_id=a"), None).expect_err("e").error,
        ErrorCode::InvalidRequest
    );
    assert_eq!(
        parse(pairs("grant_type=client_credentials"), None)
            .expect_err("e")
            .error,
        ErrorCode::InvalidClient
    );
    assert_eq!(
        parse(pairs("grant_type=authorization_code&client_id=a"), None)
            .expect_err("e")
            .error,
        ErrorCode::InvalidRequest
    );
    assert_eq!(
        parse(
            pairs("grant_type=client_credentials&client_id=a&client_secret=b"),
            Some("Basic YTpi")
        )
        .expect_err("e")
        .error,
        ErrorCode::InvalidRequest
    );
    assert_eq!(
        parse(
            pairs("grant_type=client_credentials&grant_type=x&client_id=a"),
            None
        )
        .expect_err("e")
        .error,
        ErrorCode::InvalidRequest
    );
    assert!(parse(pairs("grant_type=client_credentials"), Some("Basic !!!")).is_err());
    assert!(parse(pairs("grant_type=client_credentials"), Some("Bearer x")).is_err());
}

#[test]
fn basic_credentials_are_form_urlencoded() {
    let h = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("my%20app:p%40ss%3Aword")
    );
    assert_eq!(
        parse_basic(&h).expect("ok"),
        ("my app".into(), "p@ss:word".into())
    );
}

fn basic_header(credentials: &[u8]) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    )
}

/// Every refusal of the request parser, with its exact error code. Client authentication is
/// parsed before the grant, so a request without any client credentials is `invalid_client`
/// whatever else is wrong with it.
#[test]
fn every_refusal_of_the_token_request() {
    use ErrorCode::{InvalidClient, InvalidRequest, InvalidScope, UnsupportedGrantType};
    let long = "x".repeat(MAX_FIELD_LEN + 1);
    let many: String = (0..70).map(|i| format!("&p{i}=v")).collect();
    let many_scopes: String = (0..65).map(|i| format!("s{i}%20")).collect();
    let jwt = JWT_BEARER_ASSERTION;
    let cases: Vec<(&str, String, Option<String>, ErrorCode)> = vec![
        // The grant.
        (
            "grant_type missing",
            "client_id=a".into(),
            None,
            InvalidRequest,
        ),
        (
            "grant_type empty",
            "grant_type=&client_id=a".into(),
            None,
            InvalidRequest,
        ),
        (
            "password grant",
            "grant_type=password&username=u&password=p&client_id=a".into(),
            None,
            UnsupportedGrantType,
        ),
        (
            "implicit grant",
            "grant_type=implicit&client_id=a".into(),
            None,
            UnsupportedGrantType,
        ),
        (
            "device code grant",
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code=d&client_id=a".into(),
            None,
            UnsupportedGrantType,
        ),
        (
            "token exchange grant",
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&client_id=a".into(),
            None,
            UnsupportedGrantType,
        ),
        (
            "JWT bearer grant",
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=x&client_id=a".into(),
            None,
            UnsupportedGrantType,
        ),
        (
            "grant_type in another case",
            "grant_type=Client_Credentials&client_id=a".into(),
            None,
            UnsupportedGrantType,
        ),
        (
            "grant_type repeated",
            "grant_type=client_credentials&grant_type=client_credentials&client_id=a".into(),
            None,
            InvalidRequest,
        ),
        (
            "code repeated",
            "grant_type=authorization_code&code=c&code=d&client_id=a".into(),
            None,
            InvalidRequest,
        ),
        (
            "client_id repeated",
            "grant_type=client_credentials&client_id=a&client_id=a".into(),
            None,
            InvalidRequest,
        ),
        (
            "a parameter too long",
            format!("grant_type=client_credentials&client_id=a&scope={long}"),
            None,
            InvalidRequest,
        ),
        (
            "too many parameters",
            format!("grant_type=client_credentials&client_id=a{many}"),
            None,
            InvalidRequest,
        ),
        (
            "authorization_code without code",
            "grant_type=authorization_code&client_id=a&code_verifier=v".into(),
            None,
            InvalidRequest,
        ),
        (
            "authorization_code with an empty code",
            "grant_type=authorization_code&code=&client_id=a".into(),
            None,
            InvalidRequest,
        ),
        (
            "refresh_token without refresh_token",
            "grant_type=refresh_token&client_id=a".into(),
            None,
            InvalidRequest,
        ),
        (
            "refresh_token with a malformed scope",
            "grant_type=refresh_token&refresh_token=r&scope=a%22b&client_id=a".into(),
            None,
            InvalidScope,
        ),
        (
            "client_credentials with a malformed scope",
            "grant_type=client_credentials&scope=a%5Cb&client_id=a".into(),
            None,
            InvalidScope,
        ),
        (
            "client_credentials with a non-ASCII scope",
            "grant_type=client_credentials&scope=%C3%A9&client_id=a".into(),
            None,
            InvalidScope,
        ),
        (
            "client_credentials with too many scopes",
            format!("grant_type=client_credentials&scope={many_scopes}&client_id=a"),
            None,
            InvalidScope,
        ),
        // Client authentication (RFC 6749 §2.3, RFC 7523 §2.2).
        (
            "no client credentials",
            "grant_type=client_credentials".into(),
            None,
            InvalidClient,
        ),
        (
            "no client credentials, and no grant_type",
            "scope=read".into(),
            None,
            InvalidClient,
        ),
        (
            "a client_secret without a client_id",
            "grant_type=client_credentials&client_secret=s".into(),
            None,
            InvalidClient,
        ),
        (
            "Basic and client_secret",
            "grant_type=client_credentials&client_id=a&client_secret=b".into(),
            Some("Basic YTpi".into()),
            InvalidRequest,
        ),
        (
            "Basic and an assertion",
            format!("grant_type=client_credentials&client_assertion_type={jwt}&client_assertion=x"),
            Some("Basic YTpi".into()),
            InvalidRequest,
        ),
        (
            "client_secret and an assertion",
            format!("grant_type=client_credentials&client_id=a&client_secret=b&client_assertion_type={jwt}&client_assertion=x"),
            None,
            InvalidRequest,
        ),
        (
            "Basic for one client, client_id of another",
            "grant_type=client_credentials&client_id=other".into(),
            Some("Basic YTpi".into()),
            InvalidRequest,
        ),
        (
            "an assertion without client_assertion_type",
            "grant_type=client_credentials&client_assertion=x".into(),
            None,
            InvalidRequest,
        ),
        (
            "an assertion of another type",
            "grant_type=client_credentials&client_assertion_type=urn%3Aexample%3Asaml&client_assertion=x".into(),
            None,
            InvalidRequest,
        ),
        (
            "a Bearer Authorization header",
            "grant_type=client_credentials".into(),
            Some("Bearer abc".into()),
            InvalidClient,
        ),
        (
            "Basic without credentials",
            "grant_type=client_credentials".into(),
            Some("Basic".into()),
            InvalidClient,
        ),
        (
            "Basic with bad base64",
            "grant_type=client_credentials".into(),
            Some("Basic !!!".into()),
            InvalidClient,
        ),
        (
            "Basic that is not UTF-8",
            "grant_type=client_credentials".into(),
            Some(basic_header(b"\xff\xfe:secret")),
            InvalidClient,
        ),
        (
            "Basic without a colon",
            "grant_type=client_credentials".into(),
            Some(basic_header(b"app")),
            InvalidClient,
        ),
        (
            "Basic with an empty client id",
            "grant_type=client_credentials".into(),
            Some(basic_header(b":secret")),
            InvalidClient,
        ),
    ];
    for (name, form, header, code) in cases {
        let e = parse(pairs(&form), header.as_deref()).expect_err(name);
        assert_eq!(e.error, code, "{name}: {e}");
    }
}

#[test]
fn a_well_formed_request_of_each_grant_parses() {
    let r = parse(
        pairs(&format!(
            "grant_type=authorization_code&code=c&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&code_verifier=v&client_assertion_type={JWT_BEARER_ASSERTION}&client_assertion=a.b.c"
        )),
        None,
    )
    .expect("parsed");
    assert_eq!(
        r.grant,
        Grant::AuthorizationCode {
            code: "c".into(),
            redirect_uri: Some("https://app.example/cb".into()),
            code_verifier: Some("v".into()),
        }
    );
    assert_eq!(
        r.client,
        ClientCredentials::Assertion {
            client_id: None,
            assertion: "a.b.c".into()
        }
    );
    let r = parse(
        pairs("grant_type=refresh_token&refresh_token=r&scope=openid&client_id=a"),
        None,
    )
    .expect("parsed");
    assert_eq!(
        r.grant,
        Grant::RefreshToken {
            refresh_token: "r".into(),
            scope: Some(Scopes(vec!["openid".into()])),
        }
    );
    let r = parse(
        pairs("grant_type=client_credentials&resource=https%3A%2F%2Fa.example&resource=https%3A%2F%2Fa.example&audience=https%3A%2F%2Fb.example&client_id=a"),
        Some("Basic YTpi"),
    )
    .expect("parsed");
    assert_eq!(
        r.grant,
        Grant::ClientCredentials {
            scope: Scopes::default(),
            audience: vec!["https://a.example".into(), "https://b.example".into()],
        }
    );
}
