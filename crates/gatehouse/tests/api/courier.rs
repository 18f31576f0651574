//! The courier: messages queued through `App::courier` reach a real SMTP server (aiosmtpd), are
//! stored encrypted, are retried and abandoned when the server is down, and are listed by
//! Kratos's admin API at `/admin/courier/messages`.

use std::time::Duration;

use gatehouse::config::Dur;
use gatehouse::config::RawConfig;
use gatehouse::courier::TemplateType;
use gatehouse_store::CourierMessageRow;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::{Backend, SmtpSink, TestApp, eventually};

fn fast(c: &mut RawConfig, uri: String) {
    c.courier.smtp.connection_uri = Some(uri);
    c.courier.poll_interval = Dur(Duration::from_millis(100));
}

async fn status_of(app: &TestApp, id: &str) -> CourierMessageRow {
    app.app
        .store
        .get_message(id)
        .await
        .expect("store")
        .expect("message exists")
}

async fn recovery_email(app: &TestApp, to: &str, code: &str) -> String {
    app.app
        .courier
        .enqueue_email(
            to,
            TemplateType::RecoveryCodeValid,
            json!({"code": code, "expires_in_minutes": 15, "identity": {"traits": {"email": to}}}),
            gatehouse::clock::now(),
        )
        .await
        .expect("queued")
}

both_backends!(backend delivers_to_smtp_and_stores_encrypted, delivers_body);
async fn delivers_body(backend: Backend) {
    let sink = SmtpSink::start().await;
    let Some(app) = TestApp::spawn_on(backend, |c| fast(c, sink.connection_uri())).await else {
        return;
    };
    let id = recovery_email(&app, "alice@example.com", "918273").await;

    let got = sink.wait_for(1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].to, "alice@example.com");
    assert_eq!(got[0].from, "no-reply@gatehouse.local");
    assert_eq!(got[0].subject, "Recover access to your account");
    assert!(got[0].body.contains("918273"), "{}", got[0].body);

    let row = eventually(10, || async {
        let r = status_of(&app, &id).await;
        (r.status == "sent").then_some(r)
    })
    .await;
    assert_eq!(row.send_count, 1);
    assert_eq!(row.template_type, "recovery_code_valid");
    assert!(
        !row.data.contains("918273") && !row.data.contains("Recover access"),
        "stored in plaintext: {}",
        row.data
    );

    let (status, m) = app
        .admin_get(&format!("/admin/courier/messages/{id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{m}");
    assert_eq!(m["id"], id.as_str());
    assert_eq!(m["status"], "sent");
    assert_eq!(m["type"], "email");
    assert_eq!(m["recipient"], "alice@example.com");
    assert_eq!(m["subject"], "Recover access to your account");
    assert_eq!(m["template_type"], "recovery_code_valid");
    assert_eq!(m["send_count"], 1);
    assert!(
        m["body"].as_str().is_some_and(|b| b.contains("918273")),
        "{m}"
    );
    assert!(
        m["created_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z') && t.contains('T')),
        "{m}"
    );
}

both_backends!(backend unreachable_smtp_retries_then_abandons, abandons);
async fn abandons(backend: Backend) {
    // A port nobody listens on: every attempt fails with "connection refused".
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let Some(app) = TestApp::spawn_on(backend, |c| {
        fast(c, format!("smtp://127.0.0.1:{port}/?disable_starttls=true"));
        c.courier.message_retries = 2;
    })
    .await
    else {
        return;
    };
    let id = recovery_email(&app, "bob@example.com", "555111").await;
    let first_failure = eventually(10, || async {
        let r = status_of(&app, &id).await;
        (r.send_count >= 1).then_some(r)
    })
    .await;
    assert_ne!(first_failure.status, "sent");
    // Backoff 1 s then 2 s: three attempts (one plus two retries), then abandoned.
    let row = eventually(15, || async {
        let r = status_of(&app, &id).await;
        (r.status == "abandoned").then_some(r)
    })
    .await;
    assert_eq!(row.send_count, 3);
    assert!(row.updated_at - row.created_at >= 3, "{row:?}");
}

both_backends!(backend admin_lists_filters_and_pages, lists);
async fn lists(backend: Backend) {
    let sink = SmtpSink::start().await;
    let Some(app) = TestApp::spawn_on(backend, |c| fast(c, sink.connection_uri())).await else {
        return;
    };
    let mut ids = Vec::new();
    for (to, code) in [
        ("carol@example.com", "100001"),
        ("dave@example.com", "100002"),
        ("carol@example.com", "100003"),
    ] {
        ids.push(recovery_email(&app, to, code).await);
    }
    sink.wait_for(3).await;
    for id in &ids {
        eventually(10, || async {
            (status_of(&app, id).await.status == "sent").then_some(())
        })
        .await;
    }

    let list = |q: &'static str| {
        let app = &app;
        async move {
            let resp = app
                .http
                .get(format!("{}/admin/courier/messages{q}", app.admin))
                .send()
                .await
                .expect("request");
            let status = resp.status();
            let link = resp
                .headers()
                .get("link")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            (status, link, resp.json::<Value>().await.expect("json"))
        }
    };
    let (status, link, all) = list("").await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(all.as_array().map(Vec::len), Some(3));
    assert_eq!(link, None);
    assert!(all[0]["body"].as_str().is_some_and(|b| b.contains("1000")));

    let (_, _, carol) = list("?recipient=carol%40example.com").await;
    assert_eq!(carol.as_array().map(Vec::len), Some(2), "{carol}");
    assert!(
        carol
            .as_array()
            .into_iter()
            .flatten()
            .all(|m| m["recipient"] == "carol@example.com")
    );
    let (_, _, sent) = list("?status=sent").await;
    assert_eq!(sent.as_array().map(Vec::len), Some(3));
    let (_, _, queued) = list("?status=queued").await;
    assert_eq!(queued, json!([]));

    let (_, link, page) = list("?page_size=2").await;
    assert_eq!(page.as_array().map(Vec::len), Some(2));
    let link = link.expect("a Link header to the next page");
    assert!(
        link.contains("page_token=2") && link.contains("rel=\"next\""),
        "{link}"
    );
    let (_, link, rest) = list("?page_size=2&page_token=2").await;
    assert_eq!(rest.as_array().map(Vec::len), Some(1));
    assert_eq!(link, None);

    let (status, _, err) = list("?status=lost").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(err["error"]["code"], 400);
    assert_eq!(err["error"]["status"], "Bad Request");

    let (status, err) = app.admin_get("/admin/courier/messages/no-such-id").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{err}");
    assert_eq!(err["error"]["code"], 404);
    assert_eq!(err["error"]["status"], "Not Found");
    assert!(err["error"]["message"].is_string() && err["error"]["reason"].is_string());
}

both_backends!(backend a_claim_is_exclusive_and_stuck_claims_requeue, claims);
async fn claims(backend: Backend) {
    let Some(app) = TestApp::spawn_on(backend, |_| {}).await else {
        return;
    };
    let store = &app.app.store;
    let now = gatehouse::clock::now();
    // Due far in the future, so the app's own worker leaves it alone.
    let row = CourierMessageRow {
        id: "m-claim".into(),
        status: "queued".into(),
        channel: "email".into(),
        recipient: "eve@example.com".into(),
        template_type: "login_code_valid".into(),
        data: "{}".into(),
        send_count: 0,
        next_attempt_at: now + 86_400,
        created_at: now,
        updated_at: now,
    };
    store.insert_message(&row).await.expect("insert");
    assert!(store.claim_message("m-claim", now).await.expect("claim"));
    assert!(
        !store.claim_message("m-claim", now).await.expect("claim"),
        "claimed twice"
    );
    assert_eq!(status_of(&app, "m-claim").await.status, "processing");
    assert_eq!(
        store
            .requeue_stuck_messages(now - 600, now)
            .await
            .expect("requeue"),
        0,
        "a fresh claim is not stuck"
    );
    assert_eq!(
        store
            .requeue_stuck_messages(now + 1, now + 1)
            .await
            .expect("requeue"),
        1
    );
    assert_eq!(status_of(&app, "m-claim").await.status, "queued");
    assert!(!store.claim_message("nope", now).await.expect("claim"));
}

/// Without `courier.smtp.connection_uri` the message goes to the log and counts as sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn development_mode_logs_instead_of_sending() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.courier.poll_interval = Dur(Duration::from_millis(100));
    })
    .await;
    let id = app
        .app
        .courier
        .enqueue_email(
            "frank@example.com",
            TemplateType::VerificationCodeValid,
            json!({"code": "424242", "verification_url": "https://example.com/verify", "expires_in_minutes": 60}),
            gatehouse::clock::now(),
        )
        .await
        .expect("queued");
    eventually(10, || async {
        (status_of(&app, &id).await.status == "sent").then_some(())
    })
    .await;
    let err = app
        .app
        .courier
        .enqueue_email(
            "not an address",
            TemplateType::RecoveryCodeInvalid,
            json!({}),
            0,
        )
        .await
        .expect_err("bad recipient");
    assert!(err.to_string().contains("not an e-mail address"), "{err}");
}
