//! Embedded migrations, one list per backend, applied in order and recorded in
//! `gatehouse_migrations`. Each migration runs in a transaction.

pub(crate) const SQLITE: &[(&str, &str)] = &[
    ("0001_init", include_str!("migrations/sqlite/0001_init.sql")),
    (
        "0002_identities",
        include_str!("migrations/sqlite/0002_identities.sql"),
    ),
    (
        "0003_credentials",
        include_str!("migrations/sqlite/0003_credentials.sql"),
    ),
    (
        "0004_identity_version",
        include_str!("migrations/sqlite/0004_identity_version.sql"),
    ),
    (
        "0005_cache_invalidations",
        include_str!("migrations/sqlite/0005_cache_invalidations.sql"),
    ),
];
pub(crate) const POSTGRES: &[(&str, &str)] = &[
    (
        "0001_init",
        include_str!("migrations/postgres/0001_init.sql"),
    ),
    (
        "0002_identities",
        include_str!("migrations/postgres/0002_identities.sql"),
    ),
    (
        "0003_credentials",
        include_str!("migrations/postgres/0003_credentials.sql"),
    ),
    (
        "0004_identity_version",
        include_str!("migrations/postgres/0004_identity_version.sql"),
    ),
    (
        "0005_cache_invalidations",
        include_str!("migrations/postgres/0005_cache_invalidations.sql"),
    ),
];

/// Lock and unlock statements around a migration run, or none.
pub(crate) type Lock = Option<(&'static str, &'static str)>;

/// A session-level advisory lock (a fixed key: "gatehou" in ASCII): replicas starting together
/// against one database take turns instead of racing on `CREATE TABLE`.
pub(crate) const POSTGRES_LOCK: Lock = Some((
    "SELECT pg_advisory_lock(29099075146641269)",
    "SELECT pg_advisory_unlock(29099075146641269)",
));

/// SQLite is one process's embedded file; its writes are already serialised by the file lock.
pub(crate) const SQLITE_LOCK: Lock = None;

pub(crate) const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS gatehouse_migrations (version TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)";

/// Splits a migration file into statements (our files keep one statement per `;`).
pub(crate) fn statements(sql: &'static str) -> impl Iterator<Item = &'static str> {
    sql.split(';').map(str::trim).filter(|s| !s.is_empty())
}
