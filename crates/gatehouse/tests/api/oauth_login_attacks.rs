//! Attacks on the built-in login and consent pages of an OAuth 2.0 authorization (security
//! probe 6.1 and 6.2): a login challenge planted in a signed-in victim's browser, a handled
//! challenge's verifier read back on the public listener, and `prompt=login` / `max_age`
//! answered without a fresh authentication.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{
    Backend, Browser, CHALLENGE, Hop, REDIRECT, TestApp, VERIFIER, csrf_token, query_param,
    urlencode,
};
use crate::pages::signed_in;

const PASSWORD: &str = "correct horse battery";

/// Gatehouse with its own login and consent pages (no login app configured).
async fn builtin_pages(backend: Backend) -> Option<TestApp> {
    TestApp::spawn_on(backend, |c| {
        c.urls.login = None;
        c.urls.consent = None;
    })
    .await
}

/// A client the victim never has to click "Allow" for (the probe's worst case).
async fn first_party_client(app: &TestApp) -> Value {
    app.create_client(json!({
        "grant_types": ["authorization_code", "refresh_token"],
        "redirect_uris": [REDIRECT],
        "scope": "openid offline_access email",
        "skip_consent": true,
    }))
    .await
}

/// The browser opens `/oauth2/auth` (with `extra` parameters); the login challenge it is sent
/// to the built-in login page with. The browser now holds the request's CSRF cookie.
async fn authorize(app: &TestApp, b: &mut Browser, client: &Value, extra: &str) -> String {
    let url = format!(
        "{}/oauth2/auth?client_id={}&response_type=code&redirect_uri={}&scope=openid+email&state=st4te1234&nonce=n0nce1234&code_challenge={CHALLENGE}&code_challenge_method=S256{extra}",
        app.public,
        client["client_id"].as_str().expect("client_id"),
        urlencode(REDIRECT),
    );
    let hop = b.get(app, &url).await;
    assert_eq!(hop.status, StatusCode::SEE_OTHER, "{}", hop.body);
    let login = hop.location.expect("redirect to login");
    assert!(
        login.starts_with(&format!("{}/ui/login?", app.public)),
        "{login}"
    );
    query_param(&login, "login_challenge").expect("login_challenge")
}

fn login_browser_url(app: &TestApp, challenge: &str) -> String {
    format!(
        "{}/self-service/login/browser?login_challenge={challenge}",
        app.public
    )
}

/// Follows redirects on our own origin until one leaves it (or a page answers); every hop.
async fn follow(app: &TestApp, b: &mut Browser, url: &str) -> Vec<Hop> {
    let mut hops = Vec::new();
    let mut next = url.to_owned();
    for _ in 0..10 {
        let hop = b.get(app, &next).await;
        let location = hop.location.clone();
        hops.push(hop);
        match location {
            Some(l) if l.starts_with(&app.public) && !l.contains("/ui/login?flow=") => next = l,
            _ => break,
        }
    }
    hops
}

/// Submits `password` on the login flow the browser was sent to (`/ui/login?flow=`).
async fn submit_password(
    app: &TestApp,
    b: &mut Browser,
    flow_page: &str,
    email: &str,
    password: &str,
) -> Hop {
    let id = query_param(flow_page, "flow").expect("flow id");
    let resp = app
        .http
        .get(format!("{}/self-service/login/flows?id={id}", app.public))
        .header("cookie", b.cookie_header())
        .header("accept", "application/json")
        .send()
        .await
        .expect("request");
    b.keep(resp.headers());
    let flow: Value = resp.json().await.expect("flow json");
    let csrf = csrf_token(&flow).expect("csrf_token").to_owned();
    let action = flow["ui"]["action"].as_str().expect("action").to_owned();
    let resp = app
        .http
        .post(action)
        .header("cookie", b.cookie_header())
        .form(&[
            ("method", "password"),
            ("identifier", email),
            ("password", password),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .expect("request");
    b.keep(resp.headers());
    let status = resp.status();
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Hop {
        status,
        location,
        body: resp.text().await.unwrap_or_default(),
    }
}

/// Redeems the code the client got; the ID token's claims.
async fn id_token_claims(app: &TestApp, client: &Value, callback: &str) -> Value {
    let code = query_param(callback, "code").expect("code");
    let (status, tokens, _) = app
        .token(
            client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let jwt = tokens["id_token"].as_str().expect("id_token");
    gatehouse_crypto::jwt::UnverifiedJwt::parse(jwt)
        .expect("jwt")
        .claims
}

fn mentions_verifier(hop: &Hop) -> bool {
    let l = hop.location.as_deref().unwrap_or_default();
    l.contains("login_verifier")
        || l.contains("consent_verifier")
        || hop.body.contains("login_verifier")
        || hop.body.contains("consent_verifier")
        || hop.body.contains("glv_")
        || hop.body.contains("gcv_")
}

/// Probe 6.1: the attacker starts an authorization request (and so holds its CSRF cookie) and
/// makes a signed-in victim's browser open the login challenge. The victim's browser is not the
/// one that started the request: nothing is accepted for the victim.
async fn login_challenge_injected_into_victims_browser(backend: Backend) {
    let Some(app) = builtin_pages(backend).await else {
        return;
    };
    let client = first_party_client(&app).await;
    let mut attacker = Browser::default();
    let challenge = authorize(&app, &mut attacker, &client, "").await;
    let (_, mut victim) = signed_in(&app, "alice@example.com").await;

    let hop = victim.get(&app, &login_browser_url(&app, &challenge)).await;
    assert!(!mentions_verifier(&hop), "{:?} {}", hop.location, hop.body);
    let to = hop.location.clone().unwrap_or_default();
    assert!(
        to.starts_with(&format!("{}/ui/error?id=", app.public)),
        "the victim's browser is shown an error, not sent on: {to}"
    );
    // The login request is still open: nobody accepted it for the victim.
    let (status, req) = app
        .admin_get(&format!(
            "/admin/oauth2/auth/requests/login?login_challenge={challenge}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{req}");

    // The JSON answer (the probe's API-style read) says the same and carries no verifier.
    let resp = app
        .http
        .get(login_browser_url(&app, &challenge))
        .header("cookie", victim.cookie_header())
        .header("accept", "application/json")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body = resp.text().await.unwrap_or_default();
    assert!(!body.contains("verifier"), "{body}");
}
crate::both_backends!(backend login_challenge_injected_into_a_signed_in_browser_is_refused, login_challenge_injected_into_victims_browser);

/// Probe 6.1, second half: once a challenge is handled, neither the login challenge nor the
/// consent challenge hands its verifier to anyone on the public listener, with or without a
/// session, with or without the flow's CSRF cookie.
async fn handled_challenge_verifiers_stay_private(backend: Backend) {
    let Some(app) = builtin_pages(backend).await else {
        return;
    };
    let client = app
        .create_client(json!({
            "grant_types": ["authorization_code"], "redirect_uris": [REDIRECT],
            "scope": "openid email",
        }))
        .await;
    let (id, mut owner) = signed_in(&app, "bob@example.com").await;
    let challenge = authorize(&app, &mut owner, &client, "").await;
    let (status, accepted) = app
        .admin_put(
            &format!("/admin/oauth2/auth/requests/login/accept?login_challenge={challenge}"),
            json!({"subject": id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    let (_, mut other) = signed_in(&app, "mallory@example.com").await;
    for b in [&mut owner, &mut other, &mut Browser::default()] {
        let hop = b.get(&app, &login_browser_url(&app, &challenge)).await;
        assert!(!mentions_verifier(&hop), "{:?} {}", hop.location, hop.body);
        let resp = app
            .http
            .get(login_browser_url(&app, &challenge))
            .header("cookie", b.cookie_header())
            .header("accept", "application/json")
            .send()
            .await
            .expect("request");
        let body = resp.text().await.unwrap_or_default();
        assert!(
            !body.contains("verifier") && !body.contains("glv_"),
            "{body}"
        );
    }

    // The consent challenge, handled: an error page for everyone, never a redirect onward.
    let hop = owner
        .get(&app, accepted["redirect_to"].as_str().expect("redirect_to"))
        .await;
    let consent = hop.location.expect("consent page");
    let consent_challenge = query_param(&consent, "consent_challenge").expect("challenge");
    let (status, done) = app
        .admin_put(
            &format!(
                "/admin/oauth2/auth/requests/consent/accept?consent_challenge={consent_challenge}"
            ),
            json!({"grant_scope": ["openid"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    for b in [&mut owner, &mut other, &mut Browser::default()] {
        let hop = b.get(&app, &consent).await;
        assert!(!mentions_verifier(&hop), "{:?} {}", hop.location, hop.body);
        assert_ne!(hop.status, StatusCode::SEE_OTHER, "{:?}", hop.location);
    }
    // The admin API still answers a handled request with 410 and a redirect_to (Hydra's
    // contract), which restarts the authorization rather than revealing the verifier.
    let (status, gone) = app
        .admin_get(&format!(
            "/admin/oauth2/auth/requests/login?login_challenge={challenge}"
        ))
        .await;
    assert_eq!(status, StatusCode::GONE, "{gone}");
    let to = gone["redirect_to"].as_str().expect("redirect_to");
    assert!(!to.contains("verifier"), "{to}");
    assert!(
        to.starts_with(&format!("{}/oauth2/auth?", app.public)),
        "{to}"
    );
}
crate::both_backends!(backend handled_challenge_verifiers_are_not_disclosed, handled_challenge_verifiers_stay_private);

/// A consent challenge opened in a browser other than the one that started the request is
/// refused even for the right account (the victim half of the probe's consent step).
async fn consent_challenge_injected(backend: Backend) {
    let Some(app) = builtin_pages(backend).await else {
        return;
    };
    let client = app
        .create_client(json!({
            "grant_types": ["authorization_code"], "redirect_uris": [REDIRECT],
            "scope": "openid email",
        }))
        .await;
    let (id, mut victim) = signed_in(&app, "carol@example.com").await;
    let mut attacker = Browser::default();
    let challenge = authorize(&app, &mut attacker, &client, "").await;
    let (_, accepted) = app
        .admin_put(
            &format!("/admin/oauth2/auth/requests/login/accept?login_challenge={challenge}"),
            json!({"subject": id}),
        )
        .await;
    let hop = attacker
        .get(&app, accepted["redirect_to"].as_str().expect("redirect_to"))
        .await;
    let consent = hop.location.expect("consent page");
    let hop = victim.get(&app, &consent).await;
    assert_eq!(hop.status, StatusCode::FORBIDDEN, "{}", hop.body);
    assert!(!mentions_verifier(&hop));
}
crate::both_backends!(backend consent_challenge_injected_into_another_browser_is_refused, consent_challenge_injected);

/// Probe 6.2: with a live session, `prompt=login` and an exceeded `max_age` demand the password
/// again, and the ID token's `auth_time` is the time of that fresh authentication. Without
/// them, the provider's own login session lets the page skip asking, and `auth_time` stays the
/// time of the first login.
async fn prompt_login_and_max_age(backend: Backend) {
    let Some(app) = builtin_pages(backend).await else {
        return;
    };
    let client = first_party_client(&app).await;
    let email = "dave@example.com";
    let (_, mut b) = signed_in(&app, email).await;

    // A Gatehouse session but no login session at the provider (skip is false): the page asks.
    let challenge = authorize(&app, &mut b, &client, "").await;
    let hops = follow(&app, &mut b, &login_browser_url(&app, &challenge)).await;
    let form = hops.last().and_then(|h| h.location.clone()).expect("form");
    assert!(form.contains("/ui/login?flow="), "{form}");
    let first_login = gatehouse::clock::now();
    let hop = submit_password(&app, &mut b, &form, email, PASSWORD).await;
    assert_eq!(hop.status, StatusCode::SEE_OTHER, "{}", hop.body);
    let hops = follow(&app, &mut b, &hop.location.expect("onward")).await;
    let callback = hops.last().and_then(|h| h.location.clone()).expect("cb");
    assert!(callback.starts_with(REDIRECT), "{callback}");
    let first = id_token_claims(&app, &client, &callback).await;
    let first_auth = first["auth_time"].as_i64().expect("auth_time");
    assert!(first_auth >= first_login - 1, "{first}");

    // Plain request: skipped, with the first login's auth_time.
    let challenge = authorize(&app, &mut b, &client, "").await;
    let hops = follow(&app, &mut b, &login_browser_url(&app, &challenge)).await;
    let callback = hops.last().and_then(|h| h.location.clone()).expect("cb");
    assert!(
        callback.starts_with(REDIRECT),
        "skip=true passes: {callback}"
    );

    // prompt=login: the password again, no code before it.
    let challenge = authorize(&app, &mut b, &client, "&prompt=login").await;
    let hops = follow(&app, &mut b, &login_browser_url(&app, &challenge)).await;
    let form = hops.last().and_then(|h| h.location.clone()).expect("form");
    assert!(
        form.contains("/ui/login?flow="),
        "prompt=login must ask for the password: {form}"
    );
    assert!(!hops.iter().any(mentions_verifier));

    // max_age exceeded: the password again; after it, auth_time is the fresh login's time.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let challenge = authorize(&app, &mut b, &client, "&max_age=1").await;
    let hops = follow(&app, &mut b, &login_browser_url(&app, &challenge)).await;
    let form = hops.last().and_then(|h| h.location.clone()).expect("form");
    assert!(form.contains("/ui/login?flow="), "max_age=1: {form}");
    let fresh_login = gatehouse::clock::now();
    let hop = submit_password(&app, &mut b, &form, email, PASSWORD).await;
    assert_eq!(hop.status, StatusCode::SEE_OTHER, "{}", hop.body);
    let hops = follow(&app, &mut b, &hop.location.expect("onward")).await;
    let callback = hops.last().and_then(|h| h.location.clone()).expect("cb");
    assert!(callback.starts_with(REDIRECT), "{callback}");
    let fresh = id_token_claims(&app, &client, &callback).await;
    let fresh_auth = fresh["auth_time"].as_i64().expect("auth_time");
    assert!(fresh_auth >= fresh_login - 1, "{fresh} vs {fresh_login}");
    assert!(fresh_auth > first_auth, "{fresh} vs {first}");
}
crate::both_backends!(backend prompt_login_and_max_age_demand_a_fresh_password, prompt_login_and_max_age);
