//! The gateway's decision API over real HTTP: Oathkeeper rules from a file, authenticators
//! (anonymous, cookie_session, bearer_token, oauth2_introspection, api_key), authorizers,
//! header mutators, error handlers (json, redirect for browsers), deny by default, hostile
//! forwarded requests, hot reload that keeps the old rules when a change is invalid, and
//! nginx `auth_request` in front.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::credentials_gateways::{binary, free_port, start_nginx, upstream};
use crate::harness::{Backend, TestApp};

const PASSWORD: &str = "correct horse battery staple";

fn rules() -> Value {
    json!([
        {
            "id": "public",
            "match": {"url": "http://app.example.com/public/<**>", "methods": ["GET"]},
            "authenticators": [{"handler": "anonymous", "config": {"subject": "guest"}}],
            "authorizer": {"handler": "allow"},
            "mutators": [{"handler": "noop"}]
        },
        {
            "id": "app",
            "match": {"url": "http://app.example.com/app/<**>", "methods": ["GET", "POST"]},
            "authenticators": [
                {"handler": "cookie_session"},
                {"handler": "bearer_token"},
                {"handler": "api_key", "config": {"required_scope": ["read:resources"]}},
                {"handler": "oauth2_introspection"}
            ],
            "authorizer": {"handler": "allow"},
            "mutators": [{"handler": "header", "config": {"headers": {"X-Greeting": "hello {{ print .Subject }}", "X-Email": "{{ print .Extra.email }}"}}}],
            "errors": [
                {"handler": "redirect", "config": {"to": "http://app.example.com/ui/login", "return_to_query_param": "return_to", "when": [{"error": ["unauthorized"], "request": {"header": {"accept": ["text/html"]}}}]}},
                {"handler": "json"}
            ]
        },
        {
            "id": "admin",
            "match": {"url": "http://app.example.com/admin/<**>"},
            "authenticators": [{"handler": "cookie_session"}],
            "authorizer": {"handler": "gatehouse", "config": {"required_roles": ["admin"]}},
            "mutators": [{"handler": "noop"}]
        },
        {
            "id": "closed",
            "match": {"url": "http://app.example.com/closed"},
            "authenticators": [{"handler": "unauthorized"}],
            "authorizer": {"handler": "deny"}
        }
    ])
}

async fn gateway_app(dir: &std::path::Path, strategy: &str) -> TestApp {
    let path = dir.join("rules.json");
    std::fs::write(&path, rules().to_string()).expect("write rules");
    let strategy = strategy.to_owned();
    let dir = dir.to_owned();
    TestApp::spawn_with(Backend::Sqlite, move |c| {
        c.access_rules.repositories = vec![dir.join("rules.json").into()];
        c.access_rules.matching_strategy = strategy;
        c.access_rules.reload_interval = gatehouse::config::Dur(Duration::from_millis(100));
        c.rate_limits.enabled = false;
    })
    .await
}

async fn decide(
    app: &TestApp,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = app
        .http
        .get(format!(
            "{}/decisions{}",
            app.decisions,
            uri.split('?').next().unwrap_or_default()
        ))
        .header("X-Forwarded-Method", method)
        .header("X-Forwarded-Proto", "http")
        .header("X-Forwarded-Host", "app.example.com")
        .header("X-Forwarded-Uri", uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("decision");
    let status = resp.status();
    let h = resp.headers().clone();
    (status, h, resp.json().await.unwrap_or(Value::Null))
}

pub async fn session_token(app: &TestApp, email: &str) -> (String, String) {
    let identity = app.create_identity(email, PASSWORD).await;
    let flow: Value = app
        .http
        .get(format!("{}/self-service/login/api", app.public))
        .send()
        .await
        .expect("flow")
        .json()
        .await
        .expect("json");
    let body: Value = app
        .http
        .post(flow["ui"]["action"].as_str().expect("action"))
        .json(&json!({"method": "password", "identifier": email, "password": PASSWORD}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    (
        identity["id"].as_str().expect("id").to_owned(),
        body["session_token"].as_str().expect("token").to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_follow_the_rules() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = gateway_app(dir.path(), "glob").await;
    let (uid, token) = session_token(&app, "gateway-user@example.com").await;
    let cookie = format!("gatehouse_session={token}");

    // Anonymous rule: 200, the subject in X-User-ID; every identity header present.
    let (status, h, _) = decide(&app, "GET", "/public/page?x=1", &[("X-User-ID", "spoofed")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h["x-user-id"], "guest");
    assert_eq!(h["x-session-id"], "");

    // A session cookie: the identity's headers and the templated ones.
    let (status, h, body) = decide(&app, "GET", "/app/dashboard", &[("Cookie", &cookie)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(h["x-user-id"], uid.as_str());
    assert_eq!(h["x-user-email"], "gateway-user@example.com");
    assert_eq!(h["x-user-verified"], "false");
    assert_eq!(h["x-auth-aal"], "aal1");
    assert!(!h["x-session-id"].is_empty());
    assert_eq!(h["x-greeting"], format!("hello {uid}").as_str());
    assert_eq!(h["x-email"], "gateway-user@example.com");
    // The same session as a bearer token.
    let bearer = format!("Bearer {token}");
    assert_eq!(
        decide(&app, "POST", "/app/x", &[("Authorization", &bearer)])
            .await
            .0,
        StatusCode::OK
    );

    // No credential: JSON 401 for an API client, a redirect to login for a browser.
    let (status, _, body) = decide(&app, "GET", "/app/dashboard", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], 401);
    let (status, h, _) = decide(
        &app,
        "GET",
        "/app/dashboard?tab=2",
        &[("Accept", "text/html,application/xhtml+xml")],
    )
    .await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(
        h["location"],
        "http://app.example.com/ui/login?return_to=http%3A%2F%2Fapp.example.com%2Fapp%2Fdashboard%3Ftab%3D2"
    );
    // `when.request.header.accept` is negotiated, not matched as a substring: a client that
    // refuses HTML (q=0) gets the JSON error, a browser listing JSON lower still the redirect.
    let (status, _, body) = decide(
        &app,
        "GET",
        "/app/dashboard",
        &[("Accept", "application/json, text/html;q=0")],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, _, _) = decide(
        &app,
        "GET",
        "/app/dashboard",
        &[(
            "Accept",
            "text/html,application/xhtml+xml,application/json;q=0.9,*/*;q=0.8",
        )],
    )
    .await;
    assert_eq!(status, StatusCode::FOUND);

    // A PAT through api_key, with the scope the rule requires; without it, 403.
    let (_, pat) = app
        .admin(
            Method::POST,
            "/admin/credentials",
            Some(json!({"kind": "pat", "owner": uid, "name": "cli", "scopes": ["read:resources"]})),
        )
        .await;
    let (_, narrow) = app
        .admin(
            Method::POST,
            "/admin/credentials",
            Some(json!({"kind": "pat", "owner": uid, "name": "narrow", "scopes": ["write:other"]})),
        )
        .await;
    let pat_bearer = format!("Bearer {}", pat["token"].as_str().expect("token"));
    let (status, h, _) = decide(&app, "GET", "/app/data", &[("Authorization", &pat_bearer)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h["x-user-id"], uid.as_str());
    assert_eq!(h["x-token-scopes"], "read:resources");
    assert_eq!(h["x-session-id"], "");
    let narrow_key = narrow["token"].as_str().expect("token").to_owned();
    assert_eq!(
        decide(&app, "GET", "/app/data", &[("X-API-Key", &narrow_key)])
            .await
            .0,
        StatusCode::FORBIDDEN
    );

    // An OAuth 2.0 access token through local introspection.
    let client = app
        .create_client(json!({"grant_types": ["client_credentials"], "scope": "read", "token_endpoint_auth_method": "client_secret_basic"}))
        .await;
    let (_, tok, _) = app
        .token(
            &client,
            &[("grant_type", "client_credentials"), ("scope", "read")],
        )
        .await;
    let at = format!(
        "Bearer {}",
        tok["access_token"].as_str().expect("access token")
    );
    let (status, h, _) = decide(&app, "GET", "/app/data", &[("Authorization", &at)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h["x-token-scopes"], "read");
    assert_eq!(
        decide(
            &app,
            "GET",
            "/app/data",
            &[("Authorization", "Bearer gat_not-a-real-token")]
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );

    // Roles: the admin rule needs the admin role.
    assert_eq!(
        decide(&app, "GET", "/admin/panel", &[("Cookie", &cookie)])
            .await
            .0,
        StatusCode::FORBIDDEN
    );

    // Deny by default: no rule, a method the rule does not list (in any case), the
    // unauthorized handler. A method's case never changes the decision: `gEt` is `GET`.
    assert_eq!(
        decide(&app, "GET", "/nowhere", &[("Cookie", &cookie)])
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        decide(&app, "get", "/public/page", &[]).await.0,
        StatusCode::OK
    );
    for method in ["DELETE", "delete", "dElEtE"] {
        assert_eq!(
            decide(&app, method, "/public/page", &[]).await.0,
            StatusCode::NOT_FOUND,
            "{method}"
        );
    }
    assert_eq!(
        decide(&app, "GET", "/closed", &[("Cookie", &cookie)])
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    // Hostile paths never reach a rule.
    for uri in [
        "/public/..%2fadmin/panel",
        "/public/%2e%2e/admin/panel",
        "/public/../admin/panel",
        "/public/%252e%252e/admin",
        "/public//x",
        "/public/a%5cb",
    ] {
        let (status, _, _) = decide(&app, "GET", uri, &[]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
    }
    let huge = "a".repeat(9000);
    let resp = app
        .http
        .get(format!("{}/decisions/x", app.decisions))
        .header("X-Forwarded-Uri", format!("/public/{huge}"))
        .send()
        .await
        .expect("request");
    assert!(resp.status().is_client_error(), "{}", resp.status());

    // Revoking the session is honoured at once.
    let (status, _) = app
        .admin(
            Method::DELETE,
            &format!("/admin/identities/{uid}/sessions"),
            None,
        )
        .await;
    assert!(status.is_success(), "{status}");
    assert_eq!(
        decide(&app, "GET", "/app/dashboard", &[("Cookie", &cookie)])
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_rules_file_leaves_the_old_rules_working() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = gateway_app(dir.path(), "glob").await;
    assert_eq!(
        decide(&app, "GET", "/public/a", &[]).await.0,
        StatusCode::OK
    );

    std::fs::write(
        dir.path().join("rules.json"),
        "[{\"id\": \"broken\", \"match\": {\"url\": \"http://x/<[>\"}}]",
    )
    .expect("write");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        decide(&app, "GET", "/public/a", &[]).await.0,
        StatusCode::OK,
        "old rules still in force"
    );

    // A valid change is picked up.
    let mut changed = rules();
    changed[0]["match"]["url"] = json!("http://app.example.com/open/<**>");
    std::fs::write(dir.path().join("rules.json"), changed.to_string()).expect("write");
    let mut ok = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if decide(&app, "GET", "/open/a", &[]).await.0 == StatusCode::OK {
            ok = true;
            break;
        }
    }
    assert!(ok, "the new rules were loaded");
    assert_eq!(
        decide(&app, "GET", "/public/a", &[]).await.0,
        StatusCode::NOT_FOUND
    );
}

#[test]
fn rules_check_reports_precise_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.yaml");
    std::fs::write(
        &good,
        "- id: one\n  match:\n    url: http://a.example.com/<**>\n    methods: [GET]\n  authenticators:\n    - handler: anonymous\n  authorizer:\n    handler: allow\n",
    )
    .expect("write");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "- id: one\n  match:\n    url: http://a.example.com/\n  authenticators:\n    - handler: jwt\n  authorizer:\n    handler: allow\n",
    )
    .expect("write");
    let run = |args: &[&std::ffi::OsStr]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .args(args)
            .env_clear()
            .env("GATEHOUSE_DATA_DIR", dir.path())
            .output()
            .expect("run");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, stdout, stderr) = run(&[
        "rules".as_ref(),
        "check".as_ref(),
        "--strategy".as_ref(),
        "glob".as_ref(),
        good.as_os_str(),
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("1 rules"), "{stdout}");
    let (ok, _, stderr) = run(&["rules".as_ref(), "check".as_ref(), bad.as_os_str()]);
    assert!(!ok);
    assert!(
        stderr.contains("rule #0 (one)") && stderr.contains("jwt"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_asks_the_decision_api() {
    let Some(nginx) = binary(&["/usr/sbin/nginx", "/usr/bin/nginx"]) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    // The rules name the host nginx serves.
    let mut r = rules();
    for rule in r.as_array_mut().expect("array") {
        let u = rule["match"]["url"]
            .as_str()
            .expect("url")
            .replace("app.example.com", &format!("127.0.0.1:{port}"));
        rule["match"]["url"] = json!(u);
    }
    std::fs::write(dir.path().join("rules.json"), r.to_string()).expect("write");
    let rules_dir = dir.path().to_owned();
    let app = TestApp::spawn_with(Backend::Sqlite, move |c| {
        c.access_rules.repositories = vec![rules_dir.join("rules.json").into()];
        c.access_rules.matching_strategy = "glob".into();
    })
    .await;
    let (uid, token) = session_token(&app, "nginx-user@example.com").await;
    let (up, hits) = upstream().await;
    let d = app.decisions.trim_start_matches("http://");
    let child = start_nginx(
        &nginx,
        dir.path(),
        port,
        &format!(
            r#"
        location = /_decide {{
            internal;
            proxy_method GET;
            proxy_pass http://{d}/decisions;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Forwarded-Method $request_method;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_set_header X-Forwarded-Uri $request_uri;
        }}
        location / {{
            auth_request /_decide;
            auth_request_set $user_id $upstream_http_x_user_id;
            auth_request_set $session_id $upstream_http_x_session_id;
            proxy_set_header X-User-ID $user_id;
            proxy_set_header X-Session-ID $session_id;
            proxy_pass http://127.0.0.1:{up};
        }}
"#
        ),
    )
    .await;
    let base = format!("http://127.0.0.1:{port}");
    let get = |path: &str, headers: Vec<(&'static str, String)>| {
        let mut req = app.http.get(format!("{base}{path}"));
        for (k, v) in headers {
            req = req.header(k, v);
        }
        async move {
            let resp = req.send().await.expect("through nginx");
            let status = resp.status();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let before = hits.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        get("/app/x", vec![("X-User-ID", "admin".into())]).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        before,
        "nothing reached the upstream"
    );
    let (status, seen) = get(
        "/app/x",
        vec![
            ("Cookie", format!("gatehouse_session={token}")),
            ("X-User-ID", "admin".into()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(
        seen["x-user-id"],
        uid.as_str(),
        "the spoofed header never reaches the upstream"
    );
    let (status, seen) = get("/public/p", vec![("X-User-ID", "admin".into())]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(seen["x-user-id"], "guest");
    assert_eq!(
        get(
            "/admin/x",
            vec![("Cookie", format!("gatehouse_session={token}"))]
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    // A PAT through the rule's api_key authenticator, as X-API-Key and as a bearer token; one
    // without the rule's required scope is refused.
    let (_, pat) = app
        .admin(
            Method::POST,
            "/admin/credentials",
            Some(
                json!({"kind": "pat", "owner": uid, "name": "nginx", "scopes": ["read:resources"]}),
            ),
        )
        .await;
    let pat = pat["token"].as_str().expect("token").to_owned();
    let (status, seen) = get(
        "/app/y",
        vec![("X-API-Key", pat.clone()), ("X-User-ID", "admin".into())],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen["x-user-id"], uid.as_str());
    assert_eq!(
        seen.get("x-session-id")
            .and_then(Value::as_str)
            .unwrap_or(""),
        ""
    );
    assert_eq!(
        get("/app/y", vec![("Authorization", format!("Bearer {pat}"))])
            .await
            .0,
        StatusCode::OK
    );
    let (_, narrow) = app
        .admin(
            Method::POST,
            "/admin/credentials",
            Some(json!({"kind": "pat", "owner": uid, "name": "narrow", "scopes": ["write:other"]})),
        )
        .await;
    let narrow = narrow["token"].as_str().expect("token").to_owned();
    assert_eq!(
        get("/app/y", vec![("X-API-Key", narrow)]).await.0,
        StatusCode::FORBIDDEN
    );
    drop(child);
}

/// The `jwt` authenticator against a JWKS served by a small app: issuer, audience, expiry and
/// scope checks, an unknown key refused, and a rotated key picked up by refetching the set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_bearer_tokens() {
    use gatehouse_crypto::jwk::Jwks;
    use gatehouse_crypto::{Algorithm, SigningKey};
    use std::sync::{Arc, Mutex};

    let first = SigningKey::generate(Algorithm::ES256).expect("key");
    let served = Arc::new(Mutex::new(Jwks {
        keys: vec![first.public_jwk()],
    }));
    let state = served.clone();
    let jwks_app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let state = state.clone();
            async move { axum::Json(state.lock().expect("lock").clone()) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let jwks_url = format!("http://{}/jwks.json", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, jwks_app).await;
    });

    let dir = tempfile::tempdir().expect("tempdir");
    let rules = json!([{
        "id": "api",
        "match": {"url": "https://api.example.com/<**>"},
        "authenticators": [{"handler": "jwt", "config": {
            "jwks_urls": [jwks_url],
            "trusted_issuers": ["https://issuer.example.com"],
            "target_audience": ["api"],
            "required_scope": ["read:docs"]
        }}],
        "authorizer": {"handler": "allow"}
    }]);
    std::fs::write(dir.path().join("rules.json"), rules.to_string()).expect("write");
    let path = dir.path().join("rules.json");
    let app = TestApp::spawn_with(Backend::Sqlite, move |c| {
        c.access_rules.repositories = vec![path.into()];
        c.access_rules.matching_strategy = "glob".into();
    })
    .await;
    let now = gatehouse::clock::now();
    let claims = |exp: i64, iss: &str, scope: &str| json!({"sub": "svc-42", "iss": iss, "aud": ["api"], "exp": exp, "iat": now, "scope": scope, "jti": "t-1"});
    let ask = |token: String| {
        let app = &app;
        async move {
            let resp = app
                .http
                .get(format!("{}/decisions/x", app.decisions))
                .header("X-Forwarded-Method", "GET")
                .header("X-Forwarded-Proto", "https")
                .header("X-Forwarded-Host", "api.example.com")
                .header("X-Forwarded-Uri", "/docs/1")
                .header("Authorization", format!("Bearer {token}"))
                .send()
                .await
                .expect("decision");
            (resp.status(), resp.headers().clone())
        }
    };
    let sign = |k: &SigningKey, c: &Value| gatehouse_crypto::jwt::sign(k, Some("at+jwt"), c);

    let (status, h) = ask(sign(
        &first,
        &claims(
            now + 300,
            "https://issuer.example.com",
            "read:docs write:docs",
        ),
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h["x-user-id"], "svc-42");
    assert_eq!(h["x-token-scopes"], "read:docs write:docs");
    assert_eq!(h["x-token-id"], "t-1");
    assert_eq!(
        ask(sign(
            &first,
            &claims(now - 10, "https://issuer.example.com", "read:docs")
        ))
        .await
        .0,
        StatusCode::UNAUTHORIZED,
        "expired"
    );
    assert_eq!(
        ask(sign(
            &first,
            &claims(now + 300, "https://evil.example.com", "read:docs")
        ))
        .await
        .0,
        StatusCode::UNAUTHORIZED,
        "issuer"
    );
    assert_eq!(
        ask(sign(
            &first,
            &claims(now + 300, "https://issuer.example.com", "write:docs")
        ))
        .await
        .0,
        StatusCode::FORBIDDEN,
        "scope"
    );
    let mut no_aud = claims(now + 300, "https://issuer.example.com", "read:docs");
    no_aud["aud"] = json!("other");
    assert_eq!(
        ask(sign(&first, &no_aud)).await.0,
        StatusCode::FORBIDDEN,
        "audience"
    );
    let mut no_exp = claims(0, "https://issuer.example.com", "read:docs");
    no_exp.as_object_mut().expect("object").remove("exp");
    assert_eq!(
        ask(sign(&first, &no_exp)).await.0,
        StatusCode::UNAUTHORIZED,
        "exp is required"
    );

    // A key the issuer does not publish: refused. Once published (rotation): accepted.
    let second = SigningKey::generate(Algorithm::ES256).expect("key");
    let token = sign(
        &second,
        &claims(now + 300, "https://issuer.example.com", "read:docs"),
    );
    assert_eq!(ask(token.clone()).await.0, StatusCode::UNAUTHORIZED);
    served.lock().expect("lock").keys.push(second.public_jwk());
    tokio::time::sleep(Duration::from_millis(1100)).await; // refetches are at most once a second
    assert_eq!(
        ask(token).await.0,
        StatusCode::OK,
        "the rotated key is fetched on an unknown kid"
    );

    // Tampered: the payload changed after signing.
    let good = sign(
        &first,
        &claims(now + 300, "https://issuer.example.com", "read:docs"),
    );
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    parts[1] = gatehouse_crypto::b64::encode(
        claims(now + 300, "https://issuer.example.com", "read:docs admin:*")
            .to_string()
            .as_bytes(),
    );
    assert_eq!(ask(parts.join(".")).await.0, StatusCode::UNAUTHORIZED);

    // A verified signature is remembered, but the claims are checked on every request: a
    // token accepted a moment ago is refused once its `exp` has passed.
    let soon = gatehouse::clock::now() + 2;
    let short = sign(
        &first,
        &claims(soon, "https://issuer.example.com", "read:docs"),
    );
    assert_eq!(ask(short.clone()).await.0, StatusCode::OK);
    assert_eq!(ask(short.clone()).await.0, StatusCode::OK, "remembered");
    tokio::time::sleep(Duration::from_millis(2600)).await;
    assert_eq!(
        ask(short).await.0,
        StatusCode::UNAUTHORIZED,
        "expired since it was verified"
    );
}
