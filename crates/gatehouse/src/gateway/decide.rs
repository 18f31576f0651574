//! One decision, the pipeline: the rule for the request (and its rate limits), then its
//! authenticators (the first that recognises the request decides), its authorizer (`authz`),
//! its mutators (`mutate`), and on refusal its error handlers (`refuse`).
//!
//! Every allowed request gets the full set of identity headers (empty where they do not apply),
//! so a gateway that copies them overwrites whatever the client sent.
//!
//! The handlers run from their compiled form (`handlers`): nothing here reads a JSON
//! configuration.

use gatehouse_protocol::access_rule::MatchError;

use super::Gateway;
use super::authz::authorize;
use super::model::{Auth, Authenticate, Cx, Decision, ErrorKind, Request};
use super::mutate::mutate;
use super::refuse::refuse;
use crate::error::Result;

impl Gateway {
    /// What the authenticators may use for one decision.
    fn cx(&self, with_extra: bool) -> Cx<'_> {
        Cx {
            http: &self.http,
            sessions: &self.sessions,
            credentials: &self.credentials,
            provider: &self.provider,
            jwks: &self.jwks,
            session_cookie: &self.config.session.cookie.name,
            with_extra,
        }
    }

    /// Decides one request.
    pub async fn decide(&self, r: &Request<'_>, now: i64) -> Result<Decision> {
        let rules = self.rules.load();
        let path = r.uri.split(['?', '#']).next().unwrap_or_default();
        let index = match rules.set.find_index(r.method, r.scheme, r.host, path) {
            Ok(i) => i,
            Err(MatchError::BadUrl(why)) => {
                return Ok(refuse(None, ErrorKind::BadRequest, &why, r));
            }
            Err(e @ MatchError::Ambiguous { .. }) => {
                tracing::warn!(error = %e, "ambiguous access rules: denied");
                return Ok(refuse(None, ErrorKind::Internal, &e.to_string(), r));
            }
            Err(e @ MatchError::NoMatch { .. }) => {
                tracing::debug!(error = %e, "no access rule: denied");
                return Ok(refuse(None, ErrorKind::NotFound, &e.to_string(), r));
            }
        };
        let (Some(rule), Some(h)) = (rules.set.rules.get(index), rules.handlers.get(index)) else {
            return Ok(refuse(
                None,
                ErrorKind::Internal,
                "the rule has no handlers",
                r,
            ));
        };
        if let Some(limited) = self.limiter.limit_request(r, &rule.rule.id, now).await {
            return Ok(limited);
        }
        let cx = self.cx(h.needs_extra);
        let mut subject = None;
        for a in &h.authenticators {
            match a.authenticate(&cx, r, now).await? {
                Auth::Skip => continue,
                Auth::Ok(s) => {
                    if let Some(limited) =
                        self.limiter.limit_subject(a.is_anonymous(), &s, now).await
                    {
                        return Ok(limited);
                    }
                    subject = Some(s);
                    break;
                }
                Auth::Refused(kind, why) => return Ok(refuse(Some(h), kind, &why, r)),
            }
        }
        let Some(subject) = subject else {
            return Ok(refuse(
                Some(h),
                ErrorKind::Unauthorized,
                "no authenticator recognised the request",
                r,
            ));
        };
        let forwarded = match authorize(&cx, &h.authorizer, &subject, r).await {
            Ok(f) => f,
            Err((kind, why)) => return Ok(refuse(Some(h), kind, &why, r)),
        };
        match mutate(&cx, h, subject, r, forwarded, now).await {
            Ok(headers) => Ok(Decision::Allow {
                rule_id: rule.rule.id.clone(),
                headers,
                upstream: rule.rule.upstream.clone(),
            }),
            Err((kind, why)) => Ok(refuse(Some(h), kind, &why, r)),
        }
    }
}
