//! `serve.public.cors` (Hydra's and Kratos's key names and meanings): which browser origins may
//! call the public listener from script (single-page apps, MCP Inspector). Off by default.
//! Checked at load: a wildcard origin never goes with credentials, and every origin is a bare
//! `scheme://host[:port]` (one `*` allowed in the host, as in `https://*.example.com`).

use serde::{Deserialize, Serialize};

use super::{ConfigError, Dur, key_err};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Cors {
    pub enabled: bool,
    /// Origins allowed to call; `*` is any origin (then without credentials).
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    /// Request headers a script may send.
    pub allowed_headers: Vec<String>,
    /// Response headers a script may read.
    pub exposed_headers: Vec<String>,
    /// Whether cookies and `Authorization` are sent cross-origin (never with `*` origins).
    pub allow_credentials: bool,
    /// How long a browser may cache a preflight answer; 0: not sent.
    pub max_age: Dur,
    /// Accepted for Hydra configuration files; Gatehouse logs through `log.level`.
    pub debug: bool,
}

impl Default for Cors {
    fn default() -> Self {
        let v = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect();
        Cors {
            enabled: false,
            allowed_origins: v(&["*"]),
            allowed_methods: v(&["GET", "POST", "PUT", "PATCH", "DELETE"]),
            allowed_headers: v(&["Authorization", "Content-Type", "Accept", "X-Session-Token"]),
            exposed_headers: v(&["Content-Type", "Cache-Control", "WWW-Authenticate"]),
            allow_credentials: false,
            max_age: Dur(std::time::Duration::ZERO),
            debug: false,
        }
    }
}

impl Cors {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.enabled {
            return Ok(());
        }
        let key = |k: &str| format!("serve.public.cors.{k}");
        if self.allowed_origins.is_empty() {
            return Err(key_err(
                &key("allowed_origins"),
                "must list at least one origin",
            ));
        }
        let any = self.allowed_origins.iter().any(|o| o == "*");
        if any && self.allowed_origins.len() > 1 {
            return Err(key_err(&key("allowed_origins"), "\"*\" must stand alone"));
        }
        if any && self.allow_credentials {
            return Err(key_err(
                &key("allow_credentials"),
                "cannot be true with allowed_origins [\"*\"]: list the origins that may send credentials",
            ));
        }
        for (i, o) in self.allowed_origins.iter().enumerate() {
            if o != "*" && !origin_pattern_ok(o) {
                return Err(key_err(
                    &format!("serve.public.cors.allowed_origins[{i}]"),
                    format!(
                        "{o:?} is not an origin (scheme://host[:port], at most one * in the host)"
                    ),
                ));
            }
        }
        for (i, m) in self.allowed_methods.iter().enumerate() {
            if axum::http::Method::from_bytes(m.as_bytes()).is_err() || m == "*" {
                return Err(key_err(
                    &format!("serve.public.cors.allowed_methods[{i}]"),
                    format!("{m:?} is not an HTTP method"),
                ));
            }
        }
        for (k, list) in [
            ("allowed_headers", &self.allowed_headers),
            ("exposed_headers", &self.exposed_headers),
        ] {
            for (i, h) in list.iter().enumerate() {
                if axum::http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                    return Err(key_err(
                        &format!("serve.public.cors.{k}[{i}]"),
                        format!("{h:?} is not a header name"),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `scheme://host[:port]` with an http(s) scheme, no path, and at most one `*` in the host.
fn origin_pattern_ok(o: &str) -> bool {
    let Some((scheme, rest)) = o.split_once("://") else {
        return false;
    };
    if !matches!(scheme, "http" | "https") || rest.is_empty() || rest.contains('/') {
        return false;
    }
    if rest.matches('*').count() > 1 || rest.contains(['@', '?', '#', ' ']) {
        return false;
    }
    url::Url::parse(&format!("{scheme}://{}", rest.replace('*', "wildcard"))).is_ok()
}

/// Whether `origin` (as a browser sends it) is one of `patterns` (exact, or `*` standing for
/// one or more characters of the host that contain no `.`-free trickery: it matches within the
/// host only, never across `:` or `/`).
pub fn origin_allowed(patterns: &[String], origin: &str) -> bool {
    patterns.iter().any(|p| {
        if p == "*" {
            return true;
        }
        match p.split_once('*') {
            None => p.eq_ignore_ascii_case(origin),
            Some((pre, post)) => {
                origin.len() > pre.len() + post.len()
                    && origin[..pre.len()].eq_ignore_ascii_case(pre)
                    && origin[origin.len() - post.len()..].eq_ignore_ascii_case(post)
                    && !origin[pre.len()..origin.len() - post.len()].contains([':', '/', '@'])
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors(origins: &[&str], credentials: bool) -> Cors {
        Cors {
            enabled: true,
            allowed_origins: origins.iter().map(|s| (*s).to_owned()).collect(),
            allow_credentials: credentials,
            ..Cors::default()
        }
    }

    #[test]
    fn wildcard_never_with_credentials() {
        assert!(cors(&["*"], false).validate().is_ok());
        let e = cors(&["*"], true).validate().expect_err("refused");
        assert!(
            e.to_string()
                .contains("serve.public.cors.allow_credentials"),
            "{e}"
        );
        assert!(cors(&["https://app.example.com"], true).validate().is_ok());
        assert!(cors(&["*", "https://a.example"], false).validate().is_err());
    }

    #[test]
    fn origins_are_bare_origins() {
        for bad in [
            "app.example.com",
            "https://a.example/path",
            "ftp://a.example",
            "https://*.*.example",
            "https://u@a.example",
        ] {
            let e = cors(&[bad], false).validate().expect_err(bad);
            assert!(e.to_string().contains("allowed_origins[0]"), "{e}");
        }
        assert!(
            cors(&["https://*.example.com", "http://localhost:5173"], false)
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn matching_stays_within_the_host() {
        let p = vec![
            "https://*.example.com".to_owned(),
            "http://localhost:5173".to_owned(),
        ];
        assert!(origin_allowed(&p, "https://app.example.com"));
        assert!(origin_allowed(&p, "https://a.b.example.com"));
        assert!(origin_allowed(&p, "http://localhost:5173"));
        assert!(!origin_allowed(&p, "https://example.com"));
        assert!(!origin_allowed(&p, "https://evil.com/.example.com"));
        assert!(!origin_allowed(&p, "https://evil.com:1.example.com"));
        assert!(!origin_allowed(&p, "http://app.example.com"));
        assert!(!origin_allowed(&p, "http://localhost:5174"));
    }
}
