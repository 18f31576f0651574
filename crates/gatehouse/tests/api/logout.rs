//! `/oauth2/sessions/logout`: RP-initiated logout with front- and back-channel notification.

use std::sync::{Arc, Mutex};

use axum::routing::post;
use gatehouse_crypto::jwt::UnverifiedJwt;
use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::harness::{
    Browser, CHALLENGE, REDIRECT, TestApp, VERIFIER, login_and_consent, query_param, urlencode,
};

/// A relying party's back-channel logout endpoint on a free loopback port.
async fn backchannel_receiver() -> (String, Arc<Mutex<Vec<String>>>) {
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

async fn rp_initiated_logout(app: TestApp) {
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
    let jwks: gatehouse_crypto::jwk::Jwks = app
        .http
        .get(format!("{}/.well-known/jwks.json", app.public))
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("jwks");
    let jwt = UnverifiedJwt::parse(&token).expect("jwt");
    assert_eq!(jwt.header.typ.as_deref(), Some("logout+jwt"));
    let claims = jwt.verify(&jwks.keys).expect("signature");
    assert_eq!(claims["sid"], sid.as_str());
    assert_eq!(claims["aud"], json!([c["client_id"]]));
    assert!(claims["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object());
    assert!(claims.get("nonce").is_none());

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
both_backends!(rp_initiated, rp_initiated_logout);
