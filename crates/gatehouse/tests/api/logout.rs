//! `/oauth2/sessions/logout`: RP-initiated logout with front- and back-channel notification,
//! through a logout app or the built-in logout page (`/ui/logout?logout_challenge=`, skipped
//! for an `id_token_hint` of the current session); and back-channel notification when the
//! identity session behind a login ends instead (self-service logout, `DELETE /sessions`, the
//! admin API).

use std::sync::{Arc, Mutex};

use axum::routing::post;
use gatehouse_crypto::jwt::UnverifiedJwt;
use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::harness::{
    Backend, Browser, CHALLENGE, REDIRECT, TestApp, VERIFIER, consent_to_client, eventually,
    login_and_consent, query_param, start_authorization, urlencode,
};
use crate::pages::{assert_page_headers, get, header, hidden, post as post_form};
use crate::selfservice::{PASSWORD, api_login, whoami};

/// A logout app of the operator's (`urls.logout`).
const LOGOUT_URL: &str = "https://login.example.com/logout";

/// A relying party's back-channel logout endpoint on a free loopback port.
pub(crate) async fn backchannel_receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/backchannel",
        post(
            move |axum::Form(f): axum::Form<std::collections::HashMap<String, String>>| {
                let sink = sink.clone();
                async move {
                    if let (Ok(mut v), Some(t)) = (sink.lock(), f.get("logout_token")) {
                        v.push(t.clone());
                    }
                    StatusCode::OK
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/backchannel",
        listener.local_addr().expect("addr")
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, got)
}

/// An app whose clients may have back-channel receivers on this machine (the receivers here
/// are on loopback, which `clients.http.disallow_private_ip_ranges` refuses by default).
pub(crate) async fn app_with_local_receivers(backend: Backend) -> Option<TestApp> {
    TestApp::spawn_on(backend, |c| {
        c.clients.http.disallow_private_ip_ranges = false
    })
    .await
}

/// RP-initiated logout through a logout app (`urls.logout`, Hydra's model): the app is asked
/// even with an `id_token_hint` of the current session, and accepts through the admin API.
async fn rp_initiated_logout(backend: Backend) {
    let Some(app) = TestApp::spawn_on(backend, |c| {
        c.clients.http.disallow_private_ip_ranges = false;
        c.urls.logout = Some(LOGOUT_URL.into());
    })
    .await
    else {
        return;
    };
    let (bc_url, received) = backchannel_receiver().await;
    let c = app
        .create_client(json!({
            "grant_types": ["authorization_code", "refresh_token"], "redirect_uris": [REDIRECT], "scope": "openid offline_access",
            "post_logout_redirect_uris": ["https://app.example.com/bye"],
            "backchannel_logout_uri": bc_url, "frontchannel_logout_uri": "https://app.example.com/fc",
        }))
        .await;
    let mut b = Browser::default();
    let back = login_and_consent(&app, &mut b, &c, "", true).await;
    let code = query_param(&back, "code").expect("code");
    let (_, body, _) = app
        .token(
            &c,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    let id_token = body["id_token"].as_str().expect("id token").to_owned();
    let sid = UnverifiedJwt::parse(&id_token).expect("jwt").claims["sid"]
        .as_str()
        .expect("sid")
        .to_owned();

    // An unregistered post-logout URI is refused on a page.
    let hop = b
        .get(
            &app,
            &format!(
                "{}/oauth2/sessions/logout?id_token_hint={id_token}&post_logout_redirect_uri={}",
                app.public,
                urlencode("https://evil.example/")
            ),
        )
        .await;
    assert_eq!(
        (hop.status, hop.location.is_none()),
        (StatusCode::BAD_REQUEST, true)
    );

    let hop = b.get(&app, &format!("{}/oauth2/sessions/logout?id_token_hint={id_token}&post_logout_redirect_uri={}&state=bye1", app.public, urlencode("https://app.example.com/bye"))).await;
    let loc = hop.location.expect("to the logout app");
    assert!(loc.starts_with(LOGOUT_URL), "{loc}");
    let challenge = query_param(&loc, "logout_challenge").expect("logout_challenge");
    let (status, req) = app
        .admin_get(&format!(
            "/admin/oauth2/auth/requests/logout?logout_challenge={challenge}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{req}");
    assert_eq!(req["subject"], "alice");
    assert_eq!(req["sid"], sid.as_str());
    assert_eq!(req["rp_initiated"], true);
    let (status, acc) = app
        .admin_put(
            &format!("/admin/oauth2/auth/requests/logout/accept?logout_challenge={challenge}"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let hop = b
        .get(&app, acc["redirect_to"].as_str().expect("redirect_to"))
        .await;
    assert_eq!(hop.status, StatusCode::OK);
    assert!(
        hop.body.contains("https://app.example.com/fc?iss="),
        "front-channel iframe: {}",
        hop.body
    );
    assert!(hop.body.contains("https://app.example.com/bye?state=bye1"));
    assert!(
        !b.cookies
            .iter()
            .any(|(k, _)| k == "gatehouse_authentication_session"),
        "session cookie cleared"
    );

    // The back-channel logout token arrives, signed, with the session id.
    let mut token = None;
    for _ in 0..50 {
        if let Some(t) = received.lock().ok().and_then(|v| v.first().cloned()) {
            token = Some(t);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let token = token.expect("back-channel logout token delivered");
    let claims = logout_claims(&app, &token).await;
    assert_eq!(claims["sid"], sid.as_str());
    assert_eq!(claims["aud"], json!([c["client_id"]]));

    // The login session is gone: the next authorization asks for login again.
    let url = format!(
        "{}/oauth2/auth?client_id={}&response_type=code&redirect_uri={}&scope=openid&code_challenge={CHALLENGE}&code_challenge_method=S256",
        app.public,
        c["client_id"].as_str().unwrap_or_default(),
        urlencode(REDIRECT)
    );
    let loc = b.get(&app, &url).await.location.expect("login");
    let ch = query_param(&loc, "login_challenge").expect("challenge");
    let (_, req) = app
        .admin_get(&format!(
            "/admin/oauth2/auth/requests/login?login_challenge={ch}"
        ))
        .await;
    assert_eq!(req["skip"], false);
}
both_backends!(backend rp_initiated, rp_initiated_logout);

/// A logout token's claims, after checking it is one (OIDC Back-Channel Logout §2.4): typed
/// `logout+jwt`, signed with a published key, with the back-channel logout event and no nonce.
async fn logout_claims(app: &TestApp, token: &str) -> serde_json::Value {
    let jwks: gatehouse_crypto::jwk::Jwks = app
        .http
        .get(format!("{}/.well-known/jwks.json", app.public))
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("jwks");
    let jwt = UnverifiedJwt::parse(token).expect("jwt");
    assert_eq!(jwt.header.typ.as_deref(), Some("logout+jwt"));
    let claims = jwt.verify(&jwks.keys).expect("signature");
    assert!(claims["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object());
    assert!(claims.get("nonce").is_none());
    claims
}

/// Waits for the receiver to get a logout token for login session `sid`; its claims.
async fn logout_for(
    app: &TestApp,
    received: &Arc<Mutex<Vec<String>>>,
    sid: &str,
) -> serde_json::Value {
    let tokens = eventually(15, || async {
        let got = received.lock().map(|v| v.clone()).unwrap_or_default();
        got.iter()
            .any(|t| UnverifiedJwt::parse(t).is_ok_and(|j| j.claims["sid"] == sid))
            .then_some(got)
    })
    .await;
    let token = tokens
        .iter()
        .find(|t| UnverifiedJwt::parse(t).is_ok_and(|j| j.claims["sid"] == sid))
        .expect("token for sid");
    logout_claims(app, token).await
}

/// A browser signs in to `client` through Gatehouse's own login: the self-service login flow,
/// opened with the login challenge by the browser that started the authorization (it holds the
/// request's CSRF cookie), takes the password and accepts the login request for the identity
/// session it creates. The login session id (`sid` of the ID token) and that session's token.
async fn oauth_login_from_session(
    app: &TestApp,
    b: &mut Browser,
    client: &serde_json::Value,
    email: &str,
) -> (String, String) {
    let login = oauth_login(app, b, client, email).await;
    (login.sid, login.session_token)
}

/// What a browser's sign-in to a client through Gatehouse's own login left.
struct OAuthLogin {
    /// The login session id (`sid` of the ID token).
    sid: String,
    /// The identity session's token.
    session_token: String,
    id_token: String,
    access_token: String,
}

/// [`oauth_login_from_session`], with the ID token.
async fn oauth_login(
    app: &TestApp,
    b: &mut Browser,
    client: &serde_json::Value,
    email: &str,
) -> OAuthLogin {
    let challenge = start_authorization(app, b, client, "").await;
    let resp = app
        .http
        .get(format!(
            "{}/self-service/login/api?login_challenge={challenge}",
            app.public
        ))
        .header("cookie", b.cookie_header())
        .send()
        .await
        .expect("request");
    let flow: serde_json::Value = resp.json().await.expect("json");
    let action = flow["ui"]["action"].as_str().expect("action").to_owned();
    let resp = app
        .http
        .post(action)
        .json(&json!({"method": "password", "identifier": email, "password": PASSWORD}))
        .send()
        .await
        .expect("request");
    let body: serde_json::Value = resp.json().await.expect("json");
    let token = body["session_token"]
        .as_str()
        .expect("session token")
        .to_owned();
    let accepted = body["continue_with"][0]["redirect_browser_to"]
        .as_str()
        .expect("the accepted login request's redirect");
    let back = consent_to_client(app, b, accepted, false).await;
    let code = query_param(&back, "code").expect("code");
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
    let id_token = tokens["id_token"].as_str().expect("id token").to_owned();
    let sid = UnverifiedJwt::parse(&id_token).expect("jwt").claims["sid"]
        .as_str()
        .expect("sid")
        .to_owned();
    OAuthLogin {
        sid,
        session_token: token,
        id_token,
        access_token: tokens["access_token"]
            .as_str()
            .expect("access token")
            .to_owned(),
    }
}

async fn identity_session_logout(backend: Backend) {
    let Some(app) = app_with_local_receivers(backend).await else {
        return;
    };
    let (bc_url, received) = backchannel_receiver().await;
    let c = app
        .create_client(json!({
            "grant_types": ["authorization_code", "refresh_token"], "redirect_uris": [REDIRECT],
            "scope": "openid offline_access", "backchannel_logout_uri": bc_url,
        }))
        .await;
    let identity = app.create_identity("pat@example.com", PASSWORD).await;
    let login = || async {
        let (status, body) = api_login(&app, "pat@example.com", PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["session_token"].as_str().expect("token").to_owned()
    };

    // Self-service logout (`DELETE /self-service/logout/api`) ends the login session made from
    // the identity session, and the client is told.
    let mut b = Browser::default();
    let (sid, token) = oauth_login_from_session(&app, &mut b, &c, "pat@example.com").await;
    let resp = app
        .http
        .delete(format!("{}/self-service/logout/api", app.public))
        .json(&json!({"session_token": token}))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let claims = logout_for(&app, &received, &sid).await;
    assert_eq!(claims["sub"], identity["id"]);
    assert_eq!(claims["aud"], json!([c["client_id"]]));
    // The login session is gone: the next authorization asks for login again.
    let ch = start_authorization(&app, &mut b, &c, "").await;
    let (_, req) = app
        .admin_get(&format!(
            "/admin/oauth2/auth/requests/login?login_challenge={ch}"
        ))
        .await;
    assert_eq!(req["skip"], false, "{req}");

    // `DELETE /sessions` (the other sessions) from a second session.
    let mut b = Browser::default();
    let (sid, _) = oauth_login_from_session(&app, &mut b, &c, "pat@example.com").await;
    let other = login().await;
    let resp = app
        .http
        .delete(format!("{}/sessions", app.public))
        .header("X-Session-Token", &other)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        logout_for(&app, &received, &sid).await["sub"],
        identity["id"]
    );

    // The admin API ending every session of the identity.
    let mut b = Browser::default();
    let (sid, _) = oauth_login_from_session(&app, &mut b, &c, "pat@example.com").await;
    let id = identity["id"].as_str().expect("id");
    let (status, _) = app
        .admin(
            reqwest::Method::DELETE,
            &format!("/admin/identities/{id}/sessions"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        logout_for(&app, &received, &sid).await["sub"],
        identity["id"]
    );
}
both_backends!(
    backend identity_session_end_notifies_clients,
    identity_session_logout
);

/// SSRF through back-channel logout: a client whose `backchannel_logout_uri` is on loopback (an
/// internal service) gets nothing POSTed there when its user logs out; the delivery is refused
/// before any connection, and stays queued for the janitor's retries, which are refused too.
async fn backchannel_logout_uri_on_loopback_is_not_posted_to(app: TestApp) {
    let (bc_url, received) = backchannel_receiver().await;
    // The admin API is trusted at registration; the call-time guard still applies.
    let c = app
        .create_client(json!({
            "grant_types": ["authorization_code", "refresh_token"], "redirect_uris": [REDIRECT],
            "scope": "openid offline_access", "backchannel_logout_uri": bc_url,
        }))
        .await;
    app.create_identity("ssrf@example.com", PASSWORD).await;
    let mut b = Browser::default();
    let (_, token) = oauth_login_from_session(&app, &mut b, &c, "ssrf@example.com").await;
    let resp = app
        .http
        .delete(format!("{}/self-service/logout/api", app.public))
        .json(&json!({"session_token": token}))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    // Deliver everything due, now and at every later retry.
    let provider = &app.app.provider;
    let later = gatehouse::clock::now() + 365 * 86400;
    let queued = app
        .app
        .store
        .due_logout_deliveries(later, 50)
        .await
        .expect("deliveries");
    assert_eq!(queued.len(), 1, "a delivery to the loopback URL was queued");
    for i in 0..3 {
        let at = later + i * 86400;
        assert_eq!(provider.deliver_logouts(at).await.expect("deliver"), 0);
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        received.lock().map(|v| v.is_empty()).unwrap_or(false),
        "the loopback receiver was called"
    );
}
both_backends!(
    backchannel_loopback_refused,
    backchannel_logout_uri_on_loopback_is_not_posted_to
);

// --- the built-in logout page (no `urls.logout`) -------------------------------------------

const BYE: &str = "https://app.example.com/bye";

/// A client with a post-logout URI (and JWT access tokens), and a browser signed in to it
/// through Gatehouse's own login (no `urls.logout`: the harness sets only the login and consent
/// apps).
async fn signed_in_to_client(
    app: &TestApp,
    email: &str,
) -> (serde_json::Value, Browser, OAuthLogin) {
    let c = app
        .create_client(json!({
            "client_name": "Notebook <b>&</b>",
            "grant_types": ["authorization_code", "refresh_token"], "redirect_uris": [REDIRECT],
            "scope": "openid offline_access", "post_logout_redirect_uris": [BYE],
            "access_token_strategy": "jwt",
        }))
        .await;
    app.create_identity(email, PASSWORD).await;
    let mut b = Browser::default();
    let login = oauth_login(app, &mut b, &c, email).await;
    (c, b, login)
}

/// The browser asks to be logged out by `client` (no `id_token_hint`), with `state`; the
/// challenge of the built-in logout page it is sent to.
async fn ask_logout(app: &TestApp, b: &mut Browser, c: &serde_json::Value, state: &str) -> String {
    let hop = b
        .get(
            app,
            &format!(
                "{}/oauth2/sessions/logout?client_id={}&post_logout_redirect_uri={}&state={state}",
                app.public,
                c["client_id"].as_str().expect("client_id"),
                urlencode(BYE)
            ),
        )
        .await;
    assert_eq!(hop.status, StatusCode::SEE_OTHER, "{}", hop.body);
    let loc = hop.location.expect("to the logout page");
    assert!(
        loc.starts_with(&format!("{}/ui/logout?logout_challenge=", app.public)),
        "{loc}"
    );
    query_param(&loc, "logout_challenge").expect("logout_challenge")
}

async fn zero_config_rp_initiated_logout_shows_the_logout_page(app: TestApp) {
    let (c, mut b, login) = signed_in_to_client(&app, "page@example.com").await;
    let challenge = ask_logout(&app, &mut b, &c, "s1").await;
    let page = get(
        &app,
        &mut b,
        &format!("{}/ui/logout?logout_challenge={challenge}", app.public),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_page_headers(&page);
    // Its form's 303s end at the client's post-logout URI.
    assert!(header(&page, "content-security-policy").contains(" https://app.example.com;"));
    let site = app.public.trim_start_matches("http://");
    assert!(
        page.body.contains(&format!(
            r#"Sign out of <span class="client">{site}</span>?"#
        )),
        "{}",
        page.body
    );
    // The client's name, escaped.
    assert!(
        page.body.contains(
            "<strong>Notebook &lt;b&gt;&amp;&lt;&#x2f;b&gt;</strong> asked to sign you out."
        ),
        "{}",
        page.body
    );
    assert!(page.body.contains("page@example.com"), "{}", page.body);
    assert_eq!(hidden(&page.body, "logout_challenge"), challenge);
    assert!(!hidden(&page.body, "csrf_token").is_empty());
    assert!(
        page.body
            .contains(r#"name="action" value="accept">Sign out</button>"#)
    );
    assert!(
        page.body
            .contains(r#"name="action" value="cancel">Cancel</button>"#)
    );
    // Nothing ended yet.
    assert_eq!(whoami(&app, &login.session_token).await.0, StatusCode::OK);
}
both_backends!(
    zero_config_logout_page,
    zero_config_rp_initiated_logout_shows_the_logout_page
);

async fn logout_page_form_without_a_valid_csrf_token_is_refused(app: TestApp) {
    let (c, mut b, login) = signed_in_to_client(&app, "csrf@example.com").await;
    let challenge = ask_logout(&app, &mut b, &c, "s1").await;
    let url = format!("{}/ui/logout", app.public);
    let page = get(&app, &mut b, &format!("{url}?logout_challenge={challenge}")).await;
    let csrf = hidden(&page.body, "csrf_token");
    for form in [
        vec![
            ("logout_challenge", challenge.as_str()),
            ("action", "accept"),
        ],
        vec![
            ("logout_challenge", challenge.as_str()),
            ("action", "accept"),
            ("csrf_token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        ],
    ] {
        let r = post_form(&app, &mut b, &url, &form).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
        assert!(header(&r, "location").is_empty());
    }
    // The token of the page, without the cookie it was made for.
    let mut other = Browser {
        cookies: b
            .cookies
            .iter()
            .filter(|(k, _)| k != "gatehouse_ui_csrf")
            .cloned()
            .collect(),
    };
    let form = [
        ("logout_challenge", challenge.as_str()),
        ("action", "accept"),
        ("csrf_token", csrf.as_str()),
    ];
    let r = post_form(&app, &mut other, &url, &form).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(whoami(&app, &login.session_token).await.0, StatusCode::OK);
    // The request is still open: the page's own form works.
    let r = post_form(&app, &mut b, &url, &form).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
}
both_backends!(
    logout_page_csrf,
    logout_page_form_without_a_valid_csrf_token_is_refused
);

async fn accepting_the_logout_page_ends_the_session_and_returns_with_state(app: TestApp) {
    let (c, mut b, login) = signed_in_to_client(&app, "accept@example.com").await;
    let challenge = ask_logout(&app, &mut b, &c, "bye-st4te").await;
    let url = format!("{}/ui/logout", app.public);
    let page = get(&app, &mut b, &format!("{url}?logout_challenge={challenge}")).await;
    let csrf = hidden(&page.body, "csrf_token");
    let r = post_form(
        &app,
        &mut b,
        &url,
        &[
            ("logout_challenge", challenge.as_str()),
            ("csrf_token", csrf.as_str()),
            ("action", "accept"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let verifier = header(&r, "location").to_owned();
    assert!(
        verifier.starts_with(&format!(
            "{}/oauth2/sessions/logout?logout_verifier=",
            app.public
        )),
        "{verifier}"
    );
    let hop = b.get(&app, &verifier).await;
    assert_eq!(hop.status, StatusCode::SEE_OTHER, "{}", hop.body);
    assert_eq!(
        hop.location.as_deref(),
        Some("https://app.example.com/bye?state=bye-st4te")
    );
    assert!(
        !b.cookies
            .iter()
            .any(|(k, _)| k == "gatehouse_authentication_session"),
        "login session cookie cleared"
    );
    assert_eq!(
        whoami(&app, &login.session_token).await.0,
        StatusCode::UNAUTHORIZED
    );
    // The request is answered: the page does not ask again.
    let again = get(&app, &mut b, &format!("{url}?logout_challenge={challenge}")).await;
    assert_ne!(again.status, StatusCode::OK, "{}", again.body);
    // The next authorization asks for login again.
    let ch = start_authorization(&app, &mut b, &c, "").await;
    let (_, req) = app
        .admin_get(&format!(
            "/admin/oauth2/auth/requests/login?login_challenge={ch}"
        ))
        .await;
    assert_eq!(req["skip"], false, "{req}");
}
both_backends!(
    logout_page_accept,
    accepting_the_logout_page_ends_the_session_and_returns_with_state
);

async fn cancelling_the_logout_page_keeps_the_session(app: TestApp) {
    let (c, mut b, login) = signed_in_to_client(&app, "cancel@example.com").await;
    let challenge = ask_logout(&app, &mut b, &c, "st4y").await;
    let url = format!("{}/ui/logout", app.public);
    let page = get(&app, &mut b, &format!("{url}?logout_challenge={challenge}")).await;
    let csrf = hidden(&page.body, "csrf_token");
    let form = [
        ("logout_challenge", challenge.as_str()),
        ("csrf_token", csrf.as_str()),
        ("action", "cancel"),
    ];
    let r = post_form(&app, &mut b, &url, &form).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        header(&r, "location"),
        "https://app.example.com/bye?state=st4y"
    );
    assert_eq!(whoami(&app, &login.session_token).await.0, StatusCode::OK);
    assert!(
        b.cookies
            .iter()
            .any(|(k, _)| k == "gatehouse_authentication_session")
    );
    // Rejected as Hydra's reject does: the request is used up, and cannot be accepted now.
    let (status, _) = app
        .admin_get(&format!(
            "/admin/oauth2/auth/requests/logout?logout_challenge={challenge}"
        ))
        .await;
    assert_eq!(status, StatusCode::GONE);
    let accept = [
        ("logout_challenge", challenge.as_str()),
        ("csrf_token", csrf.as_str()),
        ("action", "accept"),
    ];
    let r = post_form(&app, &mut b, &url, &accept).await;
    assert_eq!(r.status, StatusCode::GONE, "{}", r.body);
    assert_eq!(whoami(&app, &login.session_token).await.0, StatusCode::OK);
    // The login session stays: the next authorization skips the login.
    let ch = start_authorization(&app, &mut b, &c, "").await;
    let (_, req) = app
        .admin_get(&format!(
            "/admin/oauth2/auth/requests/login?login_challenge={ch}"
        ))
        .await;
    assert_eq!(req["skip"], true, "{req}");
}
both_backends!(
    logout_page_cancel,
    cancelling_the_logout_page_keeps_the_session
);

async fn id_token_hint_of_the_current_session_skips_the_logout_page(app: TestApp) {
    let (_, mut b, login) = signed_in_to_client(&app, "hint@example.com").await;
    let hop = b
        .get(
            &app,
            &format!(
                "{}/oauth2/sessions/logout?id_token_hint={}&post_logout_redirect_uri={}&state=sk1p",
                app.public,
                login.id_token,
                urlencode(BYE)
            ),
        )
        .await;
    assert_eq!(hop.status, StatusCode::SEE_OTHER, "{}", hop.body);
    assert_eq!(
        hop.location.as_deref(),
        Some("https://app.example.com/bye?state=sk1p")
    );
    assert_eq!(
        whoami(&app, &login.session_token).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert!(
        !b.cookies
            .iter()
            .any(|(k, _)| k == "gatehouse_authentication_session")
    );
}
both_backends!(
    logout_page_skipped_for_session_hint,
    id_token_hint_of_the_current_session_skips_the_logout_page
);

async fn id_token_hint_of_another_session_or_forged_does_not_skip(app: TestApp) {
    let (c, mut b, login) = signed_in_to_client(&app, "mine@example.com").await;
    let logout_with = |hint: String| {
        format!(
            "{}/oauth2/sessions/logout?id_token_hint={hint}&post_logout_redirect_uri={}&state=x",
            app.public,
            urlencode(BYE)
        )
    };
    // The same user's ID token from another browser (another login session): asked.
    let mut elsewhere = Browser::default();
    let other_session = oauth_login(&app, &mut elsewhere, &c, "mine@example.com").await;
    assert_ne!(other_session.sid, login.sid);
    let hop = b.get(&app, &logout_with(other_session.id_token)).await;
    assert_eq!(hop.status, StatusCode::SEE_OTHER, "{}", hop.body);
    let loc = hop.location.expect("to the logout page");
    assert!(
        loc.starts_with(&format!("{}/ui/logout?logout_challenge=", app.public)),
        "{loc}"
    );
    // Another user's ID token: refused (RP-Initiated Logout §2: the hint must be for the
    // End-User of this session).
    app.create_identity("theirs@example.com", PASSWORD).await;
    let theirs = oauth_login(&app, &mut Browser::default(), &c, "theirs@example.com").await;
    let hop = b.get(&app, &logout_with(theirs.id_token)).await;
    assert_eq!(hop.status, StatusCode::BAD_REQUEST, "{}", hop.body);
    assert!(hop.location.is_none());
    // A forged hint: this session's claims, a signature that is not ours; an unsigned one.
    let parts: Vec<&str> = login.id_token.split('.').collect();
    let forged = format!("{}.{}.{}", parts[0], parts[1], "A".repeat(parts[2].len()));
    let unsigned = format!(
        "{}.{}.",
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            br#"{"alg":"none","typ":"JWT"}"#
        ),
        parts[1]
    );
    // The session's JWT access token (signed with the same key, typed `at+jwt`): no ID token.
    assert!(
        UnverifiedJwt::parse(&login.access_token).is_ok(),
        "a JWT access token"
    );
    for hint in [forged, unsigned, login.access_token.clone()] {
        let hop = b.get(&app, &logout_with(hint)).await;
        assert_eq!(hop.status, StatusCode::BAD_REQUEST, "{}", hop.body);
        assert!(hop.location.is_none());
        assert!(hop.body.contains("invalid_request"), "{}", hop.body);
    }
    let hop = b.get(&app, &logout_with(login.access_token.clone())).await;
    assert!(hop.body.contains("is not an ID token"), "{}", hop.body);
    // Nothing ended.
    assert_eq!(whoami(&app, &login.session_token).await.0, StatusCode::OK);
    assert_eq!(
        whoami(&app, &other_session.session_token).await.0,
        StatusCode::OK
    );
}
both_backends!(
    logout_page_not_skipped_for_foreign_hint,
    id_token_hint_of_another_session_or_forged_does_not_skip
);

async fn logout_challenge_sent_to_another_browser_is_refused(app: TestApp) {
    let (c, mut b, login) = signed_in_to_client(&app, "victim@example.com").await;
    // The attacker's own session and logout request...
    app.create_identity("attacker@example.com", PASSWORD).await;
    let mut attacker = Browser::default();
    oauth_login(&app, &mut attacker, &c, "attacker@example.com").await;
    let challenge = ask_logout(&app, &mut attacker, &c, "x").await;
    // ...opened in the victim's browser is refused, and its form cannot act on it.
    let url = format!("{}/ui/logout", app.public);
    let r = get(&app, &mut b, &format!("{url}?logout_challenge={challenge}")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let own = ask_logout(&app, &mut b, &c, "y").await;
    let page = get(&app, &mut b, &format!("{url}?logout_challenge={own}")).await;
    let csrf = hidden(&page.body, "csrf_token");
    for action in ["accept", "cancel"] {
        let r = post_form(
            &app,
            &mut b,
            &url,
            &[
                ("logout_challenge", challenge.as_str()),
                ("csrf_token", csrf.as_str()),
                ("action", action),
            ],
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{action}: {}", r.body);
    }
    assert_eq!(whoami(&app, &login.session_token).await.0, StatusCode::OK);
    let (status, _) = app
        .admin_get(&format!(
            "/admin/oauth2/auth/requests/logout?logout_challenge={challenge}"
        ))
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the attacker's request is still open"
    );
}
both_backends!(
    logout_page_other_browser,
    logout_challenge_sent_to_another_browser_is_refused
);

/// The browser's RP-initiated logout, accepted by the logout app: the answer to the browser
/// following the logout verifier, and that URL (which can be followed again).
async fn accepted_logout(app: &TestApp, b: &mut Browser) -> String {
    let hop = b
        .get(app, &format!("{}/oauth2/sessions/logout", app.public))
        .await;
    let loc = hop.location.expect("to the logout app");
    let challenge = query_param(&loc, "logout_challenge").expect("logout_challenge");
    let (status, acc) = app
        .admin_put(
            &format!("/admin/oauth2/auth/requests/logout/accept?logout_challenge={challenge}"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{acc}");
    acc["redirect_to"].as_str().expect("redirect_to").to_owned()
}

/// Fail closed: RP-initiated logout through a login session whose stored data cannot be read
/// answers 500 and changes nothing (the identity session behind it stays, the browser is not
/// told it is logged out, the verifier is not used up), instead of ending the login session and
/// silently leaving the Gatehouse session it was made from.
async fn corrupt_login_session_logout(backend: Backend) {
    let Some(app) = app_with_local_receivers(backend).await else {
        return;
    };
    let c = app
        .create_client(json!({
            "grant_types": ["authorization_code", "refresh_token"], "redirect_uris": [REDIRECT],
            "scope": "openid offline_access",
        }))
        .await;
    app.create_identity("cora@example.com", PASSWORD).await;
    let mut b = Browser::default();
    let (sid, token) = oauth_login_from_session(&app, &mut b, &c, "cora@example.com").await;
    let store = &app.app.store;
    let mut row = store
        .get_login_session(&sid)
        .await
        .expect("read")
        .expect("login session");
    let intact = row.data.clone();
    assert!(intact.contains("identity_session_id"), "{intact}");
    row.data = "{\"identity_session_id\": [".into();
    store.upsert_login_session(&row).await.expect("corrupt");

    let verifier_url = accepted_logout(&app, &mut b).await;
    let hop = b.get(&app, &verifier_url).await;
    assert_eq!(
        hop.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        hop.body
    );
    assert!(
        b.cookies
            .iter()
            .any(|(k, _)| k == "gatehouse_authentication_session"),
        "the browser is not told it is logged out"
    );
    let (status, _) = crate::selfservice::whoami(&app, &token).await;
    assert_eq!(status, StatusCode::OK, "the identity session is not ended");
    assert!(
        store.get_login_session(&sid).await.expect("read").is_some(),
        "the login session is not ended without its identity session"
    );

    // Repaired, the same verifier logs out: SSO session and identity session both end.
    row.data = intact;
    store.upsert_login_session(&row).await.expect("repair");
    let hop = b.get(&app, &verifier_url).await;
    assert!(
        hop.status.is_redirection() || hop.status == StatusCode::OK,
        "{}",
        hop.status
    );
    let (status, _) = crate::selfservice::whoami(&app, &token).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the identity session ended"
    );
    assert!(store.get_login_session(&sid).await.expect("read").is_none());
}
both_backends!(
    backend a_corrupt_login_session_makes_logout_fail_instead_of_leaving_the_session,
    corrupt_login_session_logout
);

/// Fail closed: when an identity session ends (self-service logout), an unreadable entry on the
/// way to its login sessions — the index of login sessions made from it, or one of those login
/// sessions — fails the logout with 500, instead of being read as "no login sessions" and
/// skipping them and their clients' back-channel logout.
async fn corrupt_backchannel_entry(backend: Backend) {
    let Some(app) = app_with_local_receivers(backend).await else {
        return;
    };
    let (bc_url, received) = backchannel_receiver().await;
    let c = app
        .create_client(json!({
            "grant_types": ["authorization_code", "refresh_token"], "redirect_uris": [REDIRECT],
            "scope": "openid offline_access", "backchannel_logout_uri": bc_url,
        }))
        .await;
    app.create_identity("bea@example.com", PASSWORD).await;
    let store = &app.app.store;
    let logout = |token: String| {
        let app = &app;
        async move {
            app.http
                .delete(format!("{}/self-service/logout/api", app.public))
                .json(&json!({"session_token": token}))
                .send()
                .await
                .expect("request")
                .status()
        }
    };

    // The index entry of the identity session.
    let mut b = Browser::default();
    let (sid, token) = oauth_login_from_session(&app, &mut b, &c, "bea@example.com").await;
    let (_, me) = crate::selfservice::whoami(&app, &token).await;
    let session_id = me["id"].as_str().expect("session id");
    let key = format!("identity-session:{session_id}");
    assert!(store.get_flow(&key).await.expect("read").is_some());
    store
        .put_flow(&key, "{not json", gatehouse::clock::now() + 3600)
        .await
        .expect("corrupt");
    assert_eq!(logout(token).await, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        store.get_login_session(&sid).await.expect("read").is_some(),
        "nothing was ended in the dark"
    );

    // A login session made from it.
    let mut b = Browser::default();
    let (sid, token) = oauth_login_from_session(&app, &mut b, &c, "bea@example.com").await;
    let mut row = store
        .get_login_session(&sid)
        .await
        .expect("read")
        .expect("login session");
    row.data = "[]".into();
    store.upsert_login_session(&row).await.expect("corrupt");
    assert_eq!(logout(token).await, StatusCode::INTERNAL_SERVER_ERROR);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        received.lock().map(|v| v.is_empty()).unwrap_or(false),
        "no client was told of a logout that was not done"
    );
}
both_backends!(
    backend a_corrupt_back_channel_entry_fails_the_logout_instead_of_skipping_the_clients,
    corrupt_backchannel_entry
);

/// Fail closed: a queued back-channel logout whose stored claims cannot be read is dropped (and
/// logged), never sent as a logout token without the session it ends.
async fn corrupt_queued_delivery(backend: Backend) {
    let Some(app) = app_with_local_receivers(backend).await else {
        return;
    };
    let (bc_url, received) = backchannel_receiver().await;
    let c = app
        .create_client(json!({
            "grant_types": ["authorization_code"], "redirect_uris": [REDIRECT],
            "scope": "openid", "backchannel_logout_uri": bc_url,
        }))
        .await;
    let now = gatehouse::clock::now();
    let store = &app.app.store;
    store
        .insert_logout_delivery(&gatehouse_store::LogoutDeliveryRow {
            id: uuid::Uuid::new_v4().to_string(),
            client_id: c["client_id"].as_str().expect("id").to_owned(),
            url: bc_url,
            logout_token: "{\"sid\": ".into(),
            attempts: 0,
            next_attempt_at: now,
            created_at: now,
        })
        .await
        .expect("queue");
    let sent = app
        .app
        .provider
        .deliver_logouts(now)
        .await
        .expect("deliver");
    assert_eq!(sent, 0);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        received.lock().map(|v| v.is_empty()).unwrap_or(false),
        "a logout token was sent for an unreadable delivery"
    );
    assert!(
        store
            .due_logout_deliveries(now + 365 * 86400, 50)
            .await
            .expect("due")
            .is_empty(),
        "the unreadable delivery is dropped, not retried for ever"
    );
}
both_backends!(
    backend a_corrupt_queued_back_channel_logout_is_dropped_not_sent_without_its_session,
    corrupt_queued_delivery
);
