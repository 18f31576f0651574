//! Reading the document: the YAML file, then the `GATEHOUSE_*` variables laid over it by key path,
//! then Kratos's nested method keys read as Gatehouse's, deserialized so that an error names the
//! key it is about.
//!
//! Because keys may contain `_` themselves, a variable is matched against the known key paths
//! (those of the defaults) rather than split apart.

use std::path::Path;

use serde_json::Value;

use super::{ConfigError, RawConfig, key_err};

/// The file (if any) with `env` laid over it, deserialized.
pub(super) fn read(
    file: Option<&Path>,
    env: impl Iterator<Item = (String, String)>,
) -> Result<RawConfig, ConfigError> {
    let defaults = serde_json::to_value(RawConfig::default())
        .map_err(|e| ConfigError::Invalid(e.to_string()))?;
    let mut doc = match file {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.to_owned(), e))?;
            let v: Value = serde_yaml_ng::from_str(&text)
                .map_err(|e| ConfigError::Yaml(path.to_owned(), e.to_string()))?;
            if v.is_null() {
                Value::Object(Default::default())
            } else {
                v
            }
        }
        None => Value::Object(Default::default()),
    };
    let mut paths = Vec::new();
    leaf_paths(&defaults, "", &mut paths);
    let env: Vec<(String, String)> = env.filter(|(k, _)| k.starts_with("GATEHOUSE_")).collect();
    for path in &paths {
        let var = format!("GATEHOUSE_{}", path.replace('.', "_").to_uppercase());
        // An empty variable is treated as unset.
        if let Some((_, raw)) = env.iter().find(|(k, v)| *k == var && !v.is_empty()) {
            let default = lookup(&defaults, path).unwrap_or(&Value::Null);
            set_path(&mut doc, path, env_value(raw, default));
        }
    }
    kratos_method_config(&mut doc);
    serde_path_to_error(doc)
}

/// Every leaf key path of the configuration, e.g. `serve.public.port`.
fn leaf_paths(v: &Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaf_paths(child, &p, out);
            }
        }
        _ => out.push(prefix.to_owned()),
    }
}

fn set_path(root: &mut Value, path: &str, value: Value) {
    let mut cur = root;
    for part in path.split('.') {
        if !cur.is_object() {
            *cur = Value::Object(Default::default());
        }
        let Value::Object(m) = cur else { return };
        cur = m.entry(part.to_owned()).or_insert(Value::Null);
    }
    *cur = value;
}

/// An environment value: JSON when it parses as JSON of the right shape, else a string (or a
/// comma-separated list where the key is a list).
fn env_value(raw: &str, default: &Value) -> Value {
    match default {
        Value::Array(_) => serde_json::from_str::<Value>(raw)
            .ok()
            .filter(Value::is_array)
            .unwrap_or_else(|| {
                Value::Array(
                    raw.split(',')
                        .map(|s| Value::String(s.trim().to_owned()))
                        .filter(|v| v != "")
                        .collect(),
                )
            }),
        Value::Bool(_) | Value::Number(_) => {
            serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()))
        }
        Value::Null if raw == "true" || raw == "false" => Value::Bool(raw == "true"),
        _ => Value::String(raw.to_owned()),
    }
}

fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |cur, p| cur.get(p))
}

/// Kratos nests method settings under `config` (`selfservice.methods.totp.config.issuer`,
/// `selfservice.methods.webauthn.config.rp.id`, ...): those key paths are read as Gatehouse's
/// shorter ones (which stay valid). A key under `config` that Gatehouse does not have is left
/// there, so the error names its full path.
fn kratos_method_config(doc: &mut Value) {
    let Some(methods) = doc
        .pointer_mut("/selfservice/methods")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for (name, method) in methods.iter_mut() {
        let Some(m) = method.as_object_mut() else {
            continue;
        };
        let Some(Value::Object(mut cfg)) = m.remove("config") else {
            continue;
        };
        type Map = serde_json::Map<String, Value>;
        fn hoist(m: &mut Map, from: &str, to: &str, cfg: &mut Map) {
            if let Some(v) = cfg.remove(from) {
                m.insert(to.to_owned(), v);
            }
        }
        match name.as_str() {
            "password" => {
                hoist(m, "min_password_length", "min_password_length", &mut cfg);
                hoist(
                    m,
                    "identifier_similarity_check_enabled",
                    "identifier_similarity_check_enabled",
                    &mut cfg,
                );
                // Kratos asks Have I Been Pwned; Gatehouse checks its bundled list offline.
                hoist(m, "haveibeenpwned_enabled", "refuse_common", &mut cfg);
            }
            "totp" => hoist(m, "issuer", "issuer", &mut cfg),
            "webauthn" => {
                hoist(m, "passwordless", "passwordless", &mut cfg);
                if let Some(Value::Object(mut rp)) = cfg.remove("rp") {
                    hoist(m, "id", "rp_id", &mut rp);
                    hoist(m, "display_name", "rp_display_name", &mut rp);
                    if let Some(o) = rp.remove("origin") {
                        m.insert("rp_origins".into(), Value::Array(vec![o]));
                    }
                    hoist(m, "origins", "rp_origins", &mut rp);
                    if !rp.is_empty() {
                        cfg.insert("rp".into(), Value::Object(rp));
                    }
                }
            }
            _ => {}
        }
        if !cfg.is_empty() {
            m.insert("config".into(), Value::Object(cfg));
        }
    }
}

/// The full path of the first key in `v` that the defaults `d` do not have, descending into
/// sections (objects with fields); maps and free-form values (empty or null defaults) are not
/// checked here.
fn unknown_key(v: &Value, d: &Value, prefix: &str) -> Option<String> {
    let (Value::Object(v), Value::Object(d)) = (v, d) else {
        return None;
    };
    if d.is_empty() {
        return None;
    }
    for (k, sub) in v {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match d.get(k) {
            // Name the first leaf under an unknown section (`…totp.config.period`).
            None => {
                let mut path = path;
                let mut at = sub;
                while let Some((k, next)) = at.as_object().and_then(|o| o.iter().next()) {
                    path = format!("{path}.{k}");
                    at = next;
                }
                return Some(path);
            }
            Some(dsub) => {
                if let Some(p) = unknown_key(sub, dsub, &path) {
                    return Some(p);
                }
            }
        }
    }
    None
}

/// Deserializes with the failing key path in the message.
fn serde_path_to_error(doc: Value) -> Result<RawConfig, ConfigError> {
    // Walk the top-level sections one by one so an error names its section and key.
    let defaults = serde_json::to_value(RawConfig::default())
        .map_err(|e| ConfigError::Invalid(e.to_string()))?;
    if let Some(path) = unknown_key(&doc, &defaults, "") {
        return Err(key_err(&path, "unknown key"));
    }
    if let Value::Object(m) = &doc {
        for (k, v) in m {
            if defaults.get(k).is_none() {
                return Err(key_err(k, "unknown key"));
            }
            if let (Value::Object(sub), Some(Value::Object(dsub))) = (v, defaults.get(k)) {
                for (k2, v2) in sub {
                    if !dsub.contains_key(k2) {
                        return Err(key_err(&format!("{k}.{k2}"), "unknown key"));
                    }
                    let mut probe = defaults.clone();
                    set_path(&mut probe, &format!("{k}.{k2}"), v2.clone());
                    if let Err(e) = serde_json::from_value::<RawConfig>(probe) {
                        return Err(key_err(&format!("{k}.{k2}"), e.to_string()));
                    }
                }
            } else {
                let mut probe = defaults.clone();
                set_path(&mut probe, k, v.clone());
                if let Err(e) = serde_json::from_value::<RawConfig>(probe) {
                    return Err(key_err(k, e.to_string()));
                }
            }
        }
    }
    serde_json::from_value(doc).map_err(|e| ConfigError::Invalid(e.to_string()))
}
