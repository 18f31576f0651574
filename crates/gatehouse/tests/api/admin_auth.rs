//! `serve.admin.auth.token`: the admin API requires the bearer token when configured.

use reqwest::StatusCode;

use crate::harness::{Backend, TestApp};

#[tokio::test]
async fn admin_token_is_required_when_configured() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.serve.admin.auth.token = Some("admin-token-0123456789".into())
    })
    .await;
    let url = format!("{}/admin/clients", app.admin);
    assert_eq!(
        app.http.get(&url).send().await.expect("req").status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.http
            .get(&url)
            .bearer_auth("wrong-token-0123456789")
            .send()
            .await
            .expect("req")
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.http
            .get(&url)
            .bearer_auth("admin-token-0123456789")
            .send()
            .await
            .expect("req")
            .status(),
        StatusCode::OK
    );
    // Health stays open for probes.
    assert_eq!(
        app.http
            .get(format!("{}/health/ready", app.admin))
            .send()
            .await
            .expect("req")
            .status(),
        StatusCode::OK
    );
}
