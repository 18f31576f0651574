//! Credentials through real gateways: Debian's nginx (`auth_request`) and Caddy (`forward_auth`)
//! in front of a small upstream, both asking `GET /credentials/validate`. Each gateway runs on
//! a free 127.0.0.1 port with its own config in a temporary directory and is stopped when the
//! test ends. A PAT or API key passes with its headers; none, a wrong scope or a revoked token
//! does not; a spoofed identity header from the client never reaches the upstream.
//!
//! `scripts/test` installs nginx and caddy; outside CI a missing binary skips the test.

use std::net::TcpListener as StdListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Backend, TestApp};

const PASSWORD: &str = "correct horse battery staple";
const HEADERS: [&str; 7] = [
    "x-user-id",
    "x-token-id",
    "x-token-scopes",
    "x-org-id",
    "x-key-id",
    "x-key-scopes",
    "x-service-name",
];

/// A child process killed when the test ends, however it ends.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The binary, or `None` (skip) outside CI.
pub fn binary(candidates: &[&str]) -> Option<String> {
    if let Some(found) = candidates.iter().find(|p| std::path::Path::new(p).exists()) {
        return Some((*found).to_owned());
    }
    assert!(
        std::env::var("CI").is_err(),
        "{candidates:?} missing: scripts/test installs nginx and caddy in CI"
    );
    eprintln!("{candidates:?} not installed: gateway test skipped (scripts/test installs it)");
    None
}

pub async fn wait_listening(port: u16, child: &mut Proc, what: &str) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        if let Ok(Some(status)) = child.0.try_wait() {
            panic!("{what} exited at start: {status}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not listen on 127.0.0.1:{port} within 10 s");
}

/// The upstream app: answers every request with the identity headers it received.
pub async fn upstream() -> (u16, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = axum::Router::new().fallback(move |headers: HeaderMap| {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            let seen: serde_json::Map<String, Value> = HEADERS
                .iter()
                .filter_map(|h| {
                    headers
                        .get(*h)
                        .and_then(|v| v.to_str().ok())
                        .map(|v| ((*h).to_owned(), Value::String(v.to_owned())))
                })
                .collect();
            axum::Json(Value::Object(seen))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (port, hits)
}

/// A user with a PAT (`read:resources` + `write:other`), a PAT without `read:resources`, and an
/// organisation's API key.
struct Fixture {
    uid: String,
    pat: String,
    pat_id: String,
    narrow_pat: String,
    org: String,
    key: String,
}

async fn fixture(app: &TestApp) -> Fixture {
    let identity = app.create_identity("gateway@example.com", PASSWORD).await;
    let uid = identity["id"].as_str().expect("id").to_owned();
    let mint = |body: Value| async move {
        let (status, v) = app
            .admin(Method::POST, "/admin/credentials", Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        v
    };
    let pat = mint(json!({"kind": "pat", "owner": uid, "name": "cli", "scopes": ["read:resources", "write:other"]})).await;
    let narrow =
        mint(json!({"kind": "pat", "owner": uid, "name": "narrow", "scopes": ["write:other"]}))
            .await;
    let (status, org) = app
        .admin(
            Method::POST,
            "/admin/organizations",
            Some(json!({"name": "Gateway Org"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let org = org["id"].as_str().expect("id").to_owned();
    let key =
        mint(json!({"kind": "api_key", "owner": org, "name": "partner", "scopes": ["read:*"]}))
            .await;
    Fixture {
        uid,
        pat: pat["token"].as_str().expect("token").to_owned(),
        pat_id: pat["id"].as_str().expect("id").to_owned(),
        narrow_pat: narrow["token"].as_str().expect("token").to_owned(),
        org,
        key: key["token"].as_str().expect("token").to_owned(),
    }
}

async fn get(app: &TestApp, url: &str, headers: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut req = app.http.get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("request through the gateway");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// A header the upstream must not get a value for: absent or empty (gateways differ).
fn absent<'a>(seen: &'a Value, h: &str) -> &'a str {
    seen.get(h).and_then(Value::as_str).unwrap_or("")
}

/// The same checks through any gateway at `base`.
async fn exercise(app: &TestApp, base: &str, hits: &AtomicUsize, f: &Fixture) {
    let url = format!("{base}/api/resources");
    let bearer = format!("Bearer {}", f.pat);

    // No credential, or only a spoofed identity: refused before the upstream.
    let before = hits.load(Ordering::SeqCst);
    assert_eq!(get(app, &url, &[]).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        get(app, &url, &[("X-User-ID", "admin")]).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        before,
        "nothing reached the upstream"
    );

    // A PAT passes with its headers; the client's copy of X-User-ID is replaced.
    let (status, seen) = get(
        app,
        &url,
        &[
            ("Authorization", &bearer),
            ("X-User-ID", "admin"),
            ("X-Org-ID", "evil"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen["x-user-id"], f.uid.as_str(), "{seen}");
    assert_eq!(seen["x-token-id"], f.pat_id.as_str());
    assert_eq!(seen["x-token-scopes"], "read:resources write:other");
    assert_eq!(
        absent(&seen, "x-org-id"),
        "",
        "spoofed X-Org-ID replaced: {seen}"
    );

    // Without the required scope: 403.
    let narrow = format!("Bearer {}", f.narrow_pat);
    assert_eq!(
        get(app, &url, &[("Authorization", &narrow)]).await.0,
        StatusCode::FORBIDDEN
    );

    // An API key in X-API-Key passes with the organisation's headers, no user.
    let (status, seen) = get(app, &url, &[("X-API-Key", &f.key), ("X-User-ID", "admin")]).await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen["x-org-id"], f.org.as_str());
    assert_eq!(seen["x-key-scopes"], "read:*");
    assert_eq!(
        absent(&seen, "x-user-id"),
        "",
        "spoofed X-User-ID replaced: {seen}"
    );

    // A mistyped token is refused.
    let mut typo: Vec<char> = f.pat.chars().collect();
    typo[12] = if typo[12] == 'x' { 'y' } else { 'x' };
    let typo = format!("Bearer {}", typo.into_iter().collect::<String>());
    assert_eq!(
        get(app, &url, &[("Authorization", &typo)]).await.0,
        StatusCode::UNAUTHORIZED
    );
}

async fn revoke_and_check(app: &TestApp, base: &str, f: &Fixture) {
    let (status, _) = app
        .admin(
            Method::DELETE,
            &format!("/admin/credentials/{}", f.pat_id),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let bearer = format!("Bearer {}", f.pat);
    assert_eq!(
        get(
            app,
            &format!("{base}/api/resources"),
            &[("Authorization", &bearer)]
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED,
        "revoked: refused at once on this replica"
    );
}

/// Starts nginx on 127.0.0.1:`port` with `locations` as its one server's body, everything it
/// writes kept in `dir`; returns once it listens.
pub async fn start_nginx(nginx: &str, dir: &std::path::Path, port: u16, locations: &str) -> Proc {
    let p = dir.display().to_string();
    let conf = format!(
        r#"
daemon off;
master_process off;
worker_processes 1;
pid {p}/nginx.pid;
error_log {p}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {p}/body;
    proxy_temp_path {p}/proxy;
    fastcgi_temp_path {p}/fastcgi;
    uwsgi_temp_path {p}/uwsgi;
    scgi_temp_path {p}/scgi;
    server {{
        listen 127.0.0.1:{port};
{locations}
    }}
}}
"#
    );
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf).expect("write nginx.conf");
    let mut child = Proc(
        Command::new(nginx)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx"),
    );
    wait_listening(port, &mut child, "nginx").await;
    child
}

fn gatehouse_hostport(app: &TestApp) -> String {
    app.public.trim_start_matches("http://").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_auth_request() {
    let Some(nginx) = binary(&["/usr/sbin/nginx", "/usr/bin/nginx"]) else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let f = fixture(&app).await;
    let (up, hits) = upstream().await;
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let gh = gatehouse_hostport(&app);
    let child = start_nginx(
        &nginx,
        dir.path(),
        port,
        &format!(
            r#"
        location = /_auth {{
            internal;
            proxy_method GET;
            proxy_pass http://{gh}/credentials/validate?required_scope=read:resources;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
        }}
        location /api/ {{
            auth_request /_auth;
            auth_request_set $user_id $upstream_http_x_user_id;
            auth_request_set $token_id $upstream_http_x_token_id;
            auth_request_set $token_scopes $upstream_http_x_token_scopes;
            auth_request_set $org_id $upstream_http_x_org_id;
            auth_request_set $key_id $upstream_http_x_key_id;
            auth_request_set $key_scopes $upstream_http_x_key_scopes;
            proxy_set_header X-User-ID $user_id;
            proxy_set_header X-Token-ID $token_id;
            proxy_set_header X-Token-Scopes $token_scopes;
            proxy_set_header X-Org-ID $org_id;
            proxy_set_header X-Key-ID $key_id;
            proxy_set_header X-Key-Scopes $key_scopes;
            proxy_set_header X-Service-Name "";
            proxy_pass http://127.0.0.1:{up};
        }}
"#
        ),
    )
    .await;
    let base = format!("http://127.0.0.1:{port}");
    exercise(&app, &base, &hits, &f).await;
    revoke_and_check(&app, &base, &f).await;
    drop(child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy_forward_auth() {
    let Some(caddy) = binary(&["/usr/bin/caddy", "/usr/local/bin/caddy"]) else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let f = fixture(&app).await;
    let (up, hits) = upstream().await;
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let gh = gatehouse_hostport(&app);
    let strip: String = HEADERS
        .iter()
        .map(|h| format!("        request_header -{h}\n"))
        .collect();
    let caddyfile = format!(
        r#"{{
    admin off
    auto_https off
}}
http://127.0.0.1:{port} {{
    route {{
{strip}        forward_auth {gh} {{
            uri /credentials/validate?required_scope=read:resources
            copy_headers X-User-ID X-Token-ID X-Token-Scopes X-Org-ID X-Key-ID X-Key-Scopes X-Service-Name
        }}
        reverse_proxy 127.0.0.1:{up}
    }}
}}
"#
    );
    let path = dir.path().join("Caddyfile");
    std::fs::write(&path, caddyfile).expect("write Caddyfile");
    let mut child = Proc(
        Command::new(&caddy)
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&path)
            .env("HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path())
            .env("XDG_CONFIG_HOME", dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start caddy"),
    );
    wait_listening(port, &mut child, "caddy").await;
    let base = format!("http://127.0.0.1:{port}");
    exercise(&app, &base, &hits, &f).await;
    revoke_and_check(&app, &base, &f).await;
    drop(child);
}
