//! The `remote_json` authorizer: POSTs the rule's `payload` template (rendered over the
//! subject, its extra and the request, every value JSON-escaped) to `remote`, with `headers`.
//! 200 allows, 403 forbids, anything else (or no answer) is an internal error. Response headers
//! named in `forward_response_headers_to_upstream` go to the upstream with the identity headers.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::HeaderName;
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::model::{ErrorKind, config};
use super::outbound::{Retry, http_url};
use super::template::{Context, Escape, Template};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    remote: Option<String>,
    payload: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    forward_response_headers_to_upstream: Vec<String>,
    retry: Option<Retry>,
}

#[derive(Debug)]
pub struct RemoteJson {
    remote: Url,
    payload: Template,
    headers: Vec<(HeaderName, Template)>,
    forward: Vec<HeaderName>,
    timeout: Duration,
}

impl RemoteJson {
    pub fn compile(c: &Value) -> Result<RemoteJson, String> {
        let raw: Raw = config(c)?;
        let remote = http_url("remote", raw.remote.as_deref().ok_or("needs `remote`")?)?;
        let text = raw.payload.ok_or("needs `payload`")?;
        let payload = Template::parse(&text).map_err(|e| format!("`payload`: {e}"))?;
        // The payload must be JSON whatever is substituted: try it with placeholders.
        payload
            .probe_json()
            .map_err(|e| format!("`payload` is not a JSON document: {e}"))?;
        let mut headers = Vec::new();
        for (k, v) in &raw.headers {
            headers.push((
                HeaderName::from_bytes(k.as_bytes())
                    .map_err(|_| format!("`headers`: `{k}` is not a header name"))?,
                Template::parse(v).map_err(|e| format!("`headers.{k}`: {e}"))?,
            ));
        }
        let mut forward = Vec::new();
        for h in &raw.forward_response_headers_to_upstream {
            forward.push(HeaderName::from_bytes(h.as_bytes()).map_err(|_| {
                format!("`forward_response_headers_to_upstream`: `{h}` is not a header name")
            })?);
        }
        Ok(RemoteJson {
            remote,
            payload,
            headers,
            forward,
            timeout: Retry::timeout(raw.retry.as_ref()),
        })
    }

    /// Allowed (with the headers to forward upstream), or the refusal.
    pub async fn authorize(
        &self,
        http: &reqwest::Client,
        ctx: &Context<'_>,
    ) -> Result<Vec<(String, String)>, (ErrorKind, String)> {
        let mut body = String::new();
        self.payload.render_into(&mut body, ctx, Escape::Json);
        if serde_json::from_str::<serde::de::IgnoredAny>(&body).is_err() {
            return Err((
                ErrorKind::Internal,
                "the rendered payload is not JSON".into(),
            ));
        }
        let mut req = http
            .post(self.remote.clone())
            .header("content-type", "application/json")
            .body(body)
            .timeout(self.timeout);
        for (k, t) in &self.headers {
            let mut v = String::new();
            t.render_into(&mut v, ctx, Escape::None);
            v.retain(|c| !c.is_control());
            req = req.header(k, v);
        }
        let resp = req.send().await.map_err(|e| {
            tracing::warn!(error = %e.without_url(), remote = %self.remote, "remote_json failed");
            (
                ErrorKind::Internal,
                "the authorizer could not be reached".to_owned(),
            )
        })?;
        match resp.status().as_u16() {
            200 => Ok(self
                .forward
                .iter()
                .filter_map(|h| {
                    let v = resp.headers().get(h)?.to_str().ok()?;
                    Some((h.as_str().to_owned(), v.to_owned()))
                })
                .collect()),
            403 => Err((
                ErrorKind::Forbidden,
                "the remote authorizer denied access".into(),
            )),
            s => Err((
                ErrorKind::Internal,
                format!("the remote authorizer answered {s}"),
            )),
        }
    }
}
