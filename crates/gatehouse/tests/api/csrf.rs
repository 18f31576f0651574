//! CSRF on the browser forms: cross-site unsafe requests are refused (Origin,
//! `Sec-Fetch-Site`), the pages' tokens are MACs bound to the cookie and the session (a tossed
//! cookie with a chosen value, or another session's token, is refused), and the CSRF cookies
//! carry the `__Host-` prefix on an https issuer.

use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::harness::{
    Backend, Browser, CHALLENGE, REDIRECT, TestApp, csrf_token, query_param, urlencode,
};
use crate::pages::{get, header, hidden, post, send, signed_in};

const TOKENS: &str = "/ui/settings/tokens";

fn create_form(csrf: &str) -> Vec<(&str, &str)> {
    vec![
        ("csrf_token", csrf),
        ("action", "create"),
        ("name", "tossed"),
        ("scope", "read:*"),
        ("expires", "30d"),
    ]
}

async fn ui_csrf_tossed_cookie_with_chosen_value_is_refused(app: TestApp) {
    let url = format!("{}{TOKENS}", app.public);
    let (_, mut b) = signed_in(&app, "tossed@example.com").await;
    // The attacker set the cookie (a sibling subdomain, or plain http) to a value it chose, and
    // sends that value as the token: the old double-submit check accepted it.
    let chosen = "K".repeat(32);
    b.cookies.push(("gatehouse_ui_csrf".into(), chosen.clone()));
    let r = post(&app, &mut b, &url, &create_form(&chosen)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(!r.body.contains("pat_"), "a token was issued");
    // The page's own token still works (even with that cookie value).
    let page = get(&app, &mut b, &url).await;
    let token = hidden(&page.body, "csrf_token");
    assert_ne!(token, chosen);
    let r = post(&app, &mut b, &url, &create_form(&token)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("pat_"), "{}", r.body);
}
both_backends!(
    ui_csrf_tossed_cookie,
    ui_csrf_tossed_cookie_with_chosen_value_is_refused
);

async fn ui_csrf_token_of_another_session_is_refused(app: TestApp) {
    let url = format!("{}{TOKENS}", app.public);
    // The attacker's own session gives it a cookie and a valid token for that cookie...
    let (_, mut attacker) = signed_in(&app, "attacker@example.com").await;
    let page = get(&app, &mut attacker, &url).await;
    let token = hidden(&page.body, "csrf_token");
    let cookie = attacker
        .cookies
        .iter()
        .find(|(k, _)| k == "gatehouse_ui_csrf")
        .map(|(_, v)| v.clone())
        .expect("ui csrf cookie");
    // ...which it tosses into the victim's browser and submits there.
    let (_, mut victim) = signed_in(&app, "victim@example.com").await;
    victim.cookies.push(("gatehouse_ui_csrf".into(), cookie));
    let r = post(&app, &mut victim, &url, &create_form(&token)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = post(
        &app,
        &mut victim,
        &format!("{}/ui/logout", app.public),
        &[("csrf_token", &token)],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
}
both_backends!(
    ui_csrf_other_session,
    ui_csrf_token_of_another_session_is_refused
);

async fn cross_site_form_post_is_refused(app: TestApp) {
    let issuer = app.public.clone();
    let (_, mut b) = signed_in(&app, "origin@example.com").await;
    let logout = format!("{issuer}/ui/logout");
    let page = get(&app, &mut b, &logout).await;
    let token = hidden(&page.body, "csrf_token");
    let whoami = format!("{issuer}/sessions/whoami");
    // Valid token and cookie, but sent from another site.
    for (name, value) in [
        ("origin", "https://evil.example"),
        ("origin", "null"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let req = app
            .http
            .post(&logout)
            .header(name, value)
            .form(&[("csrf_token", token.as_str())]);
        let r = send(&app, &mut b, req).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{name}: {value}");
        assert!(r.body.contains("security_csrf_violation"), "{}", r.body);
        assert_eq!(get(&app, &mut b, &whoami).await.status, StatusCode::OK);
    }
    // A self-service flow submission from another site.
    let mut anon = Browser::default();
    let hop = anon
        .get(&app, &format!("{issuer}/self-service/login/browser"))
        .await;
    let flow_id = query_param(hop.location.as_deref().unwrap_or_default(), "flow").expect("flow");
    let flow: serde_json::Value = serde_json::from_str(
        &get(
            &app,
            &mut anon,
            &format!("{issuer}/self-service/login/flows?id={flow_id}"),
        )
        .await
        .body,
    )
    .expect("json");
    let csrf = csrf_token(&flow).expect("csrf").to_owned();
    let req = app
        .http
        .post(format!("{issuer}/self-service/login?flow={flow_id}"))
        .header("origin", "https://evil.example")
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("method", "password"),
            ("identifier", "origin@example.com"),
            ("password", "correct horse battery"),
        ]);
    let r = send(&app, &mut anon, req).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    // The cookie-authenticated credentials API.
    let req = app
        .http
        .post(format!("{issuer}/credentials/tokens"))
        .header("sec-fetch-site", "cross-site")
        .json(&json!({"name": "x", "scopes": ["read:*"], "expires_in": "30d"}));
    let r = send(&app, &mut b, req).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    // From the issuer's own origin it goes through.
    let req = app
        .http
        .post(&logout)
        .header("origin", issuer.as_str())
        .header("sec-fetch-site", "same-origin")
        .form(&[("csrf_token", token.as_str())]);
    let r = send(&app, &mut b, req).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        get(&app, &mut b, &whoami).await.status,
        StatusCode::UNAUTHORIZED
    );
}
both_backends!(cross_site_post, cross_site_form_post_is_refused);

async fn csrf_cookies_are_host_prefixed_on_an_https_issuer(backend: Backend) {
    let Some(app) = TestApp::spawn_on(backend, |c| {
        c.urls.self_.issuer = Some("https://auth.gatehouse.test".into());
    })
    .await
    else {
        return;
    };
    // A cookie tossed without the prefix is not read: a new __Host- cookie is set.
    let mut b = Browser::default();
    b.cookies.push(("gatehouse_csrf".into(), "T".repeat(43)));
    let r = get(
        &app,
        &mut b,
        &format!("{}/self-service/login/browser", app.public),
    )
    .await;
    let set = header(&r, "set-cookie");
    assert!(set.starts_with("__Host-gatehouse_csrf="), "{set}");
    assert!(
        set.contains("; Path=/;") && set.contains("; Secure") && !set.contains("Domain"),
        "{set}"
    );
    // The prefixed cookie is the one the flow is bound to: its form carries the token.
    let flow_id = query_param(header(&r, "location"), "flow").expect("flow");
    let flow: serde_json::Value = serde_json::from_str(
        &get(
            &app,
            &mut b,
            &format!("{}/self-service/login/flows?id={flow_id}", app.public),
        )
        .await
        .body,
    )
    .expect("json");
    let token = csrf_token(&flow).unwrap_or_default();
    assert_eq!(token.len(), 43, "{flow}");
    assert!(set.starts_with(&format!("__Host-gatehouse_csrf={token};")));
    // The authorization flow's CSRF cookie too.
    let client = app.web_client().await;
    let r = get(
        &app,
        &mut Browser::default(),
        &format!(
            "{}/oauth2/auth?client_id={}&response_type=code&redirect_uri={}&scope=openid&state=st4te1234&code_challenge={CHALLENGE}&code_challenge_method=S256",
            app.public,
            client["client_id"].as_str().unwrap_or_default(),
            urlencode(REDIRECT),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let set = header(&r, "set-cookie");
    assert!(set.starts_with("__Host-gatehouse_oauth2_csrf_"), "{set}");
    assert!(
        set.contains("; Path=/;") && set.contains("; Secure") && !set.contains("Domain"),
        "{set}"
    );
    let (_, mut b) = signed_in(&app, "host@example.com").await;
    let r = get(&app, &mut b, &format!("{}/ui/logout", app.public)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let set = r
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.contains("ui_csrf"))
        .unwrap_or_default()
        .to_owned();
    assert!(set.starts_with("__Host-gatehouse_ui_csrf="), "{set}");
    assert!(
        set.contains("; Path=/;") && set.contains("; Secure") && !set.contains("Domain"),
        "{set}"
    );
}
both_backends!(backend host_prefix, csrf_cookies_are_host_prefixed_on_an_https_issuer);
