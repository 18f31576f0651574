//! `/admin/audit-events`: security events are recorded and queryable.

use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::{Browser, TestApp, login_and_consent};

async fn events_are_recorded(app: TestApp) {
    let c = app.web_client().await;
    let bad = json!({"client_id": c["client_id"], "client_secret": "gcs_wrong"});
    let _ = app
        .token(&bad, &[("grant_type", "client_credentials")])
        .await;
    let mut b = Browser::default();
    let _ = login_and_consent(&app, &mut b, &c, "", false).await;
    let mut kinds: Vec<String> = Vec::new();
    for _ in 0..50 {
        let (_, list) = app.admin_get("/admin/audit-events?limit=50").await;
        kinds = list
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["kind"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if [
            "client.created",
            "client.authentication_failed",
            "login.accepted",
            "consent.accepted",
        ]
        .iter()
        .all(|k| kinds.iter().any(|x| x == k))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for k in [
        "client.created",
        "client.authentication_failed",
        "login.accepted",
        "consent.accepted",
    ] {
        assert!(kinds.iter().any(|x| x == k), "{k} missing from {kinds:?}");
    }
    let (_, by_subject) = app
        .admin_get("/admin/audit-events?subject=alice&kind=login.accepted")
        .await;
    let first: &Value = &by_subject[0];
    assert_eq!(first["subject"], "alice");
    assert_eq!(first["client_id"], c["client_id"]);
    assert_eq!(first["data"]["amr"], json!(["pwd"]));
}
both_backends!(audit_events, events_are_recorded);
