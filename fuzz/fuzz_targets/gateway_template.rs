//! The gateway's templates (a rules file's header, cookie, `remote_json` and `id_token`
//! templates: Go's `print`, `printf`, `index`, parentheses) parsed from any text and rendered
//! over any `.Extra`, plain and JSON-escaped. Never panics.
#![no_main]

use gatehouse::gateway::template::{Context, Escape, Template};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let (tpl, extra) = s.split_once('\n').unwrap_or((s, "null"));
    let extra: serde_json::Value = serde_json::from_str(extra).unwrap_or_default();
    let Ok(t) = Template::parse(tpl) else {
        return;
    };
    let _ = t.render("subject", &extra);
    let ctx = Context {
        subject: "s\"}",
        extra: &extra,
        method: "GET",
        scheme: "https",
        host: "h",
        uri: "/p?q=1",
    };
    let mut out = String::new();
    t.render_into(&mut out, &ctx, Escape::Json);
    let _ = t.probe_json();
});
