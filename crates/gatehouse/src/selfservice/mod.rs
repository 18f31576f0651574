//! Kratos's self-service flows: login, registration, settings and logout, for browsers (CSRF
//! cookie, redirects to the pages) and native apps (JSON, session tokens, no cookies).
//!
//! A flow is a JSON document stored until it expires; its UI nodes are built from its state each
//! time it is shown, so what is stored holds no secrets and no rendering. Each submission is a
//! [`Submission`] of bounded fields, parsed from a form or JSON body alike, and answers with an
//! [`Outcome`] the web layer turns into a redirect, a JSON body or a page.

pub mod code;
pub mod lockout;
pub mod login;
pub mod ratelimit;
pub mod recovery;
pub mod recovery_link;
pub mod registration;
pub mod return_to;
mod revocation;
pub mod settings;
pub mod ui;
pub mod verification;
pub mod webauthn;

use std::collections::BTreeMap;
use std::sync::Arc;

use gatehouse_crypto::{PlainToken, TokenHash};
use gatehouse_store::Store;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clock::rfc3339;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::identity::IdentityService;
use crate::oauth2::Provider;
use crate::sessions::{Aal, ActiveSession, SessionService};
use ui::{Message, Node};

/// Most fields in one submission, and the longest name and value.
pub const MAX_FIELDS: usize = 64;
pub const MAX_NAME: usize = 128;
pub const MAX_VALUE: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowKind {
    Login,
    Registration,
    Settings,
    Recovery,
    Verification,
}

impl FlowKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FlowKind::Login => "login",
            FlowKind::Registration => "registration",
            FlowKind::Settings => "settings",
            FlowKind::Recovery => "recovery",
            FlowKind::Verification => "verification",
        }
    }

    pub fn parse(s: &str) -> Option<FlowKind> {
        Some(match s {
            "login" => FlowKind::Login,
            "registration" => FlowKind::Registration,
            "settings" => FlowKind::Settings,
            "recovery" => FlowKind::Recovery,
            "verification" => FlowKind::Verification,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowType {
    Browser,
    Api,
}

/// A flow in progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flow {
    pub id: String,
    pub kind: FlowKind,
    pub flow_type: FlowType,
    pub issued_at: i64,
    pub expires_at: i64,
    pub request_url: String,
    pub return_to: Option<String>,
    /// SHA-256 (hex) of the browser's CSRF cookie; browser flows only.
    pub csrf_hash: Option<String>,
    /// `choose_method`, `sent_email`, `passed_challenge`, `show_form`, `success`.
    pub state: String,
    pub messages: Vec<Message>,
    /// Messages per field name.
    #[serde(default)]
    pub field_messages: BTreeMap<String, Vec<Message>>,
    /// Non-secret values to show again (identifier, traits).
    #[serde(default)]
    pub values: BTreeMap<String, String>,
    /// Login: re-authentication asked for.
    #[serde(default)]
    pub refresh: bool,
    #[serde(default)]
    pub requested_aal: Aal,
    /// Login: the OAuth 2.0 login request this login answers.
    #[serde(default)]
    pub oauth2_login_challenge: Option<String>,
    /// Settings: whose settings.
    #[serde(default)]
    pub identity_id: Option<String>,
    /// Settings: a TOTP secret offered for enrolment, keyring-encrypted (base64).
    #[serde(default)]
    pub totp_pending: Option<String>,
    /// Settings: backup codes shown once and not yet confirmed.
    #[serde(default)]
    pub lookup_pending: Option<Vec<String>>,
    /// Recovery and verification: the code sent, as a digest bound to this flow.
    #[serde(default)]
    pub code_hash: Option<String>,
    #[serde(default)]
    pub code_expires_at: i64,
    #[serde(default)]
    pub code_attempts: u32,
    /// Recovery and verification: the address the code went to (normalised).
    #[serde(default)]
    pub recipient: Option<String>,
    /// Recovery: created by an administrator (`/admin/recovery/code`) for any browser; the code
    /// is the only secret, so no CSRF cookie binds it.
    #[serde(default)]
    pub admin_issued: bool,
    /// Recovery: the one-time token of an admin-issued recovery link, as a digest bound to
    /// this flow (see [`recovery_link`]).
    #[serde(default)]
    pub link_hash: Option<String>,
    /// Login and settings: the WebAuthn ceremony in progress (state and options).
    #[serde(default)]
    pub webauthn: Option<webauthn::Pending>,
    /// The stored text this flow was loaded from, for [`SelfService::save_if_unchanged`].
    #[serde(skip)]
    pub loaded_as: Option<String>,
}

/// A submission's fields, bounded, from a form or a JSON body.
#[derive(Debug, Default)]
pub struct Submission {
    pub fields: BTreeMap<String, String>,
}

impl Submission {
    pub fn get(&self, k: &str) -> Option<&str> {
        self.fields.get(k).map(String::as_str)
    }

    pub fn from_pairs(pairs: Vec<(String, String)>) -> Result<Submission> {
        if pairs.len() > MAX_FIELDS {
            return Err(Error::BadRequest("too many fields".into()));
        }
        let mut fields = BTreeMap::new();
        for (k, v) in pairs {
            let max = if webauthn::CREDENTIAL_FIELDS.contains(&k.as_str()) {
                webauthn::MAX_CREDENTIAL_JSON
            } else {
                MAX_VALUE
            };
            if k.len() > MAX_NAME || v.len() > max {
                return Err(Error::BadRequest(format!(
                    "field names are limited to {MAX_NAME} bytes and values to {MAX_VALUE} ({} for WebAuthn credentials)",
                    webauthn::MAX_CREDENTIAL_JSON
                )));
            }
            fields.insert(k, v);
        }
        Ok(Submission { fields })
    }

    /// A submission's body as it arrives, by its `Content-Type`: JSON (objects flattened, see
    /// [`Submission::from_json`]) or a urlencoded form; anything else is refused.
    pub fn parse(content_type: &str, body: &[u8]) -> Result<Submission> {
        if content_type.starts_with("application/json") {
            serde_json::from_slice::<Value>(body)
                .map_err(|e| Error::BadRequest(format!("The request body is not valid JSON: {e}")))
                .and_then(|v| Submission::from_json(&v))
        } else if content_type.starts_with("application/x-www-form-urlencoded") {
            serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
                .map_err(|_| Error::BadRequest("The form body is malformed.".into()))
                .and_then(Submission::from_pairs)
        } else {
            Err(Error::BadRequest(
                "The body must be application/json or application/x-www-form-urlencoded.".into(),
            ))
        }
    }

    /// A JSON object, nested objects flattened with dots (`traits.email`).
    pub fn from_json(v: &Value) -> Result<Submission> {
        fn walk(
            prefix: &str,
            v: &Value,
            out: &mut Vec<(String, String)>,
            depth: usize,
        ) -> Result<()> {
            if depth > 8 || out.len() > MAX_FIELDS {
                return Err(Error::BadRequest(
                    "the body is nested too deeply or has too many fields".into(),
                ));
            }
            match v {
                Value::Object(m) => {
                    for (k, child) in m {
                        let key = if prefix.is_empty() {
                            k.clone()
                        } else {
                            format!("{prefix}.{k}")
                        };
                        walk(&key, child, out, depth + 1)?;
                    }
                }
                Value::String(s) => out.push((prefix.to_owned(), s.clone())),
                Value::Bool(b) => out.push((prefix.to_owned(), b.to_string())),
                Value::Number(n) => out.push((prefix.to_owned(), n.to_string())),
                Value::Null => {}
                Value::Array(_) => {
                    return Err(Error::BadRequest(format!(
                        "{prefix}: arrays are not accepted here"
                    )));
                }
            }
            Ok(())
        }
        if !v.is_object() {
            return Err(Error::BadRequest("the body must be a JSON object".into()));
        }
        let mut pairs = Vec::new();
        walk("", v, &mut pairs, 0)?;
        Submission::from_pairs(pairs)
    }

    /// `traits.*` fields as a traits object, typed by the schema's fields.
    pub fn traits(&self, fields: &[crate::identity::schema::FormField]) -> Value {
        let mut traits = json!({});
        for f in fields {
            let Some(raw) = self.get(&f.name) else {
                continue;
            };
            if raw.is_empty() && !f.required {
                continue;
            }
            let v = match f.input_type {
                "number" => raw.parse::<f64>().map(|n| json!(n)).unwrap_or(json!(raw)),
                "checkbox" => json!(raw == "true" || raw == "on"),
                _ => json!(raw.trim()),
            };
            let path: Vec<&str> = f.name.split('.').skip(1).collect();
            let mut cur = &mut traits;
            for (i, p) in path.iter().enumerate() {
                if i + 1 == path.len() {
                    cur[*p] = v.clone();
                } else {
                    if !cur[*p].is_object() {
                        cur[*p] = json!({});
                    }
                    cur = &mut cur[*p];
                }
            }
        }
        traits
    }
}

/// What a submission leads to.
pub enum Outcome {
    /// Done. Browsers go to `return_to`; JSON clients get `body`. A new session replaces the
    /// browser's cookie; `clear_session` removes it.
    Success {
        return_to: String,
        body: Value,
        session: Option<(PlainToken, Arc<ActiveSession>)>,
    },
    /// The flow again, with messages: 400 for JSON clients, the page for browsers.
    Invalid(Box<Flow>),
    /// A Kratos error (`security_csrf_violation`, `self_service_flow_expired`, ...).
    Refused(FlowError),
}

/// An error with Kratos's id.
#[derive(Debug, Clone)]
pub struct FlowError {
    pub status: u16,
    pub id: &'static str,
    pub reason: String,
    pub details: Value,
}

impl FlowError {
    pub fn new(status: u16, id: &'static str, reason: impl Into<String>) -> FlowError {
        FlowError {
            status,
            id,
            reason: reason.into(),
            details: Value::Null,
        }
    }

    pub fn csrf() -> FlowError {
        FlowError::new(
            403,
            "security_csrf_violation",
            "The request was rejected to protect you from Cross-Site-Request-Forgery (CSRF). Please retry the flow.",
        )
    }
}

pub struct SelfService {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub identities: Arc<IdentityService>,
    pub sessions: Arc<SessionService>,
    pub provider: Arc<Provider>,
    pub keyring: Arc<gatehouse_crypto::Keyring>,
    pub courier: Arc<crate::courier::Courier>,
    /// A recovery or password change revokes the identity's personal access tokens.
    pub credentials: Arc<crate::credentials::CredentialService>,
    pub limits: ratelimit::Limits,
    pub issuer: String,
    /// The WebAuthn relying party, built once from `selfservice.methods.webauthn`; `None` when
    /// the method is off or cannot work with this issuer.
    pub webauthn: Option<Arc<webauthn_rs::Webauthn>>,
}

/// The name of the browser's CSRF cookie for self-service flows.
pub const CSRF_COOKIE: &str = "gatehouse_csrf";

/// The name the flows' CSRF cookie has under `config`: [`CSRF_COOKIE`], with the `__Host-` prefix
/// when the issuer is https and no cookie domain is set ([`Config::host_cookie_prefix`]). Only
/// this name is read, so an unprefixed cookie tossed in by a sibling subdomain is ignored.
pub fn csrf_cookie_name(config: &Config) -> String {
    format!("{}{CSRF_COOKIE}", config.host_cookie_prefix())
}

impl SelfService {
    #[expect(
        clippy::too_many_arguments,
        reason = "one Arc per service it uses, built once in App::build"
    )]
    pub fn new(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        identities: Arc<IdentityService>,
        sessions: Arc<SessionService>,
        provider: Arc<Provider>,
        keyring: Arc<gatehouse_crypto::Keyring>,
        courier: Arc<crate::courier::Courier>,
        credentials: Arc<crate::credentials::CredentialService>,
    ) -> Result<SelfService> {
        let issuer = config.issuer();
        let webauthn = match webauthn::relying_party(&config.selfservice.methods.webauthn, &issuer)
            .map_err(Error::BadRequest)?
        {
            Ok(rp) => Some(Arc::new(rp)),
            Err(off @ webauthn::PasskeysOff::Disabled) => {
                tracing::info!("{off}");
                None
            }
            Err(off) => {
                tracing::warn!(issuer, "{off}");
                None
            }
        };
        Ok(SelfService {
            courier,
            limits: ratelimit::Limits::new(&config.rate_limits),
            issuer,
            webauthn,
            config,
            store,
            identities,
            sessions,
            provider,
            keyring,
            credentials,
        })
    }

    /// The page a browser is sent to for a flow.
    pub fn ui_url(&self, kind: FlowKind) -> String {
        let f = &self.config.selfservice.flows;
        let configured = match kind {
            FlowKind::Login => f.login.ui_url.clone(),
            FlowKind::Registration => f.registration.ui_url.clone(),
            FlowKind::Settings => f.settings.ui_url.clone(),
            FlowKind::Recovery => f.recovery.ui_url.clone(),
            FlowKind::Verification => f.verification.ui_url.clone(),
        };
        configured.unwrap_or_else(|| format!("{}/ui/{}", self.issuer, kind.as_str()))
    }

    pub fn flow_page(&self, flow: &Flow) -> String {
        let base = self.ui_url(flow.kind);
        let sep = if base.contains('?') { '&' } else { '?' };
        format!("{base}{sep}flow={}", flow.id)
    }

    fn lifespan(&self, kind: FlowKind) -> i64 {
        let f = &self.config.selfservice.flows;
        match kind {
            FlowKind::Login => f.login.lifespan.secs(),
            FlowKind::Registration => f.registration.lifespan.secs(),
            FlowKind::Settings => f.settings.lifespan.secs(),
            FlowKind::Recovery => f.recovery.lifespan.secs(),
            FlowKind::Verification => f.verification.lifespan.secs(),
        }
    }

    /// `return_to` is kept only when it is on the issuer's origin or under an entry of
    /// `selfservice.allowed_return_urls` ([`return_to::allowed`]): anything else would make the
    /// flows an open redirector. What is kept is the normalised URL, never the raw string.
    pub fn checked_return_to(&self, r: Option<&str>) -> Result<Option<String>> {
        let Some(r) = r.filter(|r| !r.is_empty()) else {
            return Ok(None);
        };
        match return_to::allowed(
            &self.issuer,
            &self.config.selfservice.allowed_return_urls,
            r,
        ) {
            Some(u) => Ok(Some(u.to_string())),
            None => Err(Error::BadRequest(format!(
                "return_to {r:?} is not allowed (see selfservice.allowed_return_urls)"
            ))),
        }
    }

    pub fn default_return_to(&self) -> String {
        self.config
            .selfservice
            .default_browser_return_url
            .clone()
            .unwrap_or_else(|| format!("{}/ui/welcome", self.issuer))
    }

    /// A new flow. Browser flows are bound to the CSRF cookie's digest.
    pub fn new_flow(
        &self,
        kind: FlowKind,
        flow_type: FlowType,
        request_url: String,
        return_to: Option<String>,
        csrf: Option<&str>,
        now: i64,
    ) -> Flow {
        Flow {
            id: uuid::Uuid::new_v4().to_string(),
            kind,
            flow_type,
            issued_at: now,
            expires_at: now + self.lifespan(kind),
            request_url,
            return_to,
            csrf_hash: csrf.map(|c| TokenHash::of_secret(c).to_hex()),
            state: "choose_method".into(),
            messages: Vec::new(),
            field_messages: BTreeMap::new(),
            values: BTreeMap::new(),
            refresh: false,
            requested_aal: Aal::Aal1,
            oauth2_login_challenge: None,
            identity_id: None,
            totp_pending: None,
            lookup_pending: None,
            webauthn: None,
            code_hash: None,
            code_expires_at: 0,
            code_attempts: 0,
            recipient: None,
            admin_issued: false,
            link_hash: None,
            loaded_as: None,
        }
    }

    pub async fn save(&self, flow: &Flow) -> Result<()> {
        let data = serde_json::to_string(flow).map_err(|e| Error::Internal(e.to_string()))?;
        // Kept an hour past expiry so a late submission gets "expired", not "not found".
        self.store
            .put_flow(&flow.id, &data, flow.expires_at + 3600)
            .await?;
        Ok(())
    }

    /// Saves a flow only if the stored one is still the one it was loaded from. False when a
    /// concurrent request for the same flow saved first: that request's use of a code or link,
    /// or its wrong attempt, stands, and this one must act on nothing. A code or link is thus
    /// consumed once, and every attempt counts against the limit, however many arrive at once.
    pub async fn save_if_unchanged(&self, flow: &Flow) -> Result<bool> {
        let Some(seen) = &flow.loaded_as else {
            self.save(flow).await?;
            return Ok(true);
        };
        let data = serde_json::to_string(flow).map_err(|e| Error::Internal(e.to_string()))?;
        Ok(self
            .store
            .replace_flow(&flow.id, seen, &data, flow.expires_at + 3600)
            .await?)
    }

    pub async fn load(&self, kind: FlowKind, id: &str) -> Result<Flow> {
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(Error::NotFound("The flow could not be found.".into()));
        }
        let data = self
            .store
            .get_flow(id)
            .await?
            .ok_or_else(|| Error::NotFound("The flow could not be found.".into()))?;
        let mut flow: Flow = serde_json::from_str(&data)
            .map_err(|_| Error::NotFound("The flow could not be found.".into()))?;
        if flow.kind != kind {
            return Err(Error::NotFound("The flow could not be found.".into()));
        }
        flow.loaded_as = Some(data);
        Ok(flow)
    }

    /// Loads a flow for a submission: unknown → 404, expired → 410 with Kratos's
    /// `self_service_flow_expired`, browser flow without the matching CSRF token → 403.
    pub async fn load_for_submit(
        &self,
        kind: FlowKind,
        id: &str,
        sub: &Submission,
        csrf_cookie: Option<&str>,
        now: i64,
    ) -> std::result::Result<Flow, FlowError> {
        let flow = self.load(kind, id).await.map_err(|e| match e {
            Error::NotFound(r) => FlowError::new(404, "self_service_flow_not_found", r),
            other => FlowError::new(500, "internal", other.to_string()),
        })?;
        if flow.expires_at <= now {
            let mut e = FlowError::new(
                410,
                "self_service_flow_expired",
                "The self-service flow expired, please start again.",
            );
            e.details = json!({"since": rfc3339(flow.expires_at)});
            return Err(e);
        }
        if flow.flow_type == FlowType::Browser && !flow.admin_issued {
            let (Some(expected), Some(cookie), Some(given)) =
                (&flow.csrf_hash, csrf_cookie, sub.get("csrf_token"))
            else {
                return Err(FlowError::csrf());
            };
            let cookie_ok = gatehouse_crypto::ct_eq(
                TokenHash::of_secret(cookie).to_hex().as_bytes(),
                expected.as_bytes(),
            );
            if !cookie_ok || !gatehouse_crypto::ct_eq(cookie.as_bytes(), given.as_bytes()) {
                return Err(FlowError::csrf());
            }
        }
        Ok(flow)
    }

    /// The flow in Kratos's JSON. `csrf` is the browser's CSRF token, shown in the form.
    pub async fn flow_json(&self, kind: FlowKind, id: &str, now: i64) -> Result<Value> {
        self.flow_json_for(kind, id, None, None, now).await
    }

    /// The flow for the browser holding `csrf` (its CSRF cookie), which the form then carries.
    pub async fn flow_json_for(
        &self,
        kind: FlowKind,
        id: &str,
        csrf: Option<&str>,
        viewer: Option<&str>,
        now: i64,
    ) -> Result<Value> {
        let flow = self.load(kind, id).await?;
        if flow.expires_at <= now {
            return Err(Error::Gone(self.ui_url(kind)));
        }
        // A settings flow shows its identity's traits: only to that identity's session.
        if kind == FlowKind::Settings && flow.identity_id.as_deref() != viewer {
            return Err(Error::NotFound("The flow could not be found.".into()));
        }
        let csrf = csrf.filter(|c| {
            flow.csrf_hash.as_ref().is_some_and(|h| {
                gatehouse_crypto::ct_eq(TokenHash::of_secret(c).to_hex().as_bytes(), h.as_bytes())
            })
        });
        self.render(&flow, csrf).await
    }

    /// Renders with the CSRF token the browser holds (pages), or none (API flows).
    pub async fn render(&self, flow: &Flow, csrf: Option<&str>) -> Result<Value> {
        let mut nodes: Vec<Node> = Vec::new();
        if flow.flow_type == FlowType::Browser {
            nodes.push(Node::hidden("default", "csrf_token", csrf.unwrap_or("")).required());
        }
        let identity = match &flow.identity_id {
            Some(id) => Some(self.identities.get(id).await?),
            None => None,
        };
        match flow.kind {
            FlowKind::Login => login::nodes(self, flow, identity.as_ref(), &mut nodes),
            FlowKind::Registration => registration::nodes(self, flow, &mut nodes),
            FlowKind::Settings => {
                if let Some(i) = &identity {
                    settings::nodes(self, flow, i, &mut nodes)?;
                }
            }
            FlowKind::Recovery | FlowKind::Verification => code::nodes(flow, &mut nodes),
        }
        let nodes: Vec<Value> = nodes
            .into_iter()
            .map(|n| {
                let msgs = n
                    .name()
                    .and_then(|name| flow.field_messages.get(name))
                    .cloned()
                    .unwrap_or_default();
                let n = if msgs.is_empty() { n } else { n.messages(msgs) };
                n.json()
            })
            .collect();
        let mut v = json!({
            "id": flow.id,
            "type": flow.flow_type,
            "expires_at": rfc3339(flow.expires_at),
            "issued_at": rfc3339(flow.issued_at),
            "created_at": rfc3339(flow.issued_at),
            "updated_at": rfc3339(flow.issued_at),
            "request_url": flow.request_url,
            "return_to": flow.return_to,
            "state": flow.state,
            "ui": {
                "action": format!("{}/self-service/{}?flow={}", self.issuer, flow.kind.as_str(), flow.id),
                "method": "POST",
                "nodes": nodes,
                "messages": flow.messages.iter().map(Message::json).collect::<Vec<_>>(),
            },
        });
        match flow.kind {
            FlowKind::Login => {
                v["refresh"] = json!(flow.refresh);
                v["requested_aal"] = json!(flow.requested_aal.as_str());
                v["oauth2_login_challenge"] = json!(flow.oauth2_login_challenge);
                // Kratos shows the OAuth 2.0 login request (its client) with the flow; pages
                // need the client's redirect URIs for their `form-action`.
                // A challenge that expired or was handled since (or whose client is gone) is
                // shown without its request; any other failure is an error.
                let req = match &flow.oauth2_login_challenge {
                    Some(c) => match self.provider.login_request(c, crate::clock::now()).await {
                        Ok(req) => Some((c, req)),
                        Err(Error::NotFound(_) | Error::Gone(_)) => None,
                        Err(e) => return Err(e),
                    },
                    None => None,
                };
                if let Some((c, req)) = req {
                    v["oauth2_login_request"] = json!({
                        "challenge": c,
                        "client": {
                            "client_id": req["client"]["client_id"],
                            "client_name": req["client"]["client_name"],
                            "redirect_uris": req["client"]["redirect_uris"],
                        },
                        "requested_scope": req["requested_scope"],
                    });
                }
            }
            FlowKind::Settings => {
                if let Some(i) = &identity {
                    v["identity"] = i.to_public(&self.issuer);
                }
            }
            _ => {}
        }
        Ok(v)
    }

    /// The token of a browser's logout URL: derived from the session token's digest, which only
    /// the holder of the cookie can know, so a cross-site request cannot log anyone out.
    pub fn logout_token(&self, s: &ActiveSession) -> String {
        TokenHash::of_secret(&format!("logout:{}", s.token_hash)).to_hex()
    }

    pub fn check_logout_token(&self, s: &ActiveSession, token: &str) -> bool {
        gatehouse_crypto::ct_eq(self.logout_token(s).as_bytes(), token.as_bytes())
    }

    /// Stores a self-service error for the error page; its id.
    pub async fn save_error(&self, e: &FlowError, now: i64) -> Result<String> {
        let id = uuid::Uuid::new_v4().to_string();
        let data = json!({"kind": "error", "error": {"id": e.id, "code": e.status, "reason": e.reason,
            "message": e.reason, "status": status_text(e.status)}, "created_at": now});
        self.store
            .put_flow(&format!("err-{id}"), &data.to_string(), now + 3600)
            .await?;
        Ok(id)
    }

    /// `GET /self-service/errors?id=`.
    pub async fn error_json(&self, id: &str) -> Result<Value> {
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(Error::NotFound("Unable to locate the resource".into()));
        }
        let data = self
            .store
            .get_flow(&format!("err-{id}"))
            .await?
            .ok_or_else(|| Error::NotFound("Unable to locate the resource".into()))?;
        let v: Value = crate::error::decode_stored("self-service error", id, &data)?;
        Ok(json!({
            "id": id,
            "error": v["error"],
            "created_at": rfc3339(v["created_at"].as_i64().unwrap_or_default()),
            "updated_at": rfc3339(v["created_at"].as_i64().unwrap_or_default()),
        }))
    }
}

pub fn status_text(code: u16) -> &'static str {
    match code {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        410 => "Gone",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        _ => "Internal Server Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn schema() -> crate::identity::schema::Schema {
        crate::identity::schema::Schema::compile(
            "default",
            serde_json::from_str(crate::identity::schema::DEFAULT_SCHEMA).expect("json"),
        )
        .expect("schema")
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            ".{0,40}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::btree_map(".{0,12}", inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Any JSON body: parsed within the bounds or refused, never a panic.
        #[test]
        fn submission_from_json_never_panics(v in arb_json()) {
            if let Ok(s) = Submission::from_json(&v) {
                prop_assert!(s.fields.len() <= MAX_FIELDS);
                let traits = s.traits(&schema().form_fields());
                let _ = schema().validate(&traits);
            }
        }

        #[test]
        fn submission_from_pairs_is_bounded(pairs in prop::collection::vec((".{0,200}", ".{0,300}"), 0..80)) {
            match Submission::from_pairs(pairs.clone()) {
                Ok(s) => prop_assert!(s.fields.len() <= MAX_FIELDS && pairs.len() <= MAX_FIELDS),
                Err(_) => prop_assert!(pairs.len() > MAX_FIELDS || pairs.iter().any(|(k, v)| k.len() > MAX_NAME || v.len() > MAX_VALUE)),
            }
        }

        /// Schema validation of arbitrary traits never panics.
        #[test]
        fn schema_validation_never_panics(v in arb_json()) {
            let _ = schema().validate(&v);
            let _ = schema().marked(&v);
        }
    }
}
