//! Reading rules from their repositories (Oathkeeper's `access_rules.repositories`: plain paths,
//! `file://` URLs, files or directories; `http(s)://` URLs, fetched; `inline://<base64>`
//! documents) and compiling their handlers (what this gateway supports, configurations
//! checked), so a changed rule set is swapped in only when all of it is valid.
//!
//! Fetching is kept apart from compiling: fetched documents are held by the gateway (`Fetched`)
//! and compiled with the files, so a repository that cannot be fetched keeps the document the
//! rules in force came from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use gatehouse_protocol::access_rule::{Strategy, parse_rules};
use serde_json::Value;
use url::Url;

use super::handlers::{RuleHandlers, compile};
use super::model::Own;
use gatehouse_protocol::access_rule::RuleSet;

pub use super::handlers::{SUPPORTED_AUTHENTICATORS, SUPPORTED_AUTHORIZERS, SUPPORTED_MUTATORS};

/// The largest rules document read, from a file, a URL or inline.
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;

/// How long fetching a repository may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// The rules in force: the rule set and each rule's compiled handlers (same order).
#[derive(Debug, Default)]
pub struct Rules {
    pub set: RuleSet,
    pub handlers: Vec<RuleHandlers>,
}

impl std::ops::Deref for Rules {
    type Target = RuleSet;

    fn deref(&self) -> &RuleSet {
        &self.set
    }
}

/// Fetched documents by URL: the text the rules in force were compiled from.
pub type Fetched = BTreeMap<Url, String>;

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
            return super::outbound::http_url("access_rules.repositories", s).map(Repository::Http);
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

pub fn strategy(s: &str) -> Strategy {
    if s == "glob" {
        Strategy::Glob
    } else {
        Strategy::Regexp
    }
}

fn paths(repos: &[Repository]) -> impl Iterator<Item = &PathBuf> {
    repos.iter().filter_map(|r| match r {
        Repository::Path(p) => Some(p),
        _ => None,
    })
}

/// The URLs to fetch.
pub fn urls(repos: &[Repository]) -> impl Iterator<Item = &Url> {
    repos.iter().filter_map(|r| match r {
        Repository::Http(u) => Some(u),
        _ => None,
    })
}

fn rule_files(p: &Path) -> Result<Vec<PathBuf>, String> {
    let meta = std::fs::metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
    if !meta.is_dir() {
        return Ok(vec![p.to_owned()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(p)
        .map_err(|e| format!("{}: {e}", p.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|f| {
            matches!(
                f.extension().and_then(|x| x.to_str()),
                Some("yaml" | "yml" | "json")
            )
        })
        .collect();
    files.sort();
    Ok(files)
}

/// The files' modification times, to notice changes cheaply.
pub fn fingerprint(repos: &[Repository]) -> Vec<(PathBuf, Option<SystemTime>, u64)> {
    paths(repos)
        .flat_map(|p| rule_files(p).unwrap_or_default())
        .map(|f| {
            let meta = std::fs::metadata(&f).ok();
            let mtime = meta.as_ref().and_then(|m| m.modified().ok());
            let len = meta.map_or(0, |m| m.len());
            (f, mtime, len)
        })
        .collect()
}

/// One document's rules as JSON (YAML is a superset of JSON); `name` says where it came from.
pub fn parse_document(name: &str, text: &str) -> Result<Vec<Value>, String> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(format!("{name}: larger than 16 MiB"));
    }
    let doc: Value = serde_yaml_ng::from_str(text)
        .map_err(|e| format!("{name}: not valid YAML or JSON: {e}"))?;
    match doc {
        Value::Array(a) => Ok(a),
        Value::Null => Ok(Vec::new()),
        _ => Err(format!("{name}: expected a list of rules")),
    }
}

fn read_file(path: &Path) -> Result<Vec<Value>, String> {
    let name = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| format!("{name}: {e}"))?;
    if meta.len() > MAX_DOCUMENT_BYTES as u64 {
        return Err(format!("{name}: larger than 16 MiB"));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{name}: {e}"))?;
    parse_document(&name, &text)
}

/// Fetches one repository: a 200 within `FETCH_TIMEOUT`, at most `MAX_DOCUMENT_BYTES`, UTF-8.
pub async fn fetch(http: &reqwest::Client, url: &Url) -> Result<String, String> {
    let resp = http
        .get(url.clone())
        .timeout(FETCH_TIMEOUT)
        .send()
        .await
        .map_err(|e| format!("{url}: {}", e.without_url()))?;
    if resp.status() != reqwest::StatusCode::OK {
        return Err(format!("{url}: answered {}", resp.status()));
    }
    let body = super::outbound::read_limited(resp, MAX_DOCUMENT_BYTES)
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    String::from_utf8(body).map_err(|_| format!("{url}: not UTF-8"))
}

/// Fetches every URL repository (the first failure is the error): for start and `rules check`.
pub async fn fetch_all(http: &reqwest::Client, repos: &[Repository]) -> Result<Fetched, String> {
    let mut out = Fetched::new();
    for u in urls(repos) {
        out.insert(u.clone(), fetch(http, u).await?);
    }
    Ok(out)
}

/// Reads, parses and validates every rule from `repos` (URL repositories from `fetched`),
/// compiling each rule's handlers; the first invalid one refuses the whole set, naming the rule,
/// the handler and the key.
pub fn load(
    repos: &[Repository],
    fetched: &Fetched,
    strategy: Strategy,
    own: &Own,
) -> Result<Rules, String> {
    let mut all = Vec::new();
    for (i, r) in repos.iter().enumerate() {
        match r {
            Repository::Path(p) => {
                for f in rule_files(p)? {
                    all.extend(read_file(&f)?);
                }
            }
            Repository::Inline(text) => {
                all.extend(parse_document(&format!("inline repository #{i}"), text)?);
            }
            Repository::Http(u) => {
                let text = fetched
                    .get(u)
                    .ok_or_else(|| format!("{u}: not fetched yet"))?;
                all.extend(parse_document(u.as_str(), text)?);
            }
        }
    }
    let set = parse_rules(Value::Array(all), strategy).map_err(|e| e.to_string())?;
    let mut handlers = Vec::with_capacity(set.rules.len());
    for (i, r) in set.rules.iter().enumerate() {
        handlers
            .push(compile(&r.rule, own).map_err(|e| format!("rule #{i} ({}): {e}", r.rule.id))?);
    }
    Ok(Rules { set, handlers })
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
