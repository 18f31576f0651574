CREATE TABLE identities (
    id TEXT PRIMARY KEY,
    schema_id TEXT NOT NULL,
    state TEXT NOT NULL,
    external_id TEXT UNIQUE,
    data TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE identity_identifiers (
    method TEXT NOT NULL,
    identifier TEXT NOT NULL,
    identity_id TEXT NOT NULL,
    PRIMARY KEY (method, identifier)
);
CREATE INDEX identity_identifiers_identity ON identity_identifiers (identity_id);

CREATE TABLE identity_sessions (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    identity_id TEXT NOT NULL,
    active BIGINT NOT NULL,
    data TEXT NOT NULL,
    authenticated_at BIGINT NOT NULL,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX identity_sessions_identity ON identity_sessions (identity_id);

CREATE TABLE courier_messages (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    template_type TEXT NOT NULL,
    data TEXT NOT NULL,
    send_count BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX courier_messages_due ON courier_messages (status, next_attempt_at);
