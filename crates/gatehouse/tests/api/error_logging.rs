//! Internal errors are answered without details and logged once, with their source chain and
//! the request id, whatever shape the answer has (Hydra's for the admin API, Kratos's for the
//! credential check). A real `gatehouse serve` process, its log read from its stderr.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::postgres_dsn;
use crate::replicas::Replica;

/// The log lines of internal errors that carry this request id.
fn logged(log: &str, request_id: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains("internal error") && l.contains(request_id))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_internal_error_is_logged_once_with_its_source_and_request_id() {
    let Some(dsn) = postgres_dsn().await else {
        return;
    };
    let r = Replica::start(&dsn, &[("GATEHOUSE_LOG_LEVEL", "info")]).await;
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{}/admin/credentials", r.admin))
        .json(
            &json!({"kind": "service_token", "owner": "worker", "name": "w", "scopes": ["read:*"]}),
        )
        .send()
        .await
        .expect("create");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let svc: Value = resp.json().await.expect("json");
    let id = svc["id"].as_str().expect("id");
    let pool = sqlx::PgPool::connect(&dsn).await.expect("connect");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "UPDATE credentials SET scopes = 'read:*' WHERE id = '{id}'"
    )))
    .execute(&pool)
    .await
    .expect("corrupt the row");
    pool.close().await;

    for (url, body) in [
        (format!("{}/admin/credentials/{id}", r.admin), None),
        (
            format!("{}/credentials/validate", r.public),
            Some(json!({"token": svc["token"]})),
        ),
    ] {
        let req = match &body {
            Some(b) => http.post(&url).json(b),
            None => http.get(&url),
        };
        let resp = req.send().await.expect("request");
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR, "{url}");
        let request_id = resp
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .expect("a request id")
            .to_owned();
        let text = resp.text().await.expect("body");
        assert!(
            !text.contains("scopes") && !text.contains("unreadable") && !text.contains("expected"),
            "no internal detail reaches the caller: {text}"
        );
        // The log is written as the response goes out; give the file a moment.
        let mut lines = Vec::new();
        for _ in 0..50 {
            lines = logged(&r.log(), &request_id);
            if !lines.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(lines.len(), 1, "logged once for {url}:\n{}", r.log());
        assert!(
            lines[0].contains("unreadable") && lines[0].contains("expected"),
            "the line names the row and the decode error (the source): {}",
            lines[0]
        );
    }
}
