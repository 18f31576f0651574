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
    assert_eq!(c["scope"], "openid offline_access");
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
