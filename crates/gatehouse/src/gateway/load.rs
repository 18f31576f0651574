//! Reading rules from files and directories and compiling their handlers (what this gateway
//! supports, configurations checked), so a changed rule set is swapped in only when all of it
//! is valid.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use gatehouse_protocol::access_rule::{Strategy, parse_rules};
use serde_json::Value;

use super::Rules;

pub use super::handlers::{SUPPORTED_AUTHENTICATORS, SUPPORTED_AUTHORIZERS, SUPPORTED_MUTATORS};

pub fn strategy(s: &str) -> Strategy {
    if s == "glob" {
        Strategy::Glob
    } else {
        Strategy::Regexp
    }
}

fn rule_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
        if meta.is_dir() {
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
            out.extend(files);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// The files' modification times, to notice changes cheaply.
pub fn fingerprint(paths: &[PathBuf]) -> Vec<(PathBuf, Option<SystemTime>, u64)> {
    rule_files(paths)
        .unwrap_or_default()
        .into_iter()
        .map(|f| {
            let meta = std::fs::metadata(&f).ok();
            let mtime = meta.as_ref().and_then(|m| m.modified().ok());
            let len = meta.map_or(0, |m| m.len());
            (f, mtime, len)
        })
        .collect()
}

/// One file's rules as JSON (YAML is a superset of JSON).
fn read_file(path: &Path) -> Result<Vec<Value>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if text.len() > 16 * 1024 * 1024 {
        return Err(format!("{}: larger than 16 MiB", path.display()));
    }
    let doc: Value = serde_yaml_ng::from_str(&text)
        .map_err(|e| format!("{}: not valid YAML or JSON: {e}", path.display()))?;
    match doc {
        Value::Array(a) => Ok(a),
        Value::Null => Ok(Vec::new()),
        _ => Err(format!("{}: expected a list of rules", path.display())),
    }
}

/// Reads, parses and validates every rule from `paths`, compiling each rule's handlers; the
/// first invalid one refuses the whole set, naming the rule, the handler and the key.
pub fn load(paths: &[PathBuf], strategy: Strategy) -> Result<Rules, String> {
    let mut all = Vec::new();
    for f in rule_files(paths)? {
        all.extend(read_file(&f)?);
    }
    let set = parse_rules(Value::Array(all), strategy).map_err(|e| e.to_string())?;
    let mut handlers = Vec::with_capacity(set.rules.len());
    for (i, r) in set.rules.iter().enumerate() {
        handlers.push(
            super::handlers::compile(&r.rule)
                .map_err(|e| format!("rule #{i} ({}): {e}", r.rule.id))?,
        );
    }
    Ok(Rules { set, handlers })
}
