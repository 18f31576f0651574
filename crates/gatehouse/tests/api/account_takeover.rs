//! Account takeover through the account's own settings and recovery (security probe 3.4 and
//! 3.5): an e-mail change from a stale session that moves recovery to the attacker's inbox, and
//! personal access tokens and OAuth 2.0 tokens that outlive a recovery or a password change.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Backend, Browser, REDIRECT, TestApp, VERIFIER, query_param};
use crate::selfservice::{PASSWORD, api_flow, api_login, submit};

/// A native session for a new identity; (identity id, session token).
async fn user(app: &TestApp, email: &str) -> (String, String) {
    let identity = app.create_identity(email, PASSWORD).await;
    let (status, body) = api_login(app, email, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (
        identity["id"].as_str().expect("id").to_owned(),
        body["session_token"].as_str().expect("token").to_owned(),
    )
}

async fn identity(app: &TestApp, id: &str) -> Value {
    let (status, i) = app.admin_get(&format!("/admin/identities/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{i}");
    i
}

async fn messages_to(app: &TestApp, to: &str) -> Vec<Value> {
    let (status, all) = app.admin_get("/admin/courier/messages").await;
    assert_eq!(status, StatusCode::OK, "{all}");
    all.as_array()
        .map(|a| a.iter().filter(|m| m["recipient"] == to).cloned().collect())
        .unwrap_or_default()
}

/// Probe 3.5: a session too old to change the password cannot change the login e-mail either;
/// a fresh one can, but the old address is told and stays the recovery address until the new
/// one is verified, so a hijacked session cannot take the account over through recovery.
async fn email_change(backend: Backend) {
    let Some(app) = TestApp::spawn_on(backend, |c| {
        c.selfservice.flows.settings.privileged_session_max_age =
            gatehouse::config::Dur(std::time::Duration::from_secs(2));
    })
    .await
    else {
        return;
    };
    let (id, token) = user(&app, "victim@example.com").await;
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;

    // The stale session: refused, nothing changes.
    let flow = api_flow(&app, "settings", Some(&token), "").await;
    let (status, body) = submit(
        &app,
        &flow,
        Some(&token),
        json!({"method": "profile", "traits": {"email": "attacker@evil.example", "name": "Victim"}}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["id"], "session_refresh_required", "{body}");
    let i = identity(&app, &id).await;
    assert_eq!(i["traits"]["email"], "victim@example.com");
    assert_eq!(i["recovery_addresses"][0]["value"], "victim@example.com");
    // A change that leaves the identifying traits alone needs no fresh login.
    let (status, body) = submit(
        &app,
        &flow,
        Some(&token),
        json!({"method": "profile", "traits": {"email": "victim@example.com", "name": "Vic"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A fresh session changes the address: the old one is told and keeps recovery.
    let (status, fresh) = api_login(&app, "victim@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{fresh}");
    let fresh = fresh["session_token"].as_str().expect("token").to_owned();
    let flow = api_flow(&app, "settings", Some(&fresh), "").await;
    let (status, body) = submit(
        &app,
        &flow,
        Some(&fresh),
        json!({"method": "profile", "traits": {"email": "new@example.com", "name": "Vic"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let i = identity(&app, &id).await;
    assert_eq!(i["traits"]["email"], "new@example.com");
    let recovery: Vec<&str> = i["recovery_addresses"]
        .as_array()
        .expect("addresses")
        .iter()
        .filter_map(|a| a["value"].as_str())
        .collect();
    assert_eq!(recovery, ["victim@example.com"], "{i}");
    let told = messages_to(&app, "victim@example.com").await;
    assert!(
        told.iter().any(|m| m["template_type"] == "address_changed"),
        "{told:?}"
    );
    // Recovery for the new, unverified address sends nothing; for the old one it does.
    let before = messages_to(&app, "new@example.com").await.len();
    let flow = api_flow(&app, "recovery", None, "").await;
    let (_, asked) = submit(
        &app,
        &flow,
        None,
        json!({"method": "code", "email": "new@example.com"}),
    )
    .await;
    assert_eq!(asked["state"], "sent_email", "{asked}");
    let to_new: Vec<Value> = messages_to(&app, "new@example.com").await;
    assert!(
        to_new[before..]
            .iter()
            .all(|m| m["template_type"] != "recovery_code_valid"),
        "{to_new:?}"
    );

    // Once the new address is verified (with the code the change sent it), it is the recovery
    // address.
    let sent = messages_to(&app, "new@example.com").await;
    let mail = sent
        .iter()
        .find(|m| m["template_type"] == "verification_code_valid")
        .expect("a verification code for the new address");
    let body = mail["body"].as_str().unwrap_or_default();
    let code: String = body
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .expect("code")
        .to_owned();
    let flow = api_flow(&app, "verification", None, "").await;
    let (_, asked) = submit(
        &app,
        &flow,
        None,
        json!({"method": "code", "email": "new@example.com"}),
    )
    .await;
    let sent = messages_to(&app, "new@example.com").await;
    let latest = sent
        .iter()
        .filter(|m| m["template_type"] == "verification_code_valid")
        .filter_map(|m| m["body"].as_str())
        .filter_map(|b| {
            b.split(|c: char| !c.is_ascii_digit())
                .find(|w| w.len() == 6)
        })
        .find(|c| *c != code)
        .expect("a second code")
        .to_owned();
    let (status, done) = submit(
        &app,
        &asked,
        None,
        json!({"method": "code", "code": latest}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["state"], "passed_challenge", "{done}");
    let i = identity(&app, &id).await;
    let recovery: Vec<&str> = i["recovery_addresses"]
        .as_array()
        .expect("addresses")
        .iter()
        .filter_map(|a| a["value"].as_str())
        .collect();
    assert_eq!(recovery, ["new@example.com"], "{i}");
}
crate::both_backends!(backend email_change_from_a_stale_session_cannot_take_over_recovery, email_change);

/// An OAuth 2.0 code flow for the identity; its refresh token.
async fn refresh_token_for(app: &TestApp, client: &Value, subject: &str) -> String {
    let mut b = Browser::default();
    let callback = login_and_consent_as(app, &mut b, client, subject).await;
    let code = query_param(&callback, "code").expect("code");
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
    tokens["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned()
}

/// `/oauth2/auth`, the login request accepted for `subject`, consent: the redirect to the client.
async fn login_and_consent_as(
    app: &TestApp,
    b: &mut Browser,
    client: &Value,
    subject: &str,
) -> String {
    let challenge = crate::harness::start_authorization(app, b, client, "").await;
    let (status, accepted) = app
        .admin_put(
            &format!("/admin/oauth2/auth/requests/login/accept?login_challenge={challenge}"),
            json!({"subject": subject, "remember": true, "remember_for": 3600}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    crate::harness::consent_to_client(
        app,
        b,
        accepted["redirect_to"].as_str().expect("redirect_to"),
        false,
    )
    .await
}

async fn mint_pat(app: &TestApp, session: &str) -> String {
    let resp = app
        .http
        .post(format!("{}/credentials/tokens", app.public))
        .header("X-Session-Token", session)
        .json(&json!({"name": "minted before", "scopes": ["read:*"], "expires_in": "1d"}))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let body: Value = resp.json().await.expect("json");
    body["token"].as_str().expect("token").to_owned()
}

async fn pat_status(app: &TestApp, pat: &str) -> StatusCode {
    app.http
        .post(format!("{}/credentials/validate", app.public))
        .json(&json!({"token": pat}))
        .send()
        .await
        .expect("request")
        .status()
}

async fn refresh_status(app: &TestApp, client: &Value, refresh: &str) -> StatusCode {
    app.token(
        client,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await
    .0
}

/// Probe 3.4: what an intruder minted before the owner changed the password or recovered the
/// account (a personal access token, OAuth 2.0 refresh tokens) stops working then.
async fn long_lived_credentials(app: TestApp) {
    let client = app
        .create_client(json!({
            "grant_types": ["authorization_code", "refresh_token"], "redirect_uris": [REDIRECT],
            "scope": "openid offline_access",
        }))
        .await;

    // A password change.
    let (id, session) = user(&app, "owner@example.com").await;
    let pat = mint_pat(&app, &session).await;
    let refresh = refresh_token_for(&app, &client, &id).await;
    assert_eq!(pat_status(&app, &pat).await, StatusCode::OK);
    let flow = api_flow(&app, "settings", Some(&session), "").await;
    let (status, done) = submit(
        &app,
        &flow,
        Some(&session),
        json!({"method": "password", "password": "an entirely new passphrase"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert!(
        done["ui"]["messages"]
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m["id"] == 1_050_101)),
        "the flow lists what was revoked: {done}"
    );
    assert_eq!(pat_status(&app, &pat).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        refresh_status(&app, &client, &refresh).await,
        StatusCode::BAD_REQUEST
    );

    // A recovery.
    let (id, session) = user(&app, "recovers@example.com").await;
    let pat = mint_pat(&app, &session).await;
    let refresh = refresh_token_for(&app, &client, &id).await;
    let (status, r) = app
        .admin(
            Method::POST,
            "/admin/recovery/code",
            Some(json!({"identity_id": id, "expires_in": "1h"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    let flow_id = r["recovery_link"]
        .as_str()
        .and_then(|l| l.split("flow=").nth(1))
        .expect("flow id");
    let flow: Value = app
        .http
        .get(format!(
            "{}/self-service/recovery/flows?id={flow_id}",
            app.public
        ))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let resp = app
        .http
        .post(flow["ui"]["action"].as_str().expect("action"))
        .header("accept", "application/json")
        .json(&json!({"method": "code", "code": r["recovery_code"]}))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(pat_status(&app, &pat).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        refresh_status(&app, &client, &refresh).await,
        StatusCode::BAD_REQUEST
    );
    let (_, events) = app
        .admin_get("/admin/audit-events?kind=identity.credentials_revoked")
        .await;
    assert!(events.to_string().contains("Account recovered"), "{events}");
}
crate::both_backends!(
    credentials_minted_before_recovery_or_password_change_are_revoked,
    long_lived_credentials
);
