//! HTTP content negotiation (RFC 9110 §12.5.1): which of the media types a server offers an
//! `Accept` header prefers, by quality values and specificity, not by substring. One function
//! for every place that asks "does this client want JSON or a page?" — the self-service flows
//! (as Kratos decides it) and the gateway's error-handler `when` conditions (as Oathkeeper does).

/// One media range of an `Accept` header: `type/subtype` (either may be `*`) and its `q`.
#[derive(Debug, Clone, PartialEq)]
struct Range<'a> {
    kind: &'a str,
    sub: &'a str,
    q: f32,
}

/// The most media ranges read from one header (the rest are ignored, not an error).
const MAX_RANGES: usize = 64;

fn ranges(accept: &str) -> Vec<Range<'_>> {
    accept
        .split(',')
        .take(MAX_RANGES)
        .filter_map(|part| {
            let mut params = part.split(';');
            let media = params.next()?.trim();
            let (kind, sub) = media.split_once('/')?;
            let (kind, sub) = (kind.trim(), sub.trim());
            if kind.is_empty() || sub.is_empty() || (kind == "*" && sub != "*") {
                return None;
            }
            let mut q = 1.0f32;
            for p in params {
                if let Some((k, v)) = p.split_once('=')
                    && k.trim().eq_ignore_ascii_case("q")
                {
                    q = v
                        .trim()
                        .parse::<f32>()
                        .ok()
                        .filter(|q| (0.0..=1.0).contains(q))?;
                }
            }
            Some(Range { kind, sub, q })
        })
        .collect()
}

/// How specifically `r` covers `offer` (`type/subtype`): 2 exact, 1 `type/*`, 0 `*/*`.
fn specificity(r: &Range<'_>, offer: &str) -> Option<u8> {
    let (kind, sub) = offer.split_once('/')?;
    if r.kind == "*" {
        return Some(0);
    }
    if !r.kind.eq_ignore_ascii_case(kind) {
        return None;
    }
    if r.sub == "*" {
        return Some(1);
    }
    r.sub.eq_ignore_ascii_case(sub).then_some(2)
}

/// The quality the header gives `offer`: that of its most specific matching range, 0 if none.
fn quality(ranges: &[Range<'_>], offer: &str) -> f32 {
    ranges
        .iter()
        .filter_map(|r| specificity(r, offer).map(|s| (s, r.q)))
        .max_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)))
        .map_or(0.0, |(_, q)| q)
}

/// The offer the `Accept` header prefers: the highest quality above 0, the earlier offer on a
/// tie (the server's preference). No header, or one with no valid range, accepts anything: the
/// first offer. `None` when the client accepts none of them.
pub fn negotiate<'o>(accept: Option<&str>, offers: &[&'o str]) -> Option<&'o str> {
    let parsed = accept.map(ranges).unwrap_or_default();
    if parsed.is_empty() {
        return offers.first().copied();
    }
    let mut best: Option<(&'o str, f32)> = None;
    for offer in offers {
        let q = quality(&parsed, offer);
        if q > 0.0 && best.is_none_or(|(_, b)| q > b) {
            best = Some((offer, q));
        }
    }
    best.map(|(o, _)| o)
}

/// Whether the `Accept` header names one of `offers` itself (`text/html` or `text/*`, with a
/// quality above 0), not only through `*/*`. The gateway's error-handler `when` conditions use
/// it: a browser listing `application/json;q=0.9` after `text/html` is a browser, while `curl`
/// (`*/*`) and a header refusing HTML (`text/html;q=0`) are not taken for one.
pub fn names_explicitly(accept: Option<&str>, offers: &[&str]) -> bool {
    let parsed = accept.map(ranges).unwrap_or_default();
    offers.iter().any(|offer| {
        parsed
            .iter()
            .filter_map(|r| specificity(r, offer).map(|s| (s, r.q)))
            .max_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)))
            .is_some_and(|(s, q)| s > 0 && q > 0.0)
    })
}

/// Whether a client prefers JSON to an HTML page, as Kratos decides it for browser flows: a JSON
/// body, or an `Accept` header that ranks `application/json` above `text/html`.
pub fn prefers_json(accept: Option<&str>, content_type: Option<&str>) -> bool {
    let json_body = content_type
        .and_then(|c| c.split(';').next())
        .is_some_and(|c| c.trim().eq_ignore_ascii_case("application/json"));
    json_body || negotiate(accept, &["text/html", "application/json"]) == Some("application/json")
}

#[cfg(test)]
mod tests {
    use super::*;

    const BROWSER: &str = "text/html,application/xhtml+xml,application/json;q=0.9,*/*;q=0.8";

    #[test]
    fn a_browser_listing_json_at_lower_quality_gets_the_page() {
        assert!(!prefers_json(Some(BROWSER), None));
        assert_eq!(
            negotiate(Some(BROWSER), &["application/json", "text/html"]),
            Some("text/html")
        );
    }

    #[test]
    fn negotiation_table() {
        let offers = ["text/html", "application/json"];
        for (accept, want) in [
            (None, Some("text/html")),
            (Some(""), Some("text/html")),
            (Some("application/json"), Some("application/json")),
            (Some("application/json, text/html"), Some("text/html")),
            (
                Some("text/html;q=0.5, application/json"),
                Some("application/json"),
            ),
            (Some("*/*"), Some("text/html")),
            (Some("application/*"), Some("application/json")),
            (
                Some("text/*;q=0.2, application/json;q=0.3"),
                Some("application/json"),
            ),
            (Some("text/html;q=0, */*"), Some("application/json")),
            (Some("image/png"), None),
            (Some("application/json;q=0"), None),
            (Some("APPLICATION/JSON"), Some("application/json")),
            (Some("application/json;q=abc"), Some("text/html")),
            (Some("*/json"), Some("text/html")),
            (Some("garbage"), Some("text/html")),
        ] {
            assert_eq!(negotiate(accept, &offers), want, "Accept: {accept:?}");
        }
    }

    #[test]
    fn explicit_naming_for_gateway_conditions() {
        let html = ["text/html"];
        assert!(names_explicitly(Some(BROWSER), &html));
        assert!(names_explicitly(Some("text/*"), &html));
        assert!(!names_explicitly(Some("*/*"), &html));
        assert!(!names_explicitly(None, &html));
        assert!(!names_explicitly(
            Some("application/json, text/html;q=0"),
            &html
        ));
        assert!(!names_explicitly(Some("text/html;q=0, */*"), &html));
        assert!(names_explicitly(Some(BROWSER), &["application/json"]));
    }

    #[test]
    fn a_json_body_means_json() {
        assert!(prefers_json(None, Some("application/json; charset=utf-8")));
        assert!(!prefers_json(
            None,
            Some("application/x-www-form-urlencoded")
        ));
        assert!(prefers_json(Some("application/json"), None));
    }

    #[test]
    fn hostile_headers_do_not_panic() {
        let long = "a/b;q=0.1,".repeat(10_000);
        let _ = negotiate(Some(&long), &["a/b"]);
        for h in [
            ";;;",
            "/",
            "*/",
            "/*",
            ",,,",
            "q=1",
            "a/b;q",
            "a/b;q=2",
            "ü/ö;q=0.5",
        ] {
            let _ = negotiate(Some(h), &["text/html"]);
        }
    }
}
