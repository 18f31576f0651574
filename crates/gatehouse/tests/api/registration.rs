//! `/oauth2/register`: RFC 7591 registration and RFC 7592 management, under a policy.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Backend, TestApp};

async fn dcr_app(limit: u32) -> TestApp {
    TestApp::spawn_with(Backend::Sqlite, |c| {
        let d = &mut c.oidc.dynamic_client_registration;
        d.enabled = true;
        d.allowed_redirect_uri_patterns = vec![
            "https://*.example.com/callback".into(),
            "http://127.0.0.1:*/callback".into(),
        ];
        d.rate_limit_per_hour = limit;
    })
    .await
}

#[tokio::test]
async fn registration_is_off_by_default() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let resp = app
        .http
        .post(format!("{}/oauth2/register", app.public))
        .json(&json!({"redirect_uris": ["https://a.example.com/callback"]}))
        .send()
        .await
        .expect("req");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn register_read_update_delete() {
    let app = dcr_app(20).await;
    let doc: Value = app
        .http
        .get(format!("{}/.well-known/openid-configuration", app.public))
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    assert_eq!(
        doc["registration_endpoint"],
        format!("{}/oauth2/register", app.public)
    );

    let resp = app
        .http
        .post(format!("{}/oauth2/register", app.public))
        .json(&json!({"client_name": "mcp-client", "redirect_uris": ["https://app.example.com/callback"], "skip_consent": true, "audience": ["https://internal"], "client_id": "chosen"}))
        .send()
        .await
        .expect("req");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let c: Value = resp.json().await.expect("json");
    assert_ne!(c["client_id"], "chosen", "the server picks the id");
    assert_eq!(
        c["skip_consent"], false,
        "privileged settings are never granted"
    );
    assert_eq!(c["audience"], json!([]));
    // No scope asked for: every scope registered clients may have (discovery's list).
    assert_eq!(c["scope"], "openid offline_access offline profile email");
    let token = c["registration_access_token"]
        .as_str()
        .expect("registration token")
        .to_owned();
    assert!(token.starts_with("grat_"));
    let uri = c["registration_client_uri"]
        .as_str()
        .expect("uri")
        .to_owned();
    assert!(c["client_secret"].as_str().is_some());

    // Read with the token; anything else is the same 401.
    let got: Value = app
        .http
        .get(&uri)
        .bearer_auth(&token)
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    assert_eq!(got["client_name"], "mcp-client");
    for bad in ["", "grat_nope", "gat_x"] {
        let resp = app
            .http
            .get(&uri)
            .bearer_auth(bad)
            .send()
            .await
            .expect("req");
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert!(resp.headers().contains_key("www-authenticate"));
    }
    // Update rotates the registration token.
    let resp = app.http.put(&uri).bearer_auth(&token).json(&json!({"client_name": "renamed", "redirect_uris": ["https://app.example.com/callback"], "skip_consent": true})).send().await.expect("req");
    assert_eq!(resp.status(), StatusCode::OK);
    let updated: Value = resp.json().await.expect("json");
    assert_eq!(updated["client_name"], "renamed");
    assert_eq!(updated["skip_consent"], false);
    let token2 = updated["registration_access_token"]
        .as_str()
        .expect("new token")
        .to_owned();
    assert_ne!(token, token2);
    assert_eq!(
        app.http
            .get(&uri)
            .bearer_auth(&token)
            .send()
            .await
            .expect("req")
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.http
            .delete(&uri)
            .bearer_auth(&token2)
            .send()
            .await
            .expect("req")
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.http
            .get(&uri)
            .bearer_auth(&token2)
            .send()
            .await
            .expect("req")
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn policy_and_rate_limit() {
    let app = dcr_app(3).await;
    let register = |body: Value| {
        let app = &app;
        async move {
            app.http
                .post(format!("{}/oauth2/register", app.public))
                .json(&body)
                .send()
                .await
                .expect("req")
        }
    };
    let resp = register(json!({"redirect_uris": ["https://evil.com/callback"]})).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        resp.json::<Value>().await.expect("json")["error"],
        "invalid_redirect_uri"
    );
    let resp = register(json!({"redirect_uris": ["https://a.example.com/callback"], "grant_types": ["client_credentials"]})).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        resp.json::<Value>().await.expect("json")["error"],
        "invalid_client_metadata"
    );
    let resp = register(json!({"redirect_uris": ["http://127.0.0.1:8123/callback"], "token_endpoint_auth_method": "none"})).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let resp = register(json!({"redirect_uris": ["http://127.0.0.1:8123/callback"]})).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.headers()["retry-after"], "3600");
}

/// An app with registration on (no redirect-URI patterns), on `backend`.
async fn open_dcr_app(backend: crate::harness::Backend) -> Option<TestApp> {
    TestApp::spawn_on(backend, |c| {
        c.oidc.dynamic_client_registration.enabled = true;
        c.oidc.dynamic_client_registration.rate_limit_per_hour = 1000;
    })
    .await
}

/// An HTTP listener on loopback standing in for an internal service; counts every request.
async fn internal_service() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let hits = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = axum::Router::new().fallback(move || {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            axum::Json(json!({"keys": []}))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (port, hits)
}

async fn register(app: &TestApp, body: Value) -> (StatusCode, Value) {
    let resp = app
        .http
        .post(format!("{}/oauth2/register", app.public))
        .json(&body)
        .send()
        .await
        .expect("req");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// SSRF: a self-registered client may not point the URLs the server calls (or has browsers
/// load) at loopback, private or link-local addresses, in any spelling.
async fn dcr_client_urls_at_internal_addresses_are_refused(backend: crate::harness::Backend) {
    let Some(app) = open_dcr_app(backend).await else {
        return;
    };
    let (port, hits) = internal_service().await;
    for url in [
        format!("http://127.0.0.1:{port}/internal-jwks"),
        format!("http://127.1:{port}/internal"),
        format!("http://0x7f000001:{port}/internal"),
        format!("http://[::1]:{port}/internal"),
        format!("http://[::ffff:127.0.0.1]:{port}/internal"),
        format!("http://localhost:{port}/internal"),
        "http://169.254.169.254/latest/meta-data/".into(),
        "http://10.0.0.1/admin".into(),
        "http://100.64.0.1/admin".into(),
        "http://[fd00::1]/admin".into(),
        "file:///etc/passwd".into(),
    ] {
        for (key, extra) in [
            (
                "jwks_uri",
                json!({"token_endpoint_auth_method": "private_key_jwt"}),
            ),
            ("backchannel_logout_uri", json!({})),
            ("frontchannel_logout_uri", json!({})),
        ] {
            let mut body = json!({"redirect_uris": ["https://evil.example/cb"]});
            body[key] = json!(url);
            if let Some(m) = extra.as_object() {
                for (k, v) in m {
                    body[k] = v.clone();
                }
            }
            let (status, got) = register(&app, body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{key} {url}: {got}");
            assert_eq!(got["error"], "invalid_client_metadata", "{key} {url}");
        }
    }
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0);
    // A public host is fine.
    let (status, got) = register(
        &app,
        json!({"redirect_uris": ["https://evil.example/cb"], "backchannel_logout_uri": "https://rp.example.com/logout"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{got}");
}
crate::both_backends!(backend dcr_internal_urls, dcr_client_urls_at_internal_addresses_are_refused);

/// SSRF at token time: a client whose `jwks_uri` is on loopback (here set through the trusted
/// admin API, as registration refuses it) authenticates with `private_key_jwt`: the server does
/// not fetch the URL, and the client is refused.
async fn jwks_uri_on_loopback_is_not_fetched_at_token_time(backend: crate::harness::Backend) {
    let Some(app) = open_dcr_app(backend).await else {
        return;
    };
    let (port, hits) = internal_service().await;
    let c = app
        .create_client(json!({"grant_types": ["client_credentials"], "scope": "read", "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": format!("http://127.0.0.1:{port}/internal-jwks?from=jwks_uri")}))
        .await;
    let id = c["client_id"].as_str().expect("id").to_owned();
    let key =
        gatehouse_crypto::SigningKey::generate(gatehouse_crypto::Algorithm::EdDSA).expect("key");
    let now = gatehouse::clock::now();
    let assertion = gatehouse_crypto::jwt::sign(
        &key,
        None,
        &json!({"iss": id, "sub": id, "aud": format!("{}/oauth2/token", app.public), "exp": now + 60, "iat": now, "jti": "j1"}),
    );
    let resp = app
        .http
        .post(format!("{}/oauth2/token", app.public))
        .form(&[
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion.as_str()),
        ])
        .send()
        .await
        .expect("req");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the internal service was called"
    );
}
crate::both_backends!(backend jwks_loopback_not_fetched, jwks_uri_on_loopback_is_not_fetched_at_token_time);

/// A self-registered client may not give itself scopes outside the policy (`admin:*`).
async fn dcr_admin_scope_is_refused(backend: crate::harness::Backend) {
    let Some(app) = open_dcr_app(backend).await else {
        return;
    };
    for scope in [
        "openid offline_access email profile admin:*",
        "admin:*",
        "read:*",
    ] {
        let (status, got) = register(
            &app,
            json!({"redirect_uris": ["https://evil.example/cb"], "scope": scope}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{scope}: {got}");
        assert_eq!(got["error"], "invalid_client_metadata", "{scope}");
    }
    let (status, got) = register(
        &app,
        json!({"redirect_uris": ["https://evil.example/cb"], "scope": "openid offline_access"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{got}");
    assert_eq!(got["scope"], "openid offline_access");
}
crate::both_backends!(backend dcr_admin_scope, dcr_admin_scope_is_refused);

/// A client registered without `scope` can then ask for what discovery lists
/// (`openid profile email`): the authorization goes on to the login, not `invalid_scope`.
async fn registered_client_without_scope_is_usable(backend: crate::harness::Backend) {
    let Some(app) = open_dcr_app(backend).await else {
        return;
    };
    let (status, client) = register(
        &app,
        json!({"redirect_uris": ["https://app.example.com/callback"], "token_endpoint_auth_method": "none"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{client}");
    let scope = client["scope"].as_str().unwrap_or_default();
    for s in ["openid", "profile", "email", "offline_access"] {
        assert!(scope.split(' ').any(|x| x == s), "{scope}");
    }
    let auth = format!(
        "{}/oauth2/auth?client_id={}&response_type=code&redirect_uri={}&scope=openid+profile+email&state=st4te1234&code_challenge={}&code_challenge_method=S256",
        app.public,
        client["client_id"].as_str().expect("id"),
        crate::harness::urlencode("https://app.example.com/callback"),
        crate::harness::CHALLENGE,
    );
    let hop = crate::harness::Browser::default().get(&app, &auth).await;
    assert_eq!(hop.status, StatusCode::SEE_OTHER, "{}", hop.body);
    let to = hop.location.unwrap_or_default();
    assert!(!to.contains("invalid_scope"), "{to}");
    assert!(to.contains("login_challenge="), "{to}");
}
crate::both_backends!(backend dynamic_registration_without_scope_yields_a_usable_client, registered_client_without_scope_is_usable);
