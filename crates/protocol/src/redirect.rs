//! Redirect URIs: exact matching (RFC 9700 §4.1.3) with the one exception of RFC 8252 §7.3 —
//! a native client's loopback redirect may use any port.

use url::Url;

pub const MAX_URI_LEN: usize = 2048;

fn is_loopback_host(host: Option<url::Host<&str>>) -> bool {
    match host {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Whether `requested` may be used as a redirect for a client that registered `registered`.
pub fn matches(registered: &[String], requested: &str) -> bool {
    if requested.len() > MAX_URI_LEN {
        return false;
    }
    if registered.iter().any(|r| r == requested) {
        return true;
    }
    let Ok(req) = Url::parse(requested) else {
        return false;
    };
    if req.scheme() != "http" || !is_loopback_host(req.host()) {
        return false;
    }
    registered
        .iter()
        .filter_map(|r| Url::parse(r).ok())
        .any(|reg| {
            reg.scheme() == "http"
                && is_loopback_host(reg.host())
                && reg.host_str() == req.host_str()
                && reg.path() == req.path()
                && reg.query() == req.query()
                && req.fragment().is_none()
                && req.username().is_empty()
                && req.password().is_none()
        })
}

/// Checks a redirect URI at client registration: absolute, no fragment, and HTTPS unless it is a
/// loopback address or a private-use scheme of a native app (RFC 8252 §7.1).
pub fn validate_registration(uri: &str) -> Result<(), String> {
    if uri.len() > MAX_URI_LEN {
        return Err(format!(
            "redirect URI is longer than {MAX_URI_LEN} characters"
        ));
    }
    let url =
        Url::parse(uri).map_err(|e| format!("redirect URI {uri:?} is not an absolute URI: {e}"))?;
    if url.fragment().is_some() {
        return Err(format!("redirect URI {uri:?} must not contain a fragment"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_host(url.host()) => Ok(()),
        "http" => Err(format!(
            "redirect URI {uri:?} must use https unless it is a loopback address"
        )),
        "javascript" | "data" | "file" | "vbscript" => {
            Err(format!("redirect URI scheme of {uri:?} is not allowed"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_match_only_except_loopback_port() {
        let reg = vec![
            "https://app.example.com/cb".to_owned(),
            "http://127.0.0.1/cb".to_owned(),
        ];
        assert!(matches(&reg, "https://app.example.com/cb"));
        assert!(!matches(&reg, "https://app.example.com/cb/"));
        assert!(!matches(&reg, "https://app.example.com/cb?x=1"));
        assert!(!matches(&reg, "https://APP.example.com:443/cb"));
        assert!(matches(&reg, "http://127.0.0.1:53123/cb"));
        assert!(!matches(&reg, "http://127.0.0.1:53123/other"));
        assert!(!matches(&reg, "http://127.0.0.2.evil.com:1/cb"));
    }

    #[test]
    fn registration_rules() {
        assert!(validate_registration("https://a.example/cb").is_ok());
        assert!(validate_registration("http://localhost:3000/cb").is_ok());
        assert!(validate_registration("com.example.app:/cb").is_ok());
        assert!(validate_registration("http://a.example/cb").is_err());
        assert!(validate_registration("https://a.example/cb#x").is_err());
        assert!(validate_registration("/relative").is_err());
        assert!(validate_registration("javascript:alert(1)").is_err());
    }
}
