//! Where access rules come from: one `access_rules.repositories` entry (Oathkeeper's forms)
//! parsed into a plain path, a URL to fetch, or an inline document. Parsed when the
//! configuration is resolved (and by `gatehouse rules check`); reading and fetching are the
//! gateway's.

use std::path::PathBuf;

use base64::Engine as _;
use url::Url;

/// The largest rules document read, from a file, a URL or inline.
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;

/// One `access_rules.repositories` entry, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repository {
    /// A file or a directory of `*.yaml`, `*.yml`, `*.json` (a plain path or `file://`).
    Path(PathBuf),
    /// Fetched, then re-fetched every `access_rules.fetch_interval`.
    Http(Url),
    /// `inline://<base64>`: the document itself, decoded.
    Inline(String),
}

impl Repository {
    pub fn parse(s: &str) -> Result<Repository, String> {
        if let Some(b64) = s.strip_prefix("inline://") {
            if b64.len() > MAX_DOCUMENT_BYTES / 3 * 4 + 4 {
                return Err(format!("inline://: larger than {MAX_DOCUMENT_BYTES} bytes"));
            }
            let b64 = b64.trim();
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(b64))
                .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(b64))
                .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(b64))
                .map_err(|e| format!("inline://: not base64: {e}"))?;
            let text = String::from_utf8(raw).map_err(|_| "inline://: not UTF-8".to_owned())?;
            return Ok(Repository::Inline(text));
        }
        let lower = s.get(..8).unwrap_or(s).to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            return http_url(s).map(Repository::Http);
        }
        if lower.starts_with("file://") {
            let u = Url::parse(s).map_err(|e| format!("`{s}`: {e}"))?;
            return u
                .to_file_path()
                .map(Repository::Path)
                .map_err(|()| format!("`{s}`: not a local file URL"));
        }
        if let Some((scheme, _)) = s.split_once("://")
            && !scheme.is_empty()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        {
            return Err(format!(
                "`{scheme}://` is not supported (a path, file://, http://, https:// or inline://)"
            ));
        }
        if s.is_empty() {
            return Err("an empty path".into());
        }
        Ok(Repository::Path(PathBuf::from(s)))
    }

    /// Every entry parsed; the first bad one names its index.
    pub fn parse_all<S: AsRef<str>>(list: &[S]) -> Result<Vec<Repository>, String> {
        list.iter()
            .enumerate()
            .map(|(i, s)| {
                Repository::parse(s.as_ref())
                    .map_err(|e| format!("access_rules.repositories[{i}]: {e}"))
            })
            .collect()
    }
}

/// As configuration writes it (what [`Repository::parse`] reads back): the path, the URL, or
/// `inline://` and the document in base64.
impl std::fmt::Display for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Repository::Path(p) => write!(f, "{}", p.display()),
            Repository::Http(u) => write!(f, "{u}"),
            Repository::Inline(text) => write!(
                f,
                "inline://{}",
                base64::engine::general_purpose::STANDARD.encode(text)
            ),
        }
    }
}

impl serde::Serialize for Repository {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An absolute http(s) URL with a host, or why not.
fn http_url(s: &str) -> Result<Url, String> {
    const KEY: &str = "access_rules.repositories";
    let u = Url::parse(s).map_err(|e| format!("`{KEY}`: `{s}`: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        return Err(format!("`{KEY}`: `{s}` must be an http:// or https:// URL"));
    }
    Ok(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_take_oathkeepers_urls() {
        assert_eq!(
            Repository::parse("/etc/rules.json"),
            Ok(Repository::Path("/etc/rules.json".into()))
        );
        assert_eq!(
            Repository::parse("file:///etc/rules.json"),
            Ok(Repository::Path("/etc/rules.json".into()))
        );
        assert_eq!(
            Repository::parse("file:///etc/my%20rules.json"),
            Ok(Repository::Path("/etc/my rules.json".into()))
        );
        assert!(matches!(
            Repository::parse("https://rules.example.com/rules.json"),
            Ok(Repository::Http(_))
        ));
        assert_eq!(
            Repository::parse("inline://W10="),
            Ok(Repository::Inline("[]".into()))
        );
        for written in [
            "/etc/rules.json",
            "https://rules.example.com/rules.json",
            "inline://W10=",
        ] {
            let r = Repository::parse(written).expect(written);
            assert_eq!(r.to_string(), written);
            assert_eq!(Repository::parse(&r.to_string()), Ok(r));
        }
        for bad in [
            "s3://bucket/rules.json",
            "inline://!!!",
            "file://host/etc/rules.json",
            "",
            "inline://gA==",
        ] {
            assert!(Repository::parse(bad).is_err(), "{bad}");
        }
    }
}
