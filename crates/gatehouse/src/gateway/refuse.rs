//! Refusals: how a refused request is answered, by the rule's error handlers in order (the
//! first whose `when` matches the error kind and the request's headers): a `redirect` (with
//! `return_to_query_param` carrying where the request was going), `www_authenticate` (401 with
//! a Basic challenge) or `json`; without a matching handler, JSON in Oathkeeper's shape.

use axum::http::HeaderMap;

use super::handlers::{ErrorAction, ErrorHandler, ErrorKindSet, RuleHandlers};
use super::model::{Decision, ErrorKind, Request, error_body};

/// Whether `h` applies to a refusal of `kind` for a request with `headers`.
fn applies(h: &ErrorHandler, kind: ErrorKind, headers: &HeaderMap) -> bool {
    if h.when.is_empty() {
        return true;
    }
    h.when.iter().any(|w| {
        let kind_ok = match &w.errors {
            ErrorKindSet::Any => true,
            ErrorKindSet::Some(k) => k.contains(&kind),
        };
        kind_ok
            && w.headers.iter().all(|(name, wanted)| {
                let got = headers.get(name).and_then(|v| v.to_str().ok());
                if name == axum::http::header::ACCEPT {
                    // Read by quality values, not as a substring: `text/html;q=0` refuses
                    // HTML, and `*/*` alone (curl, SDKs) does not make a browser.
                    let offers: Vec<&str> = wanted.iter().map(String::as_str).collect();
                    return gatehouse_protocol::media::names_explicitly(got, &offers);
                }
                let got = got.unwrap_or_default().to_ascii_lowercase();
                wanted.iter().any(|w| media_matches(&got, w))
            })
    })
}

/// Whether a header listing media types (`text/html,application/xhtml+xml;q=0.9`) names one
/// that `pattern` (lower case: `text/html`, `text/*`, `*/*`) covers.
fn media_matches(header: &str, pattern: &str) -> bool {
    header.split(',').any(|m| {
        let m = m.split(';').next().unwrap_or_default().trim();
        match pattern.strip_suffix("/*") {
            Some(prefix) => m.split('/').next() == Some(prefix) || pattern == "*/*",
            None => m == pattern,
        }
    })
}

/// The answer to a refused request: `handlers` are the matched rule's (`None` when no rule
/// matched), `reason` is shown only by a verbose `json` handler.
pub fn refuse(
    handlers: Option<&RuleHandlers>,
    kind: ErrorKind,
    reason: &str,
    r: &Request<'_>,
) -> Decision {
    let handlers = handlers.map(|h| h.errors.as_slice()).unwrap_or_default();
    for h in handlers {
        if !applies(h, kind, r.headers) {
            continue;
        }
        match &h.action {
            ErrorAction::Redirect {
                to,
                code,
                return_to_query_param,
            } => {
                let mut to = to.clone();
                if let Some(param) = return_to_query_param {
                    let back = format!("{}://{}{}", r.scheme, r.host, r.uri);
                    let sep = if to.contains('?') { '&' } else { '?' };
                    to = format!(
                        "{to}{sep}{param}={}",
                        url::form_urlencoded::byte_serialize(back.as_bytes()).collect::<String>()
                    );
                }
                return Decision::Deny {
                    status: *code,
                    headers: vec![("Location".into(), to)],
                    body: None,
                };
            }
            ErrorAction::WwwAuthenticate { header } => {
                return Decision::Deny {
                    status: 401,
                    headers: vec![(
                        "WWW-Authenticate".into(),
                        header.to_str().unwrap_or_default().to_owned(),
                    )],
                    body: None,
                };
            }
            ErrorAction::Json { verbose } => {
                return json_error(kind, reason, *verbose);
            }
        }
    }
    json_error(kind, reason, false)
}

fn json_error(kind: ErrorKind, reason: &str, verbose: bool) -> Decision {
    let status = kind.status();
    let message = match kind {
        ErrorKind::Unauthorized => "Access credentials are invalid",
        ErrorKind::Forbidden => "Access credentials are not sufficient to access this resource",
        ErrorKind::NotFound => "Requested url does not match any rules",
        ErrorKind::BadRequest => "The request is malformed",
        ErrorKind::Internal => "An internal server error occurred",
    };
    Decision::Deny {
        status,
        headers: Vec::new(),
        body: Some(error_body(status, message, verbose.then_some(reason))),
    }
}
