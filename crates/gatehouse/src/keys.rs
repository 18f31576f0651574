//! Signing keys: generated on first start, stored encrypted under the keyring, rotated with
//! overlap, and held in memory as an immutable snapshot (active key + pre-serialised JWKS) that
//! request handlers read without locks or I/O.
//!
//! Rotation: a new key is inserted with `activate_at = now + keys.publish_before_use`, so every
//! replica publishes it before any replica signs with it. When it activates, the previous key
//! stops signing and stays in the JWKS until every token it signed has expired.

use std::sync::Arc;

use arc_swap::ArcSwap;
use gatehouse_crypto::jwk::Jwks;
use gatehouse_crypto::{Algorithm, Keyring, SigningKey};
use gatehouse_store::{KeyRow, Store};

/// The key set Hydra uses for ID tokens and JWT access tokens.
pub const DEFAULT_SET: &str = "hydra.openid.id-token";

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error(transparent)]
    Store(#[from] gatehouse_store::StoreError),
    #[error("signing key {kid} cannot be decrypted with secrets.system: {source}")]
    Decrypt {
        kid: String,
        source: gatehouse_crypto::KeyringError,
    },
    #[error("signing key {0} is corrupt: {1}")]
    Corrupt(String, String),
    #[error("key generation failed")]
    Generate,
}

/// What handlers need: the key that signs now and the JWKS to publish.
pub struct KeySnapshot {
    pub signing: Arc<SigningKey>,
    pub jwks: Jwks,
    /// `jwks` serialised once, served as is.
    pub jwks_json: bytes::Bytes,
    /// The earliest time at which this snapshot must be rebuilt (a key activates or expires).
    pub next_change: Option<i64>,
}

pub struct KeyManager {
    store: Arc<dyn Store>,
    keyring: Arc<Keyring>,
    algorithm: Algorithm,
    publish_before_use: i64,
    /// Longest lifetime of anything a key signs; a retired key stays published this long.
    max_token_lifetime: i64,
    snapshot: ArcSwap<KeySnapshot>,
}

fn context(kid: &str) -> Vec<u8> {
    format!("signing-key:{kid}").into_bytes()
}

impl KeyManager {
    /// Loads the keys, creating the first one if there is none.
    pub async fn load(
        store: Arc<dyn Store>,
        keyring: Arc<Keyring>,
        algorithm: Algorithm,
        publish_before_use: i64,
        max_token_lifetime: i64,
        now: i64,
    ) -> Result<KeyManager, KeysError> {
        let mut rows = store.list_keys(DEFAULT_SET).await?;
        if !rows
            .iter()
            .any(|r| r.activate_at <= now && r.retire_at.is_none_or(|t| t > now))
        {
            let row = new_key_row(&keyring, algorithm, now)?;
            store.insert_key(&row).await?;
            tracing::info!(kid = %row.kid, alg = %row.alg, "generated signing key");
            rows = store.list_keys(DEFAULT_SET).await?;
        }
        let snapshot = build_snapshot(&keyring, &rows, now)?;
        Ok(KeyManager {
            store,
            keyring,
            algorithm,
            publish_before_use,
            max_token_lifetime,
            snapshot: ArcSwap::from_pointee(snapshot),
        })
    }

    pub fn current(&self) -> Arc<KeySnapshot> {
        self.snapshot.load_full()
    }

    /// Re-reads the keys from the store (other replicas or the CLI may have rotated).
    pub async fn refresh(&self, now: i64) -> Result<(), KeysError> {
        let rows = self.store.list_keys(DEFAULT_SET).await?;
        self.retire_superseded(&rows, now).await?;
        let rows = self.store.list_keys(DEFAULT_SET).await?;
        let snap = build_snapshot(&self.keyring, &rows, now)?;
        self.snapshot.store(Arc::new(snap));
        Ok(())
    }

    /// Whether the snapshot is due for a rebuild.
    pub fn needs_refresh(&self, now: i64) -> bool {
        self.snapshot.load().next_change.is_some_and(|t| t <= now)
    }

    /// Schedules a new key; with `immediately`, it signs from now on (only safe on one replica
    /// or when verifiers re-fetch the JWKS on an unknown `kid`).
    pub async fn rotate(&self, now: i64, immediately: bool) -> Result<KeyRow, KeysError> {
        let activate_at = if immediately {
            now
        } else {
            now + self.publish_before_use
        };
        let mut row = new_key_row(&self.keyring, self.algorithm, now)?;
        row.activate_at = activate_at;
        self.store.insert_key(&row).await?;
        self.refresh(now).await?;
        Ok(row)
    }

    /// Once a newer key has activated, the older ones stop signing and get an expiry.
    async fn retire_superseded(&self, rows: &[KeyRow], now: i64) -> Result<(), KeysError> {
        let Some(newest_active) = rows
            .iter()
            .filter(|r| r.activate_at <= now && r.retire_at.is_none())
            .max_by_key(|r| r.activate_at)
        else {
            return Ok(());
        };
        for r in rows.iter().filter(|r| {
            r.kid != newest_active.kid
                && r.activate_at <= newest_active.activate_at
                && r.retire_at.is_none()
        }) {
            let retire = newest_active.activate_at;
            self.store
                .update_key_schedule(&r.kid, Some(retire), Some(retire + self.max_token_lifetime))
                .await?;
            tracing::info!(kid = %r.kid, "retired signing key");
        }
        Ok(())
    }

    /// Re-encrypts every private key under the first secret of the keyring.
    pub async fn reencrypt_all(&self) -> Result<usize, KeysError> {
        let mut n = 0;
        for r in self.store.list_all_keys().await? {
            let ctx = context(&r.kid);
            if self.keyring.is_current(&r.private_key, &ctx) {
                continue;
            }
            let plain = self
                .keyring
                .decrypt(&r.private_key, &ctx)
                .map_err(|source| KeysError::Decrypt {
                    kid: r.kid.clone(),
                    source,
                })?;
            self.store
                .update_key_private(&r.kid, &self.keyring.encrypt(&plain, &ctx))
                .await?;
            n += 1;
        }
        Ok(n)
    }
}

fn new_key_row(keyring: &Keyring, alg: Algorithm, now: i64) -> Result<KeyRow, KeysError> {
    let key = SigningKey::generate(alg).map_err(|_| KeysError::Generate)?;
    let public = serde_json::to_string(&key.public_jwk())
        .map_err(|e| KeysError::Corrupt(key.kid().to_owned(), e.to_string()))?;
    Ok(KeyRow {
        kid: key.kid().to_owned(),
        set_name: DEFAULT_SET.to_owned(),
        alg: alg.as_str().to_owned(),
        private_key: keyring.encrypt(key.pkcs8(), &context(key.kid())),
        public_jwk: public,
        created_at: now,
        activate_at: now,
        retire_at: None,
        expire_at: None,
    })
}

fn build_snapshot(keyring: &Keyring, rows: &[KeyRow], now: i64) -> Result<KeySnapshot, KeysError> {
    let published: Vec<&KeyRow> = rows
        .iter()
        .filter(|r| r.expire_at.is_none_or(|t| t > now))
        .collect();
    let signing_row = rows
        .iter()
        .filter(|r| r.activate_at <= now && r.retire_at.is_none_or(|t| t > now))
        .max_by_key(|r| r.activate_at)
        .ok_or_else(|| KeysError::Corrupt("-".into(), "no active signing key".into()))?;
    let alg = Algorithm::parse(&signing_row.alg).ok_or_else(|| {
        KeysError::Corrupt(
            signing_row.kid.clone(),
            format!("unknown alg {}", signing_row.alg),
        )
    })?;
    let pkcs8 = keyring
        .decrypt(&signing_row.private_key, &context(&signing_row.kid))
        .map_err(|source| KeysError::Decrypt {
            kid: signing_row.kid.clone(),
            source,
        })?;
    let signing = SigningKey::from_pkcs8(signing_row.kid.clone(), alg, &pkcs8)
        .map_err(|e| KeysError::Corrupt(signing_row.kid.clone(), e.to_string()))?;
    let mut jwks = Jwks::default();
    for r in &published {
        let jwk = serde_json::from_str(&r.public_jwk)
            .map_err(|e| KeysError::Corrupt(r.kid.clone(), e.to_string()))?;
        jwks.keys.push(jwk);
    }
    let jwks_json = bytes::Bytes::from(serde_json::to_vec(&jwks).unwrap_or_default());
    let next_change = rows
        .iter()
        .flat_map(|r| [Some(r.activate_at), r.retire_at, r.expire_at])
        .flatten()
        .filter(|t| *t > now)
        .min();
    Ok(KeySnapshot {
        signing: Arc::new(signing),
        jwks,
        jwks_json,
        next_change,
    })
}
