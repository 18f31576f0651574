//! The forwarded-header reader (`X-Forwarded-Method|Proto|Host|Uri`, as the decision API and the
//! proxy read them) and the upstream URL join, from untrusted bytes. Never panics; what it
//! accepts is normalised, and a joined URL keeps the upstream's host.
#![no_main]

use gatehouse_protocol::forward;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(4, |b| *b == b'\n');
    let (m, p, h, u) = (parts.next(), parts.next(), parts.next(), parts.next());
    let f = forward::parse(&forward::ForwardedHeaders {
        method: m,
        proto: p,
        host: h,
        uri: u,
        own_method: "GET",
        own_host: Some(b"fallback.example.com"),
        own_uri: "/",
    });
    if let Ok(f) = f {
        assert!(f.method.bytes().all(|b| b.is_ascii_uppercase()));
        assert!(f.scheme == "http" || f.scheme == "https");
        assert!(!f.host.contains(['/', '@', ' ', '?', '#']));
        assert!(f.uri.starts_with('/'));
        if let Ok(url) = forward::upstream_uri("http://127.0.0.1:8080/base", Some("/api"), &f.uri) {
            assert!(url.starts_with("http://127.0.0.1:8080/base/"));
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = forward::upstream_uri(s, Some(s), s);
        let _ = forward::is_hop_by_hop(s, Some(s));
        let _ = forward::wants_websocket(Some(s), Some(s));
    }
});
