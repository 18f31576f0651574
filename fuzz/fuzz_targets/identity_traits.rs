//! Identity traits against identity schemas (`identity::schema`): the input, as JSON, is
//! validated as traits against the built-in default schema; and when it is an object
//! `{"schema": …, "traits": …}`, the schema is compiled (no remote `$ref`s) and the traits are
//! validated against it, with the trait roles (`ory.sh/kratos`) and form fields read from it.
//! Never panics; traits that validate fit the size bound, and every marked value is in them.
#![no_main]

use gatehouse::identity::model::normalize_identifier;
use gatehouse::identity::schema::{DEFAULT_SCHEMA, MAX_TRAITS_BYTES, Schema};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn check(schema: &Schema, traits: &Value) {
    if schema.validate(traits).is_ok() {
        let size = serde_json::to_vec(traits).map(|v| v.len()).unwrap_or(usize::MAX);
        assert!(size <= MAX_TRAITS_BYTES);
    }
    for m in schema.marked(traits) {
        assert!(traits.pointer(&m.role.pointer).is_some());
        let _ = normalize_identifier(&m.value);
    }
    let _ = schema.form_fields();
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let default = Schema::compile(
        "default",
        serde_json::from_str(DEFAULT_SCHEMA).expect("default schema"),
    )
    .expect("default schema compiles");
    check(&default, &input);
    if let (Some(raw), Some(traits)) = (input.get("schema"), input.get("traits"))
        && let Ok(schema) = Schema::compile("fuzz", raw.clone())
    {
        check(&schema, traits);
    }
});
