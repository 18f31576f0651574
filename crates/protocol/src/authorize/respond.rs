//! The authorization response (RFC 6749 §4.1.2 and §4.1.2.1) sent back to the client's redirect
//! URI: the parameters, then `state` when the request had one, then `iss` (RFC 9207), in the
//! query of a redirect, or as the fields of a form that POSTs itself (OAuth 2.0 Form Post
//! Response Mode). The HTML of that form is the web layer's.

use super::ResponseMode;
use crate::error::OAuthError;

/// Where the browser goes back to the client, and with what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeResponse {
    /// A redirect (303) to `location`: the redirect URI with the parameters added to its query.
    Redirect { location: String },
    /// `response_mode=form_post`: a form POSTing `fields` to `action`, the redirect URI.
    FormPost {
        action: String,
        fields: Vec<(String, String)>,
    },
}

/// The response for `params` (`code` and `scope`, or [`error_params`]). A redirect URI that is
/// not an absolute URI (which registration does not let through) is `server_error`, shown on a
/// page and never redirected.
pub fn respond(
    redirect_uri: &str,
    mode: ResponseMode,
    state: Option<&str>,
    iss: &str,
    mut params: Vec<(String, String)>,
) -> Result<AuthorizeResponse, OAuthError> {
    if let Some(s) = state {
        params.push(("state".into(), s.to_owned()));
    }
    params.push(("iss".into(), iss.to_owned()));
    match mode {
        ResponseMode::FormPost => Ok(AuthorizeResponse::FormPost {
            action: redirect_uri.to_owned(),
            fields: params,
        }),
        ResponseMode::Query => {
            let mut url = url::Url::parse(redirect_uri).map_err(|_| OAuthError::server_error())?;
            url.query_pairs_mut()
                .extend_pairs(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            Ok(AuthorizeResponse::Redirect {
                location: url.to_string(),
            })
        }
    }
}

/// The parameters of an error response: `error`, and `error_description` when there is one.
pub fn error_params(e: OAuthError) -> Vec<(String, String)> {
    let mut params = vec![("error".to_owned(), e.error.as_str().to_owned())];
    if let Some(d) = e.error_description {
        params.push(("error_description".into(), d));
    }
    params
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    const ISS: &str = "https://auth.example";

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_query_response_adds_state_and_iss_to_the_redirect_uri() {
        let r = respond(
            "https://app.example/cb?tenant=a",
            ResponseMode::Query,
            Some("s 1&x"),
            ISS,
            pairs(&[("code", "c1"), ("scope", "openid email")]),
        );
        assert_eq!(
            r,
            Ok(AuthorizeResponse::Redirect {
                location: "https://app.example/cb?tenant=a&code=c1&scope=openid+email&state=s+1%26x&iss=https%3A%2F%2Fauth.example".into()
            })
        );
        let r = respond(
            "http://127.0.0.1:5000/cb",
            ResponseMode::Query,
            None,
            ISS,
            pairs(&[("code", "c1")]),
        );
        assert_eq!(
            r,
            Ok(AuthorizeResponse::Redirect {
                location: "http://127.0.0.1:5000/cb?code=c1&iss=https%3A%2F%2Fauth.example".into()
            })
        );
    }

    #[test]
    fn a_form_post_response_has_the_same_fields() {
        let r = respond(
            "https://app.example/cb",
            ResponseMode::FormPost,
            Some("s1"),
            ISS,
            pairs(&[("code", "c1")]),
        );
        assert_eq!(
            r,
            Ok(AuthorizeResponse::FormPost {
                action: "https://app.example/cb".into(),
                fields: pairs(&[("code", "c1"), ("state", "s1"), ("iss", ISS)]),
            })
        );
    }

    #[test]
    fn an_unparsable_redirect_uri_is_a_server_error_not_a_redirect() {
        let e = respond("/relative", ResponseMode::Query, None, ISS, vec![]).expect_err("page");
        assert_eq!(e.error, ErrorCode::ServerError);
    }

    #[test]
    fn errors_carry_their_code_and_description() {
        assert_eq!(
            error_params(OAuthError::invalid_scope("no")),
            pairs(&[("error", "invalid_scope"), ("error_description", "no")])
        );
        let bare = OAuthError {
            error: ErrorCode::AccessDenied,
            error_description: None,
        };
        assert_eq!(error_params(bare), pairs(&[("error", "access_denied")]));
    }
}
