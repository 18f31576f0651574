//! Templates in the subset of Oathkeeper's Go templates that its handlers use: literal text
//! with `{{ print .Subject }}`, `{{ .Subject }}`, `{{ print .Extra.a.b }}` and the matched
//! request (`.MatchContext.Method`, `.MatchContext.URL`, `.MatchContext.URL.Scheme`, `.Host`,
//! `.Path`, `.RawQuery`). Anything else is refused when the rules load, never at request time.
//!
//! Templates are parsed once, when the rules load. JSON templates (`remote_json`'s `payload`,
//! `id_token`'s `claims`) render with every substituted value escaped as the inside of a JSON
//! string, so a subject or a trait can never change the document's structure.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Subject,
    Extra(Vec<String>),
    Method,
    Url,
    Scheme,
    Host,
    Path,
    RawQuery,
}

/// What a template is rendered over.
pub struct Context<'a> {
    pub subject: &'a str,
    pub extra: &'a Value,
    pub method: &'a str,
    pub scheme: &'a str,
    pub host: &'a str,
    /// Path and query, as forwarded.
    pub uri: &'a str,
}

/// How substituted values are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// As they are (header values drop control characters afterwards).
    None,
    /// As the inside of a JSON string.
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Part>);

impl Template {
    /// What a JSON template (`remote_json`'s `payload`, `id_token`'s `claims`) renders to with
    /// placeholder values, so a rules file whose template can never be JSON is refused at load.
    pub fn probe_json(&self) -> Result<Value, serde_json::Error> {
        let mut out = String::new();
        self.render_into(
            &mut out,
            &Context {
                subject: "s",
                extra: &Value::Null,
                method: "GET",
                scheme: "https",
                host: "h",
                uri: "/",
            },
            Escape::Json,
        );
        serde_json::from_str(&out)
    }

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
                ".MatchContext.Method" => Part::Method,
                ".MatchContext.URL" | ".MatchContext.URL.String" => Part::Url,
                ".MatchContext.URL.Scheme" => Part::Scheme,
                ".MatchContext.URL.Host" => Part::Host,
                ".MatchContext.URL.Path" => Part::Path,
                ".MatchContext.URL.RawQuery" => Part::RawQuery,
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
                        "`{{{{ {expr} }}}}` is not supported (use .Subject, .Extra.<key> or .MatchContext.Method/URL[.Scheme|.Host|.Path|.RawQuery])"
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
        let ctx = Context {
            subject,
            extra,
            method: "",
            scheme: "",
            host: "",
            uri: "",
        };
        let mut out = String::new();
        self.render_into(&mut out, &ctx, Escape::None);
        out
    }

    /// Whether the template is only literal text (rendering it needs no context).
    pub fn literal(&self) -> Option<&str> {
        match self.0.as_slice() {
            [] => Some(""),
            [Part::Text(t)] => Some(t),
            _ => None,
        }
    }

    /// Appends the rendered template to `out`.
    pub fn render_into(&self, out: &mut String, ctx: &Context<'_>, escape: Escape) {
        let put = |out: &mut String, s: &str| match escape {
            Escape::None => out.push_str(s),
            Escape::Json => {
                let quoted = Value::String(s.to_owned()).to_string();
                out.push_str(&quoted[1..quoted.len() - 1]);
            }
        };
        let path_and_query = ctx.uri.split('#').next().unwrap_or_default();
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        for p in &self.0 {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Subject => put(out, ctx.subject),
                Part::Method => put(out, ctx.method),
                Part::Scheme => put(out, ctx.scheme),
                Part::Host => put(out, ctx.host),
                Part::Path => put(out, path),
                Part::RawQuery => put(out, query),
                Part::Url => {
                    let url = format!("{}://{}{}", ctx.scheme, ctx.host, path_and_query);
                    put(out, &url);
                }
                Part::Extra(path) => {
                    let v = path.iter().try_fold(ctx.extra, |cur, k| cur.get(k));
                    match v {
                        Some(Value::String(s)) => put(out, s),
                        Some(Value::Null) | None => {}
                        Some(other) => put(out, &other.to_string()),
                    }
                }
            }
        }
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
    fn json_templates_escape_what_they_substitute() {
        let extra = json!({"name": "a\"}, \"admin\": true, \"x\": \""});
        let t = Template::parse(r#"{"who": "{{ print .Subject }}", "name": "{{ print .Extra.name }}", "path": "{{ .MatchContext.URL.Path }}"}"#)
            .expect("parses");
        let ctx = Context {
            subject: "s\"1",
            extra: &extra,
            method: "GET",
            scheme: "https",
            host: "a.example.com",
            uri: "/p?q=1",
        };
        let mut out = String::new();
        t.render_into(&mut out, &ctx, Escape::Json);
        let v: Value = serde_json::from_str(&out).expect("still JSON");
        assert_eq!(v["who"], "s\"1");
        assert_eq!(v["name"], extra["name"]);
        assert_eq!(v["path"], "/p");
        assert!(v.get("admin").is_none());
    }

    #[test]
    fn refuses_the_rest() {
        for bad in [
            "{{ .Subject ",
            "{{ .MatchContext.Header }}",
            "{{ printf \"%s\" .Subject }}",
            "x }}",
            "{{ .Extra. }}",
            "{{ .Extra.a..b }}",
        ] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
    }
}
