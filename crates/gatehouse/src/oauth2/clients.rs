//! OAuth 2.0 clients: registration through the admin API, secrets generated and shown once
//! (stored as SHA-256, as they are high-entropy), and client authentication at the token,
//! revocation and introspection endpoints.

use std::sync::Arc;

use gatehouse_crypto::jwk::Jwks;
use gatehouse_crypto::jwt::UnverifiedJwt;
use gatehouse_crypto::{PlainToken, TokenHash, TokenKind};
use gatehouse_protocol::client::{AuthMethod, Client};
use gatehouse_protocol::client_assertion::{self, Assertion};
use gatehouse_protocol::client_auth::{self, Verdict};
use gatehouse_protocol::token_request::ClientCredentials;
use gatehouse_protocol::{ErrorCode, OAuthError};
use gatehouse_store::{ClientRow, StoreError, TokenRow};
use serde_json::Value;

use super::Provider;
use crate::audit::{Event, event};
use crate::clock::rfc3339;
use crate::error::{Error, Result};
use crate::outbound_guard::Refused;

/// A client secret supplied by the operator must be at least this long, because secrets are
/// stored as fast SHA-256 digests (safe only for high-entropy secrets).
pub const MIN_SUPPLIED_SECRET_LEN: usize = 32;

#[derive(Debug, Clone)]
pub struct StoredClient {
    pub client: Client,
    pub secret_hash: Option<String>,
}

/// The result of creating a client or rotating its secret: the secret is shown this once.
pub struct Created {
    pub client: Client,
    pub secret: Option<String>,
    pub registration_token: Option<String>,
}

fn meta_err((code, msg): (ErrorCode, String)) -> Error {
    Error::OAuth(OAuthError::new(code, msg))
}

fn parse_client(mut input: Value) -> Result<(Client, Option<String>)> {
    let supplied_secret = input
        .as_object_mut()
        .and_then(|m| m.remove("client_secret"))
        .and_then(|v| v.as_str().map(str::to_owned))
        .filter(|s| !s.is_empty());
    if let Some(m) = input.as_object_mut() {
        for k in [
            "created_at",
            "updated_at",
            "registration_access_token",
            "registration_client_uri",
            "client_secret_expires_at",
        ] {
            m.remove(k);
        }
    }
    let client: Client = serde_json::from_value(input).map_err(|e| {
        Error::OAuth(OAuthError::new(
            ErrorCode::InvalidClientMetadata,
            format!("The client metadata is invalid: {e}"),
        ))
    })?;
    if let Some(s) = &supplied_secret
        && s.len() < MIN_SUPPLIED_SECRET_LEN
    {
        return Err(Error::OAuth(OAuthError::new(
            ErrorCode::InvalidClientMetadata,
            format!(
                "client_secret must be at least {MIN_SUPPLIED_SECRET_LEN} characters; leave it out to have one generated"
            ),
        )));
    }
    Ok((client, supplied_secret))
}

impl Provider {
    fn client_row(
        &self,
        client: &Client,
        secret_hash: Option<String>,
        registration_hash: Option<String>,
        created: i64,
        now: i64,
    ) -> Result<ClientRow> {
        let mut stored = client.clone();
        stored.created_at = None;
        stored.updated_at = None;
        Ok(ClientRow {
            client_id: client.client_id.clone(),
            client_name: client.client_name.clone(),
            owner: client.owner.clone(),
            data: serde_json::to_string(&stored).map_err(|e| Error::Internal(e.to_string()))?,
            secret_hash,
            registration_token_hash: registration_hash,
            created_at: created,
            updated_at: now,
        })
    }

    fn from_row(row: &ClientRow) -> Result<StoredClient> {
        let mut client: Client = serde_json::from_str(&row.data)
            .map_err(Error::corrupt("client", row.client_id.as_str()))?;
        client.created_at = Some(rfc3339(row.created_at));
        client.updated_at = Some(rfc3339(row.updated_at));
        Ok(StoredClient {
            client,
            secret_hash: row.secret_hash.clone(),
        })
    }

    /// Creates a client from Hydra-shaped JSON. A secret is generated unless the client is public.
    pub async fn create_client(
        &self,
        input: Value,
        with_registration_token: bool,
        now: i64,
    ) -> Result<Created> {
        let (mut client, supplied) = parse_client(input)?;
        if client.client_id.is_empty() {
            client.client_id = uuid::Uuid::new_v4().to_string();
        }
        client.validate().map_err(meta_err)?;
        let secret = if client.is_public() || client.auth_method() == AuthMethod::PrivateKeyJwt {
            None
        } else {
            Some(supplied.unwrap_or_else(|| {
                PlainToken::generate(TokenKind::ClientSecret)
                    .expose()
                    .to_owned()
            }))
        };
        let registration = with_registration_token
            .then(|| PlainToken::generate(TokenKind::RegistrationAccessToken));
        let row = self.client_row(
            &client,
            secret.as_deref().map(|s| TokenHash::of_secret(s).to_hex()),
            registration.as_ref().map(|t| t.hash().to_hex()),
            now,
            now,
        )?;
        self.store.insert_client(&row).await.map_err(|e| match e {
            gatehouse_store::StoreError::Conflict => Error::Conflict(format!(
                "a client with id {:?} already exists",
                client.client_id
            )),
            other => other.into(),
        })?;
        let stored = Self::from_row(&row)?;
        self.audit.record(
            event::CLIENT_CREATED,
            Event {
                client_id: Some(&row.client_id),
                ..Event::default()
            },
        );
        Ok(Created {
            client: stored.client,
            secret,
            registration_token: registration.map(|t| t.expose().to_owned()),
        })
    }

    pub async fn get_client(&self, client_id: &str) -> Result<Arc<StoredClient>> {
        if let Some(c) = self.client_cache.get(client_id) {
            return Ok(c);
        }
        let row = self
            .store
            .get_client(client_id)
            .await?
            .ok_or_else(|| Error::NotFound("the client does not exist".into()))?;
        let c = Arc::new(Self::from_row(&row)?);
        self.client_cache.insert(client_id.to_owned(), c.clone());
        Ok(c)
    }

    pub async fn list_clients(
        &self,
        limit: i64,
        offset: i64,
        client_name: Option<&str>,
        owner: Option<&str>,
    ) -> Result<Vec<Client>> {
        let rows = self
            .store
            .list_clients(limit, offset, client_name, owner)
            .await?;
        rows.iter()
            .map(|r| Self::from_row(r).map(|s| s.client))
            .collect()
    }

    /// Replaces a client's metadata (PUT). A `client_secret` in the body sets a new secret;
    /// without one the secret is kept.
    pub async fn update_client(&self, client_id: &str, input: Value, now: i64) -> Result<Created> {
        let row = self
            .store
            .get_client(client_id)
            .await?
            .ok_or_else(|| Error::NotFound("the client does not exist".into()))?;
        let (mut client, supplied) = parse_client(input)?;
        client.client_id = client_id.to_owned();
        client.validate().map_err(meta_err)?;
        let secret_hash = if client.is_public() || client.auth_method() == AuthMethod::PrivateKeyJwt
        {
            None
        } else if let Some(s) = &supplied {
            Some(TokenHash::of_secret(s).to_hex())
        } else {
            row.secret_hash.clone()
        };
        let new_secret = if secret_hash.is_none()
            && !(client.is_public() || client.auth_method() == AuthMethod::PrivateKeyJwt)
        {
            Some(
                PlainToken::generate(TokenKind::ClientSecret)
                    .expose()
                    .to_owned(),
            )
        } else {
            None
        };
        let secret_hash = secret_hash.or_else(|| {
            new_secret
                .as_deref()
                .map(|s| TokenHash::of_secret(s).to_hex())
        });
        let updated = self.client_row(
            &client,
            secret_hash,
            row.registration_token_hash.clone(),
            row.created_at,
            now,
        )?;
        self.store.update_client(&updated).await?;
        self.purge_client(client_id);
        self.audit.record(
            event::CLIENT_UPDATED,
            Event {
                client_id: Some(client_id),
                ..Event::default()
            },
        );
        Ok(Created {
            client: Self::from_row(&updated)?.client,
            secret: new_secret.or(supplied),
            registration_token: None,
        })
    }

    /// Applies an RFC 6902 JSON Patch (add, replace, remove) to a client (Hydra's PATCH).
    pub async fn patch_client(&self, client_id: &str, patch: Value, now: i64) -> Result<Created> {
        let current = self.get_client(client_id).await?;
        let mut doc =
            serde_json::to_value(&current.client).map_err(|e| Error::Internal(e.to_string()))?;
        crate::json_patch::apply(&mut doc, &patch, &["/client_id"])?;
        self.update_client(client_id, doc, now).await
    }

    pub async fn delete_client(&self, client_id: &str) -> Result<()> {
        // Revoke first so the cached copies of its tokens are purged at once.
        let revoked = self.store.revoke_client_tokens(client_id).await?;
        self.purge_tokens(&revoked);
        if !self.store.delete_client(client_id).await? {
            return Err(Error::NotFound("the client does not exist".into()));
        }
        self.purge_client(client_id);
        self.audit.record(
            event::CLIENT_DELETED,
            Event {
                client_id: Some(client_id),
                ..Event::default()
            },
        );
        Ok(())
    }

    /// Authenticates a client at the token, revocation or introspection endpoints. Every failure
    /// is the same `invalid_client`, so the answer does not reveal which part was wrong.
    pub async fn authenticate(
        &self,
        creds: &ClientCredentials,
        now: i64,
    ) -> Result<Arc<StoredClient>> {
        let fail = || Error::OAuth(client_auth::failed());
        let client_id = match creds {
            ClientCredentials::Assertion {
                client_id,
                assertion,
            } => match client_id {
                Some(id) => id.clone(),
                None => UnverifiedJwt::parse(assertion)
                    .ok()
                    .and_then(|j| {
                        j.claims
                            .get("iss")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    })
                    .ok_or_else(fail)?,
            },
            other => other.claimed_client_id().unwrap_or_default().to_owned(),
        };
        let stored = match self.get_client(&client_id).await {
            Ok(c) => c,
            Err(Error::NotFound(_)) => {
                // Same work as a real check, so timing does not reveal whether the client exists.
                let _ = gatehouse_crypto::ct_eq(&TokenHash::of_secret("x").0, &[0u8; 32]);
                return Err(fail());
            }
            Err(e) => return Err(e),
        };
        let method = stored.client.auth_method();
        let ok = match client_auth::check(creds, method, stored.secret_hash.as_deref()) {
            Verdict::Authenticated => true,
            Verdict::Refused => false,
            // A refused assertion is the same `invalid_client` as every other failure; an
            // assertion that could not be checked (the database or the client's jwks_uri
            // failed) is an error, not a verdict on the client.
            Verdict::Assertion(assertion) => match self
                .verify_assertion(&stored.client, assertion, now)
                .await?
            {
                Ok(()) => true,
                Err(why) => {
                    tracing::debug!(client_id = %client_id, reason = why, "client assertion refused");
                    false
                }
            },
        };
        if ok {
            Ok(stored)
        } else {
            let data = serde_json::json!({"method": method.as_str()});
            self.audit.record(
                event::CLIENT_AUTH_FAILED,
                Event {
                    client_id: Some(&client_id),
                    data,
                    ..Event::default()
                },
            );
            Err(fail())
        }
    }

    /// RFC 7523 §3: a client assertion signed by a key of the client, for us, unexpired and used
    /// once. `Ok(Err(why))` when the assertion is refused; `Err` when it could not be checked:
    /// the database failed, or the client's `jwks_uri` could not be fetched.
    async fn verify_assertion(
        &self,
        client: &Client,
        assertion: &str,
        now: i64,
    ) -> Result<std::result::Result<(), &'static str>> {
        let Ok(jwt) = UnverifiedJwt::parse(assertion) else {
            return Ok(Err("malformed client assertion"));
        };
        let jwks = match self.client_jwks(client).await? {
            Ok(k) => k,
            Err(why) => return Ok(Err(why)),
        };
        let Ok(claims) = jwt.verify(&jwks.keys) else {
            return Ok(Err("client assertion signature"));
        };
        let Assertion { jti, exp } =
            match client_assertion::check_claims(&claims, &client.client_id, &self.issuer, now) {
                Ok(a) => a,
                Err(why) => return Ok(Err(why.reason())),
            };
        // Replay protection: the jti is recorded until the assertion expires.
        let row = TokenRow {
            hash: TokenHash::of_secret(&format!("{}:{jti}", client.client_id)).to_hex(),
            kind: "assertion_jti".into(),
            client_id: client.client_id.clone(),
            subject: None,
            family_id: String::new(),
            session_id: None,
            data: "{}".into(),
            created_at: now,
            expires_at: exp,
            revoked: false,
            used_at: Some(now),
        };
        match self.store.insert_token(&row).await {
            Ok(()) => Ok(Ok(())),
            // Only a jti recorded already is a replay; any other failure is the database's.
            Err(StoreError::Conflict) => Ok(Err("assertion replayed")),
            Err(e) => Err(e.into()),
        }
    }

    /// The client's keys: its `jwks`, or else what its `jwks_uri` serves. `Ok(Err(why))` when
    /// the client's keys are unusable (a misconfigured client); `Err` (Hydra's `server_error`)
    /// when the `jwks_uri` could not be fetched.
    async fn client_jwks(
        &self,
        client: &Client,
    ) -> Result<std::result::Result<Jwks, &'static str>> {
        let body = match &client.jwks {
            Some(v) => {
                return Ok(serde_json::from_value(v.clone()).map_err(|_| "client jwks is invalid"));
            }
            None => self.outbound.get(&client.jwks_uri).await,
        };
        match body {
            Ok(body) => Ok(serde_json::from_slice(&body).map_err(|_| "jwks_uri invalid")),
            // Not called: the URL is not one Gatehouse calls (not http(s), or not publicly
            // routable). The client is misconfigured.
            Err(e @ (Refused::Url(_) | Refused::Private(_))) => {
                tracing::warn!(client_id = %client.client_id, error = %e, "jwks_uri not fetched");
                Ok(Err("jwks_uri refused"))
            }
            Err(Refused::Transport(e)) => {
                tracing::warn!(client_id = %client.client_id, error = %e, "jwks_uri could not be fetched");
                Err(Error::OAuth(OAuthError::new(
                    ErrorCode::ServerError,
                    "The client's JSON Web Key Set could not be fetched from its jwks_uri; try again later.",
                )))
            }
        }
    }
}
