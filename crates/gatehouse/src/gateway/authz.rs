//! Authorizers: whether the authenticated subject may make the request. `allow` and `deny`;
//! Gatehouse's own (`required_scopes` under the credential scope rules, `required_roles`,
//! `required_aal`, `allowed_subjects`); and `remote_json`, asked over HTTP (`remote_json`).
//! An allowed request carries the headers a `remote_json` authorizer forwards upstream.

use super::handlers::Authorizer;
use super::model::{Cx, ErrorKind, Request, Subject, context};
use crate::credentials::scope;

/// Allowed, with the headers to forward upstream, or the refusal.
pub async fn authorize(
    cx: &Cx<'_>,
    a: &Authorizer,
    s: &Subject,
    r: &Request<'_>,
) -> Result<Vec<(String, String)>, (ErrorKind, String)> {
    match a {
        Authorizer::Allow => Ok(Vec::new()),
        Authorizer::Deny => Err((ErrorKind::Forbidden, "access is denied by the rule".into())),
        Authorizer::Gatehouse(c) => {
            if let Some(missing) = c
                .required_scopes
                .iter()
                .find(|r| !scope::any_grants(&s.scopes, r))
            {
                return Err((
                    ErrorKind::Forbidden,
                    format!("the scope {missing} is required"),
                ));
            }
            if let Some(missing) = c.required_roles.iter().find(|r| !s.roles.contains(r)) {
                return Err((
                    ErrorKind::Forbidden,
                    format!("the role {missing} is required"),
                ));
            }
            if c.required_aal.as_deref() == Some("aal2") && s.aal.as_deref() != Some("aal2") {
                return Err((
                    ErrorKind::Forbidden,
                    "a second factor (aal2) is required".into(),
                ));
            }
            if !c.allowed_subjects.is_empty() && !c.allowed_subjects.contains(&s.id) {
                return Err((ErrorKind::Forbidden, "this subject is not allowed".into()));
            }
            Ok(Vec::new())
        }
        Authorizer::RemoteJson(c) => c.authorize(cx.http, &context(s, r)).await,
    }
}
