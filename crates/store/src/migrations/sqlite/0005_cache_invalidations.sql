CREATE TABLE cache_invalidations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    origin TEXT NOT NULL,
    kind TEXT NOT NULL,
    keys TEXT NOT NULL
);
CREATE INDEX cache_invalidations_at ON cache_invalidations (at);
