//! The gateway's request matching from untrusted input: forwarded method, host and path
//! (`X-Forwarded-Method|Host|Uri`) against a fixed rule set, and rules documents themselves.
//! Never panics; a matched path is always canonical (no dot segments, no encoded slash).
#![no_main]

use gatehouse_protocol::access_rule::{Strategy, canonical_path, parse_rules};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let rules = serde_json::json!([
        {"id": "pub", "match": {"url": "http://app.example.com/public/<.*>", "methods": ["GET"]},
         "authenticators": [{"handler": "anonymous"}], "authorizer": {"handler": "allow"}},
        {"id": "glob", "match": {"url": "http://app.example.com/files/<*>"},
         "authenticators": [{"handler": "noop"}], "authorizer": {"handler": "allow"}}
    ]);
    let regexp = parse_rules(rules.clone(), Strategy::Regexp).expect("fixed rules");
    let glob = parse_rules(rules, Strategy::Glob).expect("fixed rules");
    let mut parts = s.splitn(3, '\n');
    let (m, h, p) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    for set in [&regexp, &glob] {
        let _ = set.find(m, "http", h, p);
    }
    if let Ok(c) = canonical_path(p) {
        assert!(!c.split('/').any(|seg| seg == ".." || seg == "."));
        assert!(!c.to_ascii_lowercase().contains("%2f"));
    }
    if let Ok(doc) = serde_json::from_str(s) {
        let _ = parse_rules(doc, Strategy::Regexp);
        let _ = parse_rules(serde_json::from_str(s).unwrap_or_default(), Strategy::Glob);
    }
});
