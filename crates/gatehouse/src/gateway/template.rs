//! Header templates in the subset of Oathkeeper's Go templates that header mutators use:
//! literal text with `{{ print .Subject }}`, `{{ .Subject }}` and `{{ print .Extra.a.b }}`.
//! Anything else is refused when the rules load, never at request time.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Subject,
    Extra(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Part>);

impl Template {
    pub fn parse(s: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = s;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_owned()));
            }
            let after = &rest[start + 2..];
            let end = after.find("}}").ok_or("`{{` without `}}`")?;
            let expr = after[..end].trim();
            let expr = expr.strip_prefix("print ").map_or(expr, str::trim);
            parts.push(match expr {
                ".Subject" => Part::Subject,
                e if e.starts_with(".Extra.") => {
                    let path: Vec<String> =
                        e[".Extra.".len()..].split('.').map(str::to_owned).collect();
                    if path.iter().any(|p| {
                        p.is_empty()
                            || !p
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                    }) {
                        return Err(format!("`{{{{ {expr} }}}}`: a malformed .Extra path"));
                    }
                    Part::Extra(path)
                }
                _ => {
                    return Err(format!(
                        "`{{{{ {expr} }}}}` is not supported (use .Subject or .Extra.<key>)"
                    ));
                }
            });
            rest = &after[end + 2..];
        }
        if rest.contains("}}") {
            return Err("`}}` without `{{`".into());
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Template(parts))
    }

    /// The value for a subject; values that are not strings are written as JSON.
    pub fn render(&self, subject: &str, extra: &Value) -> String {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Subject => out.push_str(subject),
                Part::Extra(path) => {
                    let v = path.iter().try_fold(extra, |cur, k| cur.get(k));
                    match v {
                        Some(Value::String(s)) => out.push_str(s),
                        Some(Value::Null) | None => {}
                        Some(other) => out.push_str(&other.to_string()),
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_the_supported_subset() {
        let extra = json!({"email": "a@example.com", "n": 3, "deep": {"x": "y"}});
        let t = Template::parse("user={{ print .Subject }};{{.Extra.email}};{{ print .Extra.deep.x }};{{ .Extra.n }}{{ .Extra.nope }}")
            .expect("parses");
        assert_eq!(t.render("u1", &extra), "user=u1;a@example.com;y;3");
        assert_eq!(
            Template::parse("plain")
                .expect("parses")
                .render("s", &extra),
            "plain"
        );
    }

    #[test]
    fn refuses_the_rest() {
        for bad in [
            "{{ .Subject ",
            "{{ .MatchContext.URL }}",
            "{{ printf \"%s\" .Subject }}",
            "x }}",
            "{{ .Extra. }}",
            "{{ .Extra.a..b }}",
        ] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
    }
}
