//! The built-in pages under `/ui/`: security headers, redirects to start flows, the consent page
//! (escaping, CSRF, Allow and Deny through to the client), logout, and theming.

use base64::Engine;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::harness::{
    Backend, Browser, CHALLENGE, LOGIN_URL, REDIRECT, TestApp, VERIFIER, query_param, urlencode,
};

/// An identity and a live session for it, as a browser with the session cookie.
pub(crate) async fn signed_in(app: &TestApp, email: &str) -> (String, Browser) {
    signed_in_at(app, email, gatehouse::clock::now()).await
}

/// [`signed_in`] with a session that authenticated at `at` (Unix seconds).
pub(crate) async fn signed_in_at(app: &TestApp, email: &str, at: i64) -> (String, Browser) {
    let created = app.create_identity(email, "correct horse battery").await;
    let id = created["id"].as_str().expect("id").to_owned();
    let identity = app.app.state.identities.get(&id).await.expect("identity");
    let (token, _) = app
        .app
        .state
        .sessions
        .issue(
            &identity,
            gatehouse::sessions::AuthMethod {
                method: "password".into(),
                aal: gatehouse::sessions::Aal::Aal1,
                completed_at: 0,
            },
            None,
            gatehouse::sessions::Device::default(),
            at,
        )
        .await
        .expect("session");
    let mut b = Browser::default();
    b.cookies
        .push(("gatehouse_session".into(), token.expose().to_owned()));
    (id, b)
}

pub(crate) struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

pub(crate) async fn send(app: &TestApp, b: &mut Browser, req: reqwest::RequestBuilder) -> Resp {
    let mut req = req;
    if !b.cookies.is_empty() {
        req = req.header("cookie", b.cookie_header());
    }
    let _ = app;
    let resp = req.send().await.expect("request");
    let headers = resp.headers().clone();
    b.keep(&headers);
    Resp {
        status: resp.status(),
        headers,
        body: resp.text().await.unwrap_or_default(),
    }
}

pub(crate) async fn get(app: &TestApp, b: &mut Browser, url: &str) -> Resp {
    let req = app.http.get(url);
    send(app, b, req).await
}

pub(crate) async fn post(app: &TestApp, b: &mut Browser, url: &str, form: &[(&str, &str)]) -> Resp {
    let req = app.http.post(url).form(form);
    send(app, b, req).await
}

pub(crate) fn header<'a>(r: &'a Resp, name: &str) -> &'a str {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

pub(crate) fn assert_page_headers(r: &Resp) {
    assert_eq!(header(r, "cache-control"), "no-store");
    assert_eq!(header(r, "x-frame-options"), "DENY");
    assert_eq!(header(r, "referrer-policy"), "no-referrer");
    let csp = header(r, "content-security-policy");
    assert!(
        csp.starts_with(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; form-action 'self' "
        ),
        "{csp}"
    );
    assert!(csp.ends_with("; frame-ancestors 'none'"), "{csp}");
    assert!(header(r, "content-type").starts_with("text/html"));
}

/// The value of `<input ... name="{name}" value="...">` in a page.
pub(crate) fn hidden(body: &str, name: &str) -> String {
    let at = body
        .find(&format!(r#"name="{name}" value=""#))
        .unwrap_or_else(|| panic!("no {name} field in {body}"));
    let rest = &body[at + name.len() + 15..];
    rest[..rest.find('"').expect("end of value")].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_pages_start_flows_and_pages_carry_security_headers() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut anon = Browser::default();
    let issuer = app.issuer().to_owned();

    let r = get(
        &app,
        &mut anon,
        &format!("{issuer}/ui/login?return_to=https%3A%2F%2Fapp.example.com%2F&login_challenge=abc&aal=aal2&refresh=true&other=x"),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        header(&r, "location"),
        format!(
            "{issuer}/self-service/login/browser?return_to=https%3A%2F%2Fapp.example.com%2F&login_challenge=abc&aal=aal2&refresh=true"
        )
    );
    assert_eq!(header(&r, "cache-control"), "no-store");
    for kind in ["registration", "settings", "recovery", "verification"] {
        // An unknown flow id starts a new flow, too.
        let r = get(&app, &mut anon, &format!("{issuer}/ui/{kind}?flow=nope")).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{kind}");
        assert_eq!(
            header(&r, "location"),
            format!("{issuer}/self-service/{kind}/browser")
        );
    }

    let r = get(&app, &mut anon, &format!("{issuer}/ui/nothing-here")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_page_headers(&r);

    let r = get(&app, &mut anon, &format!("{issuer}/ui/error")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_page_headers(&r);
    assert!(r.body.contains(r#"role="alert""#), "{}", r.body);
    // minijinja escapes `/` in attributes too (`&#x2f;`), which browsers decode.
    assert!(
        r.body.contains(r#"&#x2f;ui/static/style.css">"#),
        "{}",
        r.body
    );
    let r = get(&app, &mut anon, &format!("{issuer}/ui/error?id=unknown")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let r = get(&app, &mut anon, &format!("{issuer}/ui/static/style.css")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(header(&r, "content-type").starts_with("text/css"));
    assert!(r.body.contains("prefers-color-scheme: dark"));

    // The welcome page: a redirect to login without a session, the account with one.
    let r = get(&app, &mut anon, &format!("{issuer}/ui/welcome")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(header(&r, "location"), format!("{issuer}/ui/login"));
    let (_, mut user) = signed_in(&app, "welcome@example.com").await;
    let r = get(&app, &mut user, &format!("{issuer}/ui/")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_page_headers(&r);
    assert!(r.body.contains("welcome@example.com"));
    assert!(r.body.contains(r#"&#x2f;ui/logout">Sign out</a>"#));
    assert!(
        r.body
            .contains(r#"&#x2f;ui/settings">Account settings</a>"#)
    );
}

/// A client with a hostile name, and a browser signed in as `email` that went through
/// `/oauth2/auth` and the login accept: returns the client, the browser, the identity id and the
/// consent page URL.
async fn at_consent(app: &TestApp, email: &str, scope: &str) -> (Value, Browser, String, String) {
    let client = app
        .create_client(json!({
            "client_name": "<script>alert(1)</script>",
            "logo_uri": "javascript:alert(1)",
            "grant_types": ["authorization_code"],
            "redirect_uris": [REDIRECT],
            "scope": "openid email profile offline_access",
        }))
        .await;
    let (id, mut b) = signed_in(app, email).await;
    let auth = format!(
        "{}/oauth2/auth?client_id={}&response_type=code&redirect_uri={}&scope={}&state=st4te1234&nonce=n0nce1234&code_challenge={CHALLENGE}&code_challenge_method=S256",
        app.public,
        client["client_id"].as_str().expect("client_id"),
        urlencode(REDIRECT),
        urlencode(scope),
    );
    let r = get(app, &mut b, &auth).await;
    let login = header(&r, "location").to_owned();
    assert!(login.starts_with(LOGIN_URL), "{login}");
    let lc = query_param(&login, "login_challenge").expect("login_challenge");
    let (status, accepted) = app
        .admin_put(
            &format!("/admin/oauth2/auth/requests/login/accept?login_challenge={lc}"),
            json!({"subject": id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    let r = get(
        app,
        &mut b,
        accepted["redirect_to"].as_str().expect("redirect_to"),
    )
    .await;
    let consent = header(&r, "location").to_owned();
    assert!(
        consent.starts_with(&format!("{}/ui/consent?consent_challenge=", app.public)),
        "the default urls.consent is the built-in page: {consent}"
    );
    (client, b, id, consent)
}

async fn spawn_with_builtin_consent() -> TestApp {
    TestApp::spawn_with(Backend::Sqlite, |c| c.urls.consent = None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_page_escapes_and_allow_grants_only_checked_scopes() {
    let app = spawn_with_builtin_consent().await;
    let (client, mut b, _, consent) =
        at_consent(&app, "consent@example.com", "openid email profile").await;
    let r = get(&app, &mut b, &consent).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_page_headers(&r);
    assert!(!r.body.contains("<script"), "{}", r.body);
    assert!(
        r.body
            .contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
        "{}",
        r.body
    );
    assert!(
        !r.body.contains("javascript:"),
        "non-https logo_uri is not shown"
    );
    // The form's POST ends in a 303 to the client: form-action allows its origin.
    assert!(
        header(&r, "content-security-policy").contains("form-action 'self' http://127.0.0.1:")
            && header(&r, "content-security-policy").contains(" https://app.example.com;"),
        "{}",
        header(&r, "content-security-policy")
    );
    for (i, text) in [
        "Sign you in with your Gatehouse account",
        "Your e-mail address and whether it is verified",
        "Your name",
    ]
    .iter()
    .enumerate()
    {
        let n = i + 1;
        assert!(r.body.contains(&format!(
            r#"<input type="checkbox" id="scope-{n}" name="scope""#
        )));
        assert!(
            r.body
                .contains(&format!(r#"<label for="scope-{n}">{text}"#)),
            "{}",
            r.body
        );
    }
    assert!(
        r.body
            .contains(r#"<label for="remember">Remember my choice</label>"#)
    );
    let csrf = hidden(&r.body, "csrf_token");
    let challenge = hidden(&r.body, "consent_challenge");
    let set_cookie = header(&r, "set-cookie");
    assert!(
        set_cookie.starts_with("gatehouse_ui_csrf=")
            && set_cookie.contains("; Path=/ui; HttpOnly; SameSite=Lax"),
        "{set_cookie}"
    );
    // The form carries a MAC of the cookie and the session, not the cookie value itself.
    assert!(!set_cookie.contains(&csrf), "{set_cookie}");

    // Without the token, and with a wrong one: refused, and the request stays open.
    let url = format!("{}/ui/consent", app.public);
    let base = [
        ("consent_challenge", challenge.as_str()),
        ("action", "allow"),
        ("scope", "openid"),
    ];
    let r = post(&app, &mut b, &url, &base).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_page_headers(&r);
    let mut wrong = base.to_vec();
    wrong.push(("csrf_token", "0123456789abcdef0123456789abcdef"));
    let r = post(&app, &mut b, &url, &wrong).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // Allow with openid and email checked (profile unchecked, and a scope never requested).
    let mut form = base.to_vec();
    form.extend([
        ("csrf_token", csrf.as_str()),
        ("scope", "email"),
        ("scope", "offline_access"),
    ]);
    let r = post(&app, &mut b, &url, &form).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let next = header(&r, "location").to_owned();
    assert!(
        next.starts_with(&format!("{}/oauth2/auth?consent_verifier=", app.public)),
        "{next}"
    );
    let r = get(&app, &mut b, &next).await;
    let back = header(&r, "location").to_owned();
    assert!(back.starts_with(REDIRECT), "{back}");
    let code = query_param(&back, "code").expect("code");
    let (status, tokens, _) = app
        .token(
            &client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["scope"], "openid email");
    let payload = tokens["id_token"]
        .as_str()
        .expect("id_token")
        .split('.')
        .nth(1)
        .expect("payload");
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("b64"),
    )
    .expect("claims");
    assert_eq!(claims["email"], "consent@example.com");
    assert_eq!(claims["email_verified"], false);
    assert!(
        claims.get("name").is_none(),
        "profile was not granted: {claims}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_deny_and_another_accounts_session() {
    let app = spawn_with_builtin_consent().await;
    let (_, mut b, _, consent) = at_consent(&app, "deny@example.com", "openid profile").await;

    // Another identity's session may not answer this request.
    let (_, mut other) = signed_in(&app, "other@example.com").await;
    let r = get(&app, &mut other, &consent).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_page_headers(&r);
    // Neither may a browser without a session.
    let r = get(&app, &mut Browser::default(), &consent).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    let r = get(&app, &mut b, &consent).await;
    assert_eq!(r.status, StatusCode::OK);
    let csrf = hidden(&r.body, "csrf_token");
    let challenge = hidden(&r.body, "consent_challenge");
    let r = post(
        &app,
        &mut b,
        &format!("{}/ui/consent", app.public),
        &[
            ("consent_challenge", &challenge),
            ("csrf_token", &csrf),
            ("action", "deny"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let back = header(&r, "location").to_owned();
    assert!(back.starts_with(REDIRECT), "{back}");
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(query_param(&back, "state").as_deref(), Some("st4te1234"));

    // The request is answered: showing it again sends the browser where it went.
    let r = get(&app, &mut b, &consent).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(header(&r, "location"), back);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_asks_then_ends_the_session() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.selfservice.allowed_return_urls = vec!["https://app.example.com/after".into()];
    })
    .await;
    let issuer = app.issuer().to_owned();
    let url = format!("{issuer}/ui/logout");
    let r = get(&app, &mut Browser::default(), &url).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(header(&r, "location"), format!("{issuer}/ui/login"));

    let (_, mut b) = signed_in(&app, "bye@example.com").await;
    let r = get(
        &app,
        &mut b,
        &format!("{url}?return_to=https%3A%2F%2Fapp.example.com%2Fafter%2Fx"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_page_headers(&r);
    assert!(header(&r, "content-security-policy").contains(" https://app.example.com;"));
    assert!(r.body.contains("Sign out?") && r.body.contains("bye@example.com"));
    let csrf = hidden(&r.body, "csrf_token");
    assert_eq!(
        hidden(&r.body, "return_to"),
        "https:&#x2f;&#x2f;app.example.com&#x2f;after&#x2f;x"
    );

    let whoami = format!("{issuer}/sessions/whoami");
    let r = post(&app, &mut b, &url, &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = post(
        &app,
        &mut b,
        &url,
        &[("csrf_token", "0123456789abcdef0123456789abcdeX")],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(get(&app, &mut b, &whoami).await.status, StatusCode::OK);

    let r = post(
        &app,
        &mut b,
        &url,
        &[
            ("csrf_token", &csrf),
            ("return_to", "https://app.example.com/after/x"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(header(&r, "location"), "https://app.example.com/after/x");
    assert!(
        header(&r, "set-cookie").starts_with("gatehouse_session=; Path=/; Max-Age=0; HttpOnly"),
        "{}",
        header(&r, "set-cookie")
    );
    assert_eq!(
        get(&app, &mut b, &whoami).await.status,
        StatusCode::UNAUTHORIZED
    );

    // A return_to that is not allowed ends at the login page. (Each try ends its session, and
    // the form's token is bound to the session: a new one each time.)
    for (i, evil) in [
        "https://evil.example/",
        "https://app.example.com/afterwards",
        "//evil.example/",
    ]
    .into_iter()
    .enumerate()
    {
        let (_, mut b) = signed_in(&app, &format!("bye-evil-{i}@example.com")).await;
        let r = get(&app, &mut b, &url).await;
        let csrf = hidden(&r.body, "csrf_token");
        let r = post(
            &app,
            &mut b,
            &url,
            &[("csrf_token", &csrf), ("return_to", evil)],
        )
        .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(
            header(&r, "location"),
            format!("{issuer}/ui/login"),
            "{evil}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_theme_directory_overrides_templates_and_css() {
    let theme = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(theme.path().join("static")).expect("mkdir");
    std::fs::write(
        theme.path().join("welcome.html"),
        r#"{% extends "base.html" %}{% block content %}<p class="acme">Acme: {{ account }}</p>{% endblock %}"#,
    )
    .expect("write");
    std::fs::write(
        theme.path().join("static/style.css"),
        "body { color: rebeccapurple; }",
    )
    .expect("write");
    let dir = theme.path().to_string_lossy().into_owned();
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.selfservice.ui.theme_path = Some(dir);
    })
    .await;
    let (_, mut b) = signed_in(&app, "acme@example.com").await;
    let r = get(&app, &mut b, &format!("{}/ui/welcome", app.public)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        r.body
            .contains(r#"<p class="acme">Acme: acme@example.com</p>"#),
        "{}",
        r.body
    );
    let r = get(&app, &mut b, &format!("{}/ui/static/style.css", app.public)).await;
    assert_eq!(r.body, "body { color: rebeccapurple; }");

    // A template that does not parse stops the start.
    std::fs::write(theme.path().join("consent.html"), "{% if %}").expect("write");
    let config = gatehouse::config::RawConfig {
        data_dir: tempfile::tempdir().expect("tempdir").keep(),
        selfservice: gatehouse::config::SelfService {
            ui: gatehouse::config::Ui {
                theme_path: Some(theme.path().to_string_lossy().into_owned()),
            },
            ..Default::default()
        },
        ..Default::default()
    }
    .resolve()
    .expect("valid");
    let err = gatehouse::App::build(config).await.err().expect("refused");
    assert!(format!("{err:#}").contains("consent.html"), "{err:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_page_renders_a_real_flow_with_its_csrf_token() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut b = Browser::default();
    let r = get(&app, &mut b, &format!("{}/ui/login", app.public)).await;
    let start = header(&r, "location").to_owned();
    let r = get(&app, &mut b, &start).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = header(&r, "location").to_owned();
    assert!(
        page.starts_with(&format!("{}/ui/login?flow=", app.public)),
        "{page}"
    );
    let r = get(&app, &mut b, &page).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_page_headers(&r);
    assert!(r.body.contains("<h1>Sign in</h1>"), "{}", r.body);
    let token = hidden(&r.body, "csrf_token");
    assert!(!token.is_empty(), "{}", r.body);
    assert!(
        r.body.contains(r#"autocomplete="username""#) || r.body.contains(r#"autocomplete="email""#),
        "{}",
        r.body
    );
    assert!(r.body.contains(r#"type="password""#), "{}", r.body);
    // Every visible input has a label.
    for id in r
        .body
        .split(r#"<input id=""#)
        .skip(1)
        .filter_map(|s| s.split('"').next())
    {
        assert!(
            r.body.contains(&format!(r#"<label for="{id}">"#)),
            "{id} has no label"
        );
    }
    assert!(
        r.body.contains(r#"registration">Create an account</a>"#),
        "{}",
        r.body
    );
}
