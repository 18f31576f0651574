//! `credentials.*`: personal access tokens, API keys and service tokens — which scopes they may
//! carry, how long they may live, and how their validation is cached.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, Dur, key_err};
use gatehouse_protocol::credential_scope as scope;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CredentialsConfig {
    /// The scopes credentials may carry; the management page offers these. A requested scope
    /// must be granted by one of them (`read:*` allows `read:users`).
    pub scopes: Vec<String>,
    /// The scopes a user's personal access tokens may carry, by role (`metadata_public.roles`);
    /// `default` applies to every user. A PAT never carries more than its owner's roles grant,
    /// at creation and at every validation (a demoted user's tokens lose the scopes at once).
    pub role_scopes: BTreeMap<String, Vec<String>>,
    /// The longest lifetime a credential may be given. Unset: no maximum, and credentials may
    /// be created that never expire.
    pub max_lifetime: Option<Dur>,
    /// The lifetime of a credential whose request names none. Unset: it never expires (only
    /// allowed while `max_lifetime` is unset).
    pub default_lifetime: Option<Dur>,
    /// How long a validation result (found, or not found) is cached on this replica. Revoking or
    /// regenerating purges the entry at once on the replica that did it, and on the others
    /// through Redis when `redis.url` is set.
    pub cache_ttl: Dur,
    /// How often the batched `last_used_at` updates are written.
    pub usage_flush_interval: Dur,
}

impl Default for CredentialsConfig {
    fn default() -> Self {
        let v = |xs: &[&str]| xs.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        CredentialsConfig {
            scopes: v(&["read:*", "write:*", "admin:*"]),
            role_scopes: BTreeMap::from([
                ("default".to_owned(), v(&["read:*", "write:*"])),
                ("admin".to_owned(), v(&["admin:*"])),
            ]),
            max_lifetime: None,
            default_lifetime: Some(Dur(Duration::from_secs(90 * 86400))),
            cache_ttl: Dur(Duration::from_secs(60)),
            usage_flush_interval: Dur(Duration::from_secs(10)),
        }
    }
}

impl CredentialsConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        for s in &self.scopes {
            scope::validate(s).map_err(|e| key_err("credentials.scopes", e.to_string()))?;
        }
        for (role, scopes) in &self.role_scopes {
            let key = format!("credentials.role_scopes.{role}");
            for s in scopes {
                scope::validate(s).map_err(|e| key_err(&key, e.to_string()))?;
            }
        }
        if let Some(max) = self.max_lifetime {
            if max.0.is_zero() {
                return Err(key_err(
                    "credentials.max_lifetime",
                    "must be longer than zero (leave it unset for no maximum)",
                ));
            }
            match self.default_lifetime {
                None => {
                    return Err(key_err(
                        "credentials.default_lifetime",
                        "must be set when credentials.max_lifetime is (credentials must expire)",
                    ));
                }
                Some(d) if d.0 > max.0 => {
                    return Err(key_err(
                        "credentials.default_lifetime",
                        "must not be longer than credentials.max_lifetime",
                    ));
                }
                _ => {}
            }
        }
        if self.default_lifetime.is_some_and(|d| d.0.is_zero()) {
            return Err(key_err(
                "credentials.default_lifetime",
                "must be longer than zero",
            ));
        }
        if self.usage_flush_interval.0.is_zero() {
            return Err(key_err(
                "credentials.usage_flush_interval",
                "must be longer than zero",
            ));
        }
        Ok(())
    }
}
