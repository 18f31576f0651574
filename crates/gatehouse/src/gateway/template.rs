//! Templates in the subset of Oathkeeper's Go templates (`text/template`) that its handlers
//! use: literal text with actions over the subject (`.Subject`), its extra (`.Extra.a.b`) and
//! the matched request (`.MatchContext.Method`, `.MatchContext.URL`, `.MatchContext.URL.Scheme`,
//! `.Host`, `.Path`, `.RawQuery`); the functions `print`, `printf` (`%s %d %v %q %t %%`) and
//! `index` (maps and arrays, nested, `(index .Extra.a 0).b`); string, integer and boolean
//! literals; parentheses; `{{-`/`-}}` trimming and `{{/* comments */}}`. Anything else
//! (pipelines, variables, `if`, `range`, other functions, a `printf` whose verbs and arguments
//! do not match) is refused when the rules load, never at request time.
//!
//! Where Go's `text/template` would stop with an execution error (an index out of range, a key
//! of the wrong type, indexing something that is neither a map nor an array) or print
//! `<no value>`, the action renders empty, as a missing `.Extra` key always has here.
//!
//! Templates are parsed once, when the rules load. JSON templates (`remote_json`'s `payload`,
//! `id_token`'s `claims`) render with every substituted value escaped as the inside of a JSON
//! string, so a subject or a trait can never change the document's structure.

use std::borrow::Cow;

use serde_json::Value;

/// How deeply parentheses may nest (a bound for hostile rules files).
const MAX_DEPTH: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Action(Expr),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Expr {
    Subject,
    Extra(Vec<String>),
    Method,
    Url,
    Scheme,
    Host,
    Path,
    RawQuery,
    Str(String),
    Int(i64),
    Bool(bool),
    /// `(expr).a.b`: fields of a map that an expression evaluated to.
    Field(Box<Expr>, Vec<String>),
    Print(Vec<Expr>),
    Printf(Vec<Piece>, Vec<Expr>),
    Index(Box<Expr>, Vec<Expr>),
}

/// A piece of a `printf` format.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Lit(String),
    Verb(char),
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

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    LParen,
    RParen,
    Ident(String),
    /// `.a.b.c`, split.
    Field(Vec<String>),
    Str(String),
    Int(i64),
    Bool(bool),
}

/// A token and whether whitespace came before it (`(x).a` is a field access, `(x) .a` is not).
struct Spanned {
    tok: Tok,
    spaced: bool,
}

fn name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// A Go string literal (`"…"` with escapes, or a raw `` `…` ``); returns it and the bytes used.
fn string_literal(s: &str) -> Result<(String, usize), String> {
    let mut chars = s.char_indices();
    let Some((_, quote)) = chars.next() else {
        return Err("an unterminated string".into());
    };
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        if c == quote {
            return Ok((out, i + 1));
        }
        if quote == '"' && c == '\\' {
            let Some((_, e)) = chars.next() else { break };
            out.push(match e {
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                '\\' => '\\',
                '"' => '"',
                '\'' => '\'',
                _ => return Err(format!("the escape `\\{e}` is not supported")),
            });
        } else if quote == '"' && c == '\n' {
            break;
        } else {
            out.push(c);
        }
    }
    Err("an unterminated string".into())
}

fn tokens(s: &str) -> Result<Vec<Spanned>, String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut spaced = true;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            spaced = true;
            i += 1;
            continue;
        }
        let (tok, used) = match c {
            b'(' => (Tok::LParen, 1),
            b')' => (Tok::RParen, 1),
            b'"' | b'`' => {
                let (v, used) = string_literal(&s[i..])?;
                (Tok::Str(v), used)
            }
            b'.' => {
                let end = b[i..]
                    .iter()
                    .position(|&x| !(name_byte(x) || x == b'.'))
                    .map_or(b.len(), |n| i + n);
                let path = &s[i + 1..end];
                let fields: Vec<String> = path.split('.').map(str::to_owned).collect();
                if fields.iter().any(String::is_empty) {
                    return Err(format!("`{}`: a malformed field path", &s[i..end]));
                }
                (Tok::Field(fields), end - i)
            }
            b'-' | b'0'..=b'9' => {
                let end = b[i + 1..]
                    .iter()
                    .position(|x| !x.is_ascii_digit())
                    .map_or(b.len(), |n| i + 1 + n);
                let n = s[i..end]
                    .parse::<i64>()
                    .map_err(|_| format!("`{}` is not a supported number", &s[i..end]))?;
                (Tok::Int(n), end - i)
            }
            c if c.is_ascii_alphabetic() => {
                let end = b[i..]
                    .iter()
                    .position(|&x| !(x.is_ascii_alphanumeric() || x == b'_'))
                    .map_or(b.len(), |n| i + n);
                let word = &s[i..end];
                let tok = match word {
                    "true" => Tok::Bool(true),
                    "false" => Tok::Bool(false),
                    w => Tok::Ident(w.to_owned()),
                };
                (tok, end - i)
            }
            b'[' => {
                return Err(
                    "`[` is not Go template syntax (index with `(index .Extra.a 0).b`)".into(),
                );
            }
            _ => {
                let ch = s[i..].chars().next().unwrap_or('?');
                return Err(format!("`{ch}` is not supported"));
            }
        };
        out.push(Spanned { tok, spaced });
        spaced = false;
        i += used;
    }
    Ok(out)
}

fn root(fields: &[String]) -> Result<Expr, String> {
    let f: Vec<&str> = fields.iter().map(String::as_str).collect();
    Ok(match f.as_slice() {
        ["Subject"] => Expr::Subject,
        ["Extra", rest @ ..] => Expr::Extra(rest.iter().map(|s| (*s).to_owned()).collect()),
        ["MatchContext", "Method"] => Expr::Method,
        ["MatchContext", "URL"] | ["MatchContext", "URL", "String"] => Expr::Url,
        ["MatchContext", "URL", "Scheme"] => Expr::Scheme,
        ["MatchContext", "URL", "Host"] => Expr::Host,
        ["MatchContext", "URL", "Path"] => Expr::Path,
        ["MatchContext", "URL", "RawQuery"] => Expr::RawQuery,
        _ => {
            return Err(format!(
                "`.{}` is not supported (use .Subject, .Extra.<key> or .MatchContext.Method/URL[.Scheme|.Host|.Path|.RawQuery])",
                fields.join(".")
            ));
        }
    })
}

/// A `printf` format: literal text and the verbs Gatehouse supports.
fn format_pieces(f: &str) -> Result<Vec<Piece>, String> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut chars = f.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            lit.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => lit.push('%'),
            Some(v @ ('s' | 'd' | 'v' | 'q' | 't')) => {
                if !lit.is_empty() {
                    out.push(Piece::Lit(std::mem::take(&mut lit)));
                }
                out.push(Piece::Verb(v));
            }
            Some(v) => {
                return Err(format!(
                    "printf: `%{v}` is not supported (%s %d %v %q %t %%, without flags or widths)"
                ));
            }
            None => return Err("printf: the format ends with `%`".into()),
        }
    }
    if !lit.is_empty() {
        out.push(Piece::Lit(lit));
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Spanned>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    /// A command: a function and its arguments, or a single operand; stops before `)` or the end.
    fn command(&mut self, depth: usize) -> Result<Expr, String> {
        if let Some(Tok::Ident(name)) = self.peek() {
            let name = name.clone();
            self.pos += 1;
            let mut args = Vec::new();
            while !matches!(self.peek(), None | Some(Tok::RParen)) {
                args.push(self.operand(depth)?);
            }
            return match name.as_str() {
                "print" => Ok(Expr::Print(args)),
                "printf" => {
                    let mut args = args.into_iter();
                    let Some(Expr::Str(format)) = args.next() else {
                        return Err("printf: the format must be a string literal".into());
                    };
                    let pieces = format_pieces(&format)?;
                    let args: Vec<Expr> = args.collect();
                    let verbs = pieces
                        .iter()
                        .filter(|p| matches!(p, Piece::Verb(_)))
                        .count();
                    if verbs != args.len() {
                        return Err(format!(
                            "printf: the format has {verbs} verbs for {} arguments",
                            args.len()
                        ));
                    }
                    Ok(Expr::Printf(pieces, args))
                }
                "index" => {
                    let mut args = args.into_iter();
                    let Some(of) = args.next() else {
                        return Err("index: needs something to index".into());
                    };
                    Ok(Expr::Index(Box::new(of), args.collect()))
                }
                other => Err(format!(
                    "the function `{other}` is not supported (print, printf, index)"
                )),
            };
        }
        let e = self.operand(depth)?;
        if !matches!(self.peek(), None | Some(Tok::RParen)) {
            return Err("only a function takes arguments".into());
        }
        Ok(e)
    }

    fn operand(&mut self, depth: usize) -> Result<Expr, String> {
        let Some(t) = self.toks.get(self.pos) else {
            return Err("an operand is missing".into());
        };
        let tok = t.tok.clone();
        self.pos += 1;
        Ok(match tok {
            Tok::Field(fields) => root(&fields)?,
            Tok::Str(s) => Expr::Str(s),
            Tok::Int(n) => Expr::Int(n),
            Tok::Bool(b) => Expr::Bool(b),
            Tok::LParen => {
                if depth >= MAX_DEPTH {
                    return Err("parentheses nest too deeply".into());
                }
                let inner = self.command(depth + 1)?;
                if self.peek() != Some(&Tok::RParen) {
                    return Err("`(` without `)`".into());
                }
                self.pos += 1;
                match self.toks.get(self.pos) {
                    Some(Spanned {
                        tok: Tok::Field(fields),
                        spaced: false,
                    }) => {
                        let fields = fields.clone();
                        self.pos += 1;
                        Expr::Field(Box::new(inner), fields)
                    }
                    _ => inner,
                }
            }
            Tok::RParen => return Err("`)` without `(`".into()),
            Tok::Ident(name) => {
                return Err(format!(
                    "the function `{name}` must be in parentheses to be an argument"
                ));
            }
        })
    }
}

fn parse_action(expr: &str) -> Result<Expr, String> {
    let toks = tokens(expr)?;
    if toks.is_empty() {
        return Err("an empty action".into());
    }
    let mut p = Parser { toks, pos: 0 };
    let e = p.command(0)?;
    if p.pos != p.toks.len() {
        return Err("`)` without `(`".into());
    }
    Ok(e)
}

/// A value while an action is evaluated.
enum Val<'a> {
    Missing,
    Str(Cow<'a, str>),
    Json(&'a Value),
    Int(i64),
    Bool(bool),
}

impl Val<'_> {
    fn is_string(&self) -> bool {
        matches!(self, Val::Str(_) | Val::Json(Value::String(_)))
    }

    /// As `print` writes it: strings as they are, other JSON as JSON, nothing as nothing.
    fn write(&self, out: &mut String) {
        match self {
            Val::Missing | Val::Json(Value::Null) => {}
            Val::Str(s) => out.push_str(s),
            Val::Json(Value::String(s)) => out.push_str(s),
            Val::Json(v) => out.push_str(&v.to_string()),
            Val::Int(n) => out.push_str(&n.to_string()),
            Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            Val::Json(Value::String(s)) => Some(s),
            _ => None,
        }
    }

    fn as_int(&self) -> Option<i64> {
        match self {
            Val::Int(n) => Some(*n),
            Val::Json(Value::Number(n)) => n
                .as_i64()
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
            _ => None,
        }
    }

    fn as_bool(&self) -> Option<bool> {
        match self {
            Val::Bool(b) | Val::Json(Value::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    /// Go's name for the dynamic type (as in `%!d(string=abc)`).
    fn go_type(&self) -> &'static str {
        match self {
            Val::Missing | Val::Json(Value::Null) => "<nil>",
            Val::Str(_) | Val::Json(Value::String(_)) => "string",
            Val::Int(_) => "int",
            Val::Bool(_) | Val::Json(Value::Bool(_)) => "bool",
            Val::Json(Value::Number(_)) => "float64",
            Val::Json(Value::Array(_)) => "[]interface {}",
            Val::Json(Value::Object(_)) => "map[string]interface {}",
        }
    }
}

/// Go's `strconv.Quote` for the characters that matter: `"`, `\` and control characters.
fn go_quote(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn printf(pieces: &[Piece], args: &[Val<'_>], out: &mut String) {
    let mut args = args.iter();
    for p in pieces {
        let verb = match p {
            Piece::Lit(t) => {
                out.push_str(t);
                continue;
            }
            Piece::Verb(v) => *v,
        };
        // The parser checked that there is one argument per verb.
        let Some(a) = args.next() else { return };
        let wrong = |out: &mut String| {
            if matches!(a, Val::Missing | Val::Json(Value::Null)) {
                return;
            }
            out.push_str(&format!("%!{verb}({}=", a.go_type()));
            a.write(out);
            out.push(')');
        };
        match verb {
            's' | 'v' => a.write(out),
            'd' => match a.as_int() {
                Some(n) => out.push_str(&n.to_string()),
                None => wrong(out),
            },
            't' => match a.as_bool() {
                Some(b) => out.push_str(if b { "true" } else { "false" }),
                None => wrong(out),
            },
            'q' => match a.as_str() {
                Some(s) => go_quote(s, out),
                None => wrong(out),
            },
            _ => wrong(out),
        }
    }
}

fn fields<'a>(v: &Val<'a>, path: &[String]) -> Val<'a> {
    let Val::Json(start) = *v else {
        return Val::Missing;
    };
    match path.iter().try_fold(start, |cur, k| cur.get(k)) {
        Some(v) => Val::Json(v),
        None => Val::Missing,
    }
}

/// Renders expressions over one context (the request's path and query split once).
struct Eval<'a, 'c> {
    ctx: &'c Context<'a>,
    path: &'a str,
    query: &'a str,
    path_and_query: &'a str,
}

impl<'a> Eval<'a, '_> {
    fn eval(&self, e: &'a Expr) -> Val<'a> {
        match e {
            Expr::Subject => Val::Str(Cow::Borrowed(self.ctx.subject)),
            Expr::Method => Val::Str(Cow::Borrowed(self.ctx.method)),
            Expr::Scheme => Val::Str(Cow::Borrowed(self.ctx.scheme)),
            Expr::Host => Val::Str(Cow::Borrowed(self.ctx.host)),
            Expr::Path => Val::Str(Cow::Borrowed(self.path)),
            Expr::RawQuery => Val::Str(Cow::Borrowed(self.query)),
            Expr::Url => Val::Str(Cow::Owned(format!(
                "{}://{}{}",
                self.ctx.scheme, self.ctx.host, self.path_and_query
            ))),
            Expr::Extra(path) => fields(&Val::Json(self.ctx.extra), path),
            Expr::Str(s) => Val::Str(Cow::Borrowed(s)),
            Expr::Int(n) => Val::Int(*n),
            Expr::Bool(b) => Val::Bool(*b),
            Expr::Field(inner, path) => fields(&self.eval(inner), path),
            Expr::Print(args) => {
                let vals: Vec<Val<'a>> = args.iter().map(|a| self.eval(a)).collect();
                let mut out = String::new();
                for (i, v) in vals.iter().enumerate() {
                    // Go's fmt.Sprint: a space between operands when neither is a string.
                    if i > 0 && !v.is_string() && !vals[i - 1].is_string() {
                        out.push(' ');
                    }
                    v.write(&mut out);
                }
                Val::Str(Cow::Owned(out))
            }
            Expr::Printf(pieces, args) => {
                let vals: Vec<Val<'a>> = args.iter().map(|a| self.eval(a)).collect();
                let mut out = String::new();
                printf(pieces, &vals, &mut out);
                Val::Str(Cow::Owned(out))
            }
            Expr::Index(of, keys) => {
                let mut cur = self.eval(of);
                for k in keys {
                    let k = self.eval(k);
                    cur = match cur {
                        Val::Json(Value::Array(a)) => match k.as_int() {
                            Some(i) => usize::try_from(i)
                                .ok()
                                .and_then(|i| a.get(i))
                                .map_or(Val::Missing, Val::Json),
                            None => Val::Missing,
                        },
                        Val::Json(Value::Object(m)) => match k.as_str() {
                            Some(key) => m.get(key).map_or(Val::Missing, Val::Json),
                            None => Val::Missing,
                        },
                        _ => Val::Missing,
                    };
                }
                cur
            }
        }
    }
}

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
        let mut trim_next = false;
        while let Some(start) = rest.find("{{") {
            let mut text = &rest[..start];
            if trim_next {
                text = text.trim_start();
            }
            let after = &rest[start + 2..];
            let end = after.find("}}").ok_or("`{{` without `}}`")?;
            let mut expr = &after[..end];
            // `{{- ` and ` -}}` trim the whitespace beside the action, as in Go.
            if let Some(e) = expr.strip_prefix("- ") {
                text = text.trim_end();
                expr = e;
            }
            trim_next = false;
            if let Some(e) = expr.strip_suffix(" -") {
                trim_next = true;
                expr = e;
            }
            if !text.is_empty() {
                parts.push(Part::Text(text.to_owned()));
            }
            let expr = expr.trim();
            let comment = expr.starts_with("/*") && expr.ends_with("*/") && expr.len() >= 4;
            if !comment {
                let e = parse_action(expr).map_err(|e| format!("`{{{{ {expr} }}}}`: {e}"))?;
                parts.push(Part::Action(e));
            }
            rest = &after[end + 2..];
        }
        if rest.contains("}}") {
            return Err("`}}` without `{{`".into());
        }
        let rest = if trim_next { rest.trim_start() } else { rest };
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
        let path_and_query = ctx.uri.split('#').next().unwrap_or_default();
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let ev = Eval {
            ctx,
            path,
            query,
            path_and_query,
        };
        let mut value = String::new();
        for p in &self.0 {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Action(e) => {
                    value.clear();
                    ev.eval(e).write(&mut value);
                    match escape {
                        Escape::None => out.push_str(&value),
                        Escape::Json => {
                            let quoted = Value::String(std::mem::take(&mut value)).to_string();
                            out.push_str(&quoted[1..quoted.len() - 1]);
                        }
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
            "x }}",
            "{{ .Extra. }}",
            "{{ .Extra.a..b }}",
            "{{ .Extra.a[0] }}",
            "{{ .Subject | print }}",
            "{{ $x := .Subject }}",
            "{{ if .Subject }}x{{ end }}",
            "{{ len .Extra.a }}",
            "{{ printf .Subject }}",
            "{{ printf \"%s %s\" .Subject }}",
            "{{ printf \"%s\" .Subject .Subject }}",
            "{{ printf \"%5s\" .Subject }}",
            "{{ printf \"%x\" .Subject }}",
            "{{ printf \"%\" }}",
            "{{ index }}",
            "{{ print (index .Extra.a 0 }}",
            "{{ print index .Extra.a 0) }}",
            "{{ .Subject .Subject }}",
            "{{ print \"unterminated }}",
            "{{ }}",
            "{{ . }}",
        ] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
        let deep = format!(
            "{{{{ print {}.Subject{} }}}}",
            "(".repeat(40),
            ")".repeat(40)
        );
        assert!(Template::parse(&deep).is_err());
    }

    /// Oathkeeper's documented `index` and `printf` (Go's text/template), as in Ory's rule files.
    #[test]
    fn go_template_index_and_printf() {
        let extra = json!({
            "identity": {
                "verifiable_addresses": [{"value": "a@example.com", "verified": true}],
                "traits": {"email": "a@example.com", "name": {"first": "Ada"}},
                "metadata_public": {"roles": ["admin", "dev"]}
            },
            "n": 42,
            "ratio": 1.5,
            "m": {"k": "v"}
        });
        let r = |t: &str| Template::parse(t).expect(t).render("user-1", &extra);
        assert_eq!(
            r("{{ print (index .Extra.identity.verifiable_addresses 0).verified }}"),
            "true"
        );
        assert_eq!(
            r("{{ (index .Extra.identity.verifiable_addresses 0).value }}"),
            "a@example.com"
        );
        assert_eq!(
            r("{{ index .Extra.identity.metadata_public.roles 1 }}"),
            "dev"
        );
        assert_eq!(
            r("{{ index .Extra \"identity\" \"traits\" \"name\" \"first\" }}"),
            "Ada"
        );
        assert_eq!(r("{{ index .Extra.m \"k\" }}"), "v");
        // Out of range, a wrong key type, a missing key, indexing a string: empty.
        assert_eq!(
            r("[{{ index .Extra.identity.metadata_public.roles 2 }}]"),
            "[]"
        );
        assert_eq!(
            r("[{{ index .Extra.identity.metadata_public.roles -1 }}]"),
            "[]"
        );
        assert_eq!(
            r("[{{ index .Extra.identity.metadata_public.roles \"x\" }}]"),
            "[]"
        );
        assert_eq!(r("[{{ index .Extra.m \"nope\" }}]"), "[]");
        assert_eq!(r("[{{ index .Extra.m.k 0 }}]"), "[]");
        assert_eq!(r("[{{ (index .Extra.nope 0).verified }}]"), "[]");

        assert_eq!(r("{{ printf \"%s\" .Subject }}"), "user-1");
        assert_eq!(
            r("{{ printf \"id=%s n=%d\" .Subject .Extra.n }}"),
            "id=user-1 n=42"
        );
        assert_eq!(
            r("{{ printf \"%v|%t|%q|100%%\" .Extra.ratio true .Subject }}"),
            "1.5|true|\"user-1\"|100%"
        );
        assert_eq!(r("{{ printf \"%d\" .Subject }}"), "%!d(string=user-1)");
        assert_eq!(r("{{ printf \"%t\" .Extra.n }}"), "%!t(float64=42)");
        assert_eq!(r("{{ printf \"%q\" \"a\\\"b\" }}"), "\"a\\\"b\"");
        assert_eq!(
            r("{{ printf \"%s\" (index .Extra.identity.verifiable_addresses 0).value }}"),
            "a@example.com"
        );
        assert_eq!(
            r("{{ printf `%s-%s` .Subject .MatchContext.Method }}"),
            "user-1-"
        );
        // Go's fmt.Sprint: spaces between operands only where neither is a string.
        assert_eq!(r("{{ print 1 2 \"a\" 3 }}"), "1 2a3");
        assert_eq!(r("a {{- print \"b\" -}} c{{/* a comment */}}"), "abc");
    }

    #[test]
    fn never_panics_on_odd_input() {
        let extra = json!({"a": [1, {"b": "c"}]});
        for s in [
            "{{",
            "}}",
            "{{}}",
            "{{ ( }}",
            "{{ ) }}",
            "{{ \"\\",
            "{{ `",
            "{{ -",
            "{{ 99999999999999999999 }}",
            "{{ print (index .Extra.a 1).b }}",
            "{{ index .Extra.a 9223372036854775807 }}",
            "{{ ((.Subject)) }}",
            "{{- -}}",
            "{{-}}",
            "{{ é }}",
            "{{ .é }}",
            "{{ printf \"é%s\" \"ü\" }}",
        ] {
            if let Ok(t) = Template::parse(s) {
                let _ = t.render("s", &extra);
            }
        }
    }
}
