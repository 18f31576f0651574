//! `/oauth2/auth` and the login/consent admin API.

use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::harness::{
    Browser, CHALLENGE, LOGIN_URL, REDIRECT, TestApp, login_and_consent, query_param, urlencode,
};

fn auth_url(app: &TestApp, client_id: &str, extra: &str) -> String {
    format!(
        "{}/oauth2/auth?client_id={client_id}&response_type=code&redirect_uri={}&scope=openid&state=s1{extra}",
        app.public,
        urlencode(REDIRECT)
    )
}

async fn errors_before_and_after_the_redirect_uri(app: TestApp) {
    let c = app.web_client().await;
    let id = c["client_id"].as_str().expect("id");
    let mut b = Browser::default();
    // Unknown client and unregistered redirect: an error page, never a redirect.
    let hop = b.get(&app, &auth_url(&app, "nobody", "")).await;
    assert_eq!(
        (hop.status, hop.location.is_none()),
        (StatusCode::BAD_REQUEST, true)
    );
    let hop = b
        .get(
            &app,
            &format!(
                "{}/oauth2/auth?client_id={id}&response_type=code&redirect_uri={}",
                app.public,
                urlencode("https://evil.example/cb")
            ),
        )
        .await;
    assert_eq!(
        (hop.status, hop.location.is_none()),
        (StatusCode::BAD_REQUEST, true)
    );
    assert!(hop.body.contains("redirect_uri"));
    // After the redirect URI is known, errors go back with state and iss (RFC 9207).
    let hop = b
        .get(
            &app,
            &auth_url(&app, id, "").replace("response_type=code", "response_type=token"),
        )
        .await;
    let loc = hop.location.expect("redirect");
    assert!(loc.starts_with(REDIRECT));
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some("unsupported_response_type")
    );
    assert_eq!(query_param(&loc, "state").as_deref(), Some("s1"));
    assert_eq!(query_param(&loc, "iss").as_deref(), Some(app.issuer()));
    for (extra, err) in [
        ("&scope=admin", "invalid_scope"),
        (
            "&code_challenge=abc&code_challenge_method=plain",
            "invalid_request",
        ),
        ("&prompt=none", "login_required"),
        ("&request=eyJ", "request_not_supported"),
    ] {
        let url = if extra.starts_with("&scope") {
            auth_url(&app, id, "").replace("&scope=openid", extra)
        } else {
            auth_url(&app, id, extra)
        };
        let loc = b.get(&app, &url).await.location.expect("redirect");
        assert_eq!(query_param(&loc, "error").as_deref(), Some(err), "{extra}");
    }
    // Public clients must use PKCE.
    let public = app.create_client(json!({"token_endpoint_auth_method": "none", "redirect_uris": [REDIRECT], "scope": "openid"})).await;
    let loc = b
        .get(
            &app,
            &auth_url(&app, public["client_id"].as_str().expect("id"), ""),
        )
        .await
        .location
        .expect("redirect");
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some("invalid_request")
    );
    let loc = b
        .get(
            &app,
            &auth_url(
                &app,
                public["client_id"].as_str().expect("id"),
                &format!("&code_challenge={CHALLENGE}&code_challenge_method=S256"),
            ),
        )
        .await
        .location
        .expect("redirect");
    assert!(loc.starts_with(LOGIN_URL));
}
both_backends!(authorize_errors, errors_before_and_after_the_redirect_uri);

async fn login_reject_and_single_use_challenges(app: TestApp) {
    let c = app.web_client().await;
    let mut b = Browser::default();
    let loc = b
        .get(
            &app,
            &auth_url(&app, c["client_id"].as_str().expect("id"), ""),
        )
        .await
        .location
        .expect("login");
    let challenge = query_param(&loc, "login_challenge").expect("challenge");
    assert!(challenge.starts_with("glc_"));
    let (status, req) = app
        .admin_get(&format!(
            "/admin/oauth2/auth/requests/login?login_challenge={challenge}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(req["skip"], false);
    assert_eq!(req["client"]["client_id"], c["client_id"]);
    assert_eq!(req["requested_scope"], json!(["openid"]));
    let (status, rej) = app
        .admin_put(
            &format!("/admin/oauth2/auth/requests/login/reject?login_challenge={challenge}"),
            json!({"error": "access_denied", "error_description": "no"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let to = rej["redirect_to"].as_str().expect("redirect_to");
    assert!(to.starts_with(REDIRECT));
    assert_eq!(query_param(to, "error").as_deref(), Some("access_denied"));
    assert_eq!(query_param(to, "state").as_deref(), Some("s1"));
    // Handled challenges are gone.
    let (status, _) = app
        .admin_put(
            &format!("/admin/oauth2/auth/requests/login/accept?login_challenge={challenge}"),
            json!({"subject": "alice"}),
        )
        .await;
    assert_eq!(status, StatusCode::GONE);
    let (status, _) = app
        .admin_get("/admin/oauth2/auth/requests/login?login_challenge=glc_unknown")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
both_backends!(login_reject, login_reject_and_single_use_challenges);

async fn verifiers_are_bound_to_the_browser(app: TestApp) {
    let c = app.web_client().await;
    let mut b = Browser::default();
    let loc = b
        .get(
            &app,
            &auth_url(&app, c["client_id"].as_str().expect("id"), ""),
        )
        .await
        .location
        .expect("login");
    let challenge = query_param(&loc, "login_challenge").expect("challenge");
    let (_, acc) = app
        .admin_put(
            &format!("/admin/oauth2/auth/requests/login/accept?login_challenge={challenge}"),
            json!({"subject": "alice"}),
        )
        .await;
    let mut attacker = Browser::default();
    let hop = attacker
        .get(&app, acc["redirect_to"].as_str().expect("to"))
        .await;
    assert_eq!(
        hop.status,
        StatusCode::BAD_REQUEST,
        "another browser cannot use the verifier"
    );
    assert!(hop.location.is_none());
    // ... and the verifier was burned by the attempt.
    let hop = b.get(&app, acc["redirect_to"].as_str().expect("to")).await;
    assert_eq!(hop.status, StatusCode::BAD_REQUEST);
}
both_backends!(csrf_binding, verifiers_are_bound_to_the_browser);

async fn remembered_login_and_consent_are_skipped(app: TestApp) {
    let c = app.web_client().await;
    let id = c["client_id"].as_str().expect("id");
    let mut b = Browser::default();
    let _ = login_and_consent(&app, &mut b, &c, "", true).await;
    assert!(
        b.cookies
            .iter()
            .any(|(k, _)| k == "gatehouse_authentication_session")
    );
    // Second visit: the login request says skip with the remembered subject, and consent is skipped.
    let loc = b
        .get(
            &app,
            &auth_url(
                &app,
                id,
                &format!("&code_challenge={CHALLENGE}&code_challenge_method=S256"),
            ),
        )
        .await
        .location
        .expect("login");
    let challenge = query_param(&loc, "login_challenge").expect("challenge");
    let (_, req) = app
        .admin_get(&format!(
            "/admin/oauth2/auth/requests/login?login_challenge={challenge}"
        ))
        .await;
    assert_eq!(req["skip"], true);
    assert_eq!(req["subject"], "alice");
    // A different subject cannot be accepted over a remembered session.
    let (status, _) = app
        .admin_put(
            &format!("/admin/oauth2/auth/requests/login/accept?login_challenge={challenge}"),
            json!({"subject": "mallory"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, acc) = app
        .admin_put(
            &format!("/admin/oauth2/auth/requests/login/accept?login_challenge={challenge}"),
            json!({"subject": "alice"}),
        )
        .await;
    let consent = b
        .get(&app, acc["redirect_to"].as_str().expect("to"))
        .await
        .location
        .expect("consent");
    let cc = query_param(&consent, "consent_challenge").expect("consent challenge");
    let (_, creq) = app
        .admin_get(&format!(
            "/admin/oauth2/auth/requests/consent?consent_challenge={cc}"
        ))
        .await;
    assert_eq!(creq["skip"], true);
    // prompt=none works with the session.
    let loc = b
        .get(
            &app,
            &auth_url(
                &app,
                id,
                &format!("&prompt=none&code_challenge={CHALLENGE}&code_challenge_method=S256"),
            ),
        )
        .await
        .location
        .expect("login");
    assert!(loc.starts_with(LOGIN_URL), "{loc}");
    // Consent sessions are listed and can be revoked, which revokes the subject's tokens too.
    let (status, list) = app
        .admin_get("/admin/oauth2/auth/sessions/consent?subject=alice")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["grant_scope"], json!(["openid", "offline_access"]));
    let resp = app
        .http
        .delete(format!(
            "{}/admin/oauth2/auth/sessions/consent?subject=alice&all=true",
            app.admin
        ))
        .send()
        .await
        .expect("req");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (_, list) = app
        .admin_get("/admin/oauth2/auth/sessions/consent?subject=alice")
        .await;
    assert_eq!(list, json!([]));
}
both_backends!(remember, remembered_login_and_consent_are_skipped);

async fn form_post_response_mode(app: TestApp) {
    let c = app.web_client().await;
    let mut b = Browser::default();
    let loc = b
        .get(
            &app,
            &auth_url(
                &app,
                c["client_id"].as_str().expect("id"),
                "&response_mode=form_post",
            ),
        )
        .await
        .location
        .expect("login");
    let challenge = query_param(&loc, "login_challenge").expect("challenge");
    let (_, acc) = app
        .admin_put(
            &format!("/admin/oauth2/auth/requests/login/accept?login_challenge={challenge}"),
            json!({"subject": "alice"}),
        )
        .await;
    let consent = b
        .get(&app, acc["redirect_to"].as_str().expect("to"))
        .await
        .location
        .expect("consent");
    let cc = query_param(&consent, "consent_challenge").expect("cc");
    let (_, acc) = app
        .admin_put(
            &format!("/admin/oauth2/auth/requests/consent/accept?consent_challenge={cc}"),
            json!({"grant_scope": ["openid"]}),
        )
        .await;
    let hop = crate::pages::get(&app, &mut b, acc["redirect_to"].as_str().expect("to")).await;
    assert_eq!(hop.status, StatusCode::OK);
    // The page carrying the code can be neither framed nor cached.
    crate::security_headers::assert_unframeable(&hop.headers);
    assert!(
        hop.body.contains(&format!(r#"action="{REDIRECT}""#)),
        "{}",
        hop.body
    );
    assert!(hop.body.contains(r#"name="code" value="gac_"#));
    assert!(hop.body.contains(r#"name="iss""#) && hop.body.contains(r#"name="state" value="s1""#));
}
both_backends!(form_post, form_post_response_mode);

/// Fail closed: listing consent sessions when the client of one cannot be read from the
/// database answers 500, instead of listing the consent with `client: null`.
async fn unreadable_consent_client(app: TestApp) {
    let c = app.web_client().await;
    let id = c["client_id"].as_str().expect("id");
    let mut b = Browser::default();
    login_and_consent(&app, &mut b, &c, "", true).await;
    let (status, list) = app
        .admin_get("/admin/oauth2/auth/sessions/consent?subject=alice")
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list[0]["consent_request"]["client"]["client_id"], id);

    let store = &app.app.store;
    let mut row = store.get_client(id).await.expect("read").expect("client");
    row.data = "{\"client_id\": ".into();
    store.update_client(&row).await.expect("corrupt");
    app.app.provider.purge_client(id);
    let (status, body) = app
        .admin_get("/admin/oauth2/auth/sessions/consent?subject=alice")
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
}
both_backends!(
    a_consent_session_whose_client_cannot_be_read_fails_the_listing_instead_of_showing_no_client,
    unreadable_consent_client
);

/// Fail closed: a remembered consent whose stored grant cannot be read is an error, both when
/// listed (never an empty grant) and when an authorization would skip consent with it (never
/// "no consent remembered").
async fn corrupt_consent_session(app: TestApp) {
    let c = app.web_client().await;
    let id = c["client_id"].as_str().expect("id");
    let now = gatehouse::clock::now();
    app.app
        .store
        .insert_consent(&gatehouse_store::ConsentRow {
            id: uuid::Uuid::new_v4().to_string(),
            subject: "alice".into(),
            client_id: id.to_owned(),
            login_session_id: None,
            data: "{\"grant_scope\": \"openid\"}".into(),
            remember: true,
            created_at: now,
            expires_at: None,
        })
        .await
        .expect("insert");
    let (status, body) = app
        .admin_get("/admin/oauth2/auth/sessions/consent?subject=alice")
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");

    // The login is accepted; the browser coming back with the verifier meets the consent.
    let mut b = Browser::default();
    let challenge = crate::harness::start_authorization(&app, &mut b, &c, "").await;
    let (status, accepted) = app
        .admin_put(
            &format!("/admin/oauth2/auth/requests/login/accept?login_challenge={challenge}"),
            json!({"subject": "alice"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    let hop = b
        .get(&app, accepted["redirect_to"].as_str().expect("redirect_to"))
        .await;
    assert_eq!(
        hop.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{:?}",
        hop.location
    );
}
both_backends!(
    a_corrupt_consent_session_is_an_error_never_an_empty_or_absent_grant,
    corrupt_consent_session
);
