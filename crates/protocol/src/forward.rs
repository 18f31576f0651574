//! The pure parts of passing a request on: reading the `X-Forwarded-*` headers a gateway in
//! front sends to the decision API, the upstream URI of a proxied request under a rule's
//! `upstream`, and which headers never cross a proxy (RFC 9110 §7.6.1).
//!
//! Everything here works on plain strings, so it is fuzzed (`fuzz/fuzz_targets/forwarded.rs`)
//! and property-tested without a server.

/// Longest forwarded header value read; a longer one is refused, not truncated.
pub const MAX_FORWARDED_LEN: usize = 8192;

/// Hop-by-hop headers: about one connection, removed in both directions (with every header the
/// `Connection` header names).
pub const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The request a gateway in front saw, as its forwarded headers tell it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarded {
    /// Upper-case method.
    pub method: String,
    /// `http` or `https`.
    pub scheme: String,
    pub host: String,
    /// Path and query, starting with `/`.
    pub uri: String,
}

/// The raw values: `X-Forwarded-Method`, `-Proto`, `-Host`, `-Uri`, and the fallbacks (this
/// request's own method, `Host` and path).
#[derive(Debug, Default, Clone, Copy)]
pub struct ForwardedHeaders<'a> {
    pub method: Option<&'a [u8]>,
    pub proto: Option<&'a [u8]>,
    pub host: Option<&'a [u8]>,
    pub uri: Option<&'a [u8]>,
    pub own_method: &'a str,
    pub own_host: Option<&'a [u8]>,
    pub own_uri: &'a str,
}

fn text<'a>(name: &str, v: Option<&'a [u8]>) -> Result<Option<&'a str>, String> {
    match v {
        None => Ok(None),
        Some(v) if v.len() > MAX_FORWARDED_LEN => Err(format!("{name} is too long")),
        Some(v) => std::str::from_utf8(v)
            .ok()
            .filter(|s| s.chars().all(|c| !c.is_control()))
            .map(|s| Some(s.trim()))
            .ok_or_else(|| format!("{name} is not text")),
    }
}

/// A method is a short run of letters; its case is normalised (`gEt` is `GET`), so a rule for
/// `GET` cannot be side-stepped by case.
pub fn method(m: &str) -> Option<String> {
    (!m.is_empty() && m.len() <= 16 && m.bytes().all(|b| b.is_ascii_alphabetic()))
        .then(|| m.to_ascii_uppercase())
}

/// A host is a DNS name or IP literal with an optional port: no spaces, slashes, `@` or other
/// characters that would change what a rule's URL pattern sees.
pub fn host(h: &str) -> bool {
    h.len() <= 255
        && h.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']' | b'_')
        })
}

/// Reads the forwarded request; a malformed part is an error naming the header.
pub fn parse(h: &ForwardedHeaders<'_>) -> Result<Forwarded, String> {
    let method = match text("X-Forwarded-Method", h.method)? {
        Some(m) => m,
        None => h.own_method,
    };
    let method = self::method(method).ok_or("X-Forwarded-Method is not a method")?;
    let scheme = text("X-Forwarded-Proto", h.proto)?
        .unwrap_or("http")
        .to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err("X-Forwarded-Proto is neither http nor https".into());
    }
    let host = match text("X-Forwarded-Host", h.host)? {
        Some(v) => v,
        None => text("Host", h.own_host)?.unwrap_or_default(),
    };
    if !self::host(host) {
        return Err("X-Forwarded-Host is not a host".into());
    }
    let uri = match text("X-Forwarded-Uri", h.uri)? {
        Some(u) => u.to_owned(),
        None => h.own_uri.to_owned(),
    };
    if !uri.starts_with('/') || uri.chars().any(|c| c == ' ') {
        return Err("X-Forwarded-Uri is not a path".into());
    }
    Ok(Forwarded {
        method,
        scheme,
        host: host.to_ascii_lowercase(),
        uri,
    })
}

/// The upstream URI for a request: the upstream's scheme and authority, its path joined with
/// the request's path (after removing `strip_path` when the path starts with it at a segment
/// boundary), and the request's query. Oathkeeper's joining, with the strip anchored at the
/// start of the path.
pub fn upstream_uri(
    upstream: &str,
    strip_path: Option<&str>,
    path_and_query: &str,
) -> Result<String, String> {
    let (scheme, rest) = upstream
        .split_once("://")
        .ok_or("the upstream URL has no scheme")?;
    if scheme != "http" && scheme != "https" {
        return Err(format!("the upstream scheme {scheme} is not http or https"));
    }
    let (authority, base) = match rest.find(['/', '?', '#']) {
        Some(i) => (&rest[..i], rest[i..].split(['?', '#']).next().unwrap_or("")),
        None => (rest, ""),
    };
    if authority.is_empty() || !host(authority) {
        return Err("the upstream URL has no valid host".into());
    }
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    let mut path = path;
    if let Some(strip) = strip_path
        .map(|s| s.trim_end_matches('/'))
        .filter(|s| !s.is_empty())
    {
        let strip = if strip.starts_with('/') {
            strip.to_owned()
        } else {
            format!("/{strip}")
        };
        if let Some(rest) = path.strip_prefix(strip.as_str())
            && (rest.is_empty() || rest.starts_with('/'))
        {
            path = rest;
        }
    }
    let base = base.trim_end_matches('/');
    let path = path.trim_start_matches('/');
    let mut out = format!("{scheme}://{authority}{base}/{path}");
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    Ok(out)
}

/// The upstream's `host[:port]`.
pub fn upstream_authority(upstream: &str) -> Option<&str> {
    let rest = upstream.split_once("://")?.1;
    Some(rest.split(['/', '?', '#']).next().unwrap_or(rest))
}

/// Whether a header is hop-by-hop given the request's `Connection` header value.
pub fn is_hop_by_hop(name: &str, connection: Option<&str>) -> bool {
    HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h))
        || connection.is_some_and(|c| c.split(',').any(|t| t.trim().eq_ignore_ascii_case(name)))
}

/// Whether the request asks to switch to WebSocket (`Connection: upgrade`, `Upgrade: websocket`).
pub fn wants_websocket(connection: Option<&str>, upgrade: Option<&str>) -> bool {
    connection.is_some_and(|c| {
        c.split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
    }) && upgrade.is_some_and(|u| {
        u.split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("websocket"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fwd(method: &str, host: &str, uri: &str) -> Result<Forwarded, String> {
        parse(&ForwardedHeaders {
            method: Some(method.as_bytes()),
            proto: Some(b"https"),
            host: Some(host.as_bytes()),
            uri: Some(uri.as_bytes()),
            own_method: "GET",
            own_host: None,
            own_uri: "/",
        })
    }

    #[test]
    fn forwarded_headers_are_read_and_normalised() {
        let f = fwd("pOsT", "App.Example.com:8443", "/a?b=1").expect("valid");
        assert_eq!(f.method, "POST");
        assert_eq!(f.host, "app.example.com:8443");
        assert_eq!(f.scheme, "https");
        assert_eq!(f.uri, "/a?b=1");
        let own = parse(&ForwardedHeaders {
            own_method: "delete",
            own_host: Some(b"h"),
            own_uri: "/x",
            ..Default::default()
        })
        .expect("valid");
        assert_eq!(
            (own.method.as_str(), own.host.as_str(), own.uri.as_str()),
            ("DELETE", "h", "/x")
        );
    }

    #[test]
    fn malformed_forwarded_headers_are_refused() {
        assert!(fwd("GE T", "h", "/").is_err());
        assert!(fwd("GET", "h/evil", "/").is_err());
        assert!(fwd("GET", "user@h", "/").is_err());
        assert!(fwd("GET", "h", "relative").is_err());
        assert!(fwd("GET", "h", "/a b").is_err());
        assert!(fwd("GET", "h\x01", "/").is_err());
        assert!(fwd("GET", "h", &format!("/{}", "a".repeat(9000))).is_err());
        let bad_proto = parse(&ForwardedHeaders {
            proto: Some(b"gopher"),
            own_method: "GET",
            own_uri: "/",
            ..Default::default()
        });
        assert!(bad_proto.is_err());
        let not_utf8 = parse(&ForwardedHeaders {
            uri: Some(b"/\xff"),
            own_method: "GET",
            own_uri: "/",
            ..Default::default()
        });
        assert!(not_utf8.is_err());
    }

    #[test]
    fn upstream_uris_join_paths_like_oathkeeper() {
        let u = |up, strip, pq| upstream_uri(up, strip, pq).expect("valid");
        assert_eq!(
            u("http://127.0.0.1:8080", None, "/a/b?c=d"),
            "http://127.0.0.1:8080/a/b?c=d"
        );
        assert_eq!(u("http://up:1/base/", None, "/a"), "http://up:1/base/a");
        assert_eq!(
            u("http://up:1/base", Some("/api"), "/api/v1?x"),
            "http://up:1/base/v1?x"
        );
        assert_eq!(u("http://up:1", Some("api/"), "/api"), "http://up:1/");
        // Only a whole leading segment is stripped.
        assert_eq!(
            u("http://up:1", Some("/api"), "/apix/v1"),
            "http://up:1/apix/v1"
        );
        assert_eq!(
            u("http://up:1", Some("/api"), "/v1/api"),
            "http://up:1/v1/api"
        );
        assert_eq!(u("https://up", None, "/x"), "https://up/x");
        assert!(upstream_uri("ftp://up", None, "/").is_err());
        assert!(upstream_uri("up:80", None, "/").is_err());
        assert!(upstream_uri("http://", None, "/").is_err());
        assert!(upstream_uri("http://a@b/", None, "/").is_err());
        assert_eq!(upstream_authority("http://up:1/x"), Some("up:1"));
    }

    #[test]
    fn hop_by_hop_headers_include_those_connection_names() {
        assert!(is_hop_by_hop("Transfer-Encoding", None));
        assert!(is_hop_by_hop(
            "x-secret-hop",
            Some("keep-alive, X-Secret-Hop")
        ));
        assert!(!is_hop_by_hop("x-user-id", Some("close")));
        assert!(wants_websocket(
            Some("keep-alive, Upgrade"),
            Some("websocket")
        ));
        assert!(!wants_websocket(Some("close"), Some("websocket")));
        assert!(!wants_websocket(Some("upgrade"), Some("h2c")));
    }
}
