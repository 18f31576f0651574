//! Mutators: the headers the upstream gets for an allowed request. Every identity header (empty
//! where it does not apply, so a gateway that copies them overwrites the client's), then what
//! the authorizer forwards and each mutator sets, in order (a later one replaces an earlier one
//! of the same name): `header` (templates), `cookie` (the client's cookies with the rule's added
//! or replaced, as one `Cookie` header), `id_token` (`Authorization: Bearer <jwt>`) and
//! `hydrator` (asked over HTTP, `hydrator`).

use super::extract::cookie_pairs;
use super::handlers::{Mutator, RuleHandlers};
use super::model::{Cx, ErrorKind, IDENTITY_HEADERS, Request, Subject, context};
use super::template::Escape;

/// A cookie value with only the characters RFC 6265 allows (`cookie-octet`).
fn cookie_value(v: &str) -> String {
    v.bytes()
        .filter(|b| matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E))
        .map(char::from)
        .collect()
}

/// Sets a header in the upstream list, replacing an earlier one of the same name.
fn set_header(out: &mut Vec<(String, String)>, name: &str, value: String) {
    match out.iter_mut().find(|(k, _)| k.eq_ignore_ascii_case(name)) {
        Some(slot) => slot.1 = value,
        None => out.push((name.to_owned(), value)),
    }
}

/// The upstream headers for subject `s`: every identity header, then `forwarded` (from the
/// authorizer) and what the mutators set.
pub async fn mutate(
    cx: &Cx<'_>,
    h: &RuleHandlers,
    mut s: Subject,
    r: &Request<'_>,
    forwarded: Vec<(String, String)>,
    now: i64,
) -> Result<Vec<(String, String)>, (ErrorKind, String)> {
    let mut set = forwarded;
    for m in &h.mutators {
        match m {
            Mutator::Noop => {}
            Mutator::Header(headers) => {
                let ctx = context(&s, r);
                for (name, t) in headers {
                    let mut v = match t.literal() {
                        Some(l) => l.to_owned(),
                        None => {
                            let mut v = String::new();
                            t.render_into(&mut v, &ctx, Escape::None);
                            v
                        }
                    };
                    // Header values must not break the response: control characters dropped.
                    v.retain(|c| !c.is_control());
                    set_header(&mut set, name.as_str(), v);
                }
            }
            Mutator::Cookie(rule_cookies) => {
                let ctx = context(&s, r);
                let mut jar: Vec<(String, String)> = cookie_pairs(r.headers)
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
                for (name, t) in rule_cookies {
                    let mut v = String::new();
                    t.render_into(&mut v, &ctx, Escape::None);
                    let v = cookie_value(&v);
                    match jar.iter_mut().find(|(k, _)| k == name) {
                        Some(slot) => slot.1 = v,
                        None => jar.push((name.clone(), v)),
                    }
                }
                let header = jar
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("; ");
                set_header(&mut set, "Cookie", header);
            }
            Mutator::IdToken(t) => {
                let keys = cx.provider.keys.current();
                let jwt = t
                    .mint(&keys.signing, &cx.provider.issuer, &context(&s, r), now)
                    .map_err(|e| (ErrorKind::Internal, e))?;
                set_header(&mut set, "Authorization", format!("Bearer {jwt}"));
            }
            Mutator::Hydrator(hy) => {
                let got = hy.hydrate(cx.http, &s.id, &s.extra, &set, r).await?;
                if let Some(extra) = &got.extra {
                    s.extra = extra.clone();
                }
                if let Some(header) = &got.header {
                    set.clone_from(header);
                }
            }
        }
    }
    let mut out: Vec<(String, String)> = Vec::with_capacity(IDENTITY_HEADERS.len() + set.len());
    for name in IDENTITY_HEADERS {
        let v = s
            .headers
            .iter_mut()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| std::mem::take(v))
            .unwrap_or_default();
        out.push((name.to_owned(), v));
    }
    for (k, v) in set {
        set_header(&mut out, &k, v);
    }
    Ok(out)
}
