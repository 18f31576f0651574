//! The one check of a `return_to` URL, used by the self-service flows, their logout URL and the
//! built-in pages alike: an http(s) URL (relative ones resolve against the issuer) whose origin
//! is the issuer's, or whose scheme, host and port equal those of an entry of
//! `selfservice.allowed_return_urls` and whose path is that entry's path or lies below it on a
//! segment boundary (`/after` allows `/after` and `/after/x`, never `/afterwards`). A string
//! prefix is never enough: `https://app.example.com` must not allow
//! `https://app.example.com.evil.example/`.
//!
//! The answer is the parsed URL, and callers redirect to its serialisation, never to the raw
//! input: a browser and an RFC 3986 client can read one raw string as two different hosts
//! (`http://issuer\@other/`), while the serialised URL means the same to both.

use url::Url;

/// `raw` as an allowed return URL, or `None`.
pub fn allowed(issuer: &str, allowed_return_urls: &[String], raw: &str) -> Option<Url> {
    let issuer = Url::parse(issuer).ok()?;
    let url = issuer.join(raw.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host().is_none()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return None;
    }
    if url.origin() == issuer.origin() {
        return Some(url);
    }
    allowed_return_urls
        .iter()
        .filter_map(|a| Url::parse(a).ok())
        .any(|a| under(&a, &url))
        .then_some(url)
}

/// Whether `url` is on `entry`'s origin and at or below its path, on a segment boundary.
fn under(entry: &Url, url: &Url) -> bool {
    if !matches!(entry.scheme(), "http" | "https") || entry.origin() != url.origin() {
        return false;
    }
    let prefix = entry.path().trim_end_matches('/');
    prefix.is_empty() || url.path() == prefix || url.path().starts_with(&format!("{prefix}/"))
}

#[cfg(test)]
mod tests {
    use super::allowed;

    const ISSUER: &str = "http://127.0.0.1:8444";

    fn check(entries: &[&str], raw: &str) -> Option<String> {
        let entries: Vec<String> = entries.iter().map(|s| (*s).to_owned()).collect();
        allowed(ISSUER, &entries, raw).map(|u| u.to_string())
    }

    #[test]
    fn return_to_prefix_lookalike_host_is_refused() {
        let entry = ["https://app.example.com"];
        for raw in [
            "https://app.example.com.evil.example/",
            "https://app.example.com@evil.example/",
            "https://app.example.com:1@evil.example/",
            "https://app.example.comevil.example/",
            "https://app.example.com:8443/",
            "http://app.example.com/",
            "https://user@app.example.com/",
            "javascript:alert(1)",
            "//evil.example/",
            "/\\evil.example/",
        ] {
            assert_eq!(check(&entry, raw), None, "{raw}");
        }
        assert_eq!(
            check(&entry, "https://app.example.com/x").as_deref(),
            Some("https://app.example.com/x")
        );
        assert_eq!(
            check(&entry, "https://APP.example.com:443").as_deref(),
            Some("https://app.example.com/")
        );
    }

    #[test]
    fn return_to_path_prefix_needs_a_segment_boundary() {
        let entry = ["https://app.example.com/after"];
        assert!(check(&entry, "https://app.example.com/after").is_some());
        assert!(check(&entry, "https://app.example.com/after/x?y=1").is_some());
        assert!(check(&entry, "https://app.example.com/afterwards").is_none());
        assert!(check(&entry, "https://app.example.com/after/../evil").is_none());
        assert!(check(&entry, "https://app.example.com/after%2F..%2Fevil").is_none());
        assert!(check(&entry, "https://app.example.com/").is_none());
    }

    #[test]
    fn return_to_backslash_userinfo_is_reserialised() {
        // WHATWG reads the host as the issuer's; RFC 3986 clients would read `other`. The
        // answer is the serialised URL, which both read the same way.
        let got = check(&[], "http://127.0.0.1:8444\\@127.0.0.1:8477/via-curl");
        assert_eq!(
            got.as_deref(),
            Some("http://127.0.0.1:8444/@127.0.0.1:8477/via-curl")
        );
        assert_eq!(
            check(&[], "/ui/welcome\r\n").as_deref(),
            Some("http://127.0.0.1:8444/ui/welcome")
        );
    }
}
