CREATE TABLE cache_invalidations (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    origin TEXT NOT NULL,
    kind TEXT NOT NULL,
    keys TEXT NOT NULL
);
CREATE INDEX cache_invalidations_at ON cache_invalidations (at);
