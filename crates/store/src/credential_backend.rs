//! [`CredentialStore`] for both backends, from one macro over the same SQL (as in `backend`).

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use crate::Result;
use crate::backend::{PostgresStore, SqliteStore, conflict};
use crate::credential::*;

macro_rules! credential_store_impl {
    ($ty:ident, $row:ty) => {
        impl $ty {
            fn credential_row(r: &$row) -> Result<CredentialRow> {
                Ok(CredentialRow {
                    id: r.try_get("id")?,
                    kind: r.try_get("kind")?,
                    token_hash: r.try_get("token_hash")?,
                    hint: r.try_get("hint")?,
                    name: r.try_get("name")?,
                    owner: r.try_get("owner")?,
                    scopes: r.try_get("scopes")?,
                    created_by: r.try_get("created_by")?,
                    created_at: r.try_get("created_at")?,
                    issued_at: r.try_get("issued_at")?,
                    expires_at: r.try_get("expires_at")?,
                    last_used_at: r.try_get("last_used_at")?,
                    last_used_ip: r.try_get("last_used_ip")?,
                    revoked_at: r.try_get("revoked_at")?,
                    revoked_reason: r.try_get("revoked_reason")?,
                })
            }

            fn organization_row(r: &$row) -> Result<OrganizationRow> {
                Ok(OrganizationRow {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    created_at: r.try_get("created_at")?,
                })
            }

            fn member_row(r: &$row) -> Result<MemberRow> {
                Ok(MemberRow {
                    organization_id: r.try_get("organization_id")?,
                    identity_id: r.try_get("identity_id")?,
                    role: r.try_get("role")?,
                    created_at: r.try_get("created_at")?,
                })
            }
        }

        #[async_trait]
        impl CredentialStore for $ty {
            async fn insert_credential(&self, c: &CredentialRow) -> Result<()> {
                sqlx::query("INSERT INTO credentials (id, kind, token_hash, hint, name, owner, scopes, created_by, created_at, issued_at, expires_at, last_used_at, last_used_ip, revoked_at, revoked_reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)")
                    .bind(&c.id).bind(&c.kind).bind(&c.token_hash).bind(&c.hint).bind(&c.name).bind(&c.owner)
                    .bind(&c.scopes).bind(&c.created_by).bind(c.created_at).bind(c.issued_at).bind(c.expires_at)
                    .bind(c.last_used_at).bind(&c.last_used_ip).bind(c.revoked_at).bind(&c.revoked_reason)
                    .execute(&self.pool).await.map_err(conflict)?;
                Ok(())
            }

            async fn get_credential(&self, id: &str) -> Result<Option<CredentialRow>> {
                let row = sqlx::query("SELECT * FROM credentials WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
                row.as_ref().map(Self::credential_row).transpose()
            }

            async fn get_credential_by_hash(&self, token_hash: &str) -> Result<Option<CredentialRow>> {
                let row = sqlx::query("SELECT * FROM credentials WHERE token_hash = $1").bind(token_hash).fetch_optional(&self.pool).await?;
                row.as_ref().map(Self::credential_row).transpose()
            }

            async fn list_credentials(&self, kind: Option<&str>, owner: Option<&str>, revoked_since: i64, limit: i64, offset: i64) -> Result<Vec<CredentialRow>> {
                let rows = sqlx::query("SELECT * FROM credentials WHERE ($1 IS NULL OR kind = $1) AND ($2 IS NULL OR owner = $2) AND (revoked_at IS NULL OR revoked_at >= $3) ORDER BY created_at DESC, id LIMIT $4 OFFSET $5")
                    .bind(kind).bind(owner).bind(revoked_since).bind(limit).bind(offset).fetch_all(&self.pool).await?;
                rows.iter().map(Self::credential_row).collect()
            }

            async fn replace_credential_secret(&self, id: &str, token_hash: &str, hint: &str, issued_at: i64, expires_at: Option<i64>) -> Result<Option<String>> {
                let mut tx = self.pool.begin().await?;
                let old = sqlx::query("SELECT token_hash FROM credentials WHERE id = $1 AND revoked_at IS NULL")
                    .bind(id).fetch_optional(&mut *tx).await?;
                let Some(old) = old else { return Ok(None) };
                let old: String = old.try_get("token_hash")?;
                sqlx::query("UPDATE credentials SET token_hash = $2, hint = $3, issued_at = $4, expires_at = $5 WHERE id = $1 AND revoked_at IS NULL")
                    .bind(id).bind(token_hash).bind(hint).bind(issued_at).bind(expires_at)
                    .execute(&mut *tx).await.map_err(conflict)?;
                tx.commit().await?;
                Ok(Some(old))
            }

            async fn revoke_credential(&self, id: &str, at: i64, reason: &str) -> Result<Option<String>> {
                let row = sqlx::query("UPDATE credentials SET revoked_at = $2, revoked_reason = $3 WHERE id = $1 AND revoked_at IS NULL RETURNING token_hash")
                    .bind(id).bind(at).bind(reason).fetch_optional(&self.pool).await?;
                Ok(row.map(|r| r.try_get::<String, _>("token_hash")).transpose()?)
            }

            async fn revoke_owner_credentials(&self, kind: &str, owner: &str, at: i64, reason: &str) -> Result<Vec<String>> {
                let rows = sqlx::query("UPDATE credentials SET revoked_at = $3, revoked_reason = $4 WHERE kind = $1 AND owner = $2 AND revoked_at IS NULL RETURNING token_hash")
                    .bind(kind).bind(owner).bind(at).bind(reason).fetch_all(&self.pool).await?;
                rows.iter().map(|r| Ok(r.try_get::<String, _>("token_hash")?)).collect()
            }

            async fn record_credential_uses(&self, uses: &[CredentialUse]) -> Result<()> {
                if uses.is_empty() {
                    return Ok(());
                }
                let mut tx = self.pool.begin().await?;
                for u in uses {
                    sqlx::query("UPDATE credentials SET last_used_at = $2, last_used_ip = $3 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at <= $2)")
                        .bind(&u.id).bind(u.at).bind(&u.ip).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn insert_organization(&self, o: &OrganizationRow) -> Result<()> {
                sqlx::query("INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)")
                    .bind(&o.id).bind(&o.name).bind(o.created_at)
                    .execute(&self.pool).await.map_err(conflict)?;
                Ok(())
            }

            async fn get_organization(&self, id: &str) -> Result<Option<OrganizationRow>> {
                let row = sqlx::query("SELECT * FROM organizations WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
                row.as_ref().map(Self::organization_row).transpose()
            }

            async fn list_organizations(&self, limit: i64, offset: i64) -> Result<Vec<OrganizationRow>> {
                let rows = sqlx::query("SELECT * FROM organizations ORDER BY name, id LIMIT $1 OFFSET $2")
                    .bind(limit).bind(offset).fetch_all(&self.pool).await?;
                rows.iter().map(Self::organization_row).collect()
            }

            async fn delete_organization(&self, id: &str) -> Result<bool> {
                let mut tx = self.pool.begin().await?;
                sqlx::query("DELETE FROM organization_members WHERE organization_id = $1").bind(id).execute(&mut *tx).await?;
                let r = sqlx::query("DELETE FROM organizations WHERE id = $1").bind(id).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(r.rows_affected() > 0)
            }

            async fn upsert_member(&self, m: &MemberRow) -> Result<()> {
                sqlx::query("INSERT INTO organization_members (organization_id, identity_id, role, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (organization_id, identity_id) DO UPDATE SET role = excluded.role")
                    .bind(&m.organization_id).bind(&m.identity_id).bind(&m.role).bind(m.created_at)
                    .execute(&self.pool).await?;
                Ok(())
            }

            async fn delete_member(&self, organization_id: &str, identity_id: &str) -> Result<bool> {
                let r = sqlx::query("DELETE FROM organization_members WHERE organization_id = $1 AND identity_id = $2")
                    .bind(organization_id).bind(identity_id).execute(&self.pool).await?;
                Ok(r.rows_affected() > 0)
            }

            async fn list_members(&self, organization_id: &str) -> Result<Vec<MemberRow>> {
                let rows = sqlx::query("SELECT * FROM organization_members WHERE organization_id = $1 ORDER BY created_at, identity_id")
                    .bind(organization_id).fetch_all(&self.pool).await?;
                rows.iter().map(Self::member_row).collect()
            }

            async fn memberships(&self, identity_id: &str) -> Result<Vec<(OrganizationRow, String)>> {
                let rows = sqlx::query("SELECT o.*, m.role FROM organizations o JOIN organization_members m ON m.organization_id = o.id WHERE m.identity_id = $1 ORDER BY o.name, o.id")
                    .bind(identity_id).fetch_all(&self.pool).await?;
                rows.iter().map(|r| Ok((Self::organization_row(r)?, r.try_get::<String, _>("role")?))).collect()
            }

            async fn delete_memberships(&self, identity_id: &str) -> Result<u64> {
                let r = sqlx::query("DELETE FROM organization_members WHERE identity_id = $1").bind(identity_id).execute(&self.pool).await?;
                Ok(r.rows_affected())
            }
        }
    };
}

credential_store_impl!(SqliteStore, SqliteRow);
credential_store_impl!(PostgresStore, PgRow);
