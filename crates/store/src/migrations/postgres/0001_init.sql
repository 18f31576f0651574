CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    set_name TEXT NOT NULL,
    alg TEXT NOT NULL,
    private_key BYTEA NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    activate_at BIGINT NOT NULL,
    retire_at BIGINT,
    expire_at BIGINT
);
CREATE INDEX signing_keys_set ON signing_keys (set_name);

CREATE TABLE clients (
    client_id TEXT PRIMARY KEY,
    client_name TEXT NOT NULL,
    owner TEXT NOT NULL,
    data TEXT NOT NULL,
    secret_hash TEXT,
    registration_token_hash TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE INDEX clients_name ON clients (client_name);
CREATE INDEX clients_owner ON clients (owner);

CREATE TABLE oauth2_tokens (
    hash TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    client_id TEXT NOT NULL,
    subject TEXT,
    family_id TEXT NOT NULL,
    session_id TEXT,
    data TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked BIGINT NOT NULL DEFAULT 0,
    used_at BIGINT
);
CREATE INDEX oauth2_tokens_family ON oauth2_tokens (family_id);
CREATE INDEX oauth2_tokens_client ON oauth2_tokens (client_id);
CREATE INDEX oauth2_tokens_subject ON oauth2_tokens (subject);
CREATE INDEX oauth2_tokens_expires ON oauth2_tokens (expires_at);

CREATE TABLE oauth2_flows (
    id TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX oauth2_flows_expires ON oauth2_flows (expires_at);

CREATE TABLE login_sessions (
    id TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    data TEXT NOT NULL,
    authenticated_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX login_sessions_subject ON login_sessions (subject);

CREATE TABLE consent_sessions (
    id TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    client_id TEXT NOT NULL,
    login_session_id TEXT,
    data TEXT NOT NULL,
    remember BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT
);
CREATE INDEX consent_sessions_subject ON consent_sessions (subject, client_id);

CREATE TABLE audit_events (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT,
    client_id TEXT,
    ip TEXT,
    data TEXT NOT NULL
);
CREATE INDEX audit_events_at ON audit_events (at);

CREATE TABLE logout_deliveries (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    url TEXT NOT NULL,
    logout_token TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
