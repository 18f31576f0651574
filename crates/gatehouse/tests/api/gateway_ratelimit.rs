//! The gateway's rate limits (`access_rules.rate_limits`) over the decision API: local counters
//! refuse the request past the limit with 429 and `Retry-After`; per-rule limits; the client IP
//! from `X-Forwarded-For` of a trusted proxy only; with Redis, two Gatehouses share one counter;
//! with that Redis stopped (a redis-server this test starts itself), decisions keep being served
//! on local counters.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::credentials_gateways::{Proc, binary, free_port, wait_listening};
use crate::harness::{Backend, TestApp};

fn write_rules(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("rules.json");
    let rules = json!([
        {
            "id": "open",
            "match": {"url": "http://app.example.com/open/<**>", "methods": ["GET"]},
            "authenticators": [{"handler": "anonymous"}],
            "authorizer": {"handler": "allow"}
        },
        {
            "id": "scarce",
            "match": {"url": "http://app.example.com/scarce/<**>", "methods": ["GET"]},
            "authenticators": [{"handler": "anonymous"}],
            "authorizer": {"handler": "allow"}
        }
    ]);
    std::fs::write(&path, rules.to_string()).expect("write rules");
    path
}

/// Fixed windows: a phase of the test must not straddle a minute boundary.
pub(crate) async fn fresh_window() {
    let now = u64::try_from(gatehouse::clock::now()).unwrap_or_default();
    if now % 60 > 45 {
        tokio::time::sleep(Duration::from_secs(61 - now % 60)).await;
    }
}

async fn decide(app: &TestApp, path: &str, xff: Option<&str>) -> (StatusCode, Option<u64>, Value) {
    let mut req = app
        .http
        .get(format!("{}/decisions{path}", app.decisions))
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-Proto", "http")
        .header("X-Forwarded-Host", "app.example.com")
        .header("X-Forwarded-Uri", path);
    if let Some(x) = xff {
        req = req.header("X-Forwarded-For", x);
    }
    let resp = req.send().await.expect("decision");
    let status = resp.status();
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (status, retry, resp.json().await.unwrap_or(Value::Null))
}

fn assert_limited(got: &(StatusCode, Option<u64>, Value), scope: &str) {
    let (status, retry, body) = got;
    assert_eq!(*status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        retry.is_some_and(|r| (1..=60).contains(&r)),
        "Retry-After: {retry:?}"
    );
    assert_eq!(body["error"]["code"], 429, "{body}");
    assert_eq!(body["error"]["status"], "Too Many Requests", "{body}");
    assert!(
        body["error"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains(scope)),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_counters_refuse_past_the_limit_with_retry_after() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = write_rules(dir.path());
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.access_rules.repositories = vec![rules.into()];
        c.access_rules.matching_strategy = "glob".into();
        c.access_rules.rate_limits.per_ip_per_minute = 3;
        c.access_rules.rate_limits.rules.insert("scarce".into(), 1);
        c.access_rules.rate_limits.trusted_proxies = vec!["127.0.0.0/8".into()];
    })
    .await;
    fresh_window().await;

    // Per IP: three pass, the fourth is refused; the IP is the peer's without X-Forwarded-For.
    for _ in 0..3 {
        assert_eq!(decide(&app, "/open/x", None).await.0, StatusCode::OK);
    }
    assert_limited(&decide(&app, "/open/x", None).await, "ip");
    // Behind a trusted proxy, each client has its own counter ...
    assert_eq!(
        decide(&app, "/open/x", Some("203.0.113.7")).await.0,
        StatusCode::OK
    );
    // ... and what a client writes to the left of the proxy's entry changes nothing.
    for _ in 0..2 {
        assert_eq!(
            decide(&app, "/open/x", Some("6.6.6.6, 203.0.113.7"))
                .await
                .0,
            StatusCode::OK
        );
    }
    assert_limited(
        &decide(&app, "/open/x", Some("7.7.7.7, 203.0.113.7")).await,
        "ip",
    );

    // Per rule: one decision per minute for `scarce`, whoever asks.
    assert_eq!(
        decide(&app, "/scarce/x", Some("198.51.100.1")).await.0,
        StatusCode::OK
    );
    assert_limited(
        &decide(&app, "/scarce/x", Some("198.51.100.2")).await,
        "rule",
    );
    let metrics = app.app.metrics.encode();
    assert!(
        metrics.contains("gatehouse_gateway_rate_limited_total{scope=\"rule\"} 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_limits_nothing_is_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = write_rules(dir.path());
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.access_rules.repositories = vec![rules.into()];
        c.access_rules.matching_strategy = "glob".into();
        // A Redis that does not exist: with every limit off it is never asked.
        c.redis.url = Some(format!("redis://127.0.0.1:{}/0", free_port()).into());
    })
    .await;
    for _ in 0..50 {
        assert_eq!(decide(&app, "/open/x", None).await.0, StatusCode::OK);
    }
    let metrics = app.app.metrics.encode();
    assert!(!metrics.contains("op=\"rate_limit\""), "{metrics}");
}

/// A redis-server of this test's own on `port`, without persistence (`None`: skip, outside CI).
pub async fn own_redis_on(port: u16) -> Option<Proc> {
    let server = binary(&["/usr/bin/redis-server", "/usr/local/bin/redis-server"])?;
    let mut proc = Proc(
        Command::new(server)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server"),
    );
    wait_listening(port, &mut proc, "redis-server").await;
    Some(proc)
}

/// [`own_redis_on`] a free port, with its URL.
pub async fn own_redis() -> Option<(Proc, String)> {
    let port = free_port();
    let proc = own_redis_on(port).await?;
    Some((proc, format!("redis://127.0.0.1:{port}/0")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_shares_the_counters_and_an_outage_falls_back_to_local_ones() {
    let Some((mut redis, url)) = own_redis().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = write_rules(dir.path());
    let prefix = format!("gatehouse-test:{}:", uuid::Uuid::new_v4().simple());
    let replica = || {
        let (rules, url, prefix) = (rules.clone(), url.clone(), prefix.clone());
        TestApp::spawn_with(Backend::Sqlite, move |c| {
            c.access_rules.repositories = vec![rules.into()];
            c.access_rules.matching_strategy = "glob".into();
            c.access_rules.rate_limits.per_ip_per_minute = 4;
            c.redis.url = Some(url.into());
            c.redis.key_prefix = prefix;
        })
    };
    let a = replica().await;
    let b = replica().await;
    fresh_window().await;

    // One counter for both: two on A and two on B pass, the fifth is refused on either.
    for app in [&a, &b, &a, &b] {
        assert_eq!(decide(app, "/open/x", None).await.0, StatusCode::OK);
    }
    assert_limited(&decide(&a, "/open/x", None).await, "ip");
    assert_limited(&decide(&b, "/open/x", None).await, "ip");

    // Redis goes away: decisions are still answered, promptly, on A's own counters (which
    // have seen none of the above), so the limit still holds per replica.
    let _ = redis.0.kill();
    let _ = redis.0.wait();
    fresh_window().await;
    for i in 0..5 {
        let started = Instant::now();
        let got = decide(&a, "/open/x", None).await;
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "decision {i} took {:?}",
            started.elapsed()
        );
        if i < 4 {
            assert_eq!(got.0, StatusCode::OK, "{}", got.2);
        } else {
            assert_limited(&got, "ip");
        }
    }
    let metrics = a.app.metrics.encode();
    assert!(
        metrics.contains("gatehouse_redis_errors_total{op=\"rate_limit\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("gatehouse_gateway_rate_limit_local_fallback_total 5"),
        "{metrics}"
    );
}
