//! Self-service limits under attack: password guessing spread over many addresses must not
//! lock the owner out; behind a trusted proxy each client has its own limits; recovery and
//! verification codes are capped per address without telling whether the address has an
//! account.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Backend, TestApp};
use crate::second_factor::{api_flow, client_from, login_from, message_ids, submit};
use crate::selfservice::PASSWORD;

const RATE_LIMITED: u64 = 4_000_029;

/// 5.1 (b) of the probe: 11 wrong passwords for an account from 11 addresses locked the account
/// for everyone, the owner with the right password included. Failures now back off per
/// (identifier, client) pair.
async fn distributed_guessing(backend: Backend) {
    let Some(app) = TestApp::spawn_on(backend, |_| {}).await else {
        return;
    };
    app.create_identity("gina@example.com", PASSWORD).await;
    for i in 0..11 {
        let http = client_from(&format!("127.20.0.{}", i + 1));
        let (status, v) = login_from(&http, &app, "gina@example.com", "wrong password!").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
        assert!(
            !message_ids(&v, "password").contains(&RATE_LIMITED),
            "attempt {i} is checked: {v}"
        );
    }
    let owner = client_from("127.20.1.1");
    let (status, v) = login_from(&owner, &app, "gina@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "the owner still gets in: {v}");
    assert!(v["session_token"].is_string());
}
crate::both_backends!(backend eleven_wrong_passwords_from_eleven_ips_do_not_lock_the_owner_out, distributed_guessing);

async fn login_via_proxy(
    app: &TestApp,
    http: &reqwest::Client,
    xff: &str,
    email: &str,
    password: &str,
) -> (StatusCode, Value) {
    let flow: Value = http
        .get(format!("{}/self-service/login/api", app.public))
        .header("x-forwarded-for", xff)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let resp = http
        .post(flow["ui"]["action"].as_str().expect("action"))
        .header("x-forwarded-for", xff)
        .json(&json!({"method": "password", "identifier": email, "password": password}))
        .send()
        .await
        .expect("request");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// 5.1 (c) of the probe: behind a reverse proxy every user shared the proxy's bucket, so 10
/// bad logins a minute stopped everyone. With `rate_limits.trusted_proxies`, the client is the
/// address the proxy forwarded for.
async fn proxy(backend: Backend) {
    let Some(app) = TestApp::spawn_on(backend, |c| {
        c.rate_limits.trusted_proxies = vec!["127.21.0.1".into()];
    })
    .await
    else {
        return;
    };
    app.create_identity("hal@example.com", PASSWORD).await;
    app.create_identity("ivy@example.com", PASSWORD).await;
    let proxy = client_from("127.21.0.1");
    for i in 0..10 {
        let (status, v) = login_via_proxy(
            &app,
            &proxy,
            "203.0.113.1",
            "hal@example.com",
            &format!("wrong {i}"),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    }
    // That client used up its own per-IP limit ...
    let (status, _) =
        login_via_proxy(&app, &proxy, "203.0.113.1", "hal@example.com", "wrong").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // ... and another client behind the same proxy is not affected.
    let (status, v) = login_via_proxy(
        &app,
        &proxy,
        "6.6.6.6, 198.51.100.50",
        "ivy@example.com",
        PASSWORD,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let devices = &v["session"]["devices"];
    assert_eq!(devices[0]["ip_address"], "198.51.100.50", "{devices}");

    // An untrusted peer's X-Forwarded-For is ignored.
    let direct = client_from("127.21.0.2");
    let (status, v) =
        login_via_proxy(&app, &direct, "198.51.100.77", "ivy@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["session"]["devices"][0]["ip_address"], "127.21.0.2");
}
crate::both_backends!(backend behind_a_trusted_proxy_one_clients_failures_do_not_block_another, proxy);

/// Asks for a code for `email` in a new flow of `kind` from a fresh address; (state, message
/// ids).
async fn ask_code(app: &TestApp, kind: &str, ip: &str, email: &str) -> (Value, String, Vec<u64>) {
    let http = client_from(ip);
    let flow = api_flow(&http, app, kind, None, "").await;
    let (status, v) = submit(
        &http,
        &flow,
        None,
        json!({"method": "code", "email": email}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the flow again: {v}");
    let state = v["state"].as_str().unwrap_or_default().to_owned();
    let ids = message_ids(&v, "email");
    (v, state, ids)
}

async fn courier_codes(app: &TestApp, to: &str, template: &str) -> Vec<String> {
    let (_, msgs) = app
        .admin_get(&format!("/admin/courier/messages?recipient={to}"))
        .await;
    msgs.as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["template_type"] == template)
        .map(|m| {
            m["body"]
                .as_str()
                .unwrap_or_default()
                .split(|c: char| !c.is_ascii_digit())
                .find(|w| w.len() == 6)
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

/// 5.4 of the probe: a new recovery flow for an address could be started at once, each with a
/// new code and 5 new tries, without end. Now at most 5 codes an hour go to one address, at
/// most 10 codes an hour are tried for it, and an address without an account gets exactly the
/// same answers.
async fn recovery_caps(backend: Backend) {
    let Some(app) = TestApp::spawn_on(backend, |_| {}).await else {
        return;
    };
    app.create_identity("jane@example.com", PASSWORD).await;
    let mut answers = Vec::new();
    for (n, email) in ["jane@example.com", "nobody@example.com"]
        .iter()
        .enumerate()
    {
        let mut seen = Vec::new();
        for i in 0..7 {
            let (_, state, ids) =
                ask_code(&app, "recovery", &format!("127.22.{n}.{}", i + 1), email).await;
            seen.push((state, ids));
        }
        answers.push(seen);
    }
    assert_eq!(answers[0], answers[1], "no account enumeration");
    let states: Vec<&str> = answers[0].iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(states[..5], ["sent_email"; 5]);
    assert_eq!(states[5..], ["choose_method"; 2]);
    assert!(
        answers[0][5].1.contains(&RATE_LIMITED),
        "{:?}",
        answers[0][5]
    );
    assert_eq!(
        courier_codes(&app, "jane@example.com", "recovery_code_valid")
            .await
            .len(),
        5,
        "at most 5 e-mails an hour"
    );
}
crate::both_backends!(backend recovery_codes_sent_to_one_address_are_capped_per_hour, recovery_caps);

/// Enters `code` in a recovery flow from a fresh address: (status, message ids).
async fn enter(flow: &Value, ip: &str, code: &str) -> (StatusCode, Vec<u64>) {
    let http = client_from(ip);
    let (status, v) = submit(&http, flow, None, json!({"method": "code", "code": code})).await;
    (status, message_ids(&v, "code"))
}

/// Distributed guessing of recovery codes: each flow allows 5 tries, but flows could be
/// started without end. After 10 wrong codes for an address in an hour, even the right code of
/// a new flow is refused — the same way for an address without an account.
async fn recovery_tries(backend: Backend) {
    let Some(app) = TestApp::spawn_on(backend, |_| {}).await else {
        return;
    };
    app.create_identity("kate@example.com", PASSWORD).await;
    let mut outcomes = Vec::new();
    for (n, email) in ["kate@example.com", "nobody@example.com"]
        .iter()
        .enumerate()
    {
        let mut seen = Vec::new();
        let mut ip = 0;
        let mut fresh = || {
            ip += 1;
            format!("127.23.{n}.{ip}")
        };
        let mut known: Vec<String> = Vec::new();
        for round in 0..3 {
            let (flow, state, _) = ask_code(&app, "recovery", &fresh(), email).await;
            assert_eq!(state, "sent_email");
            let codes = courier_codes(&app, email, "recovery_code_valid").await;
            let real = codes.iter().find(|c| !known.contains(c)).cloned();
            known = codes;
            let wrong = match &real {
                Some(c) if c == "000000" => "111111".to_owned(),
                _ => "000000".to_owned(),
            };
            if round < 2 {
                for _ in 0..5 {
                    seen.push(enter(&flow, &fresh(), &wrong).await);
                }
            } else {
                // The right code (an unknown address has none: any code does).
                let code = real.unwrap_or(wrong);
                seen.push(enter(&flow, &fresh(), &code).await);
            }
        }
        outcomes.push(seen);
    }
    assert_eq!(outcomes[0], outcomes[1], "no account enumeration");
    let wrong = (StatusCode::BAD_REQUEST, vec![4_060_006]);
    assert_eq!(
        outcomes[0][..10],
        vec![wrong; 10],
        "ten wrong codes are checked"
    );
    assert_eq!(
        outcomes[0][10],
        (StatusCode::BAD_REQUEST, vec![RATE_LIMITED]),
        "then even the right code of a new flow is refused"
    );
}
crate::both_backends!(backend recovery_code_guessing_over_many_flows_is_capped_per_address, recovery_tries);

/// Verification codes are capped the same way.
async fn verification_caps(backend: Backend) {
    let Some(app) = TestApp::spawn_on(backend, |_| {}).await else {
        return;
    };
    app.create_identity("lena@example.com", PASSWORD).await;
    let mut answers = Vec::new();
    for (n, email) in ["lena@example.com", "nobody@example.com"]
        .iter()
        .enumerate()
    {
        let mut seen = Vec::new();
        for i in 0..6 {
            let (_, state, ids) = ask_code(
                &app,
                "verification",
                &format!("127.24.{n}.{}", i + 1),
                email,
            )
            .await;
            seen.push((state, ids));
        }
        answers.push(seen);
    }
    assert_eq!(answers[0], answers[1], "no account enumeration");
    assert_eq!(answers[0][4].0, "sent_email");
    assert_eq!(answers[0][5].0, "choose_method");
    assert!(answers[0][5].1.contains(&RATE_LIMITED));
    assert_eq!(
        courier_codes(&app, "lena@example.com", "verification_code_valid")
            .await
            .len(),
        5
    );
}
crate::both_backends!(backend verification_codes_sent_to_one_address_are_capped_per_hour, verification_caps);
