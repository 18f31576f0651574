//! [`IdentityStore`] for both backends, from one macro over the same SQL (as in `backend`).

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use crate::backend::{PostgresStore, SqliteStore, conflict};
use crate::identity::*;
use crate::{Result, StoreError};

macro_rules! identity_store_impl {
    ($ty:ident, $row:ty) => {
        impl $ty {
            fn identity_row(r: &$row) -> Result<IdentityRow> {
                Ok(IdentityRow {
                    id: r.try_get("id")?,
                    schema_id: r.try_get("schema_id")?,
                    state: r.try_get("state")?,
                    external_id: r.try_get("external_id")?,
                    data: r.try_get("data")?,
                    created_at: r.try_get("created_at")?,
                    updated_at: r.try_get("updated_at")?,
                    version: r.try_get("version")?,
                })
            }

            fn session_row(r: &$row) -> Result<IdentitySessionRow> {
                Ok(IdentitySessionRow {
                    id: r.try_get("id")?,
                    token_hash: r.try_get("token_hash")?,
                    identity_id: r.try_get("identity_id")?,
                    active: r.try_get::<i64, _>("active")? != 0,
                    data: r.try_get("data")?,
                    authenticated_at: r.try_get("authenticated_at")?,
                    issued_at: r.try_get("issued_at")?,
                    expires_at: r.try_get("expires_at")?,
                })
            }

            fn message_row(r: &$row) -> Result<CourierMessageRow> {
                Ok(CourierMessageRow {
                    id: r.try_get("id")?,
                    status: r.try_get("status")?,
                    channel: r.try_get("channel")?,
                    recipient: r.try_get("recipient")?,
                    template_type: r.try_get("template_type")?,
                    data: r.try_get("data")?,
                    send_count: r.try_get("send_count")?,
                    next_attempt_at: r.try_get("next_attempt_at")?,
                    created_at: r.try_get("created_at")?,
                    updated_at: r.try_get("updated_at")?,
                })
            }
        }

        #[async_trait]
        impl IdentityStore for $ty {
            async fn insert_identity(&self, i: &IdentityRow, identifiers: &[IdentifierRow]) -> Result<()> {
                let mut tx = self.pool.begin().await?;
                sqlx::query("INSERT INTO identities (id, schema_id, state, external_id, data, created_at, updated_at, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
                    .bind(&i.id).bind(&i.schema_id).bind(&i.state).bind(&i.external_id).bind(&i.data).bind(i.created_at).bind(i.updated_at).bind(i.version)
                    .execute(&mut *tx).await.map_err(conflict)?;
                for x in identifiers {
                    sqlx::query("INSERT INTO identity_identifiers (method, identifier, identity_id) VALUES ($1, $2, $3)")
                        .bind(&x.method).bind(&x.identifier).bind(&i.id)
                        .execute(&mut *tx).await.map_err(conflict)?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn update_identity(&self, i: &IdentityRow, identifiers: &[IdentifierRow]) -> Result<bool> {
                let mut tx = self.pool.begin().await?;
                let r = sqlx::query("UPDATE identities SET schema_id = $2, state = $3, external_id = $4, data = $5, updated_at = $6, version = version + 1 WHERE id = $1 AND version = $7")
                    .bind(&i.id).bind(&i.schema_id).bind(&i.state).bind(&i.external_id).bind(&i.data).bind(i.updated_at).bind(i.version)
                    .execute(&mut *tx).await.map_err(conflict)?;
                if r.rows_affected() == 0 {
                    // Gone, or changed by another writer since `i` was read.
                    let exists = sqlx::query("SELECT 1 FROM identities WHERE id = $1")
                        .bind(&i.id).fetch_optional(&mut *tx).await?.is_some();
                    return if exists { Err(StoreError::Stale) } else { Ok(false) };
                }
                sqlx::query("DELETE FROM identity_identifiers WHERE identity_id = $1").bind(&i.id).execute(&mut *tx).await?;
                for x in identifiers {
                    sqlx::query("INSERT INTO identity_identifiers (method, identifier, identity_id) VALUES ($1, $2, $3)")
                        .bind(&x.method).bind(&x.identifier).bind(&i.id)
                        .execute(&mut *tx).await.map_err(conflict)?;
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn get_identity(&self, id: &str) -> Result<Option<IdentityRow>> {
                let row = sqlx::query("SELECT * FROM identities WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
                row.as_ref().map(Self::identity_row).transpose()
            }

            async fn find_identity(&self, method: &str, identifier: &str) -> Result<Option<IdentityRow>> {
                let row = sqlx::query("SELECT i.* FROM identities i JOIN identity_identifiers x ON x.identity_id = i.id WHERE x.method = $1 AND x.identifier = $2")
                    .bind(method).bind(identifier).fetch_optional(&self.pool).await?;
                row.as_ref().map(Self::identity_row).transpose()
            }

            async fn list_identities(&self, limit: i64, offset: i64, identifier: Option<&str>) -> Result<Vec<IdentityRow>> {
                let rows = sqlx::query("SELECT * FROM identities WHERE ($3 IS NULL OR id IN (SELECT identity_id FROM identity_identifiers WHERE identifier = $3)) ORDER BY id LIMIT $1 OFFSET $2")
                    .bind(limit).bind(offset).bind(identifier).fetch_all(&self.pool).await?;
                rows.iter().map(Self::identity_row).collect()
            }

            async fn delete_identity(&self, id: &str) -> Result<Option<Vec<String>>> {
                let mut tx = self.pool.begin().await?;
                let hashes = sqlx::query("DELETE FROM identity_sessions WHERE identity_id = $1 RETURNING token_hash")
                    .bind(id).fetch_all(&mut *tx).await?
                    .iter().map(|r| r.try_get::<String, _>("token_hash")).collect::<std::result::Result<Vec<_>, _>>()?;
                sqlx::query("DELETE FROM identity_identifiers WHERE identity_id = $1").bind(id).execute(&mut *tx).await?;
                let r = sqlx::query("DELETE FROM identities WHERE id = $1").bind(id).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok((r.rows_affected() > 0).then_some(hashes))
            }

            async fn insert_session(&self, s: &IdentitySessionRow) -> Result<()> {
                sqlx::query("INSERT INTO identity_sessions (id, token_hash, identity_id, active, data, authenticated_at, issued_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
                    .bind(&s.id).bind(&s.token_hash).bind(&s.identity_id).bind(i64::from(s.active)).bind(&s.data)
                    .bind(s.authenticated_at).bind(s.issued_at).bind(s.expires_at)
                    .execute(&self.pool).await.map_err(conflict)?;
                Ok(())
            }

            async fn update_session(&self, s: &IdentitySessionRow) -> Result<bool> {
                let r = sqlx::query("UPDATE identity_sessions SET active = $2, data = $3, authenticated_at = $4, expires_at = $5 WHERE id = $1")
                    .bind(&s.id).bind(i64::from(s.active)).bind(&s.data).bind(s.authenticated_at).bind(s.expires_at)
                    .execute(&self.pool).await?;
                Ok(r.rows_affected() > 0)
            }

            async fn get_session(&self, id: &str) -> Result<Option<IdentitySessionRow>> {
                let row = sqlx::query("SELECT * FROM identity_sessions WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
                row.as_ref().map(Self::session_row).transpose()
            }

            async fn get_session_by_token(&self, token_hash: &str) -> Result<Option<IdentitySessionRow>> {
                let row = sqlx::query("SELECT * FROM identity_sessions WHERE token_hash = $1").bind(token_hash).fetch_optional(&self.pool).await?;
                row.as_ref().map(Self::session_row).transpose()
            }

            async fn list_sessions(&self, identity_id: Option<&str>, active: Option<bool>, limit: i64, offset: i64) -> Result<Vec<IdentitySessionRow>> {
                let rows = sqlx::query("SELECT * FROM identity_sessions WHERE ($1 IS NULL OR identity_id = $1) AND ($2 IS NULL OR active = $2) ORDER BY issued_at DESC, id LIMIT $3 OFFSET $4")
                    .bind(identity_id).bind(active.map(i64::from)).bind(limit).bind(offset).fetch_all(&self.pool).await?;
                rows.iter().map(Self::session_row).collect()
            }

            async fn deactivate_session(&self, id: &str) -> Result<Option<String>> {
                let row = sqlx::query("UPDATE identity_sessions SET active = 0 WHERE id = $1 AND active = 1 RETURNING token_hash")
                    .bind(id).fetch_optional(&self.pool).await?;
                Ok(row.map(|r| r.try_get::<String, _>("token_hash")).transpose()?)
            }

            async fn deactivate_identity_sessions(&self, identity_id: &str, keep: Option<&str>) -> Result<Vec<String>> {
                let rows = sqlx::query("UPDATE identity_sessions SET active = 0 WHERE identity_id = $1 AND active = 1 AND ($2 IS NULL OR id <> $2) RETURNING token_hash")
                    .bind(identity_id).bind(keep).fetch_all(&self.pool).await?;
                rows.iter().map(|r| Ok(r.try_get::<String, _>("token_hash")?)).collect()
            }

            async fn insert_message(&self, m: &CourierMessageRow) -> Result<()> {
                sqlx::query("INSERT INTO courier_messages (id, status, channel, recipient, template_type, data, send_count, next_attempt_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
                    .bind(&m.id).bind(&m.status).bind(&m.channel).bind(&m.recipient).bind(&m.template_type).bind(&m.data)
                    .bind(m.send_count).bind(m.next_attempt_at).bind(m.created_at).bind(m.updated_at)
                    .execute(&self.pool).await.map_err(conflict)?;
                Ok(())
            }

            async fn due_messages(&self, now: i64, limit: i64) -> Result<Vec<CourierMessageRow>> {
                let rows = sqlx::query("SELECT * FROM courier_messages WHERE status = 'queued' AND next_attempt_at <= $1 ORDER BY next_attempt_at, created_at LIMIT $2")
                    .bind(now).bind(limit).fetch_all(&self.pool).await?;
                rows.iter().map(Self::message_row).collect()
            }

            async fn update_message(&self, id: &str, status: &str, send_count: i64, next_attempt_at: i64, now: i64) -> Result<()> {
                sqlx::query("UPDATE courier_messages SET status = $2, send_count = $3, next_attempt_at = $4, updated_at = $5 WHERE id = $1")
                    .bind(id).bind(status).bind(send_count).bind(next_attempt_at).bind(now)
                    .execute(&self.pool).await?;
                Ok(())
            }

            async fn list_messages(&self, status: Option<&str>, recipient: Option<&str>, limit: i64, offset: i64) -> Result<Vec<CourierMessageRow>> {
                let rows = sqlx::query("SELECT * FROM courier_messages WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR recipient = $2) ORDER BY created_at DESC, id LIMIT $3 OFFSET $4")
                    .bind(status).bind(recipient).bind(limit).bind(offset).fetch_all(&self.pool).await?;
                rows.iter().map(Self::message_row).collect()
            }

            async fn get_message(&self, id: &str) -> Result<Option<CourierMessageRow>> {
                let row = sqlx::query("SELECT * FROM courier_messages WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
                row.as_ref().map(Self::message_row).transpose()
            }

            async fn claim_message(&self, id: &str, now: i64) -> Result<bool> {
                let done = sqlx::query("UPDATE courier_messages SET status = 'processing', updated_at = $2 WHERE id = $1 AND status = 'queued'")
                    .bind(id).bind(now).execute(&self.pool).await?;
                Ok(done.rows_affected() == 1)
            }

            async fn requeue_stuck_messages(&self, stuck_before: i64, now: i64) -> Result<u64> {
                let done = sqlx::query("UPDATE courier_messages SET status = 'queued', updated_at = $2 WHERE status = 'processing' AND updated_at < $1")
                    .bind(stuck_before).bind(now).execute(&self.pool).await?;
                Ok(done.rows_affected())
            }
        }
    };
}

identity_store_impl!(SqliteStore, SqliteRow);
identity_store_impl!(PostgresStore, PgRow);
