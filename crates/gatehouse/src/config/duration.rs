//! Durations as configuration writes them: `30s`, `10m`, `1h`, `720h`, `1h30m`, `250ms` or plain
//! seconds.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// A duration written as `30s`, `10m`, `1h`, `720h`, `1h30m` or plain seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl Dur {
    pub fn secs(self) -> i64 {
        i64::try_from(self.0.as_secs()).unwrap_or(i64::MAX)
    }

    pub fn parse(s: &str) -> Option<Dur> {
        let s = s.trim();
        if let Ok(n) = s.parse::<u64>() {
            return Some(Dur(Duration::from_secs(n)));
        }
        let mut total = 0u64;
        let mut num = String::new();
        let mut chars = s.chars().peekable();
        let mut any = false;
        while let Some(c) = chars.next() {
            if c.is_ascii_digit() {
                num.push(c);
                continue;
            }
            let unit = if c == 'm' && chars.peek() == Some(&'s') {
                chars.next();
                "ms"
            } else {
                match c {
                    's' => "s",
                    'm' => "m",
                    'h' => "h",
                    'd' => "d",
                    _ => return None,
                }
            };
            let n: u64 = num.parse().ok()?;
            num.clear();
            any = true;
            total = total.checked_add(match unit {
                "ms" => n,
                "s" => n.checked_mul(1000)?,
                "m" => n.checked_mul(60_000)?,
                "h" => n.checked_mul(3_600_000)?,
                _ => n.checked_mul(86_400_000)?,
            })?;
        }
        (any && num.is_empty()).then_some(Dur(Duration::from_millis(total)))
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.subsec_millis() == 0 {
            s.serialize_str(&format!("{}s", self.0.as_secs()))
        } else {
            s.serialize_str(&format!("{}ms", self.0.as_millis()))
        }
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let parsed = match &v {
            Value::String(s) => Dur::parse(s),
            Value::Number(n) => n.as_u64().map(|n| Dur(Duration::from_secs(n))),
            _ => None,
        };
        parsed.ok_or_else(|| {
            serde::de::Error::custom(format!(
                "expected a duration like \"30s\", \"10m\" or \"1h\", got {v}"
            ))
        })
    }
}
