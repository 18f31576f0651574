//! `api_key`: Gatehouse's own credentials (API keys, personal access tokens, service tokens) in
//! `X-API-Key` or as a bearer token that looks like one, validated by the credential service
//! (cached, revocation seen at once), with `required_scope` checked on top of what the
//! credential grants.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::credentials::{Kind, Rejection, scope};
use crate::error::Result;
use crate::gateway::extract::bearer;
use crate::gateway::model::{Auth, Authenticate, Cx, ErrorKind, Request, Subject, config};

#[derive(Debug)]
pub struct ApiKey {
    required_scope: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    required_scope: Vec<String>,
}

impl ApiKey {
    pub fn compile(c: &Value) -> std::result::Result<ApiKey, String> {
        let raw: Raw = config(c)?;
        for s in &raw.required_scope {
            scope::validate(s).map_err(|e| format!("`required_scope`: {e}"))?;
        }
        Ok(ApiKey {
            required_scope: raw.required_scope,
        })
    }
}

impl Authenticate for ApiKey {
    async fn authenticate(&self, cx: &Cx<'_>, r: &Request<'_>, now: i64) -> Result<Auth> {
        let token = r
            .headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .or_else(|| bearer(r.headers).filter(|t| Kind::looks_like(t)));
        let Some(token) = token else {
            return Ok(Auth::Skip);
        };
        let valid = match cx
            .credentials
            .validate(token, None, r.client_ip.clone(), now)
            .await?
        {
            Ok(v) => v,
            Err(Rejection::InsufficientScope(_)) => {
                return Ok(Auth::Refused(
                    ErrorKind::Forbidden,
                    "insufficient scope".into(),
                ));
            }
            Err(rej) => {
                return Ok(Auth::Refused(ErrorKind::Unauthorized, rej.description()));
            }
        };
        if let Some(missing) = self
            .required_scope
            .iter()
            .find(|s| !scope::any_grants(&valid.scopes, s))
        {
            return Ok(Auth::Refused(
                ErrorKind::Forbidden,
                format!("the credential does not grant {missing}"),
            ));
        }
        Ok(Auth::Ok(Subject {
            id: valid.owner.clone(),
            extra: json!({"kind": valid.kind.as_str(), "credential_id": valid.id, "name": valid.name}),
            headers: valid.headers(),
            scopes: valid.scopes.clone(),
            ..Subject::default()
        }))
    }
}
