//! Replicas: two real `gatehouse serve` processes on one PostgreSQL database and one Redis. A
//! session or PAT cached on replica B and revoked on replica A is refused by B within well under
//! a second, although B's caches keep entries for ten minutes — only the invalidation bus
//! explains it.
//!
//! Needs `GATEHOUSE_TEST_POSTGRES_DSN` and `GATEHOUSE_TEST_REDIS_URL` (`scripts/test` starts
//! both); outside CI a missing one skips the test, in CI it fails.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::credentials_gateways::{Proc, binary, free_port, wait_listening};
use crate::gateway_ratelimit::own_redis_on;
use crate::harness::postgres_dsn;
use crate::harness::{Backend, TestApp};

const PASSWORD: &str = "correct horse battery staple";

/// The test Redis, or `None` (skip) outside CI.
pub fn redis_url() -> Option<String> {
    match std::env::var("GATEHOUSE_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CI").is_err(),
                "GATEHOUSE_TEST_REDIS_URL must be set in CI (scripts/test starts redis-server)"
            );
            eprintln!("GATEHOUSE_TEST_REDIS_URL not set: Redis test skipped (use scripts/test)");
            None
        }
    }
}

/// One `gatehouse serve` process with its public and admin listeners.
pub struct Replica {
    pub public: String,
    pub admin: String,
    log: std::path::PathBuf,
    _proc: Proc,
    _dir: tempfile::TempDir,
}

impl Replica {
    /// Starts the binary on free ports with `env` on top of a PostgreSQL `dsn`, and waits until
    /// it listens.
    pub async fn start(dsn: &str, env: &[(&str, &str)]) -> Replica {
        let dir = tempfile::tempdir().expect("tempdir");
        let (public, admin) = (free_port(), free_port());
        let issuer = format!("http://127.0.0.1:{public}");
        let log = dir.path().join("gatehouse.log");
        let out = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
        cmd.arg("serve")
            .env_clear()
            .env("GATEHOUSE_DSN", dsn)
            .env("GATEHOUSE_SECRETS_SYSTEM", "test-secret-0123456789abcdef")
            .env("GATEHOUSE_DATA_DIR", dir.path())
            .env("GATEHOUSE_SERVE_PUBLIC_PORT", public.to_string())
            .env("GATEHOUSE_SERVE_ADMIN_PORT", admin.to_string())
            .env("GATEHOUSE_URLS_SELF_ISSUER", &issuer)
            .env("GATEHOUSE_RATE_LIMITS_ENABLED", "false")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut proc = Proc(cmd.spawn().expect("start gatehouse"));
        // Ready means migrated (the sockets are bound before): the next replica may start.
        let ready = format!("http://127.0.0.1:{admin}/health/ready");
        for _ in 0..200 {
            if reqwest::get(&ready)
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            if let Ok(Some(status)) = proc.0.try_wait() {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("gatehouse exited at start: {status}\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        wait_listening(public, &mut proc, "gatehouse public").await;
        Replica {
            public: issuer,
            admin: format!("http://127.0.0.1:{admin}"),
            log,
            _proc: proc,
            _dir: dir,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A metric's value from `/metrics` (the first sample whose line starts with `name`).
    pub async fn metric(&self, http: &reqwest::Client, name: &str) -> Option<f64> {
        let text = http
            .get(format!("{}/metrics", self.admin))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    /// Waits until the invalidation subscriber is connected.
    pub async fn wait_subscribed(&self, http: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.metric(http, "gatehouse_redis_connected").await != Some(1.0) {
            assert!(
                Instant::now() < deadline,
                "not subscribed to Redis in 10 s:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Polls until `f` gives `want`; how long it took. Fails after `limit`.
pub async fn until<F: std::future::Future<Output = StatusCode>>(
    want: StatusCode,
    limit: Duration,
    mut f: impl FnMut() -> F,
) -> Duration {
    let started = Instant::now();
    loop {
        let got = f().await;
        if got == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "still {got} after {limit:?} (wanted {want})"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `GET {public}/sessions/whoami` with a session token.
pub async fn whoami(http: &reqwest::Client, public: &str, token: &str) -> StatusCode {
    http.get(format!("{public}/sessions/whoami"))
        .header("X-Session-Token", token)
        .send()
        .await
        .expect("whoami")
        .status()
}

/// `POST {public}/credentials/validate` with a credential.
pub async fn validate(http: &reqwest::Client, public: &str, token: &str) -> StatusCode {
    http.post(format!("{public}/credentials/validate"))
        .json(&json!({"token": token}))
        .send()
        .await
        .expect("validate")
        .status()
}

pub async fn post(http: &reqwest::Client, url: String, body: Value) -> (StatusCode, Value) {
    let resp = http.post(url).json(&body).send().await.expect("request");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// An identity `email` made through `r`'s admin API and signed in with the API login flow:
/// (identity id, session token).
pub async fn signed_in_user(http: &reqwest::Client, r: &Replica, email: &str) -> (String, String) {
    let (status, identity) = post(
        http,
        format!("{}/admin/identities", r.admin),
        json!({
            "schema_id": "default",
            "traits": {"email": email, "name": "Replica User"},
            "credentials": {"password": {"config": {"password": PASSWORD}}},
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{identity}");
    let flow: Value = http
        .get(format!("{}/self-service/login/api", r.public))
        .send()
        .await
        .expect("flow")
        .json()
        .await
        .expect("json");
    let action = flow["ui"]["action"].as_str().expect("action").to_owned();
    let (status, login) = post(
        http,
        action,
        json!({"method": "password", "identifier": email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    (
        identity["id"].as_str().expect("id").to_owned(),
        login["session_token"].as_str().expect("token").to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_on_one_replica_reach_the_others_caches() {
    let Some(redis) = redis_url() else { return };
    let Some(dsn) = postgres_dsn().await else {
        return;
    };
    let channel = format!("gatehouse-test:{}", uuid::Uuid::new_v4().simple());
    let env = [
        ("GATEHOUSE_REDIS_URL", redis.as_str()),
        ("GATEHOUSE_REDIS_CHANNEL", channel.as_str()),
        // Only Redis can explain a refusal within the test's time: the caches keep entries for
        // ten minutes and the database log is read only every five seconds.
        ("GATEHOUSE_INVALIDATION_POLL_INTERVAL", "5s"),
        ("GATEHOUSE_SESSION_CACHE_TTL", "10m"),
        ("GATEHOUSE_CREDENTIALS_CACHE_TTL", "10m"),
    ];
    let a = Replica::start(&dsn, &env).await;
    let b = Replica::start(&dsn, &env).await;
    let http = reqwest::Client::new();
    a.wait_subscribed(&http).await;
    b.wait_subscribed(&http).await;

    // A user logs in on A; B answers whoami (and so caches the session).
    let (uid, token) = signed_in_user(&http, &a, "replica@example.com").await;
    assert_eq!(whoami(&http, &b.public, &token).await, StatusCode::OK);
    assert_eq!(whoami(&http, &b.public, &token).await, StatusCode::OK);

    // Logout on A: B refuses the session well within a second.
    let resp = http
        .delete(format!("{}/self-service/logout/api", a.public))
        .json(&json!({"session_token": token}))
        .send()
        .await
        .expect("logout");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let took = until(StatusCode::UNAUTHORIZED, Duration::from_secs(1), || {
        whoami(&http, &b.public, &token)
    })
    .await;
    eprintln!("session revoked on A, refused by B after {took:?}");

    // A PAT made on A and validated on B (cached there); revoked on A, refused by B.
    let (status, pat) = post(
        &http,
        format!("{}/admin/credentials", a.admin),
        json!({"kind": "pat", "owner": uid, "name": "cli", "scopes": ["read:resources"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{pat}");
    let secret = pat["token"].as_str().expect("token").to_owned();
    let id = pat["id"].as_str().expect("id").to_owned();
    assert_eq!(validate(&http, &b.public, &secret).await, StatusCode::OK);
    assert_eq!(validate(&http, &b.public, &secret).await, StatusCode::OK);
    let (status, v) = post(
        &http,
        format!("{}/admin/credentials/{id}/revoke", a.admin),
        json!({"reason": "test"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let took = until(StatusCode::UNAUTHORIZED, Duration::from_secs(1), || {
        validate(&http, &b.public, &secret)
    })
    .await;
    eprintln!("PAT revoked on A, refused by B after {took:?}");

    // A client made on A and used at B's token endpoint (cached there); deleted on A, refused by
    // B's token endpoint.
    let (status, client) = post(
        &http,
        format!("{}/admin/clients", a.admin),
        json!({"client_name": "machine", "grant_types": ["client_credentials"], "scope": "read"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{client}");
    let client_id = client["client_id"].as_str().expect("id").to_owned();
    let client_secret = client["client_secret"].as_str().expect("secret").to_owned();
    let grant = || async {
        http.post(format!("{}/oauth2/token", b.public))
            .basic_auth(&client_id, Some(&client_secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("token")
            .status()
    };
    assert_eq!(grant().await, StatusCode::OK);
    let deleted = http
        .delete(format!("{}/admin/clients/{client_id}", a.admin))
        .send()
        .await
        .expect("delete client");
    assert!(deleted.status().is_success(), "{}", deleted.status());
    let took = until(StatusCode::UNAUTHORIZED, Duration::from_secs(1), grant).await;
    eprintln!("client deleted on A, refused by B after {took:?}");
    assert!(
        b.metric(
            &http,
            "gatehouse_cache_invalidations_total{direction=\"received\""
        )
        .await
        .is_some(),
        "B counts what it received"
    );
}

/// The metric's value in an in-process app.
fn metric(app: &TestApp, name: &str) -> Option<f64> {
    app.app
        .metrics
        .encode()
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn wait_metric(app: &TestApp, name: &str, want: f64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while metric(app, name) != Some(want) {
        assert!(
            Instant::now() < deadline,
            "{name} is {:?}, not {want}, after 15 s",
            metric(app, name)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `redis-cli PUBLISH`, as another replica would.
fn publish(port: u16, channel: &str, message: &str) {
    let cli = binary(&["/usr/bin/redis-cli", "/usr/local/bin/redis-cli"]).expect("redis-cli");
    let out = Command::new(cli)
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["PUBLISH", channel, message])
        .output()
        .expect("redis-cli");
    assert!(out.status.success(), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subscriber_reconnects_when_redis_comes_back() {
    let port = free_port();
    let Some(mut redis) = own_redis_on(port).await else {
        return;
    };
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.redis.url = Some(format!("redis://127.0.0.1:{port}/0").into());
    })
    .await;
    const CONNECTED: &str = "gatehouse_redis_connected";
    const RECEIVED: &str =
        "gatehouse_cache_invalidations_total{direction=\"received\",kind=\"token\"}";
    let message = format!(
        r#"{{"from":"other","kind":"token","keys":["{}"]}}"#,
        "ab".repeat(32)
    );
    wait_metric(&app, CONNECTED, 1.0).await;
    publish(port, "gatehouse:invalidate", &message);
    wait_metric(&app, RECEIVED, 1.0).await;
    // Messages that are not ours to read are ignored, not applied.
    publish(
        port,
        "gatehouse:invalidate",
        r#"{"from":"x","kind":"token","keys":["../../etc"]}"#,
    );

    // Redis goes away: the subscriber notices and counts it; the app keeps serving.
    let _ = redis.0.kill();
    let _ = redis.0.wait();
    wait_metric(&app, CONNECTED, 0.0).await;
    let health = app
        .http
        .get(format!("{}/health/alive", app.public))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), StatusCode::OK);
    assert!(
        metric(&app, "gatehouse_redis_errors_total{op=\"subscribe\"}").is_some_and(|n| n >= 1.0)
    );

    // Back on the same port: subscribed again (with backoff), and messages arrive again.
    let _redis = own_redis_on(port).await.expect("redis-server again");
    wait_metric(&app, CONNECTED, 1.0).await;
    publish(port, "gatehouse:invalidate", &message);
    wait_metric(&app, RECEIVED, 2.0).await;
}

/// Replicas started at the same moment against an empty database: each runs the migrations at
/// start, and only the advisory lock keeps them from racing on the same `CREATE TABLE`s. Every
/// process succeeds and every migration is recorded once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_together_migrate_one_after_the_other() {
    let Some(dsn) = postgres_dsn().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_gatehouse"))
                .arg("migrate")
                .env_clear()
                .env("GATEHOUSE_DSN", &dsn)
                .env("GATEHOUSE_SECRETS_SYSTEM", "test-secret-0123456789abcdef")
                .env("GATEHOUSE_DATA_DIR", dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start gatehouse migrate")
        })
        .collect();
    for child in children {
        let out = tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .expect("join")
            .expect("gatehouse migrate");
        assert!(
            out.status.success(),
            "a concurrent `gatehouse migrate` failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let pool = sqlx::PgPool::connect(&dsn).await.expect("connect");
    let versions: Vec<(String,)> = sqlx::query_as("SELECT version FROM gatehouse_migrations")
        .fetch_all(&pool)
        .await
        .expect("migrations table");
    assert!(
        versions.iter().any(|(v,)| v == "0001_init"),
        "migrations recorded: {versions:?}"
    );
    pool.close().await;
}
