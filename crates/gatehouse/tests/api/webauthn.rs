//! Passkeys and security keys over real HTTP, with a real software authenticator
//! (`webauthn-authenticator-rs`'s `SoftPasskey`) answering the options Gatehouse emits: a passkey
//! registered in settings and used for a passwordless login (method `webauthn`, aal1); a security
//! key stepping an aal1 session up to aal2; assertions for another flow's challenge, replays,
//! garbage and oversized credentials refused; keys removed.
//!
//! The soft authenticator keeps no resident keys, so for the discoverable login the test plays
//! the browser's part: it names the credential in `allowCredentials` and returns the user handle
//! the authenticator was registered with. Neither is covered by the signature the server checks.

use reqwest::StatusCode;
use serde_json::{Value, json};
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::prelude::{
    CreationChallengeResponse, RequestChallengeResponse, Url,
};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

use crate::harness::{Backend, TestApp};

const PASSWORD: &str = "correct horse battery staple";

/// An app whose relying party is `localhost` (the harness's issuer is an IP address, which
/// cannot be a relying-party id), with `localhost` on the issuer's port as the browser's origin.
async fn app_with(backend: Backend, passwordless: bool) -> Option<(TestApp, Url)> {
    let mut origin = None;
    let app = TestApp::spawn_on(backend, |c| {
        let issuer = c.urls.self_.issuer.clone().expect("issuer");
        let o = issuer.replace("127.0.0.1", "localhost");
        let w = &mut c.selfservice.methods.webauthn;
        w.enabled = true;
        w.passwordless = passwordless;
        w.rp_id = Some("localhost".into());
        w.rp_origins = vec![o.clone()];
        origin = Some(o);
    })
    .await?;
    let origin = Url::parse(&origin.expect("origin")).expect("origin url");
    Some((app, origin))
}

/// With no configuration at all the issuer is `http://localhost:4444`, so passkeys are on (RP ID
/// `localhost`); an IP-address issuer (the harness's) turns them off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_config_has_passkeys_on_and_an_ip_address_issuer_has_them_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = gatehouse::config::RawConfig {
        data_dir: dir.path().to_owned(),
        ..Default::default()
    }
    .resolve()
    .expect("the defaults are valid");
    assert_eq!(config.issuer(), "http://localhost:4444");
    let app = gatehouse::App::build(config).await.expect("app builds");
    assert!(app.state.flows.webauthn.is_some(), "passkeys are on");
    let ip = TestApp::spawn(Backend::Sqlite).await;
    assert!(ip.issuer().starts_with("http://127.0.0.1:"));
    assert!(ip.app.state.flows.webauthn.is_none(), "passkeys are off");
}

async fn api_flow(app: &TestApp, kind: &str, token: Option<&str>, query: &str) -> Value {
    let mut req = app
        .http
        .get(format!("{}/self-service/{kind}/api{query}", app.public));
    if let Some(t) = token {
        req = req.header("X-Session-Token", t);
    }
    let resp = req.send().await.expect("request");
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.expect("json")
}

async fn submit(
    app: &TestApp,
    flow: &Value,
    token: Option<&str>,
    body: Value,
) -> (StatusCode, Value) {
    let action = flow["ui"]["action"].as_str().expect("action");
    let mut req = app.http.post(action).json(&body);
    if let Some(t) = token {
        req = req.header("X-Session-Token", t);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn node<'a>(flow: &'a Value, name: &str) -> Option<&'a Value> {
    flow["ui"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["attributes"]["name"] == name || n["attributes"]["id"] == name)
}

fn trigger_options(flow: &Value, name: &str) -> Value {
    let n = node(flow, name).unwrap_or_else(|| panic!("no {name} in {flow}"));
    assert_eq!(n["group"], "webauthn");
    assert_eq!(n["attributes"]["type"], "button");
    assert!(
        n["attributes"]["onclick"]
            .as_str()
            .is_some_and(|s| s.starts_with("window.oryWebAuthn")),
        "{n}"
    );
    serde_json::from_str(n["attributes"]["value"].as_str().expect("value")).expect("options")
}

async fn password_login(app: &TestApp, email: &str) -> String {
    let flow = api_flow(app, "login", None, "").await;
    let (status, ok) = submit(
        app,
        &flow,
        None,
        json!({"method": "password", "identifier": email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{ok}");
    ok["session_token"].as_str().expect("token").to_owned()
}

/// Registers a key in the settings flow; the options used (for the user handle).
async fn register(
    app: &TestApp,
    token: &str,
    key: &mut SoftPasskey,
    origin: &Url,
    name: &str,
) -> (Value, Value) {
    let flow = api_flow(app, "settings", Some(token), "").await;
    for n in ["webauthn_register_displayname", "webauthn_register"] {
        assert!(node(&flow, n).is_some(), "{n} missing");
    }
    let script = node(&flow, "webauthn_script").expect("script node");
    assert_eq!(script["type"], "script");
    assert_eq!(script["attributes"]["node_type"], "script");
    assert!(
        script["attributes"]["src"]
            .as_str()
            .is_some_and(|s| s.ends_with("/.well-known/ory/webauthn.js"))
    );
    let options = trigger_options(&flow, "webauthn_register_trigger");
    let ccr: CreationChallengeResponse = serde_json::from_value(options.clone()).expect("ccr");
    let reg = key
        .do_registration(origin.clone(), ccr)
        .expect("soft authenticator registers");
    let (status, body) = submit(
        app,
        &flow,
        Some(token),
        json!({"method": "webauthn", "webauthn_register": serde_json::to_string(&reg).expect("json"),
               "webauthn_register_displayname": name}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (options, json!(reg))
}

fn assertion(
    key: &mut SoftPasskey,
    origin: &Url,
    mut options: Value,
    discoverable: Option<(&Value, &Value)>,
) -> String {
    if let Some((reg, _)) = discoverable {
        assert_eq!(
            options["publicKey"]["allowCredentials"],
            json!([]),
            "no identifier needed"
        );
        options["publicKey"]["allowCredentials"] = json!([{"type": "public-key", "id": reg["id"]}]);
    }
    let rcr: RequestChallengeResponse = serde_json::from_value(options).expect("rcr");
    let cred = key
        .do_authentication(origin.clone(), rcr)
        .expect("soft authenticator signs");
    let mut v = json!(cred);
    if let Some((_, reg_options)) = discoverable {
        v["response"]["userHandle"] = reg_options["publicKey"]["user"]["id"].clone();
    }
    v.to_string()
}

async fn passkey_login(backend: Backend) {
    let Some((app, origin)) = app_with(backend, true).await else {
        return;
    };
    let identity = app.create_identity("pia@example.com", PASSWORD).await;
    let token = password_login(&app, "pia@example.com").await;
    let mut key = SoftPasskey::new(true);
    let (reg_options, reg) = register(&app, &token, &mut key, &origin, "Laptop").await;

    let id = identity["id"].as_str().expect("id");
    let (_, stored) = app
        .admin_get(&format!(
            "/admin/identities/{id}?include_credential=webauthn"
        ))
        .await;
    assert!(stored["credentials"]["webauthn"].is_object(), "{stored}");

    // Passwordless: the login flow offers a discoverable-credential authentication.
    let flow = api_flow(&app, "login", None, "").await;
    assert!(node(&flow, "webauthn_login").is_some());
    let options = trigger_options(&flow, "webauthn_login_trigger");
    let signed = assertion(
        &mut key,
        &origin,
        options.clone(),
        Some((&reg, &reg_options)),
    );

    // The same assertion sent to another flow answers the wrong challenge.
    let other = api_flow(&app, "login", None, "").await;
    let (status, refused) = submit(
        &app,
        &other,
        None,
        json!({"method": "webauthn", "webauthn_login": signed}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert!(refused.get("session_token").is_none());

    let (status, ok) = submit(
        &app,
        &flow,
        None,
        json!({"method": "webauthn", "webauthn_login": signed}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{ok}");
    assert_eq!(ok["session"]["identity"]["id"], identity["id"]);
    assert_eq!(ok["session"]["authenticator_assurance_level"], "aal1");
    assert_eq!(
        ok["session"]["authentication_methods"][0]["method"],
        "webauthn"
    );

    // Replayed: the state it answered is gone.
    let (status, replayed) = submit(
        &app,
        &flow,
        None,
        json!({"method": "webauthn", "webauthn_login": signed}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{replayed}");
    assert!(replayed.get("session_token").is_none());

    // Garbage and oversized credentials are flow messages / bounded refusals, never a 500.
    let flow = api_flow(&app, "login", None, "").await;
    let (status, garbage) = submit(
        &app,
        &flow,
        None,
        json!({"method": "webauthn", "webauthn_login": "{\"id\": [1, 2"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{garbage}");
    let n = node(&garbage, "webauthn_login").expect("node");
    assert_eq!(n["messages"][0]["type"], "error", "{n}");
    let (status, _) = submit(
        &app,
        &flow,
        None,
        json!({"method": "webauthn", "webauthn_login": "x".repeat(20 * 1024)}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Removing the key (the identity still has its password).
    let settings = api_flow(&app, "settings", Some(&token), "").await;
    let remove = node(&settings, "webauthn_remove").expect("remove node");
    assert_eq!(remove["meta"]["label"]["context"]["display_name"], "Laptop");
    let key_id = remove["attributes"]["value"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(key_id, reg["id"].as_str().expect("id"));
    let (status, body) = submit(
        &app,
        &settings,
        Some(&token),
        json!({"method": "webauthn", "webauthn_remove": key_id}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(node(&body, "webauthn_remove").is_none());
    let flow = api_flow(&app, "login", None, "").await;
    let options = trigger_options(&flow, "webauthn_login_trigger");
    let signed = assertion(&mut key, &origin, options, Some((&reg, &reg_options)));
    let (status, _) = submit(
        &app,
        &flow,
        None,
        json!({"method": "webauthn", "webauthn_login": signed}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a removed key signs in no one"
    );
}

async fn security_key_step_up(backend: Backend) {
    let Some((app, origin)) = app_with(backend, false).await else {
        return;
    };
    app.create_identity("sam@example.com", PASSWORD).await;
    let login = api_flow(&app, "login", None, "").await;
    assert!(
        node(&login, "webauthn_login_trigger").is_none(),
        "no passwordless login when passwordless is off"
    );
    let token = password_login(&app, "sam@example.com").await;
    let mut key = SoftPasskey::new(true);
    register(&app, &token, &mut key, &origin, "YubiKey").await;

    // A fresh password login is aal1 and asks for the second factor.
    let token = password_login(&app, "sam@example.com").await;
    let flow = api_flow(&app, "login", Some(&token), "?aal=aal2").await;
    let options = trigger_options(&flow, "webauthn_login_trigger");
    assert_eq!(
        options["publicKey"]["allowCredentials"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let signed = assertion(&mut key, &origin, options, None);
    let (status, ok) = submit(
        &app,
        &flow,
        Some(&token),
        json!({"method": "webauthn", "webauthn_login": signed.clone()}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{ok}");
    assert_eq!(ok["session"]["authenticator_assurance_level"], "aal2");
    let methods: Vec<&str> = ok["session"]["authentication_methods"]
        .as_array()
        .expect("methods")
        .iter()
        .filter_map(|m| m["method"].as_str())
        .collect();
    assert_eq!(methods, ["password", "webauthn"]);
    let aal2 = ok["session_token"].as_str().unwrap_or(&token).to_owned();

    // The same assertion again, on a new step-up flow: a different challenge.
    let token2 = password_login(&app, "sam@example.com").await;
    let flow2 = api_flow(&app, "login", Some(&token2), "?aal=aal2").await;
    let (status, refused) = submit(
        &app,
        &flow2,
        Some(&token2),
        json!({"method": "webauthn", "webauthn_login": signed}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");

    // Removing the security key.
    let settings = api_flow(&app, "settings", Some(&aal2), "").await;
    let remove = node(&settings, "webauthn_remove").expect("remove node");
    let key_id = remove["attributes"]["value"]
        .as_str()
        .expect("id")
        .to_owned();
    let (status, body) = submit(
        &app,
        &settings,
        Some(&aal2),
        json!({"method": "webauthn", "webauthn_remove": key_id}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(node(&body, "webauthn_remove").is_none());
}

async fn malformed_registration(backend: Backend) {
    let Some((app, _)) = app_with(backend, true).await else {
        return;
    };
    app.create_identity("mo@example.com", PASSWORD).await;
    let token = password_login(&app, "mo@example.com").await;
    let flow = api_flow(&app, "settings", Some(&token), "").await;
    for bad in [
        "not json",
        "{}",
        "{\"id\":\"AA\",\"rawId\":\"AA\",\"response\":{},\"type\":\"public-key\"}",
    ] {
        let (status, body) = submit(
            &app,
            &flow,
            Some(&token),
            json!({"method": "webauthn", "webauthn_register": bad, "webauthn_register_displayname": "x"}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        let n = node(&body, "webauthn_register").expect("node");
        assert_eq!(n["messages"][0]["type"], "error", "{n}");
    }
    let (status, body) = submit(
        &app,
        &flow,
        Some(&token),
        json!({"method": "webauthn", "webauthn_register": "x".repeat(17 * 1024)}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = submit(
        &app,
        &flow,
        Some(&token),
        json!({"method": "webauthn", "webauthn_remove": "nope"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let resp = app
        .http
        .get(format!("{}/.well-known/ory/webauthn.js", app.public))
        .send()
        .await
        .expect("script");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .is_ok_and(|c| c.starts_with("text/javascript"))
    );
    assert!(
        resp.text()
            .await
            .expect("body")
            .contains("navigator.credentials.create")
    );
}

crate::both_backends!(backend passkey_register_login_remove, passkey_login);
crate::both_backends!(backend security_key_second_factor, security_key_step_up);
crate::both_backends!(backend webauthn_bad_input, malformed_registration);

/// Fail closed: a registered security key whose stored credential cannot be read makes the
/// second-factor login fail with an internal error, instead of the key being treated as absent
/// (a login flow offering no security key, as if none were registered).
async fn corrupt_security_key(backend: Backend) {
    let Some((app, origin)) = app_with(backend, false).await else {
        return;
    };
    let identity = app.create_identity("cy@example.com", PASSWORD).await;
    let token = password_login(&app, "cy@example.com").await;
    let mut key = SoftPasskey::new(true);
    register(&app, &token, &mut key, &origin, "YubiKey").await;
    let token = password_login(&app, "cy@example.com").await;
    let flow = api_flow(&app, "login", Some(&token), "?aal=aal2").await;
    assert!(
        node(&flow, "webauthn_login_trigger").is_some(),
        "offered while readable"
    );

    let id = identity["id"].as_str().expect("id");
    app.app
        .state
        .identities
        .modify(id, gatehouse::clock::now(), |i| {
            if let Some(c) = i.credentials.get_mut("webauthn") {
                c.config["credentials"][0]["passkey"] = json!({"not": "a security key"});
            }
        })
        .await
        .expect("corrupt the stored key");
    let resp = app
        .http
        .get(format!("{}/self-service/login/api?aal=aal2", app.public))
        .header("X-Session-Token", &token)
        .send()
        .await
        .expect("request");
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(body.get("ui").is_none(), "no flow without the key: {body}");
}
crate::both_backends!(
    backend a_corrupt_security_key_fails_the_login_instead_of_being_treated_as_absent,
    corrupt_security_key
);
