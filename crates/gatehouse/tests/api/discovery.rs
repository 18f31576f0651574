//! `/.well-known/*` and health.

use serde_json::Value;

use crate::both_backends;
use crate::harness::TestApp;

async fn metadata_is_complete_and_truthful(app: TestApp) {
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let doc: Value = app
            .http
            .get(format!("{}{path}", app.public))
            .send()
            .await
            .expect("req")
            .json()
            .await
            .expect("json");
        assert_eq!(doc["issuer"], app.issuer());
        assert_eq!(
            doc["token_endpoint"],
            format!("{}/oauth2/token", app.issuer())
        );
        assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
        assert_eq!(
            doc["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
        // Every advertised endpoint answers (none is a 404).
        for key in [
            "authorization_endpoint",
            "token_endpoint",
            "jwks_uri",
            "userinfo_endpoint",
            "revocation_endpoint",
        ] {
            let url = doc[key].as_str().expect("url");
            let status = app.http.get(url).send().await.expect("req").status();
            assert_ne!(status.as_u16(), 404, "{key} {url}");
        }
        assert!(
            doc.get("registration_endpoint").is_none(),
            "registration is off by default"
        );
    }
}
both_backends!(metadata, metadata_is_complete_and_truthful);

async fn jwks_publishes_the_signing_key(app: TestApp) {
    let resp = app
        .http
        .get(format!("{}/.well-known/jwks.json", app.public))
        .send()
        .await
        .expect("req");
    assert_eq!(resp.status(), 200);
    let jwks: Value = resp.json().await.expect("json");
    let keys = jwks["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["alg"], "ES256");
    assert_eq!(keys[0]["kty"], "EC");
    assert!(keys[0].get("d").is_none(), "no private parts");
}
both_backends!(jwks, jwks_publishes_the_signing_key);

async fn health_endpoints_answer(app: TestApp) {
    for base in [&app.public, &app.admin] {
        for p in ["/health/alive", "/health/ready"] {
            assert_eq!(
                app.http
                    .get(format!("{base}{p}"))
                    .send()
                    .await
                    .expect("req")
                    .status(),
                200,
                "{base}{p}"
            );
        }
    }
}
both_backends!(health, health_endpoints_answer);

#[tokio::test]
async fn the_data_directory_and_secret_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let app = TestApp::spawn(crate::harness::Backend::Sqlite).await;
    let dir = &app.app.config.data_dir;
    assert_eq!(
        std::fs::metadata(dir).expect("dir").permissions().mode() & 0o777,
        0o700
    );
    assert_eq!(
        std::fs::metadata(dir.join("system.secret"))
            .expect("secret")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
}

async fn metrics_are_exposed_on_the_admin_listener(app: TestApp) {
    let c = app
        .create_client(serde_json::json!({"grant_types": ["client_credentials"]}))
        .await;
    let _ = app.token(&c, &[("grant_type", "client_credentials")]).await;
    let _ = app
        .http
        .get(format!("{}/.well-known/jwks.json", app.public))
        .send()
        .await
        .expect("req");
    let text = app
        .http
        .get(format!("{}/metrics", app.admin))
        .send()
        .await
        .expect("req")
        .text()
        .await
        .expect("text");
    assert!(
        text.contains(r#"gatehouse_tokens_issued_total{grant_type="client_credentials"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"route="/.well-known/jwks.json""#), "{text}");
    assert!(
        text.contains("gatehouse_http_request_duration_seconds_bucket"),
        "{text}"
    );
    // Not on the public listener.
    assert_eq!(
        app.http
            .get(format!("{}/metrics", app.public))
            .send()
            .await
            .expect("req")
            .status(),
        404
    );
}
both_backends!(metrics, metrics_are_exposed_on_the_admin_listener);
