//! Kratos's self-service flows over real HTTP: native (API) login and registration with session
//! tokens, whoami, logout; browser flows with the CSRF cookie; TOTP enrolment and aal2 step-up
//! with a used code refused.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::{Browser, TestApp, csrf_token, query_param};

pub(crate) const PASSWORD: &str = "correct horse battery staple";

pub(crate) async fn api_flow(app: &TestApp, kind: &str, token: Option<&str>, query: &str) -> Value {
    crate::second_factor::api_flow(&app.http, app, kind, token, query).await
}

pub(crate) async fn submit(
    app: &TestApp,
    flow: &Value,
    token: Option<&str>,
    body: Value,
) -> (StatusCode, Value) {
    crate::second_factor::submit(&app.http, flow, token, body).await
}

pub(crate) async fn api_login(app: &TestApp, email: &str, password: &str) -> (StatusCode, Value) {
    let flow = api_flow(app, "login", None, "").await;
    submit(
        app,
        &flow,
        None,
        json!({"method": "password", "identifier": email, "password": password}),
    )
    .await
}

pub(crate) async fn whoami(app: &TestApp, token: &str) -> (StatusCode, Value) {
    let resp = app
        .http
        .get(format!("{}/sessions/whoami", app.public))
        .header("X-Session-Token", token)
        .send()
        .await
        .expect("request");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn login_whoami_logout(app: TestApp) {
    let identity = app.create_identity("dana@example.com", PASSWORD).await;
    let flow = api_flow(&app, "login", None, "").await;
    assert_eq!(flow["type"], "api");
    let names: Vec<&str> = flow["ui"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["attributes"]["name"].as_str())
        .collect();
    assert!(
        names.contains(&"identifier") && names.contains(&"password"),
        "{names:?}"
    );
    assert!(
        !names.contains(&"csrf_token"),
        "API flows carry no CSRF token"
    );

    let (status, wrong) = api_login(&app, "dana@example.com", "wrong password here").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{wrong}");
    let (status, unknown) = api_login(&app, "nobody@example.com", "wrong password here").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        wrong["ui"]["messages"], unknown["ui"]["messages"],
        "no account enumeration"
    );
    assert_eq!(wrong["ui"]["messages"][0]["id"], 4_000_006);

    let (status, ok) = api_login(&app, "DANA@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{ok}");
    let token = ok["session_token"]
        .as_str()
        .expect("session token")
        .to_owned();
    assert!(token.starts_with("gst_"));
    assert_eq!(ok["session"]["identity"]["id"], identity["id"]);
    assert_eq!(ok["session"]["authenticator_assurance_level"], "aal1");

    let (status, me) = whoami(&app, &token).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["identity"]["traits"]["email"], "dana@example.com");
    assert_eq!(me["authentication_methods"][0]["method"], "password");
    assert!(me["identity"].get("credentials").is_none());

    let (status, no) = whoami(&app, "gst_notarealtoken").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(no["error"]["id"], "session_inactive");

    let id = identity["id"].as_str().expect("id");
    let (status, list) = app
        .admin_get(&format!("/admin/identities/{id}/sessions"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().map(Vec::len), Some(1));

    let resp = app
        .http
        .delete(format!("{}/self-service/logout/api", app.public))
        .json(&json!({"session_token": token}))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (status, _) = whoami(&app, &token).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "logout ends the session at once"
    );
}
both_backends!(api_login_whoami_logout, login_whoami_logout);

async fn registration(app: TestApp) {
    let flow = api_flow(&app, "registration", None, "").await;
    let (status, bad) = submit(&app, &flow, None, json!({"method": "password", "traits": {"email": "eve@example.com"}, "password": "qwerty123"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    let pw = bad["ui"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["attributes"]["name"] == "password")
        .expect("password node");
    assert_eq!(pw["messages"][0]["id"], 4_000_005, "{pw}");
    let (status, ok) = submit(&app, &flow, None, json!({"method": "password", "traits": {"email": "eve@example.com", "name": "Eve"}, "password": PASSWORD})).await;
    assert_eq!(status, StatusCode::OK, "{ok}");
    assert_eq!(ok["identity"]["traits"]["email"], "eve@example.com");
    assert!(ok["session_token"].as_str().is_some());

    let flow = api_flow(&app, "registration", None, "").await;
    let (status, dup) = submit(
        &app,
        &flow,
        None,
        json!({"method": "password", "traits": {"email": "EVE@example.com"}, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(dup["ui"]["messages"][0]["id"], 4_000_007);
}
both_backends!(api_registration, registration);

async fn browser_csrf(app: TestApp) {
    app.create_identity("finn@example.com", PASSWORD).await;
    let resp = app
        .http
        .get(format!("{}/self-service/login/browser", app.public))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let location = resp.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(
        location.starts_with(&format!("{}/ui/login?flow=", app.public)),
        "{location}"
    );
    let set = resp.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_owned();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );
    let csrf = set
        .split(';')
        .next()
        .expect("pair")
        .trim_start_matches("gatehouse_csrf=")
        .to_owned();
    let flow_id = location.split("flow=").nth(1).expect("id");
    let flow: Value = app
        .http
        .get(format!(
            "{}/self-service/login/flows?id={flow_id}",
            app.public
        ))
        .header("cookie", format!("gatehouse_csrf={csrf}"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(csrf_token(&flow), Some(csrf.as_str()));
    let action = flow["ui"]["action"].as_str().expect("action").to_owned();

    // Without the cookie (a cross-site form post): refused.
    let resp = app
        .http
        .post(&action)
        .header("accept", "application/json")
        .form(&[
            ("method", "password"),
            ("identifier", "finn@example.com"),
            ("password", PASSWORD),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"]["id"], "security_csrf_violation");

    let resp = app
        .http
        .post(&action)
        .header("cookie", format!("gatehouse_csrf={csrf}"))
        .form(&[
            ("method", "password"),
            ("identifier", "finn@example.com"),
            ("password", PASSWORD),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("gatehouse_session="))
        .expect("session cookie")
        .to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    let value = cookie.split(';').next().expect("pair").to_owned();
    let me = app
        .http
        .get(format!("{}/sessions/whoami", app.public))
        .header("cookie", value)
        .send()
        .await
        .expect("request");
    assert_eq!(me.status(), StatusCode::OK);
}
both_backends!(browser_login_csrf, browser_csrf);

async fn totp_step_up(app: TestApp) {
    app.create_identity("gwen@example.com", PASSWORD).await;
    let (_, ok) = api_login(&app, "gwen@example.com", PASSWORD).await;
    let token = ok["session_token"].as_str().expect("token").to_owned();
    let settings = api_flow(&app, "settings", Some(&token), "").await;
    let secret = settings["ui"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["attributes"]["id"] == "totp_secret_key")
        .expect("secret node")["attributes"]["text"]["text"]
        .as_str()
        .expect("secret")
        .to_owned();
    let secret = gatehouse_crypto::totp::TotpSecret::from_base32(&secret).expect("base32");
    let now = gatehouse::clock::now();
    let (status, done) = submit(
        &app,
        &settings,
        Some(&token),
        json!({"method": "totp", "totp_code": secret.code_at(now)}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["state"], "success");

    // With a second factor set up, an aal1 session no longer passes whoami.
    let (status, e) = whoami(&app, &token).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{e}");
    assert_eq!(e["error"]["id"], "session_aal2_required");

    let step_up = api_flow(&app, "login", Some(&token), "?aal=aal2").await;
    assert_eq!(step_up["requested_aal"], "aal2");
    let (status, reused) = submit(
        &app,
        &step_up,
        Some(&token),
        json!({"method": "totp", "totp_code": secret.code_at(now)}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a used code is refused: {reused}"
    );
    let (status, up) = submit(
        &app,
        &step_up,
        Some(&token),
        json!({"method": "totp", "totp_code": secret.code_at(now + 30)}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{up}");
    assert_eq!(up["session"]["authenticator_assurance_level"], "aal2");
    let new_token = up["session_token"].as_str().expect("new token");
    assert_ne!(new_token, token, "a new session on step-up");
    let (status, _) = whoami(&app, &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the old session ended");
    let (status, me) = whoami(&app, new_token).await;
    assert_eq!(status, StatusCode::OK, "{me}");
}
both_backends!(totp_enrolment_and_step_up, totp_step_up);

fn six_digits(body: &str) -> String {
    body.split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .expect("a 6-digit code in the e-mail")
        .to_owned()
}

fn mail(c: &mut gatehouse::config::RawConfig, uri: String) {
    c.courier.smtp.connection_uri = Some(uri);
    c.courier.poll_interval = gatehouse::config::Dur(std::time::Duration::from_millis(100));
}

both_backends!(backend recovery_by_email_code, recovery);
async fn recovery(backend: crate::harness::Backend) {
    let sink = crate::harness::SmtpSink::start().await;
    let Some(app) = TestApp::spawn_on(backend, |c| mail(c, sink.connection_uri())).await else {
        return;
    };
    app.create_identity("hana@example.com", PASSWORD).await;
    let (_, old) = api_login(&app, "hana@example.com", PASSWORD).await;
    let old_token = old["session_token"].as_str().expect("token").to_owned();

    // An unknown address gets the same answer, and no e-mail.
    let flow = api_flow(&app, "recovery", None, "").await;
    let (status, unknown) = submit(
        &app,
        &flow,
        None,
        json!({"method": "code", "email": "nobody@example.com"}),
    )
    .await;
    let flow = api_flow(&app, "recovery", None, "").await;
    let (status2, known) = submit(
        &app,
        &flow,
        None,
        json!({"method": "code", "email": "hana@example.com"}),
    )
    .await;
    assert_eq!(status, status2);
    assert_eq!(
        unknown["ui"]["messages"], known["ui"]["messages"],
        "no account enumeration"
    );
    assert_eq!(known["state"], "sent_email");
    let got = sink.wait_for(1).await;
    assert_eq!(got.len(), 1, "only the real account gets a message");
    assert_eq!(got[0].to, "hana@example.com");
    let code = six_digits(&got[0].body);

    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (status, bad) = submit(&app, &known, None, json!({"method": "code", "code": wrong})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    let (status, ok) = submit(&app, &known, None, json!({"method": "code", "code": code})).await;
    assert_eq!(status, StatusCode::OK, "{ok}");
    let token = ok["session_token"]
        .as_str()
        .expect("a session from recovery")
        .to_owned();
    assert_eq!(ok["continue_with"][1]["action"], "show_settings_ui");
    let (status, _) = whoami(&app, &old_token).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "recovery ends the other sessions"
    );

    // The code works once.
    let (status, _) = submit(&app, &known, None, json!({"method": "code", "code": code})).await;
    assert_ne!(status, StatusCode::OK);

    // A new password within the privileged window, then it logs in.
    let settings = api_flow(&app, "settings", Some(&token), "").await;
    let (status, saved) = submit(
        &app,
        &settings,
        Some(&token),
        json!({"method": "password", "password": "a brand new passphrase"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let (status, _) = api_login(&app, "hana@example.com", "a brand new passphrase").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api_login(&app, "hana@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

both_backends!(backend registration_sends_verification_code, verification);
async fn verification(backend: crate::harness::Backend) {
    let sink = crate::harness::SmtpSink::start().await;
    let Some(app) = TestApp::spawn_on(backend, |c| mail(c, sink.connection_uri())).await else {
        return;
    };
    let flow = api_flow(&app, "registration", None, "").await;
    let (status, reg) = submit(&app, &flow, None, json!({"method": "password", "traits": {"email": "ivan@example.com"}, "password": PASSWORD})).await;
    assert_eq!(status, StatusCode::OK, "{reg}");
    let cont = reg["continue_with"].as_array().expect("continue_with");
    let v = cont
        .iter()
        .find(|c| c["action"] == "show_verification_ui")
        .expect("verification");
    let flow_id = v["flow"]["id"].as_str().expect("id");
    let got = sink.wait_for(1).await;
    assert_eq!(got[0].to, "ivan@example.com");
    let code = six_digits(&got[0].body);
    let vflow: Value = app
        .http
        .get(format!(
            "{}/self-service/verification/flows?id={flow_id}",
            app.public
        ))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(vflow["state"], "sent_email");
    let (status, done) = submit(&app, &vflow, None, json!({"method": "code", "code": code})).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["state"], "passed_challenge");
    let id = reg["identity"]["id"].as_str().expect("id");
    let (_, i) = app.admin_get(&format!("/admin/identities/{id}")).await;
    assert_eq!(i["verifiable_addresses"][0]["verified"], true);
    assert_eq!(i["verifiable_addresses"][0]["status"], "completed");
    let token = reg["session_token"].as_str().expect("token");
    let (_, me) = whoami(&app, token).await;
    assert_eq!(
        me["identity"]["verifiable_addresses"][0]["verified"], true,
        "the cached session shows the change"
    );
}

async fn admin_recovery(app: TestApp) {
    let i = app.create_identity("jo@example.com", PASSWORD).await;
    let (status, r) = app
        .admin(
            reqwest::Method::POST,
            "/admin/recovery/code",
            Some(json!({"identity_id": i["id"], "expires_in": "1h"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    let link = r["recovery_link"].as_str().expect("link");
    let code = r["recovery_code"].as_str().expect("code");
    assert_eq!(code.len(), 6);
    let flow_id = link.split("flow=").nth(1).expect("flow id");
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
    assert_eq!(flow["state"], "sent_email");
    let resp = app
        .http
        .post(flow["ui"]["action"].as_str().expect("action"))
        .header("accept", "application/json")
        .json(&json!({"method": "code", "code": code}))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap_or("").starts_with("gatehouse_session="))
    );
    let (status, _) = app
        .admin(
            reqwest::Method::POST,
            "/admin/recovery/code",
            Some(json!({"identity_id": "00000000-0000-4000-8000-000000000000"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A browser that has never been to Gatehouse enters a new code in the form: it gets the
    // session and a CSRF cookie, and the settings flow after it takes that browser's token, so
    // the new password can be saved.
    let (_, r) = app
        .admin(
            reqwest::Method::POST,
            "/admin/recovery/code",
            Some(json!({"identity_id": i["id"]})),
        )
        .await;
    let link = r["recovery_link"].as_str().expect("link");
    let code = r["recovery_code"].as_str().expect("code");
    let flow_id = query_param(link, "flow").expect("flow id");
    let mut b = Browser::default();
    let url = format!("{}/self-service/recovery?flow={flow_id}", app.public);
    let form = [("method", "code"), ("code", code), ("csrf_token", "")];
    let resp = crate::pages::post(&app, &mut b, &url, &form).await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER);
    let to = resp
        .headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("location");
    let settings_id = query_param(to, "flow").expect("settings flow");
    let held = |name: &str| {
        b.cookies
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert!(held("gatehouse_session").is_some(), "{:?}", b.cookies);
    let csrf_cookie =
        held(gatehouse::selfservice::CSRF_COOKIE).expect("a CSRF cookie for this browser");
    let url = format!(
        "{}/self-service/settings/flows?id={settings_id}",
        app.public
    );
    let resp = crate::pages::get(&app, &mut b, &url).await;
    let settings: Value = serde_json::from_str(&resp.body).expect("json");
    let token = csrf_token(&settings).expect("csrf node").to_owned();
    assert_eq!(
        csrf_cookie, token,
        "the settings form carries this browser's token: {settings}"
    );
    let req = app
        .http
        .post(settings["ui"]["action"].as_str().expect("action"))
        .header("accept", "application/json")
        .json(&json!({"method": "password", "password": "a recovered passphrase", "csrf_token": token}));
    let resp = crate::pages::send(&app, &mut b, req).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.body);
    let (status, _) = api_login(&app, "jo@example.com", "a recovered passphrase").await;
    assert_eq!(status, StatusCode::OK, "the new password logs in");
}
both_backends!(admin_recovery_code, admin_recovery);

/// Two submissions of one code that load the flow at the same moment: only the first to write
/// back wins (compare-and-swap over the flow as loaded); the second consumes nothing and its
/// attempt does not overwrite the first's. Then over HTTP: the code recovers once.
async fn concurrent_code_submissions(app: TestApp) {
    use gatehouse::selfservice::FlowKind;
    let i = app.create_identity("kit@example.com", PASSWORD).await;
    let (_, r) = app
        .admin(
            reqwest::Method::POST,
            "/admin/recovery/code",
            Some(json!({"identity_id": i["id"]})),
        )
        .await;
    let link = r["recovery_link"].as_str().expect("link");
    let code = r["recovery_code"].as_str().expect("code").to_owned();
    let flow_id = query_param(link, "flow").expect("flow id");
    let flows = &app.app.state.flows;
    let mut first = flows
        .load(FlowKind::Recovery, &flow_id)
        .await
        .expect("load");
    let mut second = flows
        .load(FlowKind::Recovery, &flow_id)
        .await
        .expect("load");
    first.code_attempts += 1;
    second.code_attempts += 1;
    assert!(flows.save_if_unchanged(&first).await.expect("save"));
    assert!(
        !flows.save_if_unchanged(&second).await.expect("save"),
        "the second writer sees the flow changed under it"
    );
    let stored = flows
        .load(FlowKind::Recovery, &flow_id)
        .await
        .expect("load");
    assert_eq!(stored.code_attempts, 1);

    let url = format!("{}/self-service/recovery?flow={flow_id}", app.public);
    let mut recovered = 0;
    for _ in 0..2 {
        let resp = app
            .http
            .post(&url)
            .header("accept", "application/json")
            .json(&json!({"method": "code", "code": code}))
            .send()
            .await
            .expect("request");
        if resp.status() == StatusCode::OK {
            recovered += 1;
        } else {
            assert_eq!(
                resp.status(),
                StatusCode::BAD_REQUEST,
                "refused as a used code"
            );
        }
    }
    assert_eq!(recovered, 1, "the code recovers once");
}
both_backends!(
    a_recovery_code_works_once_under_concurrency,
    concurrent_code_submissions
);

/// Regression: a native app that changed its password through an API settings flow lost its
/// session (a new one was issued and never handed back). As in Kratos, its token keeps working;
/// the identity's other sessions end.
async fn native_password_change(app: TestApp) {
    app.create_identity("hana@example.com", PASSWORD).await;
    let (_, ok) = api_login(&app, "hana@example.com", PASSWORD).await;
    let token = ok["session_token"].as_str().expect("token").to_owned();
    let (_, other) = api_login(&app, "hana@example.com", PASSWORD).await;
    let other = other["session_token"].as_str().expect("token").to_owned();

    let settings = api_flow(&app, "settings", Some(&token), "").await;
    let new_password = "an entirely new passphrase";
    let (status, done) = submit(
        &app,
        &settings,
        Some(&token),
        json!({"method": "password", "password": new_password}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["state"], "success");
    assert!(
        done.get("session_token").is_none(),
        "a settings flow, not a login"
    );

    let (status, me) = whoami(&app, &token).await;
    assert_eq!(status, StatusCode::OK, "the native session survives: {me}");
    let (status, _) = whoami(&app, &other).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "other sessions end");
    let (status, _) = api_login(&app, "hana@example.com", PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the old password is refused"
    );
    let (status, _) = api_login(&app, "hana@example.com", new_password).await;
    assert_eq!(status, StatusCode::OK);
}
both_backends!(
    native_password_change_keeps_session_token,
    native_password_change
);

async fn settings_flow_private(app: TestApp) {
    app.create_identity("kim@example.com", PASSWORD).await;
    app.create_identity("lee@example.com", PASSWORD).await;
    let (_, a) = api_login(&app, "kim@example.com", PASSWORD).await;
    let (_, b) = api_login(&app, "lee@example.com", PASSWORD).await;
    let ta = a["session_token"].as_str().expect("token");
    let tb = b["session_token"].as_str().expect("token");
    let flow = api_flow(&app, "settings", Some(ta), "").await;
    let id = flow["id"].as_str().expect("id");
    let get = |t: Option<&str>| {
        let mut r = app.http.get(format!(
            "{}/self-service/settings/flows?id={id}",
            app.public
        ));
        if let Some(t) = t {
            r = r.header("X-Session-Token", t);
        }
        r.send()
    };
    assert_eq!(
        get(Some(ta)).await.expect("request").status(),
        StatusCode::OK
    );
    assert_eq!(
        get(Some(tb)).await.expect("request").status(),
        StatusCode::NOT_FOUND,
        "another identity's settings flow is not shown"
    );
    assert_eq!(
        get(None).await.expect("request").status(),
        StatusCode::NOT_FOUND
    );
}
both_backends!(settings_flow_only_for_its_identity, settings_flow_private);

/// A browser whose `Accept` lists `application/json` below `text/html` (Firefox-like) is sent
/// to the login page, not answered with flow JSON (content negotiation, not a substring test).
async fn accept_negotiation(app: TestApp) {
    let resp = app
        .http
        .get(format!("{}/self-service/login/browser", app.public))
        .header(
            "accept",
            "text/html,application/xhtml+xml,application/json;q=0.9,*/*;q=0.8",
        )
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let to = resp.headers()["location"].to_str().expect("location");
    assert!(to.contains("/ui/login?flow="), "{to}");
    // A client that prefers JSON still gets the flow.
    let resp = app
        .http
        .get(format!("{}/self-service/login/browser", app.public))
        .header("accept", "application/json, text/html;q=0.5")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::OK);
    let flow: Value = resp.json().await.expect("json");
    assert!(flow["id"].is_string(), "{flow}");
}
both_backends!(
    browser_accept_listing_json_at_lower_quality_gets_the_login_page,
    accept_negotiation
);

/// Look-alike e-mails: fullwidth and compatibility forms are the same account (NFKC), and
/// invisible characters, mixed scripts and leftover combining marks are refused outright,
/// instead of each becoming a new account that reads like the original.
async fn lookalike_email_registers_no_second_account(backend: crate::harness::Backend) {
    // Many registrations from one address in a row: without the per-IP limit.
    let Some(app) = TestApp::spawn_on(backend, |c| c.rate_limits.enabled = false).await else {
        return;
    };
    let register = |email: &str| {
        let app = &app;
        let email = email.to_owned();
        async move {
            let flow = api_flow(app, "registration", None, "").await;
            submit(
                app,
                &flow,
                None,
                json!({"method": "password", "traits": {"email": email, "name": "Kate"}, "password": PASSWORD}),
            )
            .await
        }
    };
    let (status, ok) = register("kate@example.com").await;
    assert_eq!(status, StatusCode::OK, "{ok}");
    for same in [
        "k\u{FF41}te@example.com", // fullwidth a
        "\u{212A}ate@example.com", // Kelvin sign
    ] {
        let (status, dup) = register(same).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{same:?}: {dup}");
        assert_eq!(dup["ui"]["messages"][0]["id"], 4_000_007, "{same:?}: {dup}");
    }
    for refused in [
        "k\u{0430}te@example.com",  // Cyrillic a
        "ka\u{200B}te@example.com", // zero-width space
        "\u{202E}kate@example.com", // right-to-left override
        "ka\u{0335}te@example.com", // combining overlay
    ] {
        let (status, bad) = register(refused).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{refused:?}: {bad}");
        assert!(bad.get("identity").is_none(), "{refused:?}: {bad}");
        assert!(bad.to_string().contains("must not"), "{refused:?}: {bad}");
    }
    // A fullwidth letter in the domain is not an e-mail address at all.
    let (status, bad) = register("kate@\u{FF45}xample.com").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    assert!(bad.get("identity").is_none(), "{bad}");
    // The admin API refuses them too.
    let (status, body) = app
        .admin(
            reqwest::Method::POST,
            "/admin/identities",
            Some(json!({"schema_id": "default", "traits": {"email": "ka\u{200B}te@example.com"}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // Logging in with a compatibility form finds the one account.
    let (status, body) = api_login(&app, "K\u{FF21}TE@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
both_backends!(backend lookalike_email, lookalike_email_registers_no_second_account);

/// Every flow's nodes carry only `autocomplete` values Kratos's schema allows (Ory's SDKs with
/// strict models refuse a flow with any other, such as `username` or `off`).
async fn autocomplete_values(app: TestApp) {
    const ALLOWED: [&str; 7] = [
        "email",
        "tel",
        "url",
        "current-password",
        "new-password",
        "one-time-code",
        "username webauthn",
    ];
    app.create_identity("nodes@example.com", PASSWORD).await;
    let (_, login) = api_login(&app, "nodes@example.com", PASSWORD).await;
    let token = login["session_token"].as_str().expect("token").to_owned();
    let mut flows = vec![];
    for kind in ["login", "registration", "recovery", "verification"] {
        flows.push(api_flow(&app, kind, None, "").await);
    }
    flows.push(api_flow(&app, "settings", Some(&token), "").await);
    // Backup codes enrolled, so the aal2 login shows the lookup_secret field too.
    let settings = flows.last().cloned().expect("settings");
    let (_, regen) = submit(
        &app,
        &settings,
        Some(&token),
        json!({"lookup_secret_regenerate": "true"}),
    )
    .await;
    let (_, _) = submit(
        &app,
        &regen,
        Some(&token),
        json!({"lookup_secret_confirm": "true"}),
    )
    .await;
    flows.push(api_flow(&app, "login", Some(&token), "?aal=aal2").await);
    for flow in &flows {
        for n in flow["ui"]["nodes"].as_array().expect("nodes") {
            if let Some(a) = n["attributes"].get("autocomplete") {
                let a = a.as_str().unwrap_or("(not a string)");
                assert!(
                    ALLOWED.contains(&a),
                    "{a:?} in {}: {n}",
                    flow["ui"]["action"]
                );
            }
        }
    }
    let aal2 = flows.last().expect("aal2");
    assert!(
        aal2.to_string().contains("lookup_secret"),
        "the aal2 flow shows the backup-code field: {aal2}"
    );
}
both_backends!(
    flows_use_only_kratos_autocomplete_values,
    autocomplete_values
);

/// Fail closed: `GET /admin/sessions/{id}?expand=identity` when the session's identity cannot be
/// read from the database answers 500, not the session without its identity.
async fn session_with_unreadable_identity(app: TestApp) {
    let identity = app.create_identity("ida@example.com", PASSWORD).await;
    let (status, body) = api_login(&app, "ida@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let session_id = body["session"]["id"].as_str().expect("session id");
    let path = format!("/admin/sessions/{session_id}?expand=identity");
    let (status, s) = app.admin_get(&path).await;
    assert_eq!(status, StatusCode::OK, "{s}");
    assert_eq!(s["identity"]["id"], identity["id"]);

    let id = identity["id"].as_str().expect("id");
    app.sql(&format!(
        "UPDATE identities SET data = '{{' WHERE id = '{id}'"
    ))
    .await;
    let (status, s) = app.admin_get(&path).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{s}");
}
both_backends!(
    an_expanded_session_whose_identity_cannot_be_read_is_an_error,
    session_with_unreadable_identity
);
