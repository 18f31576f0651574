//! CORS on the public listener (`serve.public.cors`, Hydra's and Kratos's keys): browser apps on
//! a listed origin may call discovery, JWKS, token, userinfo, revocation, introspection and
//! whoami from script; preflights are answered without authentication; other origins get no
//! CORS headers; and with CORS off (the default) nothing changes.

use reqwest::{Method, StatusCode};

use crate::harness::{Backend, TestApp};

const SPA: &str = "https://spa.example.com";

fn acao(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get("access-control-allow-origin")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn cors_for_listed_origins(backend: Backend) {
    let Some(app) = TestApp::spawn_on(backend, |c| {
        let cors = &mut c.serve.public.cors;
        cors.enabled = true;
        cors.allowed_origins = vec![SPA.into(), "https://*.apps.example.com".into()];
        cors.allow_credentials = true;
        cors.max_age = gatehouse::config::Dur(std::time::Duration::from_secs(600));
    })
    .await
    else {
        return;
    };
    let preflight = |path: &'static str, origin: &'static str| {
        app.http
            .request(Method::OPTIONS, format!("{}{path}", app.public))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    for path in [
        "/oauth2/token",
        "/oauth2/revoke",
        "/oauth2/introspect",
        "/userinfo",
        "/sessions/whoami",
        "/oauth2/register",
    ] {
        let r = preflight(path, SPA).await.expect("request");
        assert!(r.status().is_success(), "{path}: {}", r.status());
        assert_eq!(acao(&r).as_deref(), Some(SPA), "{path}");
        assert_eq!(r.headers()["access-control-allow-credentials"], "true");
        assert_eq!(r.headers()["access-control-max-age"], "600");
        let methods = r.headers()["access-control-allow-methods"]
            .to_str()
            .expect("methods");
        assert!(methods.contains("POST"), "{methods}");
        let r = preflight(path, "https://evil.example")
            .await
            .expect("request");
        assert_eq!(acao(&r), None, "{path}: an unlisted origin");
    }
    let r = preflight("/oauth2/token", "https://a.apps.example.com")
        .await
        .expect("request");
    assert_eq!(acao(&r).as_deref(), Some("https://a.apps.example.com"));
    // Simple requests carry the headers too, whatever the answer.
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/jwks.json",
        "/sessions/whoami",
    ] {
        let r = app
            .http
            .get(format!("{}{path}", app.public))
            .header("origin", SPA)
            .send()
            .await
            .expect("request");
        assert_eq!(acao(&r).as_deref(), Some(SPA), "{path}");
        if path == "/sessions/whoami" {
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        }
    }
}
crate::both_backends!(backend cors_preflight_and_listed_origins, cors_for_listed_origins);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_is_off_by_default() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let r = app
        .http
        .get(format!("{}/.well-known/openid-configuration", app.public))
        .header("origin", SPA)
        .send()
        .await
        .expect("request");
    assert_eq!(acao(&r), None);
}

#[test]
fn serve_public_cors_is_hydras_key_and_refuses_wildcard_credentials() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("gatehouse.yaml");
    std::fs::write(
        &path,
        "serve:\n  public:\n    cors:\n      enabled: true\n      allowed_origins: [\"https://spa.example.com\"]\n      allowed_methods: [GET, POST]\n      allowed_headers: [Authorization, Content-Type]\n      exposed_headers: [Content-Type]\n      allow_credentials: true\n      max_age: 10\n      debug: false\n",
    )
    .expect("write");
    let c = gatehouse::config::Config::load(Some(&path), std::iter::empty()).expect("Hydra's keys");
    assert!(c.serve.public.cors.enabled);
    std::fs::write(
        &path,
        "serve:\n  public:\n    cors:\n      enabled: true\n      allowed_origins: [\"*\"]\n      allow_credentials: true\n",
    )
    .expect("write");
    let e = gatehouse::config::Config::load(Some(&path), std::iter::empty()).expect_err("refused");
    assert!(
        e.to_string()
            .contains("serve.public.cors.allow_credentials"),
        "{e}"
    );
}
