//! WebAuthn in Kratos's shape: passkeys as a first factor (`selfservice.methods.webauthn.
//! passwordless`), security keys as a second factor otherwise, both under the `webauthn`
//! credential and node group.
//!
//! A ceremony's server-side state (webauthn-rs's registration or authentication state) is stored
//! in the flow beside the options sent to the browser, so any replica can finish it; it is taken
//! out of the flow by the submission that uses it, so an assertion can never be replayed against
//! the same state. The browser side is a static script ([`SCRIPT`]) that reads the options from
//! the trigger button's `value` and writes the credential into a hidden input.
//!
//! The credential's `config` is `{user_handle, credentials: [{id, display_name, added_at,
//! is_passwordless, passkey}]}`; `user_handle` (a UUID, the WebAuthn user id) is indexed as an
//! identifier so a discoverable login finds its identity.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use webauthn_rs::prelude::{
    AuthenticationResult, CredentialID, DiscoverableAuthentication, Passkey, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, SecurityKey, SecurityKeyAuthentication,
    SecurityKeyRegistration, Url, Uuid, Webauthn, WebauthnBuilder,
};

use super::ui::{Message, Node, msg};
use super::{Flow, SelfService};
use crate::clock::rfc3339;
use crate::config::WebauthnMethod;
use crate::error::{Error, Result};
use crate::identity::Identity;
use crate::identity::model::{Credential, method};

/// The browser helper, served at [`SCRIPT_PATH`].
pub const SCRIPT: &str = include_str!("../../assets/webauthn.js");
/// Kratos's path for its WebAuthn script.
pub const SCRIPT_PATH: &str = "/.well-known/ory/webauthn.js";
/// The longest JSON credential accepted in `webauthn_register` / `webauthn_login`.
pub const MAX_CREDENTIAL_JSON: usize = 16 * 1024;
/// Fields that carry a browser's JSON credential (and so get [`MAX_CREDENTIAL_JSON`]).
pub const CREDENTIAL_FIELDS: [&str; 2] = ["webauthn_register", "webauthn_login"];
/// The longest display name of a key.
const MAX_DISPLAY_NAME: usize = 64;

/// Why passkeys (and security keys) are off under a configuration; logged once at start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasskeysOff {
    #[error("passkeys are off: selfservice.methods.webauthn.enabled is false")]
    Disabled,
    /// No `rp_id` configured, and the issuer's host is an IP address, which browsers refuse as
    /// an RP ID (WebAuthn §5.1.4.1: it must be a registrable domain suffix of the origin).
    #[error(
        "passkeys are off: the WebAuthn RP ID cannot be an IP address (issuer host {host}); set urls.self.issuer to a host name, e.g. {example}"
    )]
    IpAddressIssuer { host: String, example: String },
}

/// The relying party a configuration gives: its id and the origins allowed to use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelyingPartySettings {
    pub id: String,
    /// The issuer's origin first when it is under `id`, then `rp_origins`.
    pub origins: Vec<Url>,
}

/// The relying party from `selfservice.methods.webauthn`: `rp_id` defaults to the issuer's
/// host and the origins to the issuer's origin plus `rp_origins`. `Ok(Err(off))` when passkeys
/// are off (the method is disabled, or nothing was configured and the issuer's host is an IP
/// address); `Err` for a configuration that contradicts itself.
pub fn relying_party_settings(
    m: &WebauthnMethod,
    issuer: &str,
) -> std::result::Result<std::result::Result<RelyingPartySettings, PasskeysOff>, String> {
    if !m.enabled {
        return Ok(Err(PasskeysOff::Disabled));
    }
    let issuer_url = Url::parse(issuer).map_err(|e| format!("issuer {issuer:?}: {e}"))?;
    let rp_id = match &m.rp_id {
        Some(id) => id.clone(),
        None => match issuer_url.domain() {
            Some(d) => d.to_owned(),
            None => {
                let mut example = issuer_url.clone();
                let _ = example.set_host(Some("localhost"));
                return Ok(Err(PasskeysOff::IpAddressIssuer {
                    host: issuer_url.host_str().unwrap_or_default().to_owned(),
                    example: example.origin().ascii_serialization(),
                }));
            }
        },
    };
    let mut origins: Vec<Url> = Vec::new();
    for o in &m.rp_origins {
        origins.push(
            Url::parse(o)
                .map_err(|e| format!("selfservice.methods.webauthn.rp_origins {o:?}: {e}"))?,
        );
    }
    let in_scope = |u: &Url| {
        u.domain()
            .is_some_and(|d| d == rp_id || d.ends_with(&format!(".{rp_id}")))
    };
    if in_scope(&issuer_url) {
        origins.insert(0, issuer_url);
    }
    if origins.is_empty() {
        return Err(format!(
            "selfservice.methods.webauthn: the issuer {issuer} is not under rp_id {rp_id:?}; list the origins in rp_origins"
        ));
    }
    Ok(Ok(RelyingPartySettings { id: rp_id, origins }))
}

/// Builds the relying party of [`relying_party_settings`]; `Ok(Err(off))` when passkeys are
/// off.
pub fn relying_party(
    m: &WebauthnMethod,
    issuer: &str,
) -> std::result::Result<std::result::Result<Webauthn, PasskeysOff>, String> {
    let rp = match relying_party_settings(m, issuer)? {
        Ok(rp) => rp,
        Err(off) => return Ok(Err(off)),
    };
    let (first, rest) = rp
        .origins
        .split_first()
        .ok_or_else(|| "selfservice.methods.webauthn: no origin".to_owned())?;
    let mut b = WebauthnBuilder::new(&rp.id, first)
        .map_err(|e| {
            format!(
                "selfservice.methods.webauthn: rp_id {:?} and origin {first}: {e}",
                rp.id
            )
        })?
        .rp_name(&m.rp_display_name);
    for o in rest {
        b = b.append_allowed_origin(o);
    }
    b.build()
        .map(Ok)
        .map_err(|e| format!("selfservice.methods.webauthn: {e}"))
}

/// A ceremony in progress, stored in the flow.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "ceremony", rename_all = "snake_case")]
pub enum Pending {
    /// Settings: adding a key for `user_handle`.
    Register {
        user_handle: String,
        passwordless: bool,
        state: Value,
        options: Value,
    },
    /// Login (aal1): a discoverable-credential (passkey) authentication.
    Passwordless { state: Value, options: Value },
    /// Login (aal2): one of the identity's security keys.
    SecondFactor { state: Value, options: Value },
}

impl Pending {
    fn options(&self) -> &Value {
        match self {
            Pending::Register { options, .. }
            | Pending::Passwordless { options, .. }
            | Pending::SecondFactor { options, .. } => options,
        }
    }
}

/// The stored credential's config.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct KeyRing {
    pub user_handle: String,
    #[serde(default)]
    pub credentials: Vec<StoredKey>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredKey {
    /// The credential id, base64url.
    pub id: String,
    pub display_name: String,
    pub added_at: String,
    pub is_passwordless: bool,
    /// webauthn-rs's `Passkey` (passwordless) or `SecurityKey`, serialised.
    pub passkey: Value,
}

/// An identity's stored key that does not decode: [`Error::Corrupt`], never a key that is not
/// there.
fn corrupt_key(i: &Identity) -> impl FnOnce(serde_json::Error) -> Error {
    Error::corrupt("webauthn credential of identity", i.id.as_str())
}

impl KeyRing {
    /// The identity's keys; `None` when it has no `webauthn` credential. A credential that does
    /// not decode is [`Error::Corrupt`]: login and settings then fail, rather than go on as if
    /// the identity had no keys.
    pub fn of(i: &Identity) -> Result<Option<KeyRing>> {
        i.credentials
            .get(method::WEBAUTHN)
            .map(|c| serde_json::from_value(c.config.clone()).map_err(corrupt_key(i)))
            .transpose()
    }

    /// The security keys (second factors), each decoded; `i` is the identity they belong to.
    fn security_keys(&self, i: &Identity) -> Result<Vec<SecurityKey>> {
        self.credentials
            .iter()
            .filter(|k| !k.is_passwordless)
            .map(|k| serde_json::from_value(k.passkey.clone()).map_err(corrupt_key(i)))
            .collect()
    }

    fn ids(&self) -> Vec<CredentialID> {
        self.credentials
            .iter()
            .filter_map(|k| unb64url(&k.id))
            .collect()
    }

    /// Applies an authentication's counter and backup state to the key it used; whether a key
    /// changed. A key that does not decode is [`Error::Corrupt`] (`i`, the identity).
    fn update(&mut self, res: &AuthenticationResult, i: &Identity) -> Result<bool> {
        let mut changed = false;
        for k in &mut self.credentials {
            if k.is_passwordless {
                let mut pk: Passkey =
                    serde_json::from_value(k.passkey.clone()).map_err(corrupt_key(i))?;
                if pk.update_credential(res) == Some(true) {
                    k.passkey = json!(pk);
                    changed = true;
                }
            } else {
                let mut sk: SecurityKey =
                    serde_json::from_value(k.passkey.clone()).map_err(corrupt_key(i))?;
                if sk.update_credential(res) == Some(true) {
                    k.passkey = json!(sk);
                    changed = true;
                }
            }
        }
        Ok(changed)
    }

    fn store(&self, i: &mut Identity, now: i64) {
        if self.credentials.is_empty() {
            i.credentials.remove(method::WEBAUTHN);
            return;
        }
        let created = i
            .credentials
            .get(method::WEBAUTHN)
            .map_or(now, |c| c.created_at);
        i.credentials.insert(
            method::WEBAUTHN.into(),
            Credential {
                identifiers: vec![],
                config: json!(self),
                version: 0,
                created_at: created,
                updated_at: now,
            },
        );
    }
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("webauthn: {e}"))
}

/// Why a ceremony's submission was refused; shown on the field.
pub struct Refusal(pub &'static str);

impl Refusal {
    pub fn message(&self) -> Message {
        Message::error(msg::WEBAUTHN_INVALID, self.0)
    }
}

const MALFORMED: Refusal = Refusal("The WebAuthn response could not be read; please try again.");
const FAILED: Refusal =
    Refusal("The security key or passkey could not be verified; please try again.");
const NO_CEREMONY: Refusal =
    Refusal("This WebAuthn challenge was used already or has expired; please try again.");

/// A browser's JSON credential, bounded and parsed; malformed input is a refusal, never a panic.
fn parse<T: serde::de::DeserializeOwned>(raw: &str) -> std::result::Result<T, Refusal> {
    if raw.is_empty() || raw.len() > MAX_CREDENTIAL_JSON {
        return Err(MALFORMED);
    }
    serde_json::from_str(raw).map_err(|_| MALFORMED)
}

/// A registration response (`webauthn_register`), as the browser sent it.
pub fn parse_registration(raw: &str) -> std::result::Result<RegisterPublicKeyCredential, Refusal> {
    parse(raw)
}

/// An assertion (`webauthn_login`), as the browser sent it.
pub fn parse_assertion(raw: &str) -> std::result::Result<PublicKeyCredential, Refusal> {
    parse(raw)
}

impl SelfService {
    /// Whether the relying party is configured.
    pub fn webauthn_enabled(&self) -> bool {
        self.webauthn.is_some()
    }

    /// Settings: a registration ceremony for the identity's next key, unless one is pending.
    pub(super) fn prepare_webauthn_registration(
        &self,
        flow: &mut Flow,
        i: &Identity,
    ) -> Result<()> {
        let Some(rp) = &self.webauthn else {
            return Ok(());
        };
        if matches!(flow.webauthn, Some(Pending::Register { .. })) {
            return Ok(());
        }
        let ring = KeyRing::of(i)?;
        let user_handle = ring
            .as_ref()
            .map(|r| r.user_handle.clone())
            .filter(|h| Uuid::parse_str(h).is_ok())
            .unwrap_or_else(|| Uuid::new_v4().to_string());
        let uuid = Uuid::parse_str(&user_handle).map_err(internal)?;
        let exclude = ring.as_ref().map(KeyRing::ids).filter(|v| !v.is_empty());
        let name = i.email().unwrap_or(&i.id).to_owned();
        let passwordless = self.config.selfservice.methods.webauthn.passwordless;
        let (options, state) = if passwordless {
            let (ccr, st) = rp
                .start_passkey_registration(uuid, &name, &name, exclude)
                .map_err(internal)?;
            let mut options = json!(ccr);
            // A passkey should be discoverable, so that login needs no identifier.
            options["publicKey"]["authenticatorSelection"]["residentKey"] = json!("preferred");
            (options, json!(st))
        } else {
            let (ccr, st) = rp
                .start_securitykey_registration(uuid, &name, &name, exclude, None, None)
                .map_err(internal)?;
            (json!(ccr), json!(st))
        };
        flow.webauthn = Some(Pending::Register {
            user_handle,
            passwordless,
            state,
            options,
        });
        Ok(())
    }

    /// Login: the ceremony the flow offers — a passkey at aal1, a security key at aal2.
    pub(super) fn prepare_webauthn_login(
        &self,
        flow: &mut Flow,
        i: Option<&Identity>,
    ) -> Result<()> {
        flow.webauthn = None;
        let Some(rp) = &self.webauthn else {
            return Ok(());
        };
        match i {
            None => {
                if !self.config.selfservice.methods.webauthn.passwordless {
                    return Ok(());
                }
                let (rcr, st) = rp.start_discoverable_authentication().map_err(internal)?;
                flow.webauthn = Some(Pending::Passwordless {
                    state: json!(st),
                    options: json!(rcr),
                });
            }
            Some(i) => {
                let keys = match KeyRing::of(i)? {
                    Some(r) => r.security_keys(i)?,
                    None => Vec::new(),
                };
                if keys.is_empty() {
                    return Ok(());
                }
                let (rcr, st) = rp
                    .start_securitykey_authentication(&keys)
                    .map_err(internal)?;
                flow.webauthn = Some(Pending::SecondFactor {
                    state: json!(st),
                    options: json!(rcr),
                });
            }
        }
        Ok(())
    }

    /// Settings: finishes the pending registration with the browser's credential.
    pub(super) fn finish_webauthn_registration(
        &self,
        flow: &mut Flow,
        i: &mut Identity,
        raw: &str,
        display_name: &str,
        now: i64,
    ) -> Result<std::result::Result<(), Refusal>> {
        let Some(rp) = &self.webauthn else {
            return Ok(Err(NO_CEREMONY));
        };
        let Some(Pending::Register {
            user_handle,
            passwordless,
            state,
            ..
        }) = flow.webauthn.take()
        else {
            return Ok(Err(NO_CEREMONY));
        };
        let reg = match parse_registration(raw) {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        let passkey = if passwordless {
            let st: PasskeyRegistration = serde_json::from_value(state).map_err(internal)?;
            match rp.finish_passkey_registration(&reg, &st) {
                Ok(pk) => (b64url(pk.cred_id()), json!(pk)),
                Err(e) => {
                    tracing::debug!(error = %e, "passkey registration refused");
                    return Ok(Err(FAILED));
                }
            }
        } else {
            let st: SecurityKeyRegistration = serde_json::from_value(state).map_err(internal)?;
            match rp.finish_securitykey_registration(&reg, &st) {
                Ok(sk) => (b64url(sk.cred_id()), json!(sk)),
                Err(e) => {
                    tracing::debug!(error = %e, "security key registration refused");
                    return Ok(Err(FAILED));
                }
            }
        };
        let mut ring = KeyRing::of(i)?.unwrap_or_else(|| KeyRing {
            user_handle: user_handle.clone(),
            credentials: Vec::new(),
        });
        if ring.user_handle != user_handle {
            return Ok(Err(NO_CEREMONY));
        }
        if ring.credentials.iter().any(|k| k.id == passkey.0) {
            return Ok(Err(Refusal("This key is registered already.")));
        }
        let display_name: String = display_name.trim().chars().take(MAX_DISPLAY_NAME).collect();
        ring.credentials.push(StoredKey {
            id: passkey.0,
            display_name,
            added_at: rfc3339(now),
            is_passwordless: passwordless,
            passkey: passkey.1,
        });
        ring.store(i, now);
        Ok(Ok(()))
    }

    /// Settings: removes a key; refused when it is the identity's only way to sign in.
    pub(super) fn remove_webauthn_key(
        &self,
        i: &mut Identity,
        id: &str,
        now: i64,
    ) -> Result<std::result::Result<(), Refusal>> {
        let Some(mut ring) = KeyRing::of(i)? else {
            return Ok(Err(Refusal("There is no such key.")));
        };
        let Some(pos) = ring.credentials.iter().position(|k| k.id == id) else {
            return Ok(Err(Refusal("There is no such key.")));
        };
        let removed = ring.credentials.remove(pos);
        let other_first_factor = i.credentials.contains_key(method::PASSWORD)
            || ring.credentials.iter().any(|k| k.is_passwordless);
        if removed.is_passwordless && !other_first_factor {
            return Ok(Err(Refusal(
                "You cannot remove this passkey: it is the only way to sign in to this account.",
            )));
        }
        ring.store(i, now);
        Ok(Ok(()))
    }

    /// Login (aal1): finishes a passkey authentication; the identity it proves, with the key's
    /// counter updated (not yet saved).
    pub(super) async fn finish_webauthn_passwordless(
        &self,
        flow: &mut Flow,
        raw: &str,
        now: i64,
    ) -> Result<std::result::Result<Identity, Refusal>> {
        let Some(rp) = &self.webauthn else {
            return Ok(Err(NO_CEREMONY));
        };
        let Some(Pending::Passwordless { state, .. }) = flow.webauthn.take() else {
            return Ok(Err(NO_CEREMONY));
        };
        let cred = match parse_assertion(raw) {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        let st: DiscoverableAuthentication = serde_json::from_value(state).map_err(internal)?;
        let Ok((uuid, cred_id)) = rp.identify_discoverable_authentication(&cred) else {
            return Ok(Err(FAILED));
        };
        let cred_id = b64url(cred_id);
        let Some(mut identity) = self
            .identities
            .find(method::WEBAUTHN, &uuid.to_string())
            .await?
        else {
            return Ok(Err(FAILED));
        };
        let Some(mut ring) = KeyRing::of(&identity)? else {
            return Ok(Err(FAILED));
        };
        let Some(key) = ring
            .credentials
            .iter()
            .find(|k| k.id == cred_id && k.is_passwordless)
        else {
            return Ok(Err(FAILED));
        };
        let pk: Passkey =
            serde_json::from_value(key.passkey.clone()).map_err(corrupt_key(&identity))?;
        let res = match rp.finish_discoverable_authentication_v2(&cred, st, &pk) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "passkey authentication refused");
                return Ok(Err(FAILED));
            }
        };
        if identity.state != crate::identity::model::State::Active {
            return Ok(Err(FAILED));
        }
        if ring.update(&res, &identity)? {
            ring.store(&mut identity, now);
        }
        Ok(Ok(identity))
    }

    /// Login (aal2): finishes a security-key authentication for `identity`, updating its key.
    pub(super) fn finish_webauthn_second_factor(
        &self,
        flow: &mut Flow,
        identity: &mut Identity,
        raw: &str,
        now: i64,
    ) -> Result<std::result::Result<(), Refusal>> {
        let Some(rp) = &self.webauthn else {
            return Ok(Err(NO_CEREMONY));
        };
        let Some(Pending::SecondFactor { state, .. }) = flow.webauthn.take() else {
            return Ok(Err(NO_CEREMONY));
        };
        let cred = match parse_assertion(raw) {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        let st: SecurityKeyAuthentication = serde_json::from_value(state).map_err(internal)?;
        let res = match rp.finish_securitykey_authentication(&cred, &st) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "security key authentication refused");
                return Ok(Err(FAILED));
            }
        };
        let Some(mut ring) = KeyRing::of(identity)? else {
            return Ok(Err(FAILED));
        };
        if !ring.credentials.iter().any(|k| {
            !k.is_passwordless && unb64url(&k.id).as_deref() == Some(res.cred_id().as_slice())
        }) {
            return Ok(Err(FAILED));
        }
        if ring.update(&res, identity)? {
            ring.store(identity, now);
        }
        Ok(Ok(()))
    }

    /// The `script` node that loads [`SCRIPT`].
    fn webauthn_script_node(&self) -> Node {
        Node::script(
            "webauthn",
            json!({
                "src": format!("{}{SCRIPT_PATH}", self.issuer),
                "async": true,
                "referrerpolicy": "no-referrer",
                "crossorigin": "anonymous",
                "integrity": script_integrity(),
                "type": "text/javascript",
                "id": "webauthn_script",
                "nonce": uuid::Uuid::new_v4().simple().to_string(),
            }),
        )
    }

    /// Settings nodes (group `webauthn`): one remove button per key, the display name, the
    /// trigger, the hidden credential input and the script.
    pub(super) fn webauthn_settings_nodes(
        &self,
        flow: &Flow,
        i: &Identity,
        nodes: &mut Vec<Node>,
    ) -> Result<()> {
        if self.webauthn.is_none() {
            return Ok(());
        }
        if let Some(ring) = KeyRing::of(i)? {
            for k in &ring.credentials {
                let mut label = Message::info(
                    1_050_018,
                    format!("Remove security key \"{}\"", k.display_name),
                );
                label.context = json!({"display_name": k.display_name, "added_at": k.added_at});
                nodes.push(
                    Node::input("webauthn", "webauthn_remove", "submit")
                        .value(k.id.as_str())
                        .label_message(label),
                );
            }
        }
        let Some(p @ Pending::Register { .. }) = &flow.webauthn else {
            return Ok(());
        };
        nodes.push(
            Node::input("webauthn", "webauthn_register_displayname", "text")
                .value("")
                .attr("maxlength", MAX_DISPLAY_NAME)
                .label(1_050_013, "Name of the security key"),
        );
        nodes.push(Node::hidden("webauthn", "webauthn_register", ""));
        nodes.push(trigger(
            "webauthn_register_trigger",
            "oryWebAuthnRegistration",
            p.options(),
            1_050_012,
            "Add security key",
        ));
        nodes.push(self.webauthn_script_node());
        Ok(())
    }

    /// Login nodes (group `webauthn`) for the flow's pending ceremony.
    pub(super) fn webauthn_login_nodes(&self, flow: &Flow, nodes: &mut Vec<Node>) {
        let Some(p) = &flow.webauthn else { return };
        let label = match p {
            Pending::Passwordless { .. } => (1_010_008, "Sign in with a passkey"),
            Pending::SecondFactor { .. } => (1_010_008, "Use security key"),
            Pending::Register { .. } => return,
        };
        nodes.push(Node::hidden("webauthn", "webauthn_login", ""));
        nodes.push(trigger(
            "webauthn_login_trigger",
            "oryWebAuthnLogin",
            p.options(),
            label.0,
            label.1,
        ));
        nodes.push(self.webauthn_script_node());
    }
}

/// A `type=button` input whose value is the ceremony's options (JSON), with Kratos's
/// `onclick` / `onclickTrigger` attributes.
fn trigger(name: &str, function: &str, options: &Value, label_id: u32, label: &str) -> Node {
    let options = options.to_string();
    Node::input("webauthn", name, "button")
        .value(options.as_str())
        .attr("onclick", format!("window.{function}({options})"))
        .attr("onclickTrigger", function)
        .label(label_id, label)
}

/// Subresource integrity of [`SCRIPT`] (`sha256-…`).
pub fn script_integrity() -> String {
    use base64::Engine;
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD
            .encode(gatehouse_crypto::sha256(SCRIPT.as_bytes()))
    )
}

fn b64url(b: impl AsRef<[u8]>) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn unb64url(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn settings(
        m: &WebauthnMethod,
        issuer: &str,
    ) -> std::result::Result<RelyingPartySettings, PasskeysOff> {
        relying_party_settings(m, issuer).expect("a consistent configuration")
    }

    #[test]
    fn zero_config_turns_passkeys_on_for_localhost() {
        let c = Config::default();
        let rp = settings(&c.selfservice.methods.webauthn, &c.issuer()).expect("passkeys on");
        assert_eq!(rp.id, "localhost");
        assert_eq!(
            rp.origins,
            vec![Url::parse("http://localhost:4444").expect("url")]
        );
        assert!(
            matches!(
                relying_party(&c.selfservice.methods.webauthn, &c.issuer()),
                Ok(Ok(_))
            ),
            "webauthn-rs accepts the relying party"
        );
    }

    #[test]
    fn ip_address_issuer_turns_passkeys_off_with_the_reason() {
        let m = WebauthnMethod::default();
        let off = settings(&m, "http://127.0.0.1:4444").expect_err("passkeys off");
        assert_eq!(
            off,
            PasskeysOff::IpAddressIssuer {
                host: "127.0.0.1".into(),
                example: "http://localhost:4444".into(),
            }
        );
        assert_eq!(
            off.to_string(),
            "passkeys are off: the WebAuthn RP ID cannot be an IP address (issuer host 127.0.0.1); set urls.self.issuer to a host name, e.g. http://localhost:4444"
        );
        assert!(matches!(
            settings(&m, "https://[2001:db8::1]"),
            Err(PasskeysOff::IpAddressIssuer { host, example })
                if host == "[2001:db8::1]" && example == "https://localhost"
        ));
        // A configured RP ID needs no domain in the issuer.
        let configured = WebauthnMethod {
            rp_id: Some("example.com".into()),
            rp_origins: vec!["https://auth.example.com".into()],
            ..WebauthnMethod::default()
        };
        let rp = settings(&configured, "http://127.0.0.1:4444").expect("on");
        assert_eq!(rp.id, "example.com");
        let disabled = WebauthnMethod {
            enabled: false,
            ..WebauthnMethod::default()
        };
        assert_eq!(
            settings(&disabled, "http://localhost:4444"),
            Err(PasskeysOff::Disabled)
        );
    }
}
