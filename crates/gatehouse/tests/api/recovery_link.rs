//! `POST /admin/recovery/link` and the link it returns, opened in a browser: a recovery session
//! and a settings flow in which the password changes; the link works once and expires.

use gatehouse::selfservice::FlowKind;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::{Browser, TestApp, csrf_token, query_param};
use crate::selfservice::{PASSWORD, api_login, whoami};

const NEW_PASSWORD: &str = "a freshly recovered passphrase";

async fn create_link(app: &TestApp, body: Value) -> (StatusCode, Value) {
    app.admin(Method::POST, "/admin/recovery/link", Some(body))
        .await
}

fn has_session(b: &Browser) -> bool {
    b.cookies.iter().any(|(k, _)| k == "gatehouse_session")
}

/// A flow's JSON as the browser sees it (its cookies sent).
async fn browser_flow(app: &TestApp, b: &Browser, kind: &str, id: &str) -> Value {
    let resp = app
        .http
        .get(format!("{}/self-service/{kind}/flows?id={id}", app.public))
        .header("cookie", b.cookie_header())
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.expect("json")
}

/// Opens a refused link: no session, and a new recovery flow saying why (Kratos's message id).
async fn assert_refused(app: &TestApp, link: &str, message_id: u64) {
    let mut b = Browser::default();
    let hop = b.get(app, link).await;
    assert_eq!(hop.status, StatusCode::SEE_OTHER, "{}", hop.body);
    let to = hop.location.expect("redirect");
    assert!(
        to.starts_with(&format!("{}/ui/recovery?flow=", app.public)),
        "{to}"
    );
    assert!(!has_session(&b), "a refused link gives no session");
    let id = query_param(&to, "flow").expect("flow id");
    assert_ne!(
        Some(id.as_str()),
        query_param(link, "flow").as_deref(),
        "a new flow"
    );
    let flow = browser_flow(app, &b, "recovery", &id).await;
    assert_eq!(flow["ui"]["messages"][0]["id"], message_id, "{flow}");
}

async fn link_recovers_once(app: TestApp) {
    let identity = app.create_identity("lou@example.com", PASSWORD).await;
    let (_, old) = api_login(&app, "lou@example.com", PASSWORD).await;
    let old_token = old["session_token"].as_str().expect("token").to_owned();

    let (status, r) = create_link(
        &app,
        json!({"identity_id": identity["id"], "expires_in": "1h"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    assert!(r.get("recovery_code").is_none(), "a link, not a code: {r}");
    let link = r["recovery_link"].as_str().expect("link").to_owned();
    assert!(
        link.starts_with(&format!("{}/self-service/recovery?flow=", app.public)),
        "{link}"
    );
    let expires = time::OffsetDateTime::parse(
        r["expires_at"].as_str().expect("expires_at"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("RFC 3339");
    let in_secs = expires.unix_timestamp() - gatehouse::clock::now();
    assert!((3540..=3600).contains(&in_secs), "expires in {in_secs}s");

    // Opened in a browser: a session cookie, and on to the settings flow.
    let mut b = Browser::default();
    let hop = b.get(&app, &link).await;
    assert_eq!(hop.status, StatusCode::SEE_OTHER, "{}", hop.body);
    let to = hop.location.expect("redirect");
    assert!(
        to.starts_with(&format!("{}/ui/settings?flow=", app.public)),
        "{to}"
    );
    assert!(has_session(&b), "the recovery session's cookie is set");
    let (status, _) = whoami(&app, &old_token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "other sessions end");

    // That session changes the password in the settings flow, as this browser.
    let settings_id = query_param(&to, "flow").expect("settings flow");
    let settings = browser_flow(&app, &b, "settings", &settings_id).await;
    assert_eq!(settings["identity"]["id"], identity["id"]);
    let csrf = csrf_token(&settings)
        .filter(|v| !v.is_empty())
        .expect("the settings form carries this browser's CSRF token")
        .to_owned();
    let resp = app
        .http
        .post(settings["ui"]["action"].as_str().expect("action"))
        .header("cookie", b.cookie_header())
        .header("accept", "application/json")
        .json(&json!({"method": "password", "password": NEW_PASSWORD, "csrf_token": csrf}))
        .send()
        .await
        .expect("request");
    let status = resp.status();
    let saved: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!(status, StatusCode::OK, "{saved}");
    let (status, _) = api_login(&app, "lou@example.com", NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "the new password logs in");
    let (status, _) = api_login(&app, "lou@example.com", PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the old one no longer does"
    );

    // The link works once.
    assert_refused(&app, &link, 4_060_004).await;
    // A forged token for a live flow is refused the same way.
    let (_, fresh) = create_link(&app, json!({"identity_id": identity["id"]})).await;
    let fresh = fresh["recovery_link"].as_str().expect("link");
    let forged = format!(
        "{}{}",
        &fresh[..fresh.len() - 1],
        if fresh.ends_with('A') { 'B' } else { 'A' }
    );
    assert_refused(&app, &forged, 4_060_004).await;
}
both_backends!(admin_recovery_link_works_once, link_recovers_once);

async fn expired_link(app: TestApp) {
    let identity = app.create_identity("max@example.com", PASSWORD).await;
    let (status, r) = create_link(
        &app,
        json!({"identity_id": identity["id"], "expires_in": "10m"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    let link = r["recovery_link"].as_str().expect("link");
    // Ten minutes pass: the stored flow's expiry moves into the past.
    let flows = &app.app.state.flows;
    let id = query_param(link, "flow").expect("flow id");
    let mut flow = flows.load(FlowKind::Recovery, &id).await.expect("flow");
    flow.expires_at = gatehouse::clock::now() - 1;
    flows.save(&flow).await.expect("save");
    assert_refused(&app, link, 4_060_005).await;
}
both_backends!(admin_recovery_link_expires, expired_link);

async fn link_refusals(app: TestApp) {
    let (status, e) = create_link(
        &app,
        json!({"identity_id": "00000000-0000-4000-8000-000000000000"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{e}");
    assert_eq!(e["error"]["code"], 404, "Kratos's error shape: {e}");
    let identity = app.create_identity("ned@example.com", PASSWORD).await;
    for bad in ["soon", "-1h", "1y"] {
        let (status, e) = create_link(
            &app,
            json!({"identity_id": identity["id"], "expires_in": bad}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {e}");
        assert_eq!(e["error"]["code"], 400, "{e}");
    }
    // A link needs both its flow and its token.
    let resp = app
        .http
        .get(format!("{}/self-service/recovery?flow=x", app.public))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}
both_backends!(admin_recovery_link_refusals, link_refusals);
