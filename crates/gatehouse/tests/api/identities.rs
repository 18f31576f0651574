//! `/admin/identities` in Kratos's shapes: CRUD, JSON Patch, batch import of hashed passwords,
//! identifiers unique across identities, errors in Kratos's `{"error": {...}}` shape.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::harness::TestApp;

async fn crud(app: TestApp) {
    let i = app
        .create_identity("Alice@Example.com", "correct horse battery")
        .await;
    let id = i["id"].as_str().expect("id").to_owned();
    assert_eq!(i["schema_id"], "default");
    assert_eq!(i["state"], "active");
    assert_eq!(i["traits"]["email"], "Alice@Example.com");
    assert_eq!(i["verifiable_addresses"][0]["value"], "alice@example.com");
    assert_eq!(i["verifiable_addresses"][0]["verified"], false);
    assert_eq!(i["recovery_addresses"][0]["via"], "email");
    assert_eq!(
        i["credentials"]["password"]["identifiers"],
        json!(["alice@example.com"])
    );
    assert!(i["credentials"]["password"].get("config").is_none());

    // The same identifier, in another case, is taken.
    let (status, body) = app
        .admin(
            Method::POST,
            "/admin/identities",
            Some(json!({"traits": {"email": "alice@example.COM"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], 409);

    let (status, got) = app
        .admin_get(&format!(
            "/admin/identities/{id}?include_credential=password"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    let hash = got["credentials"]["password"]["config"]["hashed_password"]
        .as_str()
        .expect("hash shown to the admin when asked");
    assert!(hash.starts_with("$argon2id$"), "{hash}");

    let (_, list) = app
        .admin_get("/admin/identities?credentials_identifier=alice@example.com")
        .await;
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    let (_, none) = app
        .admin_get("/admin/identities?credentials_identifier=bob@example.com")
        .await;
    assert_eq!(none, json!([]));

    let (status, updated) = app
        .admin(
            Method::PUT,
            &format!("/admin/identities/{id}"),
            Some(
                json!({"traits": {"email": "alice@example.com", "name": "Alice"}, "state": "active",
                        "metadata_public": {"roles": ["admin"]}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["metadata_public"]["roles"], json!(["admin"]));
    assert_eq!(updated["traits"]["name"], "Alice");

    let (status, patched) = app
        .admin(
            Method::PATCH,
            &format!("/admin/identities/{id}"),
            Some(json!([{"op": "replace", "path": "/traits/name", "value": "Alice B."}])),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["traits"]["name"], "Alice B.");
    let (status, _) = app
        .admin(
            Method::PATCH,
            &format!("/admin/identities/{id}"),
            Some(json!([{"op": "replace", "path": "/id", "value": "x"}])),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, _) = app
        .admin(Method::DELETE, &format!("/admin/identities/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app.admin_get(&format!("/admin/identities/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["status"], "Not Found");
}
both_backends!(identity_crud, crud);

async fn bad_input(app: TestApp) {
    for body in [
        json!({"traits": {"email": "not-an-email"}}),
        json!({"traits": {"email": "a@example.com", "unknown": 1}}),
        json!({"traits": {}}),
        json!({"schema_id": "nope", "traits": {"email": "a@example.com"}}),
        json!({"traits": {"email": "a@example.com"}, "credentials": {"password": {"config": {"password": "short"}}}}),
        json!({"traits": {"email": "a@example.com"}, "credentials": {"password": {"config": {"password": "qwerty123"}}}}),
        json!({"traits": {"email": "a@example.com"}, "credentials": {"password": {"config": {"hashed_password": "plaintext"}}}}),
        json!({"traits": {"email": "a@example.com"}, "metadata_public": [1]}),
    ] {
        let (status, resp) = app
            .admin(Method::POST, "/admin/identities", Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {resp}");
        assert_eq!(resp["error"]["code"], 400, "{resp}");
    }
    let resp = app
        .http
        .post(format!("{}/admin/identities", app.admin))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let (status, _) = app.admin_get("/admin/identities/not-a-uuid").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
both_backends!(identity_bad_input, bad_input);

async fn batch_import(app: TestApp) {
    // bcrypt of "import-me-please" (cost 4), made with Python's bcrypt 4.
    let (status, out) = app
        .admin(
            Method::PATCH,
            "/admin/identities",
            Some(json!({"identities": [
                {"patch_id": "p1", "create": {"traits": {"email": "imported@example.com"},
                    "credentials": {"password": {"config": {"hashed_password": "$2b$04$c5y6ddZ1dJZ5X8JQpCs8Ue3kPhrdNP4nX9tHzQ4h4x4B5vQ9XyWbm"}}},
                    "verifiable_addresses": [{"value": "imported@example.com", "verified": true, "via": "email"}]}},
                {"patch_id": "p2", "create": {"traits": {"email": "imported@example.com"}}},
                {"patch_id": "p3", "create": {"traits": {"email": "bad"}}}
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let r = out["identities"].as_array().expect("list");
    assert_eq!(r[0]["action"], "create");
    assert_eq!(r[0]["patch_id"], "p1");
    assert_eq!(r[1]["action"], "error");
    assert_eq!(r[1]["error"]["code"], 409);
    assert_eq!(r[2]["error"]["code"], 400);
    let id = r[0]["identity"].as_str().expect("id");
    let (_, got) = app.admin_get(&format!("/admin/identities/{id}")).await;
    assert_eq!(got["verifiable_addresses"][0]["verified"], true);
    assert_eq!(got["verifiable_addresses"][0]["status"], "completed");
}
both_backends!(identity_batch_import, batch_import);
