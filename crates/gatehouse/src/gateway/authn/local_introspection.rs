//! `oauth2_introspection` without `introspection_url`: Gatehouse's own access tokens,
//! introspected in process (cached, revocation seen at once), with `required_scope` asked of
//! the introspection and `target_audience` (all) checked against the token's audience.

use serde_json::json;

use crate::error::Result;
use crate::gateway::model::{Auth, Cx, ErrorKind, Subject};

pub async fn introspect_locally(
    cx: &Cx<'_>,
    token: &str,
    required_scope: &[String],
    target_audience: &[String],
    now: i64,
) -> Result<Auth> {
    let scope = (!required_scope.is_empty()).then(|| required_scope.join(" "));
    let i = cx.provider.introspect(token, scope.as_deref(), now).await?;
    if !i.active {
        return Ok(Auth::Refused(
            ErrorKind::Unauthorized,
            "the access token is not active".into(),
        ));
    }
    if !target_audience.is_empty() {
        let aud = i.aud.clone().unwrap_or_default();
        if !target_audience.iter().all(|a| aud.contains(a)) {
            return Ok(Auth::Refused(
                ErrorKind::Forbidden,
                "the access token is not for this audience".into(),
            ));
        }
    }
    let scopes: Vec<String> = i
        .scope
        .as_deref()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let sub = i.sub.clone().unwrap_or_default();
    Ok(Auth::Ok(Subject {
        headers: vec![
            ("X-User-ID", sub.clone()),
            ("X-Token-Scopes", scopes.join(" ")),
        ],
        id: sub,
        extra: json!({"client_id": i.client_id, "scope": i.scope, "ext": i.ext}),
        scopes,
        ..Subject::default()
    }))
}
