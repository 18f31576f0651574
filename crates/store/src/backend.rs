//! The two backends. Both are generated from one macro over the same SQL, so they cannot drift;
//! only connection set-up and migration files differ.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use tokio::sync::{mpsc, oneshot};

use crate::migrate;
use crate::model::*;
use crate::{Result, Store, StoreError};

/// Opens the database named by `dsn` (`sqlite://…`, `sqlite::memory:`, `postgres://…`), refusing any
/// other scheme. Migrations are not run here: call [`Store::migrate`].
pub async fn connect(dsn: &str) -> Result<Arc<dyn Store>> {
    if dsn.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(dsn).await?))
    } else if dsn.starts_with("postgres://") || dsn.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::connect(dsn).await?))
    } else {
        let scheme = dsn.split(':').next().unwrap_or_default().to_owned();
        Err(StoreError::UnsupportedScheme(scheme))
    }
}

pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
    /// Token inserts go through one writer task that commits them in groups: SQLite has one
    /// writer at a time, and many connections contending for its lock spend their time in the
    /// busy handler instead of writing.
    writer: mpsc::Sender<(TokenRow, oneshot::Sender<Result<()>>)>,
}

/// Most rows committed in one transaction by the SQLite writer.
const WRITE_BATCH: usize = 256;

const INSERT_TOKEN: &str = "INSERT INTO oauth2_tokens (hash, kind, client_id, subject, family_id, session_id, data, created_at, expires_at, revoked, used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (hash) DO NOTHING";

fn bind_token<'q, DB: sqlx::Database>(
    q: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>,
    t: &'q TokenRow,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>
where
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    q.bind(t.hash.clone())
        .bind(t.kind.clone())
        .bind(t.client_id.clone())
        .bind(t.subject.clone())
        .bind(t.family_id.clone())
        .bind(t.session_id.clone())
        .bind(t.data.clone())
        .bind(t.created_at)
        .bind(t.expires_at)
        .bind(i64::from(t.revoked))
        .bind(t.used_at)
}

async fn sqlite_writer(
    pool: SqlitePool,
    mut rx: mpsc::Receiver<(TokenRow, oneshot::Sender<Result<()>>)>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < WRITE_BATCH {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        let mut outcomes: Vec<Result<()>> = Vec::with_capacity(batch.len());
        let committed: std::result::Result<(), sqlx::Error> = async {
            let mut tx = pool.begin().await?;
            for (row, _) in &batch {
                let r = bind_token(sqlx::query(INSERT_TOKEN), row)
                    .execute(&mut *tx)
                    .await?;
                outcomes.push(if r.rows_affected() == 1 {
                    Ok(())
                } else {
                    Err(StoreError::Conflict)
                });
            }
            tx.commit().await
        }
        .await;
        match committed {
            Ok(()) => {
                for ((_, reply), outcome) in batch.into_iter().zip(outcomes) {
                    let _ = reply.send(outcome);
                }
            }
            Err(e) => {
                let msg = e.to_string();
                for (_, reply) in batch {
                    let _ = reply.send(Err(StoreError::Database(sqlx::Error::Protocol(
                        msg.clone(),
                    ))));
                }
            }
        }
    }
}

impl SqliteStore {
    async fn insert_token_row(&self, t: &TokenRow) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.writer
            .send((t.clone(), tx))
            .await
            .map_err(|_| StoreError::Database(sqlx::Error::PoolClosed))?;
        rx.await
            .map_err(|_| StoreError::Database(sqlx::Error::PoolClosed))?
    }
}

impl PostgresStore {
    async fn insert_token_row(&self, t: &TokenRow) -> Result<()> {
        let r = bind_token(sqlx::query(INSERT_TOKEN), t)
            .execute(&self.pool)
            .await?;
        if r.rows_affected() == 1 {
            Ok(())
        } else {
            Err(StoreError::Conflict)
        }
    }
}

impl SqliteStore {
    pub async fn connect(dsn: &str) -> Result<SqliteStore> {
        let memory = dsn.contains(":memory:") || dsn.contains("mode=memory");
        let opts = SqliteConnectOptions::from_str(dsn)?
            .create_if_missing(true)
            .journal_mode(if memory {
                SqliteJournalMode::Memory
            } else {
                SqliteJournalMode::Wal
            })
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .pragma("cache_size", "-16000")
            .pragma("temp_store", "memory");
        if !memory {
            // Create the file and switch it to WAL on one connection before the pool opens
            // several: the switch takes an exclusive lock, and two fresh connections racing for
            // it can fail with "database is locked" before the busy timeout applies. WAL is then
            // a property of the file, and the pool's connections find it already set.
            use sqlx::{ConnectOptions, Connection};
            let first = opts.connect().await?;
            first.close().await?;
        }
        let pool = SqlitePoolOptions::new()
            // An in-memory database exists once per connection: keep exactly one.
            .max_connections(if memory { 1 } else { 8 })
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(opts)
            .await?;
        let (writer, rx) = mpsc::channel(4096);
        tokio::spawn(sqlite_writer(pool.clone(), rx));
        Ok(SqliteStore { pool, writer })
    }
}

pub struct PostgresStore {
    pub(crate) pool: PgPool,
}

impl PostgresStore {
    pub async fn connect(dsn: &str) -> Result<PostgresStore> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect(dsn)
            .await?;
        Ok(PostgresStore { pool })
    }
}

pub(crate) fn conflict(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict,
        _ => StoreError::Database(e),
    }
}

macro_rules! store_impl {
    ($ty:ident, $row:ty, $name:literal, $migrations:expr, $lock:expr) => {
        impl $ty {
            fn key_row(r: &$row) -> Result<KeyRow> {
                Ok(KeyRow {
                    kid: r.try_get("kid")?,
                    set_name: r.try_get("set_name")?,
                    alg: r.try_get("alg")?,
                    private_key: r.try_get("private_key")?,
                    public_jwk: r.try_get("public_jwk")?,
                    created_at: r.try_get("created_at")?,
                    activate_at: r.try_get("activate_at")?,
                    retire_at: r.try_get("retire_at")?,
                    expire_at: r.try_get("expire_at")?,
                })
            }

            fn client_row(r: &$row) -> Result<ClientRow> {
                Ok(ClientRow {
                    client_id: r.try_get("client_id")?,
                    client_name: r.try_get("client_name")?,
                    owner: r.try_get("owner")?,
                    data: r.try_get("data")?,
                    secret_hash: r.try_get("secret_hash")?,
                    registration_token_hash: r.try_get("registration_token_hash")?,
                    created_at: r.try_get("created_at")?,
                    updated_at: r.try_get("updated_at")?,
                })
            }

            fn token_row(r: &$row) -> Result<TokenRow> {
                Ok(TokenRow {
                    hash: r.try_get("hash")?,
                    kind: r.try_get("kind")?,
                    client_id: r.try_get("client_id")?,
                    subject: r.try_get("subject")?,
                    family_id: r.try_get("family_id")?,
                    session_id: r.try_get("session_id")?,
                    data: r.try_get("data")?,
                    created_at: r.try_get("created_at")?,
                    expires_at: r.try_get("expires_at")?,
                    revoked: r.try_get::<i64, _>("revoked")? != 0,
                    used_at: r.try_get("used_at")?,
                })
            }

            fn login_session_row(r: &$row) -> Result<LoginSessionRow> {
                Ok(LoginSessionRow {
                    id: r.try_get("id")?,
                    subject: r.try_get("subject")?,
                    data: r.try_get("data")?,
                    authenticated_at: r.try_get("authenticated_at")?,
                    expires_at: r.try_get("expires_at")?,
                })
            }

            fn consent_row(r: &$row) -> Result<ConsentRow> {
                Ok(ConsentRow {
                    id: r.try_get("id")?,
                    subject: r.try_get("subject")?,
                    client_id: r.try_get("client_id")?,
                    login_session_id: r.try_get("login_session_id")?,
                    data: r.try_get("data")?,
                    remember: r.try_get::<i64, _>("remember")? != 0,
                    created_at: r.try_get("created_at")?,
                    expires_at: r.try_get("expires_at")?,
                })
            }

            fn delivery_row(r: &$row) -> Result<LogoutDeliveryRow> {
                Ok(LogoutDeliveryRow {
                    id: r.try_get("id")?,
                    client_id: r.try_get("client_id")?,
                    url: r.try_get("url")?,
                    logout_token: r.try_get("logout_token")?,
                    attempts: r.try_get("attempts")?,
                    next_attempt_at: r.try_get("next_attempt_at")?,
                    created_at: r.try_get("created_at")?,
                })
            }

            fn audit_row(r: &$row) -> Result<AuditRow> {
                Ok(AuditRow {
                    id: r.try_get("id")?,
                    at: r.try_get("at")?,
                    kind: r.try_get("kind")?,
                    subject: r.try_get("subject")?,
                    client_id: r.try_get("client_id")?,
                    ip: r.try_get("ip")?,
                    data: r.try_get("data")?,
                })
            }

            fn invalidation_row(r: &$row) -> Result<InvalidationRow> {
                Ok(InvalidationRow {
                    id: r.try_get("id")?,
                    at: r.try_get("at")?,
                    origin: r.try_get("origin")?,
                    kind: r.try_get("kind")?,
                    keys: r.try_get("keys")?,
                })
            }

            async fn hashes(&self, sql: &'static str, a: &str) -> Result<Vec<String>> {
                let rows = sqlx::query(sql).bind(a).fetch_all(&self.pool).await?;
                rows.iter().map(|r| Ok(r.try_get::<String, _>("hash")?)).collect()
            }
        }

        #[async_trait]
        impl Store for $ty {
            fn backend(&self) -> &'static str {
                $name
            }

            async fn migrate(&self) -> Result<()> {
                // One connection for the whole run: with PostgreSQL it holds the advisory lock,
                // so replicas started at the same time migrate one after the other; the next
                // one finds every version recorded and applies nothing.
                let mut conn = self.pool.acquire().await?;
                if let Some((lock, _)) = $lock {
                    sqlx::query(lock).execute(&mut *conn).await?;
                }
                let outcome = async {
                    sqlx::query(migrate::CREATE_TABLE).execute(&mut *conn).await?;
                    for (version, sql) in $migrations {
                        let done = sqlx::query("SELECT version FROM gatehouse_migrations WHERE version = $1")
                            .bind(*version)
                            .fetch_optional(&mut *conn)
                            .await?;
                        if done.is_some() {
                            continue;
                        }
                        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                        for stmt in migrate::statements(sql) {
                            sqlx::query(stmt)
                                .execute(&mut *tx)
                                .await
                                .map_err(|e| StoreError::Migration((*version).to_owned(), e))?;
                        }
                        sqlx::query("INSERT INTO gatehouse_migrations (version, applied_at) VALUES ($1, $2)")
                            .bind(*version)
                            .bind(crate::clock::now())
                            .execute(&mut *tx)
                            .await?;
                        tx.commit().await?;
                        tracing::info!(backend = $name, version, "applied migration");
                    }
                    Ok::<(), StoreError>(())
                }
                .await;
                if let Some((_, unlock)) = $lock {
                    // On failure the connection is closed instead, which also releases the lock.
                    if sqlx::query(unlock).execute(&mut *conn).await.is_err() {
                        conn.close_on_drop();
                    }
                }
                outcome
            }

            async fn ping(&self) -> Result<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn insert_key(&self, k: &KeyRow) -> Result<()> {
                sqlx::query("INSERT INTO signing_keys (kid, set_name, alg, private_key, public_jwk, created_at, activate_at, retire_at, expire_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
                    .bind(&k.kid).bind(&k.set_name).bind(&k.alg).bind(&k.private_key).bind(&k.public_jwk)
                    .bind(k.created_at).bind(k.activate_at).bind(k.retire_at).bind(k.expire_at)
                    .execute(&self.pool).await.map_err(conflict)?;
                Ok(())
            }

            async fn list_keys(&self, set_name: &str) -> Result<Vec<KeyRow>> {
                let rows = sqlx::query("SELECT * FROM signing_keys WHERE set_name = $1 ORDER BY activate_at DESC, created_at DESC")
                    .bind(set_name).fetch_all(&self.pool).await?;
                rows.iter().map(Self::key_row).collect()
            }

            async fn list_all_keys(&self) -> Result<Vec<KeyRow>> {
                let rows = sqlx::query("SELECT * FROM signing_keys ORDER BY set_name, activate_at DESC")
                    .fetch_all(&self.pool).await?;
                rows.iter().map(Self::key_row).collect()
            }

            async fn update_key_schedule(&self, kid: &str, retire_at: Option<i64>, expire_at: Option<i64>) -> Result<()> {
                sqlx::query("UPDATE signing_keys SET retire_at = $2, expire_at = $3 WHERE kid = $1")
                    .bind(kid).bind(retire_at).bind(expire_at).execute(&self.pool).await?;
                Ok(())
            }

            async fn update_key_private(&self, kid: &str, private_key: &[u8]) -> Result<()> {
                sqlx::query("UPDATE signing_keys SET private_key = $2 WHERE kid = $1")
                    .bind(kid).bind(private_key).execute(&self.pool).await?;
                Ok(())
            }

            async fn delete_key(&self, kid: &str) -> Result<bool> {
                let r = sqlx::query("DELETE FROM signing_keys WHERE kid = $1").bind(kid).execute(&self.pool).await?;
                Ok(r.rows_affected() > 0)
            }

            async fn insert_client(&self, c: &ClientRow) -> Result<()> {
                sqlx::query("INSERT INTO clients (client_id, data, secret_hash, registration_token_hash, created_at, updated_at, client_name, owner) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
                    .bind(&c.client_id).bind(&c.data).bind(&c.secret_hash).bind(&c.registration_token_hash)
                    .bind(c.created_at).bind(c.updated_at).bind(&c.client_name).bind(&c.owner)
                    .execute(&self.pool).await.map_err(conflict)?;
                Ok(())
            }

            async fn get_client(&self, client_id: &str) -> Result<Option<ClientRow>> {
                let row = sqlx::query("SELECT * FROM clients WHERE client_id = $1").bind(client_id).fetch_optional(&self.pool).await?;
                row.as_ref().map(Self::client_row).transpose()
            }

            async fn list_clients(&self, limit: i64, offset: i64, client_name: Option<&str>, owner: Option<&str>) -> Result<Vec<ClientRow>> {
                let rows = sqlx::query("SELECT * FROM clients WHERE ($3 IS NULL OR client_name = $3) AND ($4 IS NULL OR owner = $4) ORDER BY created_at, client_id LIMIT $1 OFFSET $2")
                    .bind(limit).bind(offset).bind(client_name).bind(owner).fetch_all(&self.pool).await?;
                rows.iter().map(Self::client_row).collect()
            }

            async fn update_client(&self, c: &ClientRow) -> Result<bool> {
                let r = sqlx::query("UPDATE clients SET data = $2, secret_hash = $3, registration_token_hash = $4, updated_at = $5, client_name = $6, owner = $7 WHERE client_id = $1")
                    .bind(&c.client_id).bind(&c.data).bind(&c.secret_hash).bind(&c.registration_token_hash).bind(c.updated_at).bind(&c.client_name).bind(&c.owner)
                    .execute(&self.pool).await?;
                Ok(r.rows_affected() > 0)
            }

            async fn delete_client(&self, client_id: &str) -> Result<bool> {
                let mut tx = self.pool.begin().await?;
                sqlx::query("DELETE FROM oauth2_tokens WHERE client_id = $1").bind(client_id).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM consent_sessions WHERE client_id = $1").bind(client_id).execute(&mut *tx).await?;
                let r = sqlx::query("DELETE FROM clients WHERE client_id = $1").bind(client_id).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(r.rows_affected() > 0)
            }

            async fn insert_token(&self, t: &TokenRow) -> Result<()> {
                self.insert_token_row(t).await
            }

            async fn get_token(&self, hash: &str) -> Result<Option<TokenRow>> {
                let row = sqlx::query("SELECT * FROM oauth2_tokens WHERE hash = $1").bind(hash).fetch_optional(&self.pool).await?;
                row.as_ref().map(Self::token_row).transpose()
            }

            async fn use_token(&self, hash: &str, now: i64) -> Result<bool> {
                let r = sqlx::query("UPDATE oauth2_tokens SET used_at = $2 WHERE hash = $1 AND used_at IS NULL")
                    .bind(hash).bind(now).execute(&self.pool).await?;
                Ok(r.rows_affected() == 1)
            }

            async fn revoke_token(&self, hash: &str) -> Result<bool> {
                let r = sqlx::query("UPDATE oauth2_tokens SET revoked = 1 WHERE hash = $1 AND revoked = 0")
                    .bind(hash).execute(&self.pool).await?;
                Ok(r.rows_affected() > 0)
            }

            async fn revoke_family(&self, family_id: &str) -> Result<Vec<String>> {
                self.hashes("UPDATE oauth2_tokens SET revoked = 1 WHERE family_id = $1 AND revoked = 0 RETURNING hash", family_id).await
            }

            async fn revoke_client_tokens(&self, client_id: &str) -> Result<Vec<String>> {
                self.hashes("UPDATE oauth2_tokens SET revoked = 1 WHERE client_id = $1 AND revoked = 0 RETURNING hash", client_id).await
            }

            async fn revoke_subject_tokens(&self, subject: &str, client_id: Option<&str>) -> Result<Vec<String>> {
                let rows = sqlx::query("UPDATE oauth2_tokens SET revoked = 1 WHERE subject = $1 AND revoked = 0 AND ($2 IS NULL OR client_id = $2) RETURNING hash")
                    .bind(subject).bind(client_id).fetch_all(&self.pool).await?;
                rows.iter().map(|r| Ok(r.try_get::<String, _>("hash")?)).collect()
            }

            async fn revoke_session_tokens(&self, session_id: &str) -> Result<Vec<String>> {
                self.hashes("UPDATE oauth2_tokens SET revoked = 1 WHERE session_id = $1 AND revoked = 0 RETURNING hash", session_id).await
            }

            async fn session_client_ids(&self, session_id: &str) -> Result<Vec<String>> {
                let rows = sqlx::query("SELECT DISTINCT client_id FROM oauth2_tokens WHERE session_id = $1 ORDER BY client_id")
                    .bind(session_id).fetch_all(&self.pool).await?;
                rows.iter().map(|r| Ok(r.try_get::<String, _>("client_id")?)).collect()
            }

            async fn put_flow(&self, id: &str, data: &str, expires_at: i64) -> Result<()> {
                sqlx::query("INSERT INTO oauth2_flows (id, data, expires_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at")
                    .bind(id).bind(data).bind(expires_at).execute(&self.pool).await?;
                Ok(())
            }

            async fn insert_flow(&self, id: &str, data: &str, expires_at: i64) -> Result<bool> {
                let n = sqlx::query("INSERT INTO oauth2_flows (id, data, expires_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING")
                    .bind(id).bind(data).bind(expires_at).execute(&self.pool).await?.rows_affected();
                Ok(n == 1)
            }

            async fn get_flow(&self, id: &str) -> Result<Option<String>> {
                let row = sqlx::query("SELECT data FROM oauth2_flows WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
                Ok(row.map(|r| r.try_get::<String, _>("data")).transpose()?)
            }

            async fn replace_flow(&self, id: &str, expected: &str, data: &str, expires_at: i64) -> Result<bool> {
                let n = sqlx::query("UPDATE oauth2_flows SET data = $3, expires_at = $4 WHERE id = $1 AND data = $2")
                    .bind(id).bind(expected).bind(data).bind(expires_at).execute(&self.pool).await?.rows_affected();
                Ok(n == 1)
            }

            async fn delete_flow(&self, id: &str) -> Result<()> {
                sqlx::query("DELETE FROM oauth2_flows WHERE id = $1").bind(id).execute(&self.pool).await?;
                Ok(())
            }

            async fn upsert_login_session(&self, s: &LoginSessionRow) -> Result<()> {
                sqlx::query("INSERT INTO login_sessions (id, subject, data, authenticated_at, expires_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET subject = excluded.subject, data = excluded.data, authenticated_at = excluded.authenticated_at, expires_at = excluded.expires_at")
                    .bind(&s.id).bind(&s.subject).bind(&s.data).bind(s.authenticated_at).bind(s.expires_at)
                    .execute(&self.pool).await?;
                Ok(())
            }

            async fn get_login_session(&self, id: &str) -> Result<Option<LoginSessionRow>> {
                let row = sqlx::query("SELECT * FROM login_sessions WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
                row.as_ref().map(Self::login_session_row).transpose()
            }

            async fn delete_login_session(&self, id: &str) -> Result<bool> {
                let r = sqlx::query("DELETE FROM login_sessions WHERE id = $1").bind(id).execute(&self.pool).await?;
                Ok(r.rows_affected() > 0)
            }

            async fn delete_subject_login_sessions(&self, subject: &str) -> Result<Vec<String>> {
                let rows = sqlx::query("DELETE FROM login_sessions WHERE subject = $1 RETURNING id").bind(subject).fetch_all(&self.pool).await?;
                rows.iter().map(|r| Ok(r.try_get::<String, _>("id")?)).collect()
            }

            async fn insert_consent(&self, c: &ConsentRow) -> Result<()> {
                sqlx::query("INSERT INTO consent_sessions (id, subject, client_id, login_session_id, data, remember, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
                    .bind(&c.id).bind(&c.subject).bind(&c.client_id).bind(&c.login_session_id).bind(&c.data)
                    .bind(i64::from(c.remember)).bind(c.created_at).bind(c.expires_at)
                    .execute(&self.pool).await.map_err(conflict)?;
                Ok(())
            }

            async fn list_consents(&self, subject: &str, client_id: Option<&str>) -> Result<Vec<ConsentRow>> {
                let rows = sqlx::query("SELECT * FROM consent_sessions WHERE subject = $1 AND ($2 IS NULL OR client_id = $2) ORDER BY created_at DESC")
                    .bind(subject).bind(client_id).fetch_all(&self.pool).await?;
                rows.iter().map(Self::consent_row).collect()
            }

            async fn list_consents_by_login_session(&self, login_session_id: &str) -> Result<Vec<ConsentRow>> {
                let rows = sqlx::query("SELECT * FROM consent_sessions WHERE login_session_id = $1 ORDER BY created_at DESC")
                    .bind(login_session_id).fetch_all(&self.pool).await?;
                rows.iter().map(Self::consent_row).collect()
            }

            async fn delete_consents(&self, subject: &str, client_id: Option<&str>) -> Result<u64> {
                let r = sqlx::query("DELETE FROM consent_sessions WHERE subject = $1 AND ($2 IS NULL OR client_id = $2)")
                    .bind(subject).bind(client_id).execute(&self.pool).await?;
                Ok(r.rows_affected())
            }

            async fn insert_logout_delivery(&self, d: &LogoutDeliveryRow) -> Result<()> {
                sqlx::query("INSERT INTO logout_deliveries (id, client_id, url, logout_token, attempts, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                    .bind(&d.id).bind(&d.client_id).bind(&d.url).bind(&d.logout_token).bind(d.attempts).bind(d.next_attempt_at).bind(d.created_at)
                    .execute(&self.pool).await?;
                Ok(())
            }

            async fn due_logout_deliveries(&self, now: i64, limit: i64) -> Result<Vec<LogoutDeliveryRow>> {
                let rows = sqlx::query("SELECT * FROM logout_deliveries WHERE next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $2")
                    .bind(now).bind(limit).fetch_all(&self.pool).await?;
                rows.iter().map(Self::delivery_row).collect()
            }

            async fn reschedule_logout_delivery(&self, id: &str, attempts: i64, next_attempt_at: i64) -> Result<()> {
                sqlx::query("UPDATE logout_deliveries SET attempts = $2, next_attempt_at = $3 WHERE id = $1")
                    .bind(id).bind(attempts).bind(next_attempt_at).execute(&self.pool).await?;
                Ok(())
            }

            async fn delete_logout_delivery(&self, id: &str) -> Result<()> {
                sqlx::query("DELETE FROM logout_deliveries WHERE id = $1").bind(id).execute(&self.pool).await?;
                Ok(())
            }

            async fn insert_audit(&self, e: &AuditRow) -> Result<()> {
                sqlx::query("INSERT INTO audit_events (id, at, kind, subject, client_id, ip, data) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                    .bind(&e.id).bind(e.at).bind(&e.kind).bind(&e.subject).bind(&e.client_id).bind(&e.ip).bind(&e.data)
                    .execute(&self.pool).await?;
                Ok(())
            }

            async fn list_audit(&self, kind: Option<&str>, subject: Option<&str>, limit: i64) -> Result<Vec<AuditRow>> {
                let rows = sqlx::query("SELECT * FROM audit_events WHERE ($1 IS NULL OR kind = $1) AND ($2 IS NULL OR subject = $2) ORDER BY at DESC, id DESC LIMIT $3")
                    .bind(kind).bind(subject).bind(limit).fetch_all(&self.pool).await?;
                rows.iter().map(Self::audit_row).collect()
            }

            async fn append_invalidation(&self, at: i64, origin: &str, kind: &str, keys: &str) -> Result<i64> {
                let row = sqlx::query("INSERT INTO cache_invalidations (at, origin, kind, keys) VALUES ($1, $2, $3, $4) RETURNING id")
                    .bind(at).bind(origin).bind(kind).bind(keys)
                    .fetch_one(&self.pool).await?;
                Ok(row.try_get("id")?)
            }

            async fn invalidations_after(&self, after: i64, limit: i64) -> Result<Vec<InvalidationRow>> {
                let rows = sqlx::query("SELECT id, at, origin, kind, keys FROM cache_invalidations WHERE id > $1 ORDER BY id LIMIT $2")
                    .bind(after).bind(limit).fetch_all(&self.pool).await?;
                rows.iter().map(Self::invalidation_row).collect()
            }

            async fn last_invalidation_id(&self) -> Result<i64> {
                let row = sqlx::query("SELECT COALESCE(MAX(id), 0) AS id FROM cache_invalidations")
                    .fetch_one(&self.pool).await?;
                Ok(row.try_get("id")?)
            }

            async fn delete_expired(&self, now: i64) -> Result<u64> {
                let mut n = 0;
                for sql in [
                    "DELETE FROM oauth2_tokens WHERE expires_at < $1",
                    "DELETE FROM oauth2_flows WHERE expires_at < $1",
                    "DELETE FROM login_sessions WHERE expires_at < $1",
                    "DELETE FROM identity_sessions WHERE expires_at < $1",
                    "DELETE FROM consent_sessions WHERE expires_at IS NOT NULL AND expires_at < $1",
                    "DELETE FROM signing_keys WHERE expire_at IS NOT NULL AND expire_at < $1",
                ] {
                    n += sqlx::query(sql).bind(now).execute(&self.pool).await?.rows_affected();
                }
                n += sqlx::query("DELETE FROM cache_invalidations WHERE at < $1")
                    .bind(now - crate::INVALIDATION_HISTORY_SECS).execute(&self.pool).await?.rows_affected();
                let history_before = now - crate::CREDENTIAL_HISTORY_SECS;
                n += sqlx::query("DELETE FROM credentials WHERE revoked_at < $1 OR expires_at < $1")
                    .bind(history_before).execute(&self.pool).await?.rows_affected();
                Ok(n)
            }
        }
    };
}

store_impl!(
    SqliteStore,
    SqliteRow,
    "sqlite",
    migrate::SQLITE,
    migrate::SQLITE_LOCK
);
store_impl!(
    PostgresStore,
    PgRow,
    "postgres",
    migrate::POSTGRES,
    migrate::POSTGRES_LOCK
);
