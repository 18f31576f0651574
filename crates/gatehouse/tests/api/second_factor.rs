//! Attacks on the second factor (TOTP and backup codes) over real HTTP: guessing from many
//! client addresses, the same code from several sessions at once, and backup codes at rest.
//! Distinct clients are emulated by binding the client socket to addresses in 127.0.0.0/8.

use std::net::IpAddr;
use std::sync::Arc;

use gatehouse_crypto::totp::TotpSecret;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Backend, TestApp};
use crate::selfservice::PASSWORD;

/// An HTTP client whose connections come from `ip` (any 127.x.y.z works on Linux loopback).
pub(crate) fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(ip.parse::<IpAddr>().ok())
        .build()
        .expect("client")
}

pub(crate) async fn api_flow(
    http: &reqwest::Client,
    app: &TestApp,
    kind: &str,
    token: Option<&str>,
    query: &str,
) -> Value {
    let mut req = http.get(format!("{}/self-service/{kind}/api{query}", app.public));
    if let Some(t) = token {
        req = req.header("X-Session-Token", t);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    let body: Value = resp.json().await.expect("json");
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

pub(crate) async fn submit(
    http: &reqwest::Client,
    flow: &Value,
    token: Option<&str>,
    body: Value,
) -> (StatusCode, Value) {
    let action = flow["ui"]["action"].as_str().expect("action");
    let mut req = http.post(action).json(&body);
    if let Some(t) = token {
        req = req.header("X-Session-Token", t);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn login_from(
    http: &reqwest::Client,
    app: &TestApp,
    email: &str,
    password: &str,
) -> (StatusCode, Value) {
    let flow = api_flow(http, app, "login", None, "").await;
    submit(
        http,
        &flow,
        None,
        json!({"method": "password", "identifier": email, "password": password}),
    )
    .await
}

/// The message ids on the node named `field`, and on the flow.
pub(crate) fn message_ids(flow: &Value, field: &str) -> Vec<u64> {
    let mut ids: Vec<u64> = flow["ui"]["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["attributes"]["name"] == field)
        .flat_map(|n| n["messages"].as_array().cloned().unwrap_or_default())
        .filter_map(|m| m["id"].as_u64())
        .collect();
    ids.extend(
        flow["ui"]["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["id"].as_u64()),
    );
    ids
}

const RATE_LIMITED: u64 = 4_000_029;
const TOTP_INVALID: u64 = 4_000_008;
const LOOKUP_INVALID: u64 = 4_000_016;

/// An identity with a password, 12 backup codes and TOTP (enrolled with the code of the
/// previous time step, so the current and next steps are still unused).
pub(crate) struct Mfa {
    pub id: String,
    pub secret: TotpSecret,
    pub codes: Vec<String>,
}

/// Settings at aal1, so that the test can enrol both factors in one session.
pub(crate) fn settings_at_aal1(c: &mut gatehouse::config::RawConfig) {
    c.selfservice.flows.settings.required_aal = gatehouse::config::RequiredAal::Aal1;
}

pub(crate) async fn mfa_identity(app: &TestApp, email: &str) -> Mfa {
    let id = app.create_identity(email, PASSWORD).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let http = &app.http;
    let (status, ok) = login_from(http, app, email, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{ok}");
    let token = ok["session_token"].as_str().expect("token").to_owned();

    let settings = api_flow(http, app, "settings", Some(&token), "").await;
    let (status, shown) = submit(
        http,
        &settings,
        Some(&token),
        json!({"method": "lookup_secret", "lookup_secret_regenerate": "true"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    let codes: Vec<String> = shown["ui"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["attributes"]["id"] == "lookup_secret_codes")
        .expect("codes node")["attributes"]["text"]["context"]["secrets"]
        .as_array()
        .expect("secrets")
        .iter()
        .map(|c| c["text"].as_str().expect("code").to_owned())
        .collect();
    assert_eq!(codes.len(), 12);
    let (status, saved) = submit(
        http,
        &settings,
        Some(&token),
        json!({"method": "lookup_secret", "lookup_secret_confirm": "true"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{saved}");

    let settings = api_flow(http, app, "settings", Some(&token), "").await;
    let secret = settings["ui"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["attributes"]["id"] == "totp_secret_key")
        .expect("secret node")["attributes"]["text"]["text"]
        .as_str()
        .expect("secret")
        .to_owned();
    let secret = TotpSecret::from_base32(&secret).expect("base32");
    let now = gatehouse::clock::now();
    let (status, done) = submit(
        http,
        &settings,
        Some(&token),
        json!({"method": "totp", "totp_code": secret.code_at(now - 30)}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    Mfa { id, secret, codes }
}

/// An aal1 session from `ip` and an aal2 login flow for it.
pub(crate) async fn aal1_step_up(
    app: &TestApp,
    ip: &str,
    email: &str,
) -> (reqwest::Client, String, Value) {
    let http = client_from(ip);
    let (status, ok) = login_from(&http, app, email, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{ok}");
    let token = ok["session_token"].as_str().expect("token").to_owned();
    let flow = api_flow(&http, app, "login", Some(&token), "?aal=aal2").await;
    (http, token, flow)
}

/// A six-digit code that the TOTP window does not accept now.
fn wrong_totp(secret: &TotpSecret) -> String {
    let now = gatehouse::clock::now();
    let taken: Vec<String> = (-3..=3).map(|k| secret.code_at(now + 30 * k)).collect();
    (0..1000)
        .map(|n| format!("{:06}", 123_457 * (n + 1) % 1_000_000))
        .find(|c| !taken.contains(c))
        .expect("a wrong code")
}

fn totp_or_lookup(v: &Value) -> Vec<u64> {
    let mut ids = message_ids(v, "totp_code");
    ids.extend(message_ids(v, "lookup_secret"));
    ids
}

/// 5.2 of the probe: 60 wrong TOTP and backup codes from 60 client addresses with one aal1
/// session were all checked, and the right code still worked. Now the identity's failures are
/// counted in the database: after 5, no code is checked (the right one neither), the answer
/// says the second factor is locked, and the user is e-mailed.
async fn guessing(backend: Backend) {
    let Some(app) = TestApp::spawn_on(backend, settings_at_aal1).await else {
        return;
    };
    let m = mfa_identity(&app, "carol@example.com").await;
    let (_, token, step_up) = aal1_step_up(&app, "127.0.0.2", "carol@example.com").await;
    let wrong = wrong_totp(&m.secret);
    let (mut checked, mut locked) = (0, 0);
    for i in 0..60u32 {
        let http = client_from(&format!("127.10.{}.{}", i / 200, 1 + i % 200));
        let body = if i % 3 == 2 {
            json!({"method": "lookup_secret", "lookup_secret": "zzzzzzzz"})
        } else {
            json!({"method": "totp", "totp_code": wrong})
        };
        let (status, v) = submit(&http, &step_up, Some(&token), body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
        assert!(v.get("session_token").is_none());
        let ids = totp_or_lookup(&v);
        if ids.contains(&TOTP_INVALID) || ids.contains(&LOOKUP_INVALID) {
            checked += 1;
        } else {
            assert_eq!(ids, vec![RATE_LIMITED], "{v}");
            locked += 1;
        }
    }
    assert_eq!(checked, 5, "five wrong codes are checked, from anywhere");
    assert_eq!(locked, 55);

    // The right code is refused too while locked, with the same answer.
    let http = client_from("127.10.9.9");
    let now = gatehouse::clock::now();
    let (status, v) = submit(
        &http,
        &step_up,
        Some(&token),
        json!({"method": "totp", "totp_code": m.secret.code_at(now)}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(totp_or_lookup(&v), vec![RATE_LIMITED], "{v}");
    let (status, v) = submit(
        &http,
        &step_up,
        Some(&token),
        json!({"method": "lookup_secret", "lookup_secret": m.codes[0]}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(totp_or_lookup(&v), vec![RATE_LIMITED], "{v}");

    // The lock is the identity's, in the database: another session (any replica) sees it.
    let (http2, token2, step2) = aal1_step_up(&app, "127.10.9.10", "carol@example.com").await;
    let (status, v) = submit(
        &http2,
        &step2,
        Some(&token2),
        json!({"method": "totp", "totp_code": m.secret.code_at(now)}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(totp_or_lookup(&v), vec![RATE_LIMITED], "{v}");

    // One notice, when the lockout started.
    let (status, msgs) = app
        .admin_get("/admin/courier/messages?recipient=carol@example.com")
        .await;
    assert_eq!(status, StatusCode::OK, "{msgs}");
    let notices: Vec<&Value> = msgs
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["template_type"] == "second_factor_locked")
        .collect();
    assert_eq!(notices.len(), 1, "{msgs}");
    let body = notices[0]["body"].as_str().unwrap_or_default();
    assert!(body.contains("locked"), "{body}");
    assert!(!body.contains(&wrong), "the notice carries no codes");
}
crate::both_backends!(backend second_factor_guessing_from_many_ips_is_locked_per_identity, guessing);

/// After the lockout ends, the right code works and clears the count.
async fn lockout_ends(backend: Backend) {
    let Some(app) = TestApp::spawn_on(backend, |c| {
        settings_at_aal1(c);
        c.rate_limits.second_factor_failures = 2;
        c.rate_limits.second_factor_lockout =
            gatehouse::config::Dur(std::time::Duration::from_secs(1));
    })
    .await
    else {
        return;
    };
    let m = mfa_identity(&app, "cody@example.com").await;
    let (http, token, step_up) = aal1_step_up(&app, "127.11.0.1", "cody@example.com").await;
    let wrong = wrong_totp(&m.secret);
    for _ in 0..2 {
        let (status, _) = submit(
            &http,
            &step_up,
            Some(&token),
            json!({"method": "totp", "totp_code": wrong}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    let now = gatehouse::clock::now();
    let (_, v) = submit(
        &http,
        &step_up,
        Some(&token),
        json!({"method": "totp", "totp_code": m.secret.code_at(now)}),
    )
    .await;
    assert_eq!(totp_or_lookup(&v), vec![RATE_LIMITED], "{v}");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, up) = submit(
        &http,
        &step_up,
        Some(&token),
        json!({"method": "lookup_secret", "lookup_secret": m.codes[0]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{up}");
    assert_eq!(up["session"]["authenticator_assurance_level"], "aal2");
}
crate::both_backends!(backend second_factor_lockout_ends_and_the_right_code_then_works, lockout_ends);

/// Sends the same request body from every session at the same moment; the statuses.
async fn at_once(
    sessions: &[(reqwest::Client, String, Value)],
    bodies: &[Value],
) -> Vec<StatusCode> {
    let barrier = Arc::new(tokio::sync::Barrier::new(sessions.len()));
    let runs = sessions
        .iter()
        .zip(bodies)
        .map(|((http, token, flow), body)| {
            let barrier = barrier.clone();
            async move {
                barrier.wait().await;
                submit(http, flow, Some(token), body.clone()).await.0
            }
        });
    futures_util::future::join_all(runs).await
}

async fn sessions(
    app: &TestApp,
    n: u32,
    subnet: u32,
    email: &str,
) -> Vec<(reqwest::Client, String, Value)> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(aal1_step_up(app, &format!("127.12.{subnet}.{}", i + 1), email).await);
    }
    out
}

fn used_codes(i: &gatehouse::identity::Identity) -> usize {
    i.credentials["lookup_secret"].config["codes"]
        .as_array()
        .expect("codes")
        .iter()
        .filter(|c| !c["used_at"].is_null())
        .count()
}

/// 5.3 of the probe: one TOTP code or one backup code submitted at once from 5 aal1 sessions
/// gave 5 aal2 sessions, and two different backup codes at once left one reusable (the later
/// write erased the earlier's `used_at`). Now each step reads the identity fresh and saves it
/// only over the version it read.
async fn concurrent(backend: Backend) {
    let Some(app) = TestApp::spawn_on(backend, |c| {
        settings_at_aal1(c);
        // Lost races count as wrong codes; keep the lockout out of this test.
        c.rate_limits.second_factor_failures = 1000;
    })
    .await
    else {
        return;
    };
    let email = "dora@example.com";
    let m = mfa_identity(&app, email).await;
    let store = &app.app.state.identities;

    let five = sessions(&app, 5, 1, email).await;
    let code = m.secret.code_at(gatehouse::clock::now());
    let body = json!({"method": "totp", "totp_code": code});
    let got = at_once(&five, &vec![body; 5]).await;
    let passed = got.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(passed, 1, "one TOTP code, one aal2 session: {got:?}");
    assert!(
        got.iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::BAD_REQUEST),
        "{got:?}"
    );

    let five = sessions(&app, 5, 2, email).await;
    let body = json!({"method": "lookup_secret", "lookup_secret": m.codes[0]});
    let got = at_once(&five, &vec![body; 5]).await;
    let passed = got.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(passed, 1, "one backup code, one aal2 session: {got:?}");
    assert_eq!(used_codes(&store.get(&m.id).await.expect("identity")), 1);

    let two = sessions(&app, 2, 3, email).await;
    let bodies = [
        json!({"method": "lookup_secret", "lookup_secret": m.codes[1]}),
        json!({"method": "lookup_secret", "lookup_secret": m.codes[2]}),
    ];
    let got = at_once(&two, &bodies).await;
    assert_eq!(
        got,
        vec![StatusCode::OK; 2],
        "two different codes both work"
    );
    assert_eq!(
        used_codes(&store.get(&m.id).await.expect("identity")),
        3,
        "and both end up used"
    );
    let again = sessions(&app, 3, 4, email).await;
    for (k, code) in [&m.codes[0], &m.codes[1], &m.codes[2]]
        .into_iter()
        .enumerate()
    {
        let (http, token, flow) = &again[k];
        let (status, v) = submit(
            http,
            flow,
            Some(token),
            json!({"method": "lookup_secret", "lookup_secret": code}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "code {k} is used: {v}");
    }
}
crate::both_backends!(backend concurrent_second_factor_submissions_yield_one_aal2_session, concurrent);

/// A save over a copy older than the stored identity is refused (never silently "ok"), and
/// leaves the stored identity as it was.
async fn stale_save(app: TestApp) {
    let i = app.create_identity("ella@example.com", PASSWORD).await;
    let id = i["id"].as_str().expect("id");
    let ids = &app.app.state.identities;
    let now = gatehouse::clock::now();
    let mut first = ids.get(id).await.expect("get");
    let mut second = ids.get(id).await.expect("get");
    first.metadata_public = json!({"writer": "first"});
    ids.save(&mut first, now).await.expect("first save");
    second.metadata_public = json!({"writer": "second"});
    let err = ids.save(&mut second, now).await.expect_err("stale");
    assert!(matches!(err, gatehouse::error::Error::Stale(_)), "{err:?}");
    assert_eq!(
        ids.get(id).await.expect("get").metadata_public["writer"],
        "first"
    );
    // Saved again over the new version, it goes through.
    first.metadata_public = json!({"writer": "first again"});
    ids.save(&mut first, now)
        .await
        .expect("second save of the fresh copy");
}
crate::both_backends!(a_stale_identity_write_is_refused, stale_save);

/// 9.2 of the probe: backup codes were stored as unsalted SHA-256. Now they are HMAC-SHA256
/// under a key from `secrets.system`, salted with the identity id; a legacy SHA-256 entry still
/// verifies, once.
async fn at_rest(backend: Backend) {
    let Some(app) = TestApp::spawn_on(backend, settings_at_aal1).await else {
        return;
    };
    let email = "fay@example.com";
    let m = mfa_identity(&app, email).await;
    let row = app
        .app
        .store
        .get_identity(&m.id)
        .await
        .expect("read")
        .expect("row");
    for code in &m.codes {
        let sha = gatehouse_crypto::lookup::hash_backup_code(code);
        assert!(!row.data.contains(&sha), "sha256({code}) is not stored");
        assert!(!row.data.contains(code.as_str()), "the code is not stored");
    }
    let i = app.app.state.identities.get(&m.id).await.expect("identity");
    let entries = i.credentials["lookup_secret"].config["codes"]
        .as_array()
        .expect("codes")
        .clone();
    assert!(
        entries
            .iter()
            .all(|e| e["hmac"].is_string() && e.get("hash").is_none())
    );

    // A legacy entry, as stored before.
    let legacy = "leg4cy22";
    app.app
        .state
        .identities
        .modify(&m.id, gatehouse::clock::now(), |i| {
            if let Some(c) = i.credentials.get_mut("lookup_secret") {
                c.config["codes"]
                    .as_array_mut()
                    .expect("codes")
                    .push(json!({"hash": gatehouse_crypto::lookup::hash_backup_code(legacy), "used_at": null}));
            }
        })
        .await
        .expect("add legacy");
    let (http, token, flow) = aal1_step_up(&app, "127.13.0.1", email).await;
    let (status, up) = submit(
        &http,
        &flow,
        Some(&token),
        json!({"method": "lookup_secret", "lookup_secret": "LEG4-CY22"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "a legacy code verifies: {up}");
    let (http, token, flow) = aal1_step_up(&app, "127.13.0.2", email).await;
    let (status, v) = submit(
        &http,
        &flow,
        Some(&token),
        json!({"method": "lookup_secret", "lookup_secret": legacy}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "once: {v}");
    // New codes still work.
    let (status, up) = submit(
        &http,
        &flow,
        Some(&token),
        json!({"method": "lookup_secret", "lookup_secret": m.codes[5]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{up}");
}
crate::both_backends!(backend backup_codes_are_stored_as_keyed_macs_and_legacy_entries_verify_once, at_rest);
