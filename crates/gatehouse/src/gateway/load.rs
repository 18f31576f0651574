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

use gatehouse_protocol::access_rule::{Strategy, parse_rules};
use serde_json::Value;
use url::Url;

use super::handlers::{RuleHandlers, compile};
use super::model::Own;
use gatehouse_protocol::access_rule::RuleSet;

pub use super::handlers::{SUPPORTED_AUTHENTICATORS, SUPPORTED_AUTHORIZERS, SUPPORTED_MUTATORS};
pub use gatehouse_protocol::rule_repository::{MAX_DOCUMENT_BYTES, Repository};

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
