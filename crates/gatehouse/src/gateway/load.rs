//! Reading rules from files and directories, checking what this gateway supports, and the
//! reload loop that swaps in a changed rule set only when all of it is valid.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use gatehouse_protocol::access_rule::{RuleSet, Strategy, parse_rules};
use serde_json::Value;

use super::template::Template;

/// The handlers this gateway runs; the others in Oathkeeper's list are refused at load time.
pub const SUPPORTED_AUTHENTICATORS: [&str; 8] = [
    "noop",
    "anonymous",
    "unauthorized",
    "cookie_session",
    "bearer_token",
    "oauth2_introspection",
    "jwt",
    "api_key",
];
pub const SUPPORTED_AUTHORIZERS: [&str; 3] = ["allow", "deny", "gatehouse"];
pub const SUPPORTED_MUTATORS: [&str; 2] = ["noop", "header"];

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

/// Checks the parts of a rule that are this gateway's own: supported handlers and their
/// configuration.
fn check_supported(set: &RuleSet) -> Result<(), String> {
    for (i, r) in set.rules.iter().enumerate() {
        let rule = &r.rule;
        let at = |m: String| format!("rule #{i} ({}): {m}", rule.id);
        for a in &rule.authenticators {
            if !SUPPORTED_AUTHENTICATORS.contains(&a.handler.as_str()) {
                return Err(at(format!(
                    "authenticator `{}` is not supported by Gatehouse yet (supported: {})",
                    a.handler,
                    SUPPORTED_AUTHENTICATORS.join(", ")
                )));
            }
            super::decide::AuthenticatorConfig::parse(&a.handler, &a.config).map_err(at)?;
        }
        if !SUPPORTED_AUTHORIZERS.contains(&rule.authorizer.handler.as_str()) {
            return Err(at(format!(
                "authorizer `{}` is not supported by Gatehouse yet (supported: {})",
                rule.authorizer.handler,
                SUPPORTED_AUTHORIZERS.join(", ")
            )));
        }
        super::decide::AuthorizerConfig::parse(&rule.authorizer.handler, &rule.authorizer.config)
            .map_err(at)?;
        for m in &rule.mutators {
            if !SUPPORTED_MUTATORS.contains(&m.handler.as_str()) {
                return Err(at(format!(
                    "mutator `{}` is not supported by Gatehouse yet (supported: {})",
                    m.handler,
                    SUPPORTED_MUTATORS.join(", ")
                )));
            }
            if m.handler == "header" {
                let headers = m
                    .config
                    .get("headers")
                    .and_then(Value::as_object)
                    .ok_or_else(|| at("the header mutator needs `config.headers`".into()))?;
                for (name, v) in headers {
                    axum::http::HeaderName::from_bytes(name.as_bytes())
                        .map_err(|_| at(format!("`{name}` is not a header name")))?;
                    let t = v
                        .as_str()
                        .ok_or_else(|| at(format!("header `{name}`: expected a string")))?;
                    Template::parse(t).map_err(|e| at(format!("header `{name}`: {e}")))?;
                }
            }
        }
        for e in &rule.errors {
            super::decide::ErrorConfig::parse(&e.handler, &e.config).map_err(at)?;
        }
    }
    Ok(())
}

/// Reads, parses and validates every rule from `paths`.
pub fn load(paths: &[PathBuf], strategy: Strategy) -> Result<RuleSet, String> {
    let mut all = Vec::new();
    for f in rule_files(paths)? {
        all.extend(read_file(&f)?);
    }
    let set = parse_rules(Value::Array(all), strategy).map_err(|e| e.to_string())?;
    check_supported(&set)?;
    Ok(set)
}
