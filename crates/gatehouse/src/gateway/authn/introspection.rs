//! `oauth2_introspection`: an access token (the bearer token, or from `token_from`, with an
//! optional `prefix`) checked by introspection. Without `introspection_url`, Gatehouse's own
//! tokens are introspected locally (`local_introspection`), and bearer tokens that are
//! Gatehouse credentials or session tokens are left to those authenticators; with it, every
//! token is asked about at the remote endpoint (`remote_introspection`).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::local_introspection::introspect_locally;
use super::remote_introspection::{PreAuthRaw, RemoteIntrospection, RemoteRaw};
use crate::error::Result;
use crate::gateway::extract::{TokenFrom, TokenFromRaw, token_for};
use crate::gateway::model::{Auth, Authenticate, Cx, Request, config};
use crate::gateway::outbound::{CacheConfig, Retry};

#[derive(Debug)]
pub struct Introspection {
    token_from: Option<TokenFrom>,
    prefix: Option<String>,
    required_scope: Vec<String>,
    target_audience: Vec<String>,
    /// `None`: Gatehouse's own tokens, introspected locally.
    remote: Option<Box<RemoteIntrospection>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    introspection_url: Option<String>,
    token_from: Option<TokenFromRaw>,
    prefix: Option<String>,
    #[serde(default)]
    required_scope: Vec<String>,
    #[serde(default)]
    target_audience: Vec<String>,
    #[serde(default)]
    trusted_issuers: Vec<String>,
    scope_strategy: Option<String>,
    pre_authorization: Option<PreAuthRaw>,
    #[serde(default)]
    introspection_request_headers: BTreeMap<String, String>,
    cache: Option<CacheConfig>,
    retry: Option<Retry>,
}

impl Introspection {
    pub fn compile(c: &Value) -> std::result::Result<Introspection, String> {
        let raw: Raw = config(c)?;
        let token_from = raw.token_from.map(TokenFromRaw::compile).transpose()?;
        let remote = match raw.introspection_url {
            None => {
                for (set, key) in [
                    (!raw.trusted_issuers.is_empty(), "trusted_issuers"),
                    (raw.scope_strategy.is_some(), "scope_strategy"),
                    (raw.pre_authorization.is_some(), "pre_authorization"),
                    (
                        !raw.introspection_request_headers.is_empty(),
                        "introspection_request_headers",
                    ),
                    (raw.cache.is_some(), "cache"),
                ] {
                    if set {
                        return Err(format!(
                            "`{key}` needs `introspection_url` (without it, Gatehouse's own tokens are introspected locally)"
                        ));
                    }
                }
                None
            }
            Some(introspection_url) => Some(Box::new(RemoteIntrospection::compile(RemoteRaw {
                introspection_url,
                trusted_issuers: raw.trusted_issuers,
                scope_strategy: raw.scope_strategy,
                pre_authorization: raw.pre_authorization,
                introspection_request_headers: raw.introspection_request_headers,
                cache: raw.cache,
                retry: raw.retry,
            })?)),
        };
        Ok(Introspection {
            token_from,
            prefix: raw.prefix,
            required_scope: raw.required_scope,
            target_audience: raw.target_audience,
            remote,
        })
    }
}

impl Authenticate for Introspection {
    async fn authenticate(&self, cx: &Cx<'_>, r: &Request<'_>, now: i64) -> Result<Auth> {
        let local = self.remote.is_none();
        let Some(token) = token_for(&self.token_from, &self.prefix, r, |t| {
            !local || (!crate::credentials::Kind::looks_like(t) && !t.starts_with("gst_"))
        }) else {
            return Ok(Auth::Skip);
        };
        match &self.remote {
            Some(remote) => Ok(remote
                .introspect(
                    cx.http,
                    &token,
                    &self.required_scope,
                    &self.target_audience,
                    now,
                )
                .await),
            None => {
                introspect_locally(cx, &token, &self.required_scope, &self.target_audience, now)
                    .await
            }
        }
    }
}
