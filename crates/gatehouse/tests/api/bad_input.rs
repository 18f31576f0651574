//! Hostile and malformed requests get the standard error and change nothing.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::TestApp;

async fn malformed_requests(app: TestApp) {
    let token = format!("{}/oauth2/token", app.public);
    // Not a form.
    let resp = app
        .http
        .post(&token)
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .expect("req");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        resp.json::<Value>().await.expect("json")["error"],
        "invalid_request"
    );
    // Oversized body.
    let big = "a".repeat(200_000);
    // The server answers 413 and closes the connection without reading the rest of the body,
    // so this request gets a connection of its own rather than one the next request would reuse.
    let once = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let resp = once
        .post(&token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("grant_type={big}"))
        .send()
        .await
        .expect("req");
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Garbage Basic credentials.
    for h in [
        "Basic",
        "Basic !!!",
        "Basic Og==",
        "Bearer x",
        "Basic YTpi\u{00e9}",
    ] {
        let resp = app
            .http
            .post(&token)
            .header("authorization", h)
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("req");
        assert!(
            resp.status() == StatusCode::UNAUTHORIZED || resp.status() == StatusCode::BAD_REQUEST,
            "{h}: {}",
            resp.status()
        );
    }
    // Malformed JSON on the admin API gets Hydra's error shape.
    let resp = app
        .http
        .post(format!("{}/admin/clients", app.admin))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("req");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        resp.json::<Value>().await.expect("json")["status_code"],
        400
    );
    // Nonsense query strings on the authorization endpoint.
    for q in [
        "",
        "client_id=",
        "client_id=%ZZ",
        "client_id=a&client_id=b",
        &format!("client_id={}", "x".repeat(5000)),
    ] {
        let resp = app
            .http
            .get(format!("{}/oauth2/auth?{q}", app.public))
            .send()
            .await
            .expect("req");
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{q}");
        assert!(resp.headers().get("location").is_none());
    }
    // Introspection of junk is just inactive.
    for t in [
        "",
        "gat_",
        "a.b.c",
        "eyJhbGciOiJub25lIn0.e30.",
        &"x".repeat(10_000),
    ] {
        let resp = app
            .http
            .post(format!("{}/admin/oauth2/introspect", app.admin))
            .form(&[("token", t)])
            .send()
            .await
            .expect("req");
        assert!(
            resp.status() == StatusCode::OK || resp.status() == StatusCode::BAD_REQUEST,
            "{t}"
        );
        if resp.status() == StatusCode::OK {
            assert_eq!(resp.json::<Value>().await.expect("json")["active"], false);
        }
    }
    // The server is still fine.
    assert_eq!(
        app.http
            .get(format!("{}/health/ready", app.public))
            .send()
            .await
            .expect("req")
            .status(),
        StatusCode::OK
    );
}
both_backends!(malformed, malformed_requests);
