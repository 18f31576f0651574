//! The identity side's parsers of untrusted input never panic, whatever they are fed: self-service
//! flow submission bodies (JSON and urlencoded) and what each flow reads from them, and identity
//! traits against identity schemas. The fuzz targets `flow_submission` and `identity_traits` in
//! `fuzz/` explore further; these run in every test run.

use gatehouse::identity::model::normalize_identifier;
use gatehouse::identity::schema::{DEFAULT_SCHEMA, MAX_TRAITS_BYTES, Schema};
use gatehouse::selfservice::{
    Flow, MAX_FIELDS, MAX_NAME, MAX_VALUE, Submission, code, recovery_link, webauthn,
};
use proptest::prelude::*;
use serde_json::{Value, json};

const FLOW_ID: &str = "0b6c3f0e-8d0a-4a37-9c1e-6f9f6e0f4a11";
const CODE: &str = "123456";

const CONTENT_TYPES: &[&str] = &[
    "application/json",
    "application/json; charset=utf-8",
    "application/x-www-form-urlencoded",
    "text/plain",
    "",
];

/// Field names the flows read.
const FIELDS: &[&str] = &[
    "method",
    "csrf_token",
    "identifier",
    "password",
    "traits.email",
    "traits.name",
    "totp_code",
    "lookup_secret",
    "email",
    "code",
    "webauthn_register",
    "webauthn_login",
    "webauthn_remove",
];

fn default_schema() -> Schema {
    Schema::compile(
        "default",
        serde_json::from_str(DEFAULT_SCHEMA).expect("default schema"),
    )
    .expect("default schema compiles")
}

/// A recovery flow waiting for the code `CODE` or the link token `a…a`.
fn armed_flow() -> Flow {
    serde_json::from_value(json!({
        "id": FLOW_ID, "kind": "recovery", "flow_type": "browser",
        "issued_at": 0, "expires_at": 3600, "request_url": "", "return_to": null,
        "csrf_hash": null, "state": "sent_email", "messages": [],
        "code_hash": code::digest(FLOW_ID, CODE), "code_expires_at": 3600,
        "link_hash": code::digest(FLOW_ID, &"a".repeat(recovery_link::TOKEN_LEN)),
    }))
    .expect("flow")
}

/// What the flows read from a parsed submission, as the fuzz target does; checks the bounds.
fn exercise(sub: &Submission, schema: &Schema) -> Result<(), TestCaseError> {
    prop_assert!(sub.fields.len() <= MAX_FIELDS);
    for (k, v) in &sub.fields {
        prop_assert!(k.len() <= MAX_NAME);
        prop_assert!(v.len() <= MAX_VALUE || webauthn::CREDENTIAL_FIELDS.contains(&k.as_str()));
    }
    let traits = sub.traits(&schema.form_fields());
    if schema.validate(&traits).is_ok() {
        prop_assert!(traits.is_object());
    }
    for m in schema.marked(&traits) {
        let _ = normalize_identifier(&m.value);
    }
    let mut flow = armed_flow();
    if let Some(email) = code::submitted_email(&mut flow, sub.get("email")) {
        prop_assert!(email.contains('@') && email.len() <= 320);
    }
    if let Some(c) = sub.get("code") {
        let _ = recovery_link::matches(&flow, c);
        let checked = code::check(&mut flow, c, 0);
        prop_assert!(checked != code::Check::Valid || c.trim() == CODE);
    }
    let bounded = |raw: &str| !raw.is_empty() && raw.len() <= webauthn::MAX_CREDENTIAL_JSON;
    if let Some(raw) = sub.get("webauthn_register") {
        prop_assert!(webauthn::parse_registration(raw).is_err() || bounded(raw));
    }
    if let Some(raw) = sub.get("webauthn_login") {
        prop_assert!(webauthn::parse_assertion(raw).is_err() || bounded(raw));
    }
    Ok(())
}

/// Pieces of gateway templates, joined in any order.
const TEMPLATE_PARTS: &[&str] = &[
    "{{",
    "}}",
    "{{- ",
    " -}}",
    " ",
    "(",
    ")",
    "print",
    "printf",
    "index",
    "\"%s\"",
    "\"%d %q\"",
    "\"%v%t%%\"",
    "\"%\"",
    "`x`",
    "\"",
    "0",
    "1",
    "-1",
    "99999999999999999999",
    "true",
    ".Subject",
    ".Extra",
    ".Extra.a",
    ".Extra.roles",
    ".email",
    ".MatchContext.URL.Path",
    ".",
    "..",
    "|",
    "$x",
    "/*",
    "*/",
    "é",
    "text",
];

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        ".{0,40}".prop_map(Value::String),
        prop::sample::select(FIELDS).prop_map(|f| json!(f)),
    ];
    leaf.prop_recursive(5, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    prop::sample::select(FIELDS).prop_map(str::to_owned),
                    Just("traits".to_owned()),
                    ".{0,12}"
                ],
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Identity schemas built from the keywords real ones use, with arbitrary values in places.
fn arb_schema() -> impl Strategy<Value = Value> {
    let fixed = prop::sample::select(vec![
        json!({"type": "string", "format": "email",
            "ory.sh/kratos": {"credentials": {"password": {"identifier": true}},
                "verification": {"via": "email"}, "recovery": {"via": "email"}}}),
        json!({"type": "string", "minLength": 1, "maxLength": 64}),
        json!({"type": "integer", "minimum": 0}),
        json!({"type": "boolean"}),
        json!({"type": "array", "items": {"type": "string",
            "ory.sh/kratos": {"credentials": {"webauthn": {"identifier": true}}}}}),
        json!({"type": "object", "properties": {"first": {"type": "string"}}}),
        json!({"$ref": "http://schemas.example/remote.json"}),
        json!({"$ref": "#/definitions/missing"}),
    ]);
    let property = prop_oneof![
        fixed,
        "[a-z.*+?()\\[\\]{}|^$\\\\]{0,12}".prop_map(|p| json!({"type": "string", "pattern": p})),
        ".{0,12}".prop_map(|f| json!({"type": "string", "format": f})),
        arb_json(),
    ];
    (
        prop::collection::btree_map("[a-z~/]{1,8}", property, 0..5),
        prop::collection::vec("[a-z]{1,8}", 0..3),
    )
        .prop_map(|(props, required)| {
            json!({
                "$id": "https://schemas.example/fuzz.json",
                "$schema": "http://json-schema.org/draft-07/schema#",
                "type": "object",
                "properties": {"traits": {"type": "object", "properties": props, "required": required}},
            })
        })
}

fn urlencoded(pairs: &[(String, String)]) -> Vec<u8> {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish().into_bytes()
}

proptest! {
    /// Any bytes under any content type: parsed within the bounds or refused, never a panic.
    #[test]
    fn submission_bytes_never_panic(
        ct in prop::sample::select(CONTENT_TYPES),
        body in prop::collection::vec(any::<u8>(), 0..2048),
    ) {
        if let Ok(sub) = Submission::parse(ct, &body) {
            exercise(&sub, &default_schema())?;
        }
    }

    /// JSON bodies of any shape, with the field names the flows read.
    #[test]
    fn json_submissions_never_panic(v in arb_json()) {
        let body = serde_json::to_vec(&v).expect("json");
        match Submission::parse("application/json", &body) {
            Ok(sub) => exercise(&sub, &default_schema())?,
            Err(_) => prop_assert!(!v.as_object().is_some_and(|m| m.is_empty()), "an empty object is a valid body"),
        }
        if !v.is_object() {
            prop_assert!(Submission::parse("application/json", &body).is_err(), "only objects");
        }
    }

    /// Forms with the flows' field names and arbitrary values.
    #[test]
    fn form_submissions_never_panic(
        pairs in prop::collection::vec(
            (prop_oneof![prop::sample::select(FIELDS).prop_map(str::to_owned), ".{0,200}"], ".{0,300}"),
            0..80,
        ),
    ) {
        match Submission::parse("application/x-www-form-urlencoded", &urlencoded(&pairs)) {
            Ok(sub) => exercise(&sub, &default_schema())?,
            Err(_) => prop_assert!(
                pairs.len() > MAX_FIELDS || pairs.iter().any(|(k, v)| k.len() > MAX_NAME || v.len() > MAX_VALUE)
            ),
        }
    }

    /// Any traits against the default schema; what validates fits the size bound.
    #[test]
    fn default_schema_traits_never_panic(traits in arb_json()) {
        let schema = default_schema();
        if schema.validate(&traits).is_ok() {
            prop_assert!(serde_json::to_vec(&traits).expect("json").len() <= MAX_TRAITS_BYTES);
        }
        for m in schema.marked(&traits) {
            prop_assert!(traits.pointer(&m.role.pointer).is_some());
        }
    }

    /// Gateway templates (Go's `index`, `printf`, parentheses) from odd parts parse or are
    /// refused, and what parses renders over any `.Extra`, also as JSON.
    #[test]
    fn gateway_templates_never_panic(
        parts in prop::collection::vec(prop::sample::select(TEMPLATE_PARTS), 0..24),
        extra in arb_json(),
    ) {
        use gatehouse::gateway::template::{Context, Escape, Template};
        let text: String = parts.concat();
        if let Ok(t) = Template::parse(&text) {
            let _ = t.render("subject", &extra);
            let ctx = Context { subject: "s\"", extra: &extra, method: "GET", scheme: "https", host: "h", uri: "/p?q#f" };
            let mut out = String::new();
            t.render_into(&mut out, &ctx, Escape::Json);
        }
    }

    /// Schemas from odd parts compile or are refused, and then validate any traits.
    #[test]
    fn schemas_from_input_never_panic(raw in arb_schema(), traits in arb_json()) {
        if let Ok(schema) = Schema::compile("fuzz", raw) {
            let _ = schema.validate(&traits);
            for m in schema.marked(&traits) {
                prop_assert!(traits.pointer(&m.role.pointer).is_some());
            }
            let _ = schema.form_fields();
        }
    }
}

#[test]
fn hostile_submission_bodies_are_refused() {
    let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_obj = format!("{}1{}", "{\"a\":".repeat(20), "}".repeat(20));
    let many: String = (0..MAX_FIELDS + 1)
        .map(|i| format!("f{i}=x"))
        .collect::<Vec<_>>()
        .join("&");
    let long_name = format!("{}=x", "n".repeat(MAX_NAME + 1));
    let long_value = format!("password={}", "v".repeat(MAX_VALUE + 1));
    let refused: &[(&str, &[u8])] = &[
        ("application/json", deep.as_bytes()),
        ("application/json", deep_obj.as_bytes()),
        ("application/json", b"[1,2,3]"),
        ("application/json", br#"{"traits": {"tags": ["a"]}}"#),
        ("application/json", b"\xff\xfe{}"),
        ("application/json", b""),
        ("application/x-www-form-urlencoded", many.as_bytes()),
        ("application/x-www-form-urlencoded", long_name.as_bytes()),
        ("application/x-www-form-urlencoded", long_value.as_bytes()),
        ("text/plain", b"method=password"),
        ("", b"{}"),
    ];
    for (ct, body) in refused {
        assert!(
            Submission::parse(ct, body).is_err(),
            "{ct}: {:?} should be refused",
            String::from_utf8_lossy(&body[..body.len().min(40)])
        );
    }
    // Invalid UTF-8 in a form is decoded lossily, as browsers' forms are.
    let sub =
        Submission::parse("application/x-www-form-urlencoded", b"a=%ff%fe&b=%").expect("form");
    assert_eq!(sub.get("a"), Some("\u{fffd}\u{fffd}"));
    // What is accepted comes through as the flows expect it.
    let sub = Submission::parse(
        "application/json; charset=utf-8",
        br#"{"method": "password", "traits": {"email": "A@Example.com"}, "remember": true, "n": 2, "x": null}"#,
    )
    .expect("a nested object");
    assert_eq!(sub.get("traits.email"), Some("A@Example.com"));
    assert_eq!(sub.get("remember"), Some("true"));
    assert_eq!(sub.get("n"), Some("2"));
    assert_eq!(sub.get("x"), None);
    let sub = Submission::parse(
        "application/x-www-form-urlencoded",
        b"method=code&email=+Someone%40Example.COM+&code=12+34",
    )
    .expect("a form");
    let mut flow = armed_flow();
    assert_eq!(
        code::submitted_email(&mut flow, sub.get("email")).as_deref(),
        Some("someone@example.com")
    );
    assert_eq!(
        code::check(&mut flow, sub.get("code").unwrap_or_default(), 0),
        code::Check::Invalid
    );
}

#[test]
fn hostile_credentials_and_traits_are_refused() {
    let oversized = "x".repeat(webauthn::MAX_CREDENTIAL_JSON + 1);
    for raw in ["", "{", "null", "[]", r#"{"id": 1}"#, oversized.as_str()] {
        assert!(webauthn::parse_registration(raw).is_err(), "{raw:.40}");
        assert!(webauthn::parse_assertion(raw).is_err(), "{raw:.40}");
    }
    let schema = default_schema();
    let huge = json!({"email": "a@example.com", "name": "n".repeat(MAX_TRAITS_BYTES)});
    assert!(schema.validate(&huge).is_err(), "oversized traits");
    assert!(schema.validate(&json!("a string")).is_err());
    assert!(
        schema
            .validate(&json!({"email": "not an address"}))
            .is_err()
    );
    assert!(
        schema
            .validate(&json!({"email": "a@example.com", "name": "Ann"}))
            .is_ok()
    );
    // A remote `$ref` is never fetched.
    let remote =
        json!({"type": "object", "properties": {"traits": {"$ref": "http://127.0.0.1:9/x.json"}}});
    if let Ok(s) = Schema::compile("remote", remote) {
        let _ = s.validate(&json!({}));
    }
}
