//! Access rules in Ory Oathkeeper's format, and the matcher that picks the rule for a request.
//!
//! A rule names the URLs it covers (`match.url`, with `<...>` parts that are regular expressions
//! or globs depending on the strategy, matched against the whole URL without its query), the
//! methods, and the handlers that decide: `authenticators` (the first that recognises the request
//! decides), one `authorizer`, `mutators`, `errors`, and an optional `upstream` for the proxy.
//!
//! Matching is deny-by-default: no rule, or more than one, is an error. Request paths are
//! canonicalised first and anything ambiguous — an encoded `/` or `\`, an encoded `%`, a dot
//! segment, a malformed escape — is refused before matching, so `/..%2f` or double encoding can
//! never reach a rule written for another path. Pure: no I/O.

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How the `<...>` parts of `match.url` are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// `<...>` is a regular expression (Oathkeeper's default).
    #[default]
    Regexp,
    /// `<...>` is a glob: `*` (within a segment: not `/` or `.`), `**` (anything), `?`, `[a-z]`,
    /// `[!a-z]`, `{a,b}`.
    Glob,
}

impl Strategy {
    /// `regexp` or `glob`, as `access_rules.matching_strategy` and `rules check --strategy` write it.
    pub fn parse(s: &str) -> Option<Strategy> {
        match s {
            "regexp" => Some(Strategy::Regexp),
            "glob" => Some(Strategy::Glob),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Regexp => "regexp",
            Strategy::Glob => "glob",
        }
    }
}

/// One handler with its configuration (`{handler, config}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Handler {
    pub handler: String,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub config: Value,
}

/// An error handler with its `when` conditions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorHandler {
    pub handler: String,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub config: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Match {
    pub url: String,
    #[serde(default)]
    pub methods: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upstream {
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub preserve_host: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strip_path: Option<String>,
}

/// A rule as written (YAML or JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(rename = "match")]
    pub match_: Match,
    pub authenticators: Vec<Handler>,
    pub authorizer: Handler,
    #[serde(default)]
    pub mutators: Vec<Handler>,
    #[serde(default)]
    pub errors: Vec<ErrorHandler>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<Upstream>,
}

pub const AUTHENTICATORS: [&str; 9] = [
    "noop",
    "anonymous",
    "unauthorized",
    "cookie_session",
    "bearer_token",
    "oauth2_introspection",
    "oauth2_client_credentials",
    "jwt",
    "api_key",
];
pub const AUTHORIZERS: [&str; 4] = ["allow", "deny", "remote_json", "gatehouse"];
pub const MUTATORS: [&str; 5] = ["noop", "header", "cookie", "id_token", "hydrator"];
pub const ERROR_HANDLERS: [&str; 3] = ["json", "redirect", "www_authenticate"];
const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
];
const MAX_ID_LEN: usize = 190;
const MAX_RULES: usize = 10_000;

/// Why a rules document is refused: the rule (by index and id) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("the rules are not a list of rules: {0}")]
    Shape(String),
    #[error("rule #{index} ({id}): {message}")]
    Rule {
        index: usize,
        id: String,
        message: String,
    },
    #[error("more than {MAX_RULES} rules")]
    TooMany,
}

/// A rule with its URL pattern compiled.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    pub rule: Rule,
    url: Regex,
}

impl CompiledRule {
    /// Whether the rule covers this method and canonical URL.
    pub fn matches(&self, method: &str, url: &str) -> bool {
        (self.rule.match_.methods.is_empty()
            || self.rule.match_.methods.iter().any(|m| m == method))
            && self.url.is_match(url)
    }
}

/// A validated set of rules.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    pub strategy: Strategy,
    pub rules: Vec<CompiledRule>,
}

/// Why no rule applies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    #[error("no rule matches {method} {url}")]
    NoMatch { method: String, url: String },
    #[error("{count} rules match {method} {url}: {ids:?}")]
    Ambiguous {
        method: String,
        url: String,
        count: usize,
        ids: Vec<String>,
    },
    #[error("the request URL is not acceptable: {0}")]
    BadUrl(String),
}

fn rule_err(index: usize, id: &str, message: impl Into<String>) -> RuleError {
    RuleError::Rule {
        index,
        id: id.to_owned(),
        message: message.into(),
    }
}

/// Splits `s` into literal text and the contents of balanced `<...>` parts.
fn split_pattern(s: &str) -> Result<Vec<(bool, String)>, String> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '>' {
            return Err("`>` without a matching `<`".into());
        }
        if c != '<' {
            lit.push(c);
            continue;
        }
        if !lit.is_empty() {
            parts.push((false, std::mem::take(&mut lit)));
        }
        let mut depth = 1;
        let mut inner = String::new();
        loop {
            match chars.next() {
                None => return Err("`<` without a matching `>`".into()),
                Some('<') => {
                    depth += 1;
                    inner.push('<');
                }
                Some('>') => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                    inner.push('>');
                }
                Some(c) => inner.push(c),
            }
        }
        parts.push((true, inner));
    }
    if !lit.is_empty() {
        parts.push((false, lit));
    }
    Ok(parts)
}

/// A glob as a regular expression: `*` stays within a segment (not `/` or `.`), `**` spans.
fn glob_to_regex(g: &str) -> Result<String, String> {
    let mut out = String::new();
    let chars: Vec<char> = g.chars().collect();
    let mut i = 0;
    let mut in_alt = 0usize;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' if chars.get(i + 1) == Some(&'*') => {
                out.push_str(".*");
                i += 1;
            }
            '*' => out.push_str("[^/.]*"),
            '?' => out.push_str("[^/.]"),
            '[' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&x| x == ']')
                    .ok_or("`[` without `]` in a glob")?
                    + i
                    + 1;
                let body: String = chars[i + 1..end].iter().collect();
                let (neg, body) = match body.strip_prefix('!') {
                    Some(b) => (true, b.to_owned()),
                    None => (false, body),
                };
                if body.is_empty() {
                    return Err("an empty `[]` in a glob".into());
                }
                let escaped: String = body
                    .chars()
                    .map(|x| {
                        if x == '-' || x.is_alphanumeric() {
                            x.to_string()
                        } else {
                            format!("\\{x}")
                        }
                    })
                    .collect();
                out.push('[');
                if neg {
                    out.push('^');
                }
                out.push_str(&escaped);
                out.push(']');
                i = end;
            }
            '{' => {
                in_alt += 1;
                out.push_str("(?:");
            }
            ',' if in_alt > 0 => out.push('|'),
            '}' if in_alt > 0 => {
                in_alt -= 1;
                out.push(')');
            }
            '\\' => {
                let next = chars.get(i + 1).ok_or("a trailing `\\` in a glob")?;
                out.push_str(&regex::escape(&next.to_string()));
                i += 1;
            }
            _ => out.push_str(&regex::escape(&c.to_string())),
        }
        i += 1;
    }
    if in_alt > 0 {
        return Err("`{` without `}` in a glob".into());
    }
    Ok(out)
}

/// Compiles `match.url` to an anchored regular expression.
pub fn compile_url(pattern: &str, strategy: Strategy) -> Result<Regex, String> {
    let mut re = String::from("^");
    for (is_pattern, text) in split_pattern(pattern)? {
        if !is_pattern {
            re.push_str(&regex::escape(&text));
            continue;
        }
        let inner = match strategy {
            Strategy::Regexp => {
                Regex::new(&text)
                    .map_err(|e| format!("`<{text}>` is not a regular expression: {e}"))?;
                text
            }
            Strategy::Glob => glob_to_regex(&text)?,
        };
        re.push_str("(?:");
        re.push_str(&inner);
        re.push(')');
    }
    re.push('$');
    regex::RegexBuilder::new(&re)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| format!("`match.url` does not compile: {e}"))
}

fn check_names(
    index: usize,
    id: &str,
    what: &str,
    given: &[&str],
    known: &[&str],
) -> Result<(), RuleError> {
    for g in given {
        if !known.contains(g) {
            return Err(rule_err(
                index,
                id,
                format!("unknown {what} `{g}` (known: {})", known.join(", ")),
            ));
        }
    }
    Ok(())
}

/// Parses and validates a rules document (a JSON array, from YAML or JSON): every rule has a
/// unique id, a URL pattern that compiles, known methods and handler names, at least one
/// authenticator, and an absolute upstream URL if any.
pub fn parse_rules(doc: Value, strategy: Strategy) -> Result<RuleSet, RuleError> {
    let items = match doc {
        Value::Array(a) => a,
        Value::Null => Vec::new(),
        other => {
            return Err(RuleError::Shape(format!(
                "expected a list, got {}",
                kind_of(&other)
            )));
        }
    };
    if items.len() > MAX_RULES {
        return Err(RuleError::TooMany);
    }
    let mut rules = Vec::with_capacity(items.len());
    let mut ids = std::collections::HashSet::new();
    for (index, item) in items.into_iter().enumerate() {
        let id = item
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned();
        let rule: Rule =
            serde_json::from_value(item).map_err(|e| rule_err(index, &id, e.to_string()))?;
        if rule.id.is_empty() || rule.id.len() > MAX_ID_LEN {
            return Err(rule_err(
                index,
                &id,
                format!("`id` must be 1 to {MAX_ID_LEN} characters"),
            ));
        }
        if !ids.insert(rule.id.clone()) {
            return Err(rule_err(index, &id, "duplicate `id`"));
        }
        for m in &rule.match_.methods {
            if !METHODS.contains(&m.as_str()) {
                return Err(rule_err(
                    index,
                    &id,
                    format!(
                        "unknown method `{m}` in `match.methods` (upper case: {})",
                        METHODS.join(", ")
                    ),
                ));
            }
        }
        let u = &rule.match_.url;
        if !(u.starts_with("http://") || u.starts_with("https://") || u.starts_with('<')) {
            return Err(rule_err(
                index,
                &id,
                "`match.url` must start with http:// or https:// (or a pattern)",
            ));
        }
        let url = compile_url(u, strategy).map_err(|e| rule_err(index, &id, e))?;
        if rule.authenticators.is_empty() {
            return Err(rule_err(
                index,
                &id,
                "`authenticators` must name at least one handler",
            ));
        }
        let names: Vec<&str> = rule
            .authenticators
            .iter()
            .map(|h| h.handler.as_str())
            .collect();
        check_names(index, &id, "authenticator", &names, &AUTHENTICATORS)?;
        check_names(
            index,
            &id,
            "authorizer",
            &[rule.authorizer.handler.as_str()],
            &AUTHORIZERS,
        )?;
        let names: Vec<&str> = rule.mutators.iter().map(|h| h.handler.as_str()).collect();
        check_names(index, &id, "mutator", &names, &MUTATORS)?;
        let names: Vec<&str> = rule.errors.iter().map(|h| h.handler.as_str()).collect();
        check_names(index, &id, "error handler", &names, &ERROR_HANDLERS)?;
        if let Some(up) = &rule.upstream
            && !up.url.is_empty()
        {
            let parsed = url::Url::parse(&up.url)
                .map_err(|e| rule_err(index, &id, format!("`upstream.url`: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(rule_err(
                    index,
                    &id,
                    "`upstream.url` must be http:// or https://",
                ));
            }
        }
        rules.push(CompiledRule { rule, url });
    }
    Ok(RuleSet { strategy, rules })
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Canonicalises a request path for matching, refusing what could be read two ways: percent
/// escapes of unreserved characters are decoded; an escaped `/`, `\`, `%`, a control character,
/// a malformed escape, a backslash, an empty segment (`//`) or a `.`/`..` segment is an error.
pub fn canonical_path(path: &str) -> Result<String, String> {
    if !path.starts_with('/') {
        return Err("the path must start with `/`".into());
    }
    if path.len() > 8192 {
        return Err("the path is too long".into());
    }
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = path
                .get(i + 1..i + 3)
                .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
                .ok_or("a malformed percent escape")?;
            let v = u8::from_str_radix(hex, 16).map_err(|_| "a malformed percent escape")?;
            let unreserved = v.is_ascii_alphanumeric() || matches!(v, b'-' | b'.' | b'_' | b'~');
            if unreserved {
                out.push(char::from(v));
            } else if matches!(v, b'/' | b'\\' | b'%') || v < 0x20 || v == 0x7f {
                return Err(format!("an escaped `%{hex}` in the path"));
            } else {
                // Reserved or non-ASCII: kept escaped, in upper case, as it was meant.
                out.push('%');
                out.push_str(&hex.to_ascii_uppercase());
            }
            i += 3;
            continue;
        }
        if b == b'\\' || b < 0x20 || b == 0x7f {
            return Err("a backslash or control character in the path".into());
        }
        out.push(char::from(b));
        i += 1;
        if b >= 0x80 {
            // Raw non-ASCII bytes: keep the rest of the UTF-8 sequence as is.
            let start = i - 1;
            let len = path[start..].chars().next().map_or(1, char::len_utf8);
            out.pop();
            out.push_str(&path[start..start + len]);
            i = start + len;
        }
    }
    for seg in out.split('/').skip(1) {
        if seg == "." || seg == ".." {
            return Err("a `.` or `..` segment in the path".into());
        }
    }
    if out.contains("//") {
        return Err("an empty segment (`//`) in the path".into());
    }
    Ok(out)
}

impl RuleSet {
    /// The one rule for this request. `method` is matched as given (upper case per RFC 9110;
    /// `get` matches no rule written for `GET`); the URL is `scheme://host[:port]` plus the
    /// canonical path, without query or fragment.
    pub fn find(
        &self,
        method: &str,
        scheme: &str,
        host: &str,
        path: &str,
    ) -> Result<&CompiledRule, MatchError> {
        let i = self.find_index(method, scheme, host, path)?;
        self.rules.get(i).ok_or_else(|| MatchError::NoMatch {
            method: method.to_owned(),
            url: path.to_owned(),
        })
    }

    /// The position in `rules` of the one rule for this request (as `find`), so that what a
    /// caller keeps per rule can sit in a vector beside them.
    pub fn find_index(
        &self,
        method: &str,
        scheme: &str,
        host: &str,
        path: &str,
    ) -> Result<usize, MatchError> {
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let path = canonical_path(path).map_err(MatchError::BadUrl)?;
        if !matches!(scheme, "http" | "https") {
            return Err(MatchError::BadUrl(format!("scheme `{scheme}`")));
        }
        if host.is_empty()
            || host.len() > 255
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
        {
            return Err(MatchError::BadUrl("the host".into()));
        }
        let url = format!("{scheme}://{}{path}", host.to_ascii_lowercase());
        let mut found = self
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.matches(method, &url));
        let first = found.next();
        let rest: Vec<(usize, &CompiledRule)> = found.collect();
        match (first, rest.is_empty()) {
            (Some((i, _)), true) => Ok(i),
            (Some(r), false) => Err(MatchError::Ambiguous {
                method: method.to_owned(),
                url,
                count: rest.len() + 1,
                ids: std::iter::once(r)
                    .chain(rest)
                    .map(|(_, r)| r.rule.id.clone())
                    .collect(),
            }),
            (None, _) => Err(MatchError::NoMatch {
                method: method.to_owned(),
                url,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::{prop_assert, prop_assert_eq, proptest};
    use serde_json::json;

    fn rule(id: &str, url: &str, methods: &[&str]) -> Value {
        json!({
            "id": id,
            "match": {"url": url, "methods": methods},
            "authenticators": [{"handler": "noop"}],
            "authorizer": {"handler": "allow"},
            "mutators": [{"handler": "noop"}],
        })
    }

    fn set(rules: Vec<Value>, s: Strategy) -> RuleSet {
        parse_rules(Value::Array(rules), s).expect("valid rules")
    }

    #[test]
    fn regexp_rules_match_whole_urls() {
        let rs = set(
            vec![
                rule("api", "http://app.example.com/api/<.*>", &["GET"]),
                rule(
                    "user",
                    "http://app.example.com/users/<[0-9]+>",
                    &["GET", "DELETE"],
                ),
            ],
            Strategy::Regexp,
        );
        let id = |m: &str, p: &str| {
            rs.find(m, "http", "app.example.com", p)
                .map(|r| r.rule.id.clone())
        };
        assert_eq!(id("GET", "/api/x/y").as_deref(), Ok("api"));
        assert_eq!(id("GET", "/users/42").as_deref(), Ok("user"));
        assert!(id("GET", "/users/42/x").is_err(), "anchored at the end");
        assert!(id("GET", "/users/abc").is_err());
        assert!(id("POST", "/api/x").is_err(), "method not in the rule");
        assert!(id("get", "/api/x").is_err(), "methods are case-sensitive");
        assert!(rs.find("GET", "http", "evil.com", "/api/x").is_err());
        assert!(
            rs.find("GET", "http", "app.example.com.evil.com", "/api/x")
                .is_err()
        );
        assert!(
            id("GET", "/api/x?debug=1").is_ok(),
            "the query is not part of the match"
        );
    }

    #[test]
    fn literal_parts_are_not_regexps() {
        let rs = set(
            vec![rule("dot", "http://a.example.com/v1.0/x", &[])],
            Strategy::Regexp,
        );
        assert!(rs.find("GET", "http", "a.example.com", "/v1.0/x").is_ok());
        assert!(rs.find("GET", "http", "a.example.com", "/v1x0/x").is_err());
        assert!(rs.find("GET", "http", "aXexample.com", "/v1.0/x").is_err());
    }

    #[test]
    fn globs() {
        let rs = set(
            vec![
                rule("one", "http://g.example.com/files/<*>", &["GET"]),
                rule("deep", "http://g.example.com/deep/<**>", &["GET"]),
                rule("alt", "http://g.example.com/<{a,b}>/x", &["GET"]),
            ],
            Strategy::Glob,
        );
        let ok = |p: &str| {
            rs.find("GET", "http", "g.example.com", p)
                .map(|r| r.rule.id.clone())
        };
        assert_eq!(ok("/files/report").as_deref(), Ok("one"));
        assert!(ok("/files/a/b").is_err(), "* stays in one segment");
        assert!(ok("/files/a.b").is_err(), "* does not cross a dot");
        assert_eq!(ok("/deep/a/b.c").as_deref(), Ok("deep"));
        assert_eq!(ok("/a/x").as_deref(), Ok("alt"));
        assert!(ok("/c/x").is_err());
    }

    #[test]
    fn no_match_and_ambiguity_are_errors() {
        let rs = set(
            vec![
                rule("a", "http://x.example.com/<.*>", &[]),
                rule("b", "http://x.example.com/p", &[]),
            ],
            Strategy::Regexp,
        );
        assert!(matches!(
            rs.find("GET", "http", "x.example.com", "/p"),
            Err(MatchError::Ambiguous { count: 2, .. })
        ));
        let empty = RuleSet::default();
        assert!(matches!(
            empty.find("GET", "http", "x", "/"),
            Err(MatchError::NoMatch { .. })
        ));
    }

    #[test]
    fn traversal_and_encodings_are_refused() {
        let rs = set(
            vec![rule("pub", "http://x.example.com/public/<.*>", &[])],
            Strategy::Regexp,
        );
        for p in [
            "/public/..%2fadmin",
            "/public/%2e%2e/admin",
            "/public/../admin",
            "/public/./x",
            "/public/%252e%252e/admin",
            "/public//admin",
            "/public/a%5cb",
            "/public/%zz",
            "/public/%2",
            "/public/a\\b",
            "/public/%00",
        ] {
            assert!(
                matches!(
                    rs.find("GET", "http", "x.example.com", p),
                    Err(MatchError::BadUrl(_))
                ),
                "{p}"
            );
        }
        // Escaped unreserved characters are read as themselves.
        assert!(
            rs.find("GET", "http", "x.example.com", "/public/%61bc")
                .is_ok()
        );
        assert_eq!(canonical_path("/a%20b/%7e").as_deref(), Ok("/a%20b/~"));
    }

    #[test]
    fn bad_rules_are_refused_precisely() {
        let cases = [
            (json!({"id": "x"}), "missing field"),
            (rule("x", "http://a/<[>", &[]), "regular expression"),
            (rule("x", "http://a/<.*", &[]), "matching `>`"),
            (rule("x", "http://a/", &["get"]), "unknown method"),
            (rule("x", "ftp://a/", &[]), "must start with"),
            (
                json!({"id": "x", "match": {"url": "http://a/"}, "authenticators": [{"handler": "magic"}], "authorizer": {"handler": "allow"}}),
                "unknown authenticator `magic`",
            ),
            (
                json!({"id": "x", "match": {"url": "http://a/"}, "authenticators": [], "authorizer": {"handler": "allow"}}),
                "at least one",
            ),
            (
                json!({"id": "x", "match": {"url": "http://a/"}, "authenticators": [{"handler": "noop"}], "authorizer": {"handler": "allow"}, "surprise": 1}),
                "unknown field",
            ),
        ];
        for (r, want) in cases {
            let err = parse_rules(json!([r]), Strategy::Regexp)
                .expect_err("refused")
                .to_string();
            assert!(err.contains(want), "{err} should mention {want}");
            assert!(err.contains("rule #0"), "{err}");
        }
        let dup = parse_rules(
            json!([rule("d", "http://a/", &[]), rule("d", "http://b/", &[])]),
            Strategy::Regexp,
        );
        assert!(dup.expect_err("dup").to_string().contains("duplicate"));
        assert!(parse_rules(json!({"id": "x"}), Strategy::Regexp).is_err());
    }

    proptest! {
        /// A literal rule matches exactly its own URL.
        #[test]
        fn literal_rules_match_only_themselves(a in "[a-z0-9]{1,8}", b in "[a-z0-9]{1,8}") {
            let rs = set(vec![rule("l", &format!("http://h.example.com/{a}"), &[])], Strategy::Regexp);
            let own = format!("/{a}");
            let other = format!("/{b}");
            prop_assert!(rs.find("GET", "http", "h.example.com", &own).is_ok());
            prop_assert_eq!(rs.find("GET", "http", "h.example.com", &other).is_ok(), a == b);
        }

        /// A one-segment glob matches one segment of allowed characters and nothing deeper.
        #[test]
        fn segment_globs_stay_in_their_segment(seg in "[a-z0-9_-]{1,10}", more in "[a-z0-9]{1,5}") {
            let rs = set(vec![rule("g", "http://h.example.com/items/<*>", &[])], Strategy::Glob);
            let one = format!("/items/{seg}");
            let deeper = format!("/items/{seg}/{more}");
            prop_assert!(rs.find("GET", "http", "h.example.com", &one).is_ok());
            prop_assert!(rs.find("GET", "http", "h.example.com", &deeper).is_err());
        }

        /// Arbitrary paths, hosts and methods never panic the matcher.
        #[test]
        fn arbitrary_requests_never_panic(m in ".{0,8}", h in ".{0,20}", p in ".{0,60}") {
            let rs = set(vec![rule("a", "http://h.example.com/<.*>", &[])], Strategy::Regexp);
            let _ = rs.find(&m, "http", &h, &p);
            let _ = canonical_path(&p);
        }
    }
}
