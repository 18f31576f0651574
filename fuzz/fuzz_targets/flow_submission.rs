//! Self-service flow submissions (`POST /self-service/{login,registration,settings,recovery,
//! verification}?flow=`) as the web layer receives them: the first byte picks the flow and the
//! body's content type, the rest is the body. The body goes through `Submission::parse`, then
//! through what each flow reads from it: traits typed by the default schema's form fields and
//! validated, the recovery/verification e-mail and code, the recovery link token, and WebAuthn
//! credentials. Never panics; what parses stays within the submission bounds.
#![no_main]

use gatehouse::identity::schema::{DEFAULT_SCHEMA, Schema};
use gatehouse::selfservice::{
    Flow, FlowKind, MAX_FIELDS, MAX_NAME, Submission, code, recovery_link, webauthn,
};
use libfuzzer_sys::fuzz_target;

const KINDS: [&str; 5] = ["login", "registration", "settings", "recovery", "verification"];
const CONTENT_TYPES: [&str; 4] = [
    "application/json",
    "application/x-www-form-urlencoded",
    "application/json; charset=utf-8",
    "text/plain",
];

fn flow(kind: &str) -> Flow {
    serde_json::from_value(serde_json::json!({
        "id": "0b6c3f0e-8d0a-4a37-9c1e-6f9f6e0f4a11", "kind": kind, "flow_type": "browser",
        "issued_at": 0, "expires_at": 3600, "request_url": "", "return_to": null,
        "csrf_hash": null, "state": "sent_email", "messages": [],
        "code_hash": code::digest("0b6c3f0e-8d0a-4a37-9c1e-6f9f6e0f4a11", "123456"),
        "code_expires_at": 3600,
        "link_hash": code::digest("0b6c3f0e-8d0a-4a37-9c1e-6f9f6e0f4a11", &"a".repeat(recovery_link::TOKEN_LEN)),
    }))
    .expect("fixed flow")
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let kind = KINDS[usize::from(selector) % KINDS.len()];
    let content_type = CONTENT_TYPES[usize::from(selector / 8) % CONTENT_TYPES.len()];
    assert_eq!(FlowKind::parse(kind).map(FlowKind::as_str), Some(kind));
    let Ok(sub) = Submission::parse(content_type, body) else {
        return;
    };
    assert!(sub.fields.len() <= MAX_FIELDS);
    assert!(sub.fields.keys().all(|k| k.len() <= MAX_NAME));
    let schema = Schema::compile(
        "default",
        serde_json::from_str(DEFAULT_SCHEMA).expect("default schema"),
    )
    .expect("default schema compiles");
    let mut flow = flow(kind);
    match kind {
        "registration" | "settings" => {
            let traits = sub.traits(&schema.form_fields());
            let _ = schema.validate(&traits);
            let _ = schema.marked(&traits);
            if let Some(raw) = sub.get("webauthn_register") {
                let _ = webauthn::parse_registration(raw);
            }
        }
        "login" => {
            if let Some(raw) = sub.get("webauthn_login") {
                let _ = webauthn::parse_assertion(raw);
            }
        }
        _ => {
            if let Some(email) = code::submitted_email(&mut flow, sub.get("email")) {
                assert!(email.contains('@') && email.len() <= 320);
            }
            if let Some(c) = sub.get("code") {
                let _ = code::check(&mut flow, c, 0);
                assert!(flow.code_attempts <= code::MAX_ATTEMPTS);
                let _ = recovery_link::matches(&flow, c);
            }
        }
    }
});
