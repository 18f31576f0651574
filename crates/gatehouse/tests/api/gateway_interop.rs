//! Oathkeeper setups migrated unchanged: rule files exactly as Ory documents them (and as the
//! users' design documents write them) load and decide as they did behind Oathkeeper and Kratos.
//! A `check_session_url` that is this Gatehouse's own whoami is checked locally (a logout is
//! refused at once); `access_rules.repositories` takes `file://`, `inline://` and `http(s)://`
//! URLs, and a URL repository that starts failing keeps the rules in force; a `header` mutator
//! without `config`, Go-template `index` and `printf`, and `only: [ory_kratos_session]` load.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode as AxumStatus;
use axum::response::IntoResponse;
use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::gateway::session_token;
use crate::harness::{Backend, TestApp, eventually};

/// An app whose rules are `rules(issuer)`, written to a file it watches.
async fn app_with(backend: Backend, rules: impl FnOnce(&str) -> Value) -> Option<TestApp> {
    TestApp::spawn_on(backend, move |c| {
        let dir = c.data_dir.clone();
        let path = dir.join("rules.json");
        let issuer = c
            .urls
            .self_
            .issuer
            .clone()
            .expect("the harness sets the issuer");
        std::fs::write(&path, rules(&issuer).to_string()).expect("write rules");
        c.access_rules.repositories = vec![path.into()];
        c.access_rules.matching_strategy = "glob".into();
        c.rate_limits.enabled = false;
    })
    .await
}

async fn decide(
    app: &TestApp,
    uri: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, reqwest::header::HeaderMap) {
    let mut req = app
        .http
        .get(format!("{}/decisions", app.decisions))
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", "app.company.com")
        .header("X-Forwarded-Uri", uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("decision");
    (resp.status(), resp.headers().clone())
}

async fn logout(app: &TestApp, token: &str) {
    let resp = app
        .http
        .delete(format!("{}/self-service/logout/api", app.public))
        .json(&json!({"session_token": token}))
        .send()
        .await
        .expect("logout");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
}

/// The migrated rules of the startup guide (`check_session_url` Kratos's whoami, here this
/// Gatehouse's own), both the cookie and the bearer form.
fn own_whoami_rules(issuer: &str) -> Value {
    let whoami = format!("{issuer}/sessions/whoami");
    json!([
        {
            "id": "protected-web",
            "match": {"url": "https://app.company.com/dashboard<**>", "methods": ["GET", "POST"]},
            "authenticators": [{"handler": "cookie_session", "config": {
                "check_session_url": whoami, "preserve_path": true, "extra_from": "@this"
            }}],
            "authorizer": {"handler": "allow"},
            "mutators": [{"handler": "header", "config": {"headers": {
                "X-User-ID": "{{ print .Subject }}",
                "X-User-Email": "{{ print .Extra.identity.traits.email }}"
            }}}]
        },
        {
            "id": "protected-api",
            "match": {"url": "https://app.company.com/api/<**>", "methods": ["GET", "POST", "PUT", "DELETE"]},
            "authenticators": [
                {"handler": "bearer_token", "config": {"check_session_url": whoami}},
                {"handler": "cookie_session", "config": {"check_session_url": whoami}}
            ],
            "authorizer": {"handler": "allow"},
            "mutators": [{"handler": "header"}],
            "errors": [{"handler": "json", "config": {"verbose": true}}]
        }
    ])
}

/// Item 9: a session check that points at Gatehouse itself is local, so a logged-out session is
/// refused by the very next decision (no 10 s cache window), as cookie and as bearer.
async fn own_whoami_check_session_url_refuses_a_logout_at_once(backend: Backend) {
    let Some(app) = app_with(backend, own_whoami_rules).await else {
        return;
    };
    let (uid, token) = session_token(&app, "own-whoami@example.com").await;
    let cookie = format!("gatehouse_session={token}");
    let bearer = format!("Bearer {token}");

    let (status, h) = decide(&app, "/dashboard", &[("Cookie", &cookie)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h["x-user-id"], uid.as_str());
    assert_eq!(h["x-user-email"], "own-whoami@example.com");
    let (status, h) = decide(&app, "/api/items", &[("Authorization", &bearer)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h["x-user-id"], uid.as_str());
    assert_eq!(
        decide(&app, "/api/items", &[("Cookie", &cookie)]).await.0,
        StatusCode::OK
    );

    logout(&app, &token).await;
    assert_eq!(
        decide(&app, "/dashboard", &[("Cookie", &cookie)]).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        decide(&app, "/api/items", &[("Authorization", &bearer)])
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        decide(&app, "/api/items", &[("Cookie", &cookie)]).await.0,
        StatusCode::UNAUTHORIZED
    );
}
crate::both_backends!(backend own_whoami_check_session_url_is_local, own_whoami_check_session_url_refuses_a_logout_at_once);

/// Item 11a: a `header` mutator without `config` (Oathkeeper then takes the global
/// `mutators.header.config`; Gatehouse has none) loads and adds only the identity headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_mutator_without_config_loads() {
    let app = app_with(Backend::Sqlite, |_| {
        json!([{
            "id": "protected-api",
            "match": {"url": "https://app.company.com/api/<**>"},
            "authenticators": [{"handler": "bearer_token"}],
            "authorizer": {"handler": "allow"},
            "mutators": [{"handler": "header"}]
        }])
    })
    .await
    .expect("sqlite");
    let (uid, token) = session_token(&app, "no-config@example.com").await;
    let (status, h) = decide(
        &app,
        "/api/x",
        &[("Authorization", &format!("Bearer {token}"))],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h["x-user-id"], uid.as_str());
    assert_eq!(h["x-user-email"], "no-config@example.com");
}

/// Item 11b: Go-template `index` and `printf` in header templates, as Ory's rule files write
/// them, over the whoami answer (`.Extra` is the session, `extra_from: "@this"`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_template_index_and_printf_load_and_render() {
    let app = app_with(Backend::Sqlite, |issuer| {
        json!([{
            "id": "protected-web",
            "match": {"url": "https://app.company.com/dashboard<**>", "methods": ["GET"]},
            "authenticators": [{"handler": "cookie_session", "config": {
                "check_session_url": format!("{issuer}/sessions/whoami"),
                "preserve_path": true,
                "extra_from": "@this"
            }}],
            "authorizer": {"handler": "allow"},
            "mutators": [{"handler": "header", "config": {"headers": {
                "X-User-Verified": "{{ print (index .Extra.identity.verifiable_addresses 0).verified }}",
                "X-Address": "{{ (index .Extra.identity.verifiable_addresses 0).value }}",
                "X-Missing": "{{ print (index .Extra.identity.verifiable_addresses 5).verified }}",
                "X-Subject": "{{ printf \"%s\" .Subject }}",
                "X-Line": "{{ printf \"%s <%s> %q %v\" .Subject .Extra.identity.traits.email .MatchContext.URL.Path .Extra.active }}"
            }}}]
        }])
    })
    .await
    .expect("sqlite");
    let (uid, token) = session_token(&app, "templates@example.com").await;
    let (status, h) = decide(
        &app,
        "/dashboard/x",
        &[("Cookie", &format!("gatehouse_session={token}"))],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        h["x-user-verified"], "false",
        "a fresh address is not verified"
    );
    assert_eq!(h["x-address"], "templates@example.com");
    assert_eq!(h["x-missing"], "", "out of range renders empty");
    assert_eq!(h["x-subject"], uid.as_str());
    assert_eq!(
        h["x-line"].to_str().expect("ascii"),
        format!("{uid} <templates@example.com> \"/dashboard/x\" true")
    );
}

/// Item 11c: `only: [ory_kratos_session]` (Oathkeeper's documented Kratos example) finds
/// Gatehouse's session cookie, with and without a `check_session_url` naming Gatehouse; a
/// `check_session_url` elsewhere keeps the name as it is (the remote Kratos sets it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_session_only_ory_kratos_session_reads_the_gatehouse_cookie() {
    let app = app_with(Backend::Sqlite, |issuer| {
        json!([
            {
                "id": "local",
                "match": {"url": "https://app.company.com/local"},
                "authenticators": [{"handler": "cookie_session", "config": {"only": ["ory_kratos_session"]}}],
                "authorizer": {"handler": "allow"},
                "mutators": [{"handler": "noop"}]
            },
            {
                "id": "own-whoami",
                "match": {"url": "https://app.company.com/own"},
                "authenticators": [{"handler": "cookie_session", "config": {
                    "check_session_url": format!("{issuer}/sessions/whoami"),
                    "preserve_path": true,
                    "only": ["ory_kratos_session"]
                }}],
                "authorizer": {"handler": "allow"},
                "mutators": [{"handler": "noop"}]
            }
        ])
    })
    .await
    .expect("sqlite");
    let (uid, token) = session_token(&app, "kratos-cookie@example.com").await;
    let cookie = format!("theme=dark; gatehouse_session={token}");
    for path in ["/local", "/own"] {
        let (status, h) = decide(&app, path, &[("Cookie", &cookie)]).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(h["x-user-id"], uid.as_str(), "{path}");
        // No session cookie at all: not this authenticator's request.
        assert_eq!(
            decide(&app, path, &[("Cookie", "theme=dark")]).await.0,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
}

/// A rules server on 127.0.0.1: what it answers, and how often it was asked.
#[derive(Clone)]
struct RulesServer(Arc<Mutex<(u16, String, usize)>>);

impl RulesServer {
    fn set(&self, status: u16, body: String) {
        let mut s = self.0.lock().expect("lock");
        s.0 = status;
        s.1 = body;
    }
    fn hits(&self) -> usize {
        self.0.lock().expect("lock").2
    }
}

async fn serve_rules(State(s): State<RulesServer>) -> axum::response::Response {
    let mut st = s.0.lock().expect("lock");
    st.2 += 1;
    let status = AxumStatus::from_u16(st.0).unwrap_or(AxumStatus::INTERNAL_SERVER_ERROR);
    (status, st.1.clone()).into_response()
}

async fn rules_server(body: String) -> (String, RulesServer) {
    let state = RulesServer(Arc::new(Mutex::new((200, body, 0))));
    let app = axum::Router::new()
        .route("/rules.json", axum::routing::get(serve_rules))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/rules.json"), state)
}

fn anonymous_rule(id: &str, path: &str) -> Value {
    json!({
        "id": id,
        "match": {"url": format!("https://app.company.com{path}"), "methods": ["GET"]},
        "authenticators": [{"handler": "anonymous", "config": {"subject": id}}],
        "authorizer": {"handler": "allow"},
        "mutators": [{"handler": "noop"}]
    })
}

/// Item 10: `access_rules.repositories` takes Oathkeeper's `file://`, `inline://<base64>` and
/// `http://` URLs; the URL is fetched again periodically, and when it starts failing the rules
/// in force stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_repositories_take_file_inline_and_http_urls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("rules.json");
    std::fs::write(
        &file,
        json!([anonymous_rule("from-file", "/file")]).to_string(),
    )
    .expect("write");
    // YAML, as `inline://` documents usually are.
    let yaml = "- id: from-inline\n  match:\n    url: https://app.company.com/inline\n    methods: [GET]\n  authenticators: [{handler: anonymous, config: {subject: from-inline}}]\n  authorizer: {handler: allow}\n  mutators: [{handler: noop}]\n";
    let inline = format!(
        "inline://{}",
        base64::engine::general_purpose::STANDARD.encode(yaml)
    );
    let (url, server) =
        rules_server(json!([anonymous_rule("from-http", "/http")]).to_string()).await;
    let file_url = format!("file://{}", file.display());
    let app = TestApp::spawn_with(Backend::Sqlite, move |c| {
        c.access_rules.repositories = vec![file_url.into(), inline.into(), url.into()];
        c.access_rules.reload_interval = gatehouse::config::Dur(Duration::from_millis(50));
        c.access_rules.fetch_interval = gatehouse::config::Dur(Duration::from_millis(100));
        c.rate_limits.enabled = false;
    })
    .await;
    for (path, id) in [
        ("/file", "from-file"),
        ("/inline", "from-inline"),
        ("/http", "from-http"),
    ] {
        let (status, h) = decide(&app, path, &[]).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(h["x-user-id"], id);
    }

    // A change on the server is fetched again.
    server.set(
        200,
        json!([
            anonymous_rule("from-http", "/http"),
            anonymous_rule("from-http-2", "/http2")
        ])
        .to_string(),
    );
    eventually(10, || async {
        (decide(&app, "/http2", &[]).await.0 == StatusCode::OK).then_some(())
    })
    .await;

    // The server failing (an error, then nonsense) keeps the rules in force.
    for (status, body) in [(500, String::new()), (200, "{not rules".to_owned())] {
        server.set(status, body);
        let asked = server.hits();
        eventually(10, || async { (server.hits() >= asked + 3).then_some(()) }).await;
        assert_eq!(decide(&app, "/http2", &[]).await.0, StatusCode::OK);
        assert_eq!(decide(&app, "/file", &[]).await.0, StatusCode::OK);
    }
    // A file changing meanwhile is reloaded with the fetched rules that were in force.
    std::fs::write(
        &file,
        json!([
            anonymous_rule("from-file", "/file"),
            anonymous_rule("from-file-2", "/file2")
        ])
        .to_string(),
    )
    .expect("write");
    eventually(10, || async {
        (decide(&app, "/file2", &[]).await.0 == StatusCode::OK).then_some(())
    })
    .await;
    assert_eq!(decide(&app, "/http2", &[]).await.0, StatusCode::OK);
    assert_eq!(decide(&app, "/nope", &[]).await.0, StatusCode::NOT_FOUND);
}
