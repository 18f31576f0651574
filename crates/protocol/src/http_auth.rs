//! Credentials in HTTP request headers, read one way everywhere: the token of an
//! `Authorization: Bearer` header (RFC 6750 §2.1) and the name/value pairs of `Cookie` headers
//! (RFC 6265 §5.4). The OAuth endpoints, the session and credential APIs, the admin token check
//! and the gateway's authenticators all call these, so a token is found (or not) the same way
//! on every listener.
//!
//! Both take header values as `&str` (a value that is not visible ASCII is the caller's to
//! drop) and borrow from them: the gateway's cookie-session decision is a hot path, and finding
//! its cookie copies nothing.

/// The most cookie pairs read from a request's `Cookie` headers; the rest are ignored, not an
/// error (a browser sends a few dozen at most).
pub const MAX_COOKIES: usize = 64;

/// Optional whitespace around names, values and tokens (RFC 9110 §5.6.3).
fn ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// The token of an `Authorization` header value in the `Bearer` scheme: the scheme in any case
/// (RFC 9110 §11.1), the token with the spaces around it dropped. `None` for another scheme,
/// no token, or an empty one.
///
/// No length limit here: the header is already bounded by the server's header limits, and the
/// callers that keep or hash a token cap it where they do.
pub fn bearer(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim_start_matches(ows).split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    Some(token.trim_matches(ows)).filter(|t| !t.is_empty())
}

/// The (name, value) pairs of a request's `Cookie` header values, in the order sent, at most
/// [`MAX_COOKIES`]. Pairs are split at `;`, name and value at the first `=`, and the spaces
/// around each are dropped; a piece without `=` is skipped. A value is returned as sent:
/// a quoted value keeps its quotes (RFC 6265's `cookie-value` includes them), which is also how
/// it goes on when the gateway passes the cookies upstream.
pub fn cookies<'a>(
    values: impl IntoIterator<Item = &'a str>,
) -> impl Iterator<Item = (&'a str, &'a str)> {
    values
        .into_iter()
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            Some((name.trim_matches(ows), value.trim_matches(ows)))
        })
        .take(MAX_COOKIES)
}

/// The value of the first pair named `name`. The first one wins when a name repeats (a
/// browser sends the cookie with the longest path first, RFC 6265 §5.4), wherever a cookie is
/// looked up: in the header values (`first(cookies(values), name)`) or in pairs parsed before.
pub fn first<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    name: &str,
) -> Option<&'a str> {
    pairs.into_iter().find(|(k, _)| *k == name).map(|(_, v)| v)
}

/// The value of the first cookie named `name` in a request's `Cookie` header values.
pub fn cookie<'a>(values: impl IntoIterator<Item = &'a str>, name: &str) -> Option<&'a str> {
    first(cookies(values), name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_reads_the_scheme_in_any_case() {
        for h in ["Bearer abc", "bearer abc", "BEARER abc", "bEaReR abc"] {
            assert_eq!(bearer(h), Some("abc"), "{h}");
        }
    }

    #[test]
    fn bearer_drops_the_spaces_around_the_token() {
        assert_eq!(bearer("Bearer   abc  "), Some("abc"));
        assert_eq!(bearer("  Bearer abc"), Some("abc"));
        assert_eq!(bearer("Bearer \tabc\t"), Some("abc"));
        // Inside the token, a space stays (the token is then simply not valid).
        assert_eq!(bearer("Bearer a b"), Some("a b"));
    }

    #[test]
    fn bearer_refuses_an_empty_token_and_other_schemes() {
        for h in [
            "",
            "Bearer",
            "Bearer ",
            "Bearer    ",
            "Basic YTpi",
            "Bearerabc",
            "Token abc",
            "Bearer\tabc",
        ] {
            assert_eq!(bearer(h), None, "{h:?}");
        }
    }

    #[test]
    fn bearer_reads_an_oversized_token_whole() {
        let token = "a".repeat(1 << 20);
        let header = format!("Bearer {token}");
        assert_eq!(bearer(&header), Some(token.as_str()));
    }

    #[test]
    fn cookies_are_read_in_order_from_every_header() {
        let got: Vec<_> = cookies(["a=1; b=2", "c=3"]).collect();
        assert_eq!(got, [("a", "1"), ("b", "2"), ("c", "3")]);
        assert_eq!(cookie(["a=1; b=2", "c=3"], "c"), Some("3"));
        assert_eq!(cookie(["a=1"], "b"), None);
    }

    #[test]
    fn cookies_drop_spaces_and_skip_pieces_without_a_value() {
        let got: Vec<_> = cookies(["  a = 1 ;;b=2;  flag ; c=\t3\t; d="]).collect();
        assert_eq!(got, [("a", "1"), ("b", "2"), ("c", "3"), ("d", "")]);
    }

    #[test]
    fn a_cookie_value_keeps_its_quotes_and_later_equals_signs() {
        assert_eq!(cookie([r#"s="a b"; t=x=y=="#], "s"), Some(r#""a b""#));
        assert_eq!(cookie([r#"s="a b"; t=x=y=="#], "t"), Some("x=y=="));
    }

    #[test]
    fn the_first_cookie_of_a_name_wins() {
        assert_eq!(cookie(["s=first; s=second", "s=third"], "s"), Some("first"));
        let jar = [
            ("s".to_owned(), "1".to_owned()),
            ("s".to_owned(), "2".to_owned()),
        ];
        assert_eq!(
            first(jar.iter().map(|(k, v)| (k.as_str(), v.as_str())), "s"),
            Some("1")
        );
    }

    #[test]
    fn an_oversized_cookie_header_yields_at_most_max_cookies() {
        let header = (0..10_000)
            .map(|i| format!("c{i}=v{i}"))
            .collect::<Vec<_>>()
            .join("; ");
        let got: Vec<_> = cookies([header.as_str()]).collect();
        assert_eq!(got.len(), MAX_COOKIES);
        assert_eq!(got[MAX_COOKIES - 1], ("c63", "v63"));
        // A cookie past the limit is not found.
        assert_eq!(cookie([header.as_str()], "c64"), None);
        let big = format!("s={}", "x".repeat(1 << 20));
        assert_eq!(cookie([big.as_str()], "s").map(str::len), Some(1 << 20));
    }
}
