//! Revocation that reaches every running process, without Redis: the CLI revokes while a server
//! runs, and two `gatehouse serve` processes share one PostgreSQL database. The caches keep
//! entries for ten minutes here, so only the invalidation log in the database explains a refusal
//! within a second.

use std::time::Duration;

use gatehouse::config::{Dur, RawConfig};
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{Backend, TestApp, postgres_dsn};
use crate::replicas::{Replica, post, signed_in_user, until, validate, whoami};

const TEN_MINUTES: Duration = Duration::from_secs(600);

fn long_caches(c: &mut RawConfig) {
    c.credentials.cache_ttl = Dur(TEN_MINUTES);
    c.session.cache_ttl = Dur(TEN_MINUTES);
}

/// Runs `gatehouse <args>` against the app's database, as an operator on the same machine would.
fn cli(app: &TestApp, args: &[&str]) -> (bool, String) {
    let config = &app.app.config;
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GATEHOUSE_DATA_DIR", &config.data_dir)
        .env("GATEHOUSE_LOG", "warn");
    if !config.dsn.is_empty() {
        cmd.env("GATEHOUSE_DSN", config.dsn.expose()).env(
            "GATEHOUSE_SECRETS_SYSTEM",
            config.secrets.system[0].expose(),
        );
    }
    let out = cmd.output().expect("run the CLI");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A service token made through the admin API: (id, secret).
async fn service_token(http: &reqwest::Client, admin: &str) -> (String, String) {
    let (status, v) = post(
        http,
        format!("{admin}/admin/credentials"),
        json!({"kind": "service_token", "owner": "billing-worker", "name": "ci", "scopes": ["read:invoices"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    (
        v["id"].as_str().expect("id").to_owned(),
        v["token"].as_str().expect("token").to_owned(),
    )
}

/// `gatehouse tokens revoke` while the server runs: the server, which validated (and cached) the
/// token a moment before, refuses it within a second.
async fn cli_revoke_reaches_the_running_server_within_a_second(backend: Backend) {
    let Some(app) = TestApp::spawn_on(backend, long_caches).await else {
        return;
    };
    let (id, secret) = service_token(&app.http, &app.admin).await;
    assert_eq!(
        validate(&app.http, &app.public, &secret).await,
        StatusCode::OK
    );
    assert_eq!(
        validate(&app.http, &app.public, &secret).await,
        StatusCode::OK
    );
    let (ok, out) = cli(&app, &["tokens", "revoke", &id, "--reason", "leaked"]);
    assert!(ok, "{out}");
    let took = until(StatusCode::UNAUTHORIZED, Duration::from_secs(1), || {
        validate(&app.http, &app.public, &secret)
    })
    .await;
    eprintln!("revoked by the CLI, refused by the server after {took:?}");
}
crate::both_backends!(
    backend cli_revoke_reaches_a_running_server,
    cli_revoke_reaches_the_running_server_within_a_second
);

/// A credential revoked where this server could not hear it (here: the CLI, with the log read
/// only every five seconds) is revoked again through the admin API: the second revocation answers
/// as the first did and purges the cache all the same.
async fn revoking_an_already_revoked_credential_purges_it_again(backend: Backend) {
    let Some(app) = TestApp::spawn_on(backend, |c| {
        long_caches(c);
        c.invalidation.poll_interval = Dur(Duration::from_secs(5));
    })
    .await
    else {
        return;
    };
    let (id, secret) = service_token(&app.http, &app.admin).await;
    assert_eq!(
        validate(&app.http, &app.public, &secret).await,
        StatusCode::OK
    );
    let (ok, out) = cli(&app, &["tokens", "revoke", &id]);
    assert!(ok, "{out}");
    let resp = app
        .http
        .delete(format!("{}/admin/credentials/{id}", app.admin))
        .send()
        .await
        .expect("delete");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        validate(&app.http, &app.public, &secret).await,
        StatusCode::UNAUTHORIZED,
        "the repeated revocation purged the cached verdict"
    );
}
crate::both_backends!(
    backend admin_re_revoke_purges,
    revoking_an_already_revoked_credential_purges_it_again
);

/// Two servers on one PostgreSQL database and no Redis: a session logged out and a PAT revoked
/// on A are refused by B, which cached both, within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_without_redis_see_each_others_revocations_within_a_second() {
    let Some(dsn) = postgres_dsn().await else {
        return;
    };
    let env = [
        ("GATEHOUSE_SESSION_CACHE_TTL", "10m"),
        ("GATEHOUSE_CREDENTIALS_CACHE_TTL", "10m"),
    ];
    let a = Replica::start(&dsn, &env).await;
    let b = Replica::start(&dsn, &env).await;
    let http = reqwest::Client::new();

    let (uid, token) = signed_in_user(&http, &a, "no-redis@example.com").await;
    assert_eq!(whoami(&http, &b.public, &token).await, StatusCode::OK);
    assert_eq!(whoami(&http, &b.public, &token).await, StatusCode::OK);
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
    eprintln!("session ended on A, refused by B after {took:?}");

    let (status, pat) = post(
        &http,
        format!("{}/admin/credentials", a.admin),
        json!({"kind": "pat", "owner": uid, "name": "laptop", "scopes": ["read:resources"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{pat}");
    let secret = pat["token"].as_str().expect("token").to_owned();
    let id = pat["id"].as_str().expect("id").to_owned();
    assert_eq!(validate(&http, &b.public, &secret).await, StatusCode::OK);
    let (status, v) = post(
        &http,
        format!("{}/admin/credentials/{id}/revoke", a.admin),
        json!({"reason": "lost laptop"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let took = until(StatusCode::UNAUTHORIZED, Duration::from_secs(1), || {
        validate(&http, &b.public, &secret)
    })
    .await;
    eprintln!("PAT revoked on A, refused by B after {took:?}");
    assert!(
        b.metric(
            &http,
            "gatehouse_cache_invalidations_total{direction=\"received\""
        )
        .await
        .is_some(),
        "B counts what it read from the log"
    );
}
