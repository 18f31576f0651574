//! The identity as stored and as Kratos's API shows it.
//!
//! One [`Identity`] value is both: it serialises to the stored JSON document (times as Unix
//! seconds), and [`Identity::to_api`] renders Kratos's JSON (RFC 3339 times, credentials without
//! their secrets unless an admin asks for them).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clock::rfc3339;

/// Credential methods.
pub mod method {
    pub const PASSWORD: &str = "password";
    pub const TOTP: &str = "totp";
    pub const LOOKUP_SECRET: &str = "lookup_secret";
    pub const WEBAUTHN: &str = "webauthn";
    pub const CODE: &str = "code";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum State {
    #[default]
    Active,
    Inactive,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Active => "active",
            State::Inactive => "inactive",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VerifiableAddress {
    pub id: String,
    pub value: String,
    pub verified: bool,
    pub via: String,
    /// `pending`, `sent` or `completed`.
    pub status: String,
    #[serde(default)]
    pub verified_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RecoveryAddress {
    pub id: String,
    pub value: String,
    pub via: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One credential of an identity. `config` is method-specific and may hold secrets (a password
/// hash, an encrypted TOTP secret, hashed backup codes, WebAuthn public keys).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Credential {
    #[serde(default)]
    pub identifiers: Vec<String>,
    #[serde(default)]
    pub config: Value,
    #[serde(default)]
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Identity {
    pub id: String,
    pub schema_id: String,
    #[serde(default)]
    pub state: State,
    pub traits: Value,
    #[serde(default)]
    pub metadata_public: Value,
    #[serde(default)]
    pub metadata_admin: Value,
    #[serde(default)]
    pub verifiable_addresses: Vec<VerifiableAddress>,
    #[serde(default)]
    pub recovery_addresses: Vec<RecoveryAddress>,
    #[serde(default)]
    pub credentials: BTreeMap<String, Credential>,
    #[serde(default)]
    pub external_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub state_changed_at: i64,
    /// The stored row's optimistic-concurrency version this copy was read at (not part of the
    /// stored document): [`crate::identity::IdentityService::save`] writes only over it.
    #[serde(skip)]
    pub version: i64,
}

impl Identity {
    /// Kratos's JSON. `include` names the credential types whose `config` is shown (admin only;
    /// only the password hash and WebAuthn key ids are ever shown, never TOTP secrets).
    pub fn to_api(&self, issuer: &str, include: &[&str]) -> Value {
        let credentials: serde_json::Map<String, Value> = self
            .credentials
            .iter()
            .map(|(ty, c)| {
                let mut v = json!({
                    "type": ty,
                    "identifiers": c.identifiers,
                    "version": c.version,
                    "created_at": rfc3339(c.created_at),
                    "updated_at": rfc3339(c.updated_at),
                });
                if include.contains(&ty.as_str())
                    && ty == method::PASSWORD
                    && let Some(h) = c.config.get("hashed_password")
                {
                    v["config"] = json!({ "hashed_password": h });
                }
                (ty.clone(), v)
            })
            .collect();
        json!({
            "id": self.id,
            "schema_id": self.schema_id,
            "schema_url": format!("{issuer}/schemas/{}", self.schema_id),
            "state": self.state,
            "state_changed_at": rfc3339(self.state_changed_at),
            "traits": self.traits,
            "verifiable_addresses": self.verifiable_addresses.iter().map(|a| json!({
                "id": a.id, "value": a.value, "verified": a.verified, "via": a.via,
                "status": a.status,
                "verified_at": a.verified_at.map(rfc3339),
                "created_at": rfc3339(a.created_at), "updated_at": rfc3339(a.updated_at),
            })).collect::<Vec<_>>(),
            "recovery_addresses": self.recovery_addresses.iter().map(|a| json!({
                "id": a.id, "value": a.value, "via": a.via,
                "created_at": rfc3339(a.created_at), "updated_at": rfc3339(a.updated_at),
            })).collect::<Vec<_>>(),
            "metadata_public": null_if_empty(&self.metadata_public),
            "metadata_admin": null_if_empty(&self.metadata_admin),
            "credentials": credentials,
            "external_id": self.external_id,
            "organization_id": null,
            "created_at": rfc3339(self.created_at),
            "updated_at": rfc3339(self.updated_at),
        })
    }

    /// The public view (whoami, the settings flow): no admin metadata, no credentials.
    pub fn to_public(&self, issuer: &str) -> Value {
        let mut v = self.to_api(issuer, &[]);
        if let Value::Object(m) = &mut v {
            m.remove("metadata_admin");
            m.remove("credentials");
        }
        v
    }

    /// The primary e-mail: the first verifiable address, else the first recovery address.
    pub fn email(&self) -> Option<&str> {
        self.verifiable_addresses
            .first()
            .map(|a| a.value.as_str())
            .or_else(|| self.recovery_addresses.first().map(|a| a.value.as_str()))
    }

    /// Whether any verifiable address is verified.
    pub fn verified(&self) -> bool {
        self.verifiable_addresses.iter().any(|a| a.verified)
    }

    /// Roles from `metadata_public.roles` (an array of strings).
    pub fn roles(&self) -> Vec<String> {
        self.metadata_public
            .get("roles")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether a second factor is set up (TOTP, backup codes or a security key). Fails closed:
    /// a backup-code or WebAuthn credential whose stored config cannot be read counts as one, so
    /// an unreadable row demands the second factor rather than waive it.
    pub fn has_second_factor(&self) -> bool {
        let backup_codes = self
            .credentials
            .get(method::LOOKUP_SECRET)
            .is_some_and(|c| match c.config.get("codes") {
                Some(Value::Array(codes)) => !codes.is_empty(),
                _ => true,
            });
        let security_key = self.credentials.get(method::WEBAUTHN).is_some_and(|c| {
            match c.config.get("credentials") {
                Some(Value::Array(keys)) => keys
                    .iter()
                    .any(|k| k.get("is_passwordless") != Some(&Value::Bool(true))),
                _ => true,
            }
        });
        self.credentials.contains_key(method::TOTP) || backup_codes || security_key
    }
}

fn null_if_empty(v: &Value) -> Value {
    match v {
        Value::Object(m) if m.is_empty() => Value::Null,
        other => other.clone(),
    }
}

pub use super::identifier::normalize_identifier;

#[cfg(test)]
mod second_factor_tests {
    use super::*;

    fn with(method: &str, config: Value) -> Identity {
        let mut i: Identity = serde_json::from_value(serde_json::json!({
            "id": "00000000-0000-4000-8000-000000000000",
            "schema_id": "default",
            "traits": {},
            "created_at": 0,
            "updated_at": 0,
            "state_changed_at": 0,
        }))
        .expect("identity");
        i.credentials.insert(
            method.into(),
            serde_json::from_value(serde_json::json!({
                "identifiers": [], "config": config, "created_at": 0, "updated_at": 0,
            }))
            .expect("credential"),
        );
        i
    }

    #[test]
    fn an_unreadable_second_factor_config_still_counts_as_one() {
        use serde_json::json;
        assert!(with(method::LOOKUP_SECRET, json!({"codes": [{"code": "x"}]})).has_second_factor());
        assert!(!with(method::LOOKUP_SECRET, json!({"codes": []})).has_second_factor());
        assert!(with(method::LOOKUP_SECRET, json!({"codes": "garbage"})).has_second_factor());
        assert!(with(method::LOOKUP_SECRET, json!(null)).has_second_factor());
        assert!(
            with(
                method::WEBAUTHN,
                json!({"credentials": [{"is_passwordless": false}]})
            )
            .has_second_factor()
        );
        assert!(
            !with(
                method::WEBAUTHN,
                json!({"credentials": [{"is_passwordless": true}]})
            )
            .has_second_factor()
        );
        assert!(with(method::WEBAUTHN, json!({"credentials": 7})).has_second_factor());
        assert!(with(method::WEBAUTHN, json!({})).has_second_factor());
        assert!(!with(method::PASSWORD, json!({})).has_second_factor());
    }
}
