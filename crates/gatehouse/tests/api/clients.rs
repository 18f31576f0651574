//! `/admin/clients`: CRUD in Hydra's shapes; secrets shown once.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::{REDIRECT, TestApp};

async fn crud(app: TestApp) {
    let c = app.web_client().await;
    let id = c["client_id"].as_str().expect("id").to_owned();
    assert!(
        c["client_secret"]
            .as_str()
            .expect("secret")
            .starts_with("gcs_")
    );
    let (status, got) = app.admin_get(&format!("/admin/clients/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        got.get("client_secret").is_none(),
        "the secret is shown only once"
    );
    assert_eq!(got["redirect_uris"], json!([REDIRECT]));

    let (status, list) = app.admin_get("/admin/clients").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        list.as_array()
            .expect("list")
            .iter()
            .any(|c| c["client_id"] == id.as_str())
    );

    let mut updated = got.clone();
    updated["client_name"] = json!("renamed");
    let (status, put) = app
        .admin_put(&format!("/admin/clients/{id}"), updated)
        .await;
    assert_eq!(status, StatusCode::OK, "{put}");
    assert_eq!(put["client_name"], "renamed");
    // The old secret still works after a PUT without a secret.
    let (status, _, _) = app
        .token(
            &json!({"client_id": id, "client_secret": c["client_secret"]}),
            &[("grant_type", "refresh_token"), ("refresh_token", "grt_x")],
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "authenticated, then invalid_grant"
    );

    let resp = app
        .http
        .patch(format!("{}/admin/clients/{id}", app.admin))
        .json(&json!([{"op": "replace", "path": "/client_name", "value": "patched"}]))
        .send()
        .await
        .expect("req");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.json::<Value>().await.expect("json")["client_name"],
        "patched"
    );

    let resp = app
        .http
        .delete(format!("{}/admin/clients/{id}", app.admin))
        .send()
        .await
        .expect("req");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (status, err) = app.admin_get(&format!("/admin/clients/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(err["status_code"], 404);
}
both_backends!(client_crud, crud);

async fn bad_metadata_is_refused(app: TestApp) {
    for (body, code) in [
        (
            json!({"grant_types": ["implicit"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"grant_types": ["authorization_code"], "redirect_uris": []}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["http://evil.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb#frag"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"grant_types": ["client_credentials"], "client_secret": "short"}),
            "invalid_client_metadata",
        ),
        (
            json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"}),
            "invalid_client_metadata",
        ),
        (
            json!({"grant_types": "not-a-list"}),
            "invalid_client_metadata",
        ),
    ] {
        let resp = app
            .http
            .post(format!("{}/admin/clients", app.admin))
            .json(&body)
            .send()
            .await
            .expect("req");
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{body}");
        let v: Value = resp.json().await.expect("json");
        assert_eq!(v["error"], code, "{body} -> {v}");
    }
    let c = app
        .create_client(json!({"client_id": "fixed-id", "grant_types": ["client_credentials"]}))
        .await;
    assert_eq!(c["client_id"], "fixed-id");
    let resp = app
        .http
        .post(format!("{}/admin/clients", app.admin))
        .json(&json!({"client_id": "fixed-id", "grant_types": ["client_credentials"]}))
        .send()
        .await
        .expect("req");
    assert_eq!(resp.status(), StatusCode::CONFLICT);
}
both_backends!(client_validation, bad_metadata_is_refused);

async fn list_filters(app: TestApp) {
    app.create_client(
        json!({"client_name": "alpha", "owner": "team-a", "grant_types": ["client_credentials"]}),
    )
    .await;
    app.create_client(
        json!({"client_name": "beta", "owner": "team-b", "grant_types": ["client_credentials"]}),
    )
    .await;
    let (_, by_name) = app.admin_get("/admin/clients?client_name=alpha").await;
    let names: Vec<&str> = by_name
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["client_name"].as_str())
        .collect();
    assert_eq!(names, vec!["alpha"]);
    let (_, by_owner) = app.admin_get("/admin/clients?owner=team-b").await;
    let names: Vec<&str> = by_owner
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["client_name"].as_str())
        .collect();
    assert_eq!(names, vec!["beta"]);
    let resp = app
        .http
        .get(format!("{}/admin/clients?page_size=1", app.admin))
        .send()
        .await
        .expect("req");
    assert!(
        resp.headers()["link"]
            .to_str()
            .unwrap_or_default()
            .contains("page_token=1")
    );
}
both_backends!(client_list_filters, list_filters);
