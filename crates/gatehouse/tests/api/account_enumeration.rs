//! Account enumeration through the login (security probe 4.2): a wrong password for a real
//! account and any password for an unknown identifier get the same answer after the same work:
//! one password hash and one audit event each.

use reqwest::StatusCode;

use crate::harness::{TestApp, eventually};
use crate::selfservice::api_login;

async fn failed_logins(app: &TestApp) -> Vec<serde_json::Value> {
    let (status, list) = app
        .admin_get("/admin/audit-events?kind=identity.login_failed&limit=50")
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list.as_array().cloned().unwrap_or_default()
}

async fn unknown_and_known_fail_alike(app: TestApp) {
    let known = app
        .create_identity("known@example.com", "correct horse battery")
        .await;
    let (s1, wrong) = api_login(&app, "known@example.com", "not the password").await;
    let (s2, unknown) = api_login(&app, "unknown@example.com", "not the password").await;
    assert_eq!(s1, StatusCode::BAD_REQUEST);
    assert_eq!(s1, s2);
    assert_eq!(wrong["ui"]["messages"], unknown["ui"]["messages"]);
    let events = eventually(10, || async {
        let e = failed_logins(&app).await;
        (e.len() >= 2).then_some(e)
    })
    .await;
    assert!(
        events.iter().any(|e| e["subject"] == known["id"]),
        "{events:?}"
    );
    assert!(
        events.iter().any(|e| e["subject"].is_null()),
        "the unknown identifier's failure is recorded like a real one: {events:?}"
    );
}
crate::both_backends!(
    login_failure_for_an_unknown_identifier_does_the_same_work,
    unknown_and_known_fail_alike
);
