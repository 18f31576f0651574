//! The gateway's handlers that call other services, each against a small real HTTP server on
//! 127.0.0.1 playing the remote (Kratos's whoami, an RFC 7662 introspection endpoint, a token
//! endpoint, a `remote_json` authorizer, a hydrator): allow, refusal, and the cache (the remote
//! hit once for two decisions within the TTL). The `id_token` mutator's JWT is verified against
//! Gatehouse's own JWKS endpoint. Malformed handler configurations are refused by reload and by
//! `gatehouse rules check`, naming the rule and the key.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Backend, TestApp};

/// Hits per path on the fake remote.
#[derive(Clone, Default)]
struct Hits(Arc<Mutex<HashMap<&'static str, usize>>>);

impl Hits {
    fn hit(&self, path: &'static str) {
        *self.0.lock().expect("lock").entry(path).or_default() += 1;
    }
    fn get(&self, path: &str) -> usize {
        self.0.lock().expect("lock").get(path).copied().unwrap_or(0)
    }
}

fn basic_of(h: &HeaderMap) -> Option<(String, String)> {
    let v = h
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD.decode(v).ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_owned(), p.to_owned()))
}

async fn whoami(State(hits): State<Hits>, h: HeaderMap) -> Response {
    hits.hit("whoami");
    let cookie = h.get("cookie").and_then(|v| v.to_str().ok()).unwrap_or("");
    let auth = h
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if cookie.contains("ory_kratos_session=good") || auth == "Bearer good-session" {
        axum::Json(json!({
            "id": "sess-1",
            "active": true,
            "authenticator_assurance_level": "aal1",
            "identity": {"id": "user-1", "traits": {"email": "u@example.com"}, "metadata_public": {"roles": ["admin"]}}
        }))
        .into_response()
    } else {
        (AxumStatus::UNAUTHORIZED, "{}").into_response()
    }
}

async fn token(
    State(hits): State<Hits>,
    h: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    hits.hit("token");
    let scope = f.get("scope").map(String::as_str).unwrap_or("");
    match basic_of(&h) {
        Some((u, p)) if u == "pre-client" && p == "pre-secret" => axum::Json(
            json!({"access_token": "pre-auth-token", "token_type": "bearer", "expires_in": 3600}),
        )
        .into_response(),
        Some((u, p)) if u == "app-client" && p == "app-secret" && scope == "read" => axum::Json(
            json!({"access_token": "cc-token", "token_type": "bearer", "expires_in": 3600}),
        )
        .into_response(),
        _ => (
            AxumStatus::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client"})),
        )
            .into_response(),
    }
}

async fn introspect(
    State(hits): State<Hits>,
    h: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    hits.hit("introspect");
    if h.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer pre-auth-token") {
        return AxumStatus::UNAUTHORIZED.into_response();
    }
    let exp = gatehouse::clock::now() + 3600;
    let t = f.get("token").map(String::as_str).unwrap_or("");
    let body = match t {
        "good-at" => {
            json!({"active": true, "sub": "svc-1", "scope": "read write", "aud": ["api"], "iss": "https://idp.example.com", "exp": exp, "client_id": "c1"})
        }
        "narrow-at" => {
            json!({"active": true, "sub": "svc-2", "scope": "write", "aud": ["api"], "iss": "https://idp.example.com", "exp": exp})
        }
        "foreign-at" => {
            json!({"active": true, "sub": "svc-3", "scope": "read", "aud": ["api"], "iss": "https://evil.example.com", "exp": exp})
        }
        _ => json!({"active": false}),
    };
    axum::Json(body).into_response()
}

async fn authz(State(hits): State<Hits>, body: String) -> Response {
    hits.hit("authz");
    let Ok(v) = serde_json::from_str::<Value>(&body) else {
        return AxumStatus::BAD_REQUEST.into_response();
    };
    if v["subject"] == "user-1" && v["action"] == "read" && v["path"] == "/rj/doc" {
        ([("x-authz-reason", "owner")], "{}").into_response()
    } else {
        AxumStatus::FORBIDDEN.into_response()
    }
}

async fn hydrate(State(hits): State<Hits>, body: String) -> Response {
    hits.hit("hydrate");
    let Ok(v) = serde_json::from_str::<Value>(&body) else {
        return AxumStatus::BAD_REQUEST.into_response();
    };
    let mut extra = v["extra"].clone();
    if !extra.is_object() {
        extra = json!({});
    }
    extra["plan"] = json!("gold");
    axum::Json(json!({
        "subject": v["subject"],
        "extra": extra,
        "header": {"X-Plan": ["gold"]},
        "match_context": v["match_context"],
    }))
    .into_response()
}

/// The fake remote: its base URL and its hit counters.
async fn remote() -> (String, Hits) {
    let hits = Hits::default();
    let app = axum::Router::new()
        .route("/sessions/whoami", get(whoami))
        .route("/token", post(token))
        .route("/introspect", post(introspect))
        .route("/authz", post(authz))
        .route("/authz-broken", post(|| async { AxumStatus::BAD_GATEWAY }))
        .route("/hydrate", post(hydrate))
        .route(
            "/hydrate-broken",
            post(|| async { AxumStatus::INTERNAL_SERVER_ERROR }),
        )
        .with_state(hits.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, hits)
}

fn rules(base: &str) -> Value {
    let anon = |s: &str| json!([{"handler": "anonymous", "config": {"subject": s}}]);
    json!([
        {
            "id": "kratos-cookie",
            "match": {"url": "http://app.example.com/k/<**>"},
            "authenticators": [{"handler": "cookie_session", "config": {
                "check_session_url": format!("{base}/sessions/whoami"),
                "preserve_path": true,
                "only": ["ory_kratos_session"],
                "force_method": "GET"
            }}],
            "authorizer": {"handler": "gatehouse", "config": {"required_roles": ["admin"]}},
            "mutators": [{"handler": "header", "config": {"headers": {"X-Email": "{{ print .Extra.identity.traits.email }}"}}}]
        },
        {
            "id": "kratos-bearer",
            "match": {"url": "http://app.example.com/kb/<**>"},
            "authenticators": [{"handler": "bearer_token", "config": {
                "check_session_url": format!("{base}/sessions/whoami"),
                "preserve_path": true,
                "force_method": "GET",
                "cache": {"enabled": false}
            }}],
            "authorizer": {"handler": "allow"}
        },
        {
            "id": "introspected",
            "match": {"url": "http://app.example.com/i/<**>"},
            "authenticators": [{"handler": "oauth2_introspection", "config": {
                "introspection_url": format!("{base}/introspect"),
                "scope_strategy": "exact",
                "required_scope": ["read"],
                "target_audience": ["api"],
                "trusted_issuers": ["https://idp.example.com"],
                "pre_authorization": {"enabled": true, "client_id": "pre-client", "client_secret": "pre-secret", "token_url": format!("{base}/token")},
                "cache": {"enabled": true, "ttl": "1m"}
            }}],
            "authorizer": {"handler": "allow"}
        },
        {
            "id": "client-credentials",
            "match": {"url": "http://app.example.com/cc/<**>"},
            "authenticators": [{"handler": "oauth2_client_credentials", "config": {
                "token_url": format!("{base}/token"),
                "required_scope": ["read"],
                "cache": {"enabled": true, "ttl": "1m"}
            }}],
            "authorizer": {"handler": "allow"}
        },
        {
            "id": "remote-json",
            "match": {"url": "http://app.example.com/rj/<**>"},
            "authenticators": [{"handler": "anonymous", "config": {"subject": "user-1"}}],
            "authorizer": {"handler": "remote_json", "config": {
                "remote": format!("{base}/authz"),
                "payload": "{\"subject\": \"{{ print .Subject }}\", \"action\": \"read\", \"path\": \"{{ .MatchContext.URL.Path }}\"}",
                "forward_response_headers_to_upstream": ["X-Authz-Reason"]
            }}
        },
        {
            "id": "remote-json-broken",
            "match": {"url": "http://app.example.com/rjb"},
            "authenticators": anon("user-1"),
            "authorizer": {"handler": "remote_json", "config": {
                "remote": format!("{base}/authz-broken"),
                "payload": "{}"
            }}
        },
        {
            "id": "mutated",
            "match": {"url": "http://app.example.com/m/<**>"},
            "authenticators": anon("user-1"),
            "authorizer": {"handler": "allow"},
            "mutators": [
                {"handler": "hydrator", "config": {"api": {"url": format!("{base}/hydrate")}, "cache": {"ttl": "1m"}}},
                {"handler": "header", "config": {"headers": {"X-Plan-Extra": "{{ print .Extra.plan }}"}}},
                {"handler": "cookie", "config": {"cookies": {"plan": "{{ print .Extra.plan }}", "who": "{{ print .Subject }}"}}},
                {"handler": "id_token", "config": {"claims": "{\"aud\": [\"upstream\"], \"plan\": \"{{ print .Extra.plan }}\"}"}}
            ]
        },
        {
            "id": "hydrator-broken",
            "match": {"url": "http://app.example.com/hb"},
            "authenticators": anon("user-1"),
            "authorizer": {"handler": "allow"},
            "mutators": [{"handler": "hydrator", "config": {"api": {"url": format!("{base}/hydrate-broken")}}}]
        }
    ])
}

async fn app_with(rules: &Value) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rules.json");
    std::fs::write(&path, rules.to_string()).expect("write rules");
    let app = TestApp::spawn_with(Backend::Sqlite, move |c| {
        c.access_rules.repositories = vec![path.into()];
        c.access_rules.matching_strategy = "glob".into();
        c.access_rules.reload_interval = gatehouse::config::Dur(Duration::from_millis(100));
        c.rate_limits.enabled = false;
    })
    .await;
    (app, dir)
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
        .header("X-Forwarded-Proto", "http")
        .header("X-Forwarded-Host", "app.example.com")
        .header("X-Forwarded-Uri", uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("decision");
    (resp.status(), resp.headers().clone())
}

fn basic(user: &str, pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_session_checks() {
    let (base, hits) = remote().await;
    let (app, _dir) = app_with(&rules(&base)).await;

    let good = [("Cookie", "theme=dark; ory_kratos_session=good")];
    let (status, h) = decide(&app, "/k/page?x=1", &good).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h["x-user-id"], "user-1");
    assert_eq!(h["x-session-id"], "sess-1");
    assert_eq!(h["x-user-email"], "u@example.com");
    assert_eq!(h["x-email"], "u@example.com");
    assert_eq!(h["x-user-roles"], "admin");
    // Within the TTL the same cookie is answered from the cache.
    assert_eq!(decide(&app, "/k/page?x=1", &good).await.0, StatusCode::OK);
    assert_eq!(hits.get("whoami"), 1, "cached");

    let (status, _) = decide(&app, "/k/page", &[("Cookie", "ory_kratos_session=bad")]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Another cookie name is not this authenticator's: no authenticator, 401, no remote call.
    let before = hits.get("whoami");
    assert_eq!(
        decide(&app, "/k/page", &[("Cookie", "other=good")]).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(hits.get("whoami"), before);

    // bearer_token with the cache off: every decision asks.
    let before = hits.get("whoami");
    for _ in 0..2 {
        let (status, h) = decide(&app, "/kb/x", &[("Authorization", "Bearer good-session")]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(h["x-user-id"], "user-1");
    }
    assert_eq!(hits.get("whoami"), before + 2);
    assert_eq!(
        decide(&app, "/kb/x", &[("Authorization", "Bearer nope")])
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_introspection_and_client_credentials() {
    let (base, hits) = remote().await;
    let (app, _dir) = app_with(&rules(&base)).await;

    let (status, h) = decide(&app, "/i/x", &[("Authorization", "Bearer good-at")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h["x-user-id"], "svc-1");
    assert_eq!(h["x-token-scopes"], "read write");
    assert_eq!(
        decide(&app, "/i/x", &[("Authorization", "Bearer good-at")])
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(hits.get("introspect"), 1, "the active answer is cached");
    assert_eq!(hits.get("token"), 1, "one pre-authorization token");

    assert_eq!(
        decide(&app, "/i/x", &[("Authorization", "Bearer dead-at")])
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        decide(&app, "/i/x", &[("Authorization", "Bearer foreign-at")])
            .await
            .0,
        StatusCode::UNAUTHORIZED,
        "issuer"
    );
    assert_eq!(
        decide(&app, "/i/x", &[("Authorization", "Bearer narrow-at")])
            .await
            .0,
        StatusCode::FORBIDDEN,
        "scope"
    );
    assert_eq!(hits.get("token"), 1);

    // Client credentials in Basic auth, exchanged at the token endpoint, then cached.
    let before = hits.get("token");
    let good = basic("app-client", "app-secret");
    let (status, h) = decide(&app, "/cc/x", &[("Authorization", &good)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h["x-user-id"], "app-client");
    assert_eq!(
        decide(&app, "/cc/x", &[("Authorization", &good)]).await.0,
        StatusCode::OK
    );
    assert_eq!(
        hits.get("token"),
        before + 1,
        "cached by the credentials' digest"
    );
    let bad = basic("app-client", "wrong");
    assert_eq!(
        decide(&app, "/cc/x", &[("Authorization", &bad)]).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(decide(&app, "/cc/x", &[]).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_json_authorizer() {
    let (base, hits) = remote().await;
    let (app, _dir) = app_with(&rules(&base)).await;

    let (status, h) = decide(&app, "/rj/doc", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h["x-authz-reason"], "owner", "forwarded to the upstream");
    assert_eq!(
        decide(&app, "/rj/other", &[]).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        decide(&app, "/rjb", &[]).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(hits.get("authz"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hydrator_cookie_and_id_token_mutators() {
    use gatehouse_crypto::jwk::Jwks;
    use gatehouse_crypto::jwt::UnverifiedJwt;

    let (base, hits) = remote().await;
    let (app, _dir) = app_with(&rules(&base)).await;

    let (status, h) = decide(&app, "/m/x", &[("Cookie", "theme=dark; who=spoofed")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h["x-user-id"], "user-1");
    assert_eq!(h["x-plan"], "gold", "the hydrator's header");
    assert_eq!(
        h["x-plan-extra"], "gold",
        "the hydrator's extra, seen by later mutators"
    );
    assert_eq!(h["cookie"], "theme=dark; who=user-1; plan=gold");
    let jwt = h["authorization"]
        .to_str()
        .expect("text")
        .strip_prefix("Bearer ")
        .expect("bearer")
        .to_owned();
    let (status, again) = decide(&app, "/m/x", &[("Cookie", "theme=dark; who=spoofed")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(hits.get("hydrate"), 1, "cached");
    assert_eq!(
        again["authorization"], h["authorization"],
        "the same token within the first half of its life: not signed again"
    );

    // The upstream verifies the token with Gatehouse's published keys.
    let meta: Value = app
        .http
        .get(format!("{}/.well-known/openid-configuration", app.public))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    let jwks: Jwks = app
        .http
        .get(meta["jwks_uri"].as_str().expect("jwks_uri"))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("jwks json");
    let claims = UnverifiedJwt::parse(&jwt)
        .expect("a JWS")
        .verify(&jwks.keys)
        .expect("signed by Gatehouse");
    assert_eq!(claims["iss"], meta["issuer"]);
    assert_eq!(claims["sub"], "user-1");
    assert_eq!(claims["aud"], json!(["upstream"]));
    assert_eq!(claims["plan"], "gold");
    let (iat, exp) = (
        claims["iat"].as_i64().expect("iat"),
        claims["exp"].as_i64().expect("exp"),
    );
    assert_eq!(exp - iat, 60, "one minute by default");
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));

    assert_eq!(
        decide(&app, "/hb", &[]).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_handler_config_is_refused_and_the_old_rules_stay() {
    let (base, _hits) = remote().await;
    let (app, dir) = app_with(&rules(&base)).await;
    assert_eq!(decide(&app, "/rj/doc", &[]).await.0, StatusCode::OK);

    let mut bad = rules(&base);
    bad[6]["mutators"][0]["config"]["api"]["url"] = json!("ftp://files.example.com/h");
    std::fs::write(dir.path().join("rules.json"), bad.to_string()).expect("write");
    let err = app.app.state.gateway.reload().expect_err("refused");
    assert!(
        err.contains("rule #6 (mutated)") && err.contains("hydrator") && err.contains("api.url"),
        "{err}"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        decide(&app, "/rj/doc", &[]).await.0,
        StatusCode::OK,
        "old rules in force"
    );
    assert_eq!(decide(&app, "/m/x", &[]).await.0, StatusCode::OK);

    // `gatehouse rules check` reports the same, and a misspelt key by name.
    let check = |rules: &Value| {
        let f = dir.path().join("check.json");
        std::fs::write(&f, rules.to_string()).expect("write");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .args([
                "rules".as_ref(),
                "check".as_ref(),
                "--strategy".as_ref(),
                "glob".as_ref(),
                f.as_os_str(),
            ])
            .env_clear()
            .env("GATEHOUSE_DATA_DIR", dir.path())
            .output()
            .expect("run");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, stderr) = check(&bad);
    assert!(!ok);
    assert!(
        stderr.contains("rule #6 (mutated)") && stderr.contains("api.url"),
        "{stderr}"
    );
    let mut typo = rules(&base);
    typo[0]["authenticators"][0]["config"]["check_session_urll"] = json!("http://x");
    let (ok, stderr) = check(&typo);
    assert!(!ok);
    assert!(
        stderr.contains("rule #0 (kratos-cookie)")
            && stderr.contains("cookie_session")
            && stderr.contains("check_session_urll"),
        "{stderr}"
    );
    let mut payload = rules(&base);
    payload[4]["authorizer"]["config"]["payload"] = json!("{\"subject\": {{ print .Subject }}");
    let (ok, stderr) = check(&payload);
    assert!(!ok);
    assert!(
        stderr.contains("rule #4 (remote-json)") && stderr.contains("payload"),
        "{stderr}"
    );
    let (ok, stderr) = check(&rules(&base));
    assert!(ok, "{stderr}");
}
