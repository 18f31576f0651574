//! RFC 6902 JSON Patch (`add`, `replace`, `remove`), for the admin APIs' PATCH endpoints
//! (clients in Hydra's API, identities in Kratos's).

use serde_json::Value;

use crate::error::{Error, Result};

/// Applies `patch` (an array of operations) to `doc`. Paths in `immutable` (and anything below
/// them) cannot be changed.
pub fn apply(doc: &mut Value, patch: &Value, immutable: &[&str]) -> Result<()> {
    let ops = patch
        .as_array()
        .ok_or_else(|| Error::BadRequest("the body must be a JSON Patch array".into()))?;
    for op in ops {
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::BadRequest("every operation needs a path".into()))?;
        if let Some(p) = immutable
            .iter()
            .find(|p| path == **p || path.starts_with(&format!("{p}/")))
        {
            return Err(Error::BadRequest(format!("{} cannot be changed", &p[1..])));
        }
        match op.get("op").and_then(Value::as_str) {
            Some("add" | "replace") => {
                let value = op
                    .get("value")
                    .cloned()
                    .ok_or_else(|| Error::BadRequest("add and replace need a value".into()))?;
                json_pointer_set(doc, path, value)?;
            }
            Some("remove") => json_pointer_remove(doc, path)?,
            _ => {
                return Err(Error::BadRequest(
                    "only add, replace and remove operations are supported".into(),
                ));
            }
        }
    }
    Ok(())
}

fn pointer_parts(path: &str) -> Result<Vec<String>> {
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| Error::BadRequest(format!("invalid JSON pointer {path:?}")))?;
    Ok(rest
        .split('/')
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn json_pointer_set(doc: &mut Value, path: &str, value: Value) -> Result<()> {
    let parts = pointer_parts(path)?;
    let (last, parents) = parts
        .split_last()
        .ok_or_else(|| Error::BadRequest("empty path".into()))?;
    let mut cur = doc;
    for p in parents {
        cur = match cur {
            Value::Object(m) => m
                .entry(p.clone())
                .or_insert(Value::Object(Default::default())),
            Value::Array(a) => p
                .parse::<usize>()
                .ok()
                .and_then(|i| a.get_mut(i))
                .ok_or_else(|| Error::BadRequest(format!("path {path:?} does not exist")))?,
            _ => return Err(Error::BadRequest(format!("path {path:?} does not exist"))),
        };
    }
    match cur {
        Value::Object(m) => {
            m.insert(last.clone(), value);
        }
        Value::Array(a) if last == "-" => a.push(value),
        Value::Array(a) => {
            let i: usize = last
                .parse()
                .map_err(|_| Error::BadRequest(format!("bad index in {path:?}")))?;
            if i > a.len() {
                return Err(Error::BadRequest(format!("index out of range in {path:?}")));
            }
            a.insert(i, value);
        }
        _ => return Err(Error::BadRequest(format!("path {path:?} does not exist"))),
    }
    Ok(())
}

fn json_pointer_remove(doc: &mut Value, path: &str) -> Result<()> {
    let parts = pointer_parts(path)?;
    let (last, parents) = parts
        .split_last()
        .ok_or_else(|| Error::BadRequest("empty path".into()))?;
    let mut cur = doc;
    for p in parents {
        cur = match cur {
            Value::Object(m) => m.get_mut(p),
            Value::Array(a) => p.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| Error::BadRequest(format!("path {path:?} does not exist")))?;
    }
    let removed = match cur {
        Value::Object(m) => m.remove(last).is_some(),
        Value::Array(a) => match last.parse::<usize>() {
            Ok(i) if i < a.len() => {
                a.remove(i);
                true
            }
            _ => false,
        },
        _ => false,
    };
    if removed {
        Ok(())
    } else {
        Err(Error::BadRequest(format!("path {path:?} does not exist")))
    }
}
