-- 0001: everything the first releases store. Times are Unix milliseconds (UTC).

CREATE TABLE traces (
    id                   TEXT PRIMARY KEY,          -- UUIDv7: sorts by time
    created_at           INTEGER NOT NULL,
    endpoint             TEXT NOT NULL,             -- e.g. /v1/chat/completions
    model                TEXT NOT NULL DEFAULT '',
    api_key              TEXT,                      -- key name, never the secret
    client_addr          TEXT,
    stream               INTEGER NOT NULL DEFAULT 0,
    status               TEXT NOT NULL,             -- ok | error | cancelled
    http_status          INTEGER,
    error                TEXT,
    input                TEXT,                      -- request messages/prompt, JSON
    output               TEXT,
    tool_calls           TEXT,                      -- JSON
    prompt_tokens        INTEGER,
    completion_tokens    INTEGER,
    total_tokens         INTEGER,
    duration_ms          REAL,
    ttft_ms              REAL,
    load_ns              INTEGER,
    prompt_eval_ns       INTEGER,
    eval_ns              INTEGER,
    total_ns             INTEGER
);
CREATE INDEX traces_created ON traces (created_at DESC, id DESC);
CREATE INDEX traces_model_created ON traces (model, created_at DESC);
CREATE INDEX traces_status_created ON traces (status, created_at DESC);

CREATE TABLE chat_sessions (
    id            TEXT PRIMARY KEY,
    title         TEXT NOT NULL,
    model         TEXT,
    system_prompt TEXT,
    options       TEXT,                             -- JSON
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE chat_messages (
    id          INTEGER PRIMARY KEY,
    session_id  TEXT NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    role        TEXT NOT NULL,
    content     TEXT NOT NULL,
    thinking    TEXT,
    images      TEXT,                               -- JSON array of base64
    model       TEXT,
    options     TEXT,                               -- JSON
    trace_id    TEXT,
    prompt_tokens     INTEGER,
    completion_tokens INTEGER,
    created_at  INTEGER NOT NULL
);
CREATE INDEX chat_messages_session ON chat_messages (session_id, id);

CREATE TABLE uploads (
    id           TEXT PRIMARY KEY,                  -- server-made
    file_name    TEXT NOT NULL,
    model_name   TEXT,
    length       INTEGER,                           -- declared total, NULL if deferred
    offset       INTEGER NOT NULL DEFAULT 0,
    sha256       TEXT,                              -- final digest once complete
    metadata     TEXT,                              -- JSON
    state        TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER
);

CREATE TABLE imports (
    id          TEXT PRIMARY KEY,
    upload_id   TEXT,
    model       TEXT NOT NULL,
    state       TEXT NOT NULL,                      -- uploading|uploaded|validating|importing|ready|failed
    error       TEXT,
    progress    TEXT,                               -- JSON
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE jobs (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,                      -- pull | start | stop | delete
    model       TEXT NOT NULL,
    state       TEXT NOT NULL,                      -- running | done | failed | cancelled | interrupted
    progress    TEXT,                               -- JSON
    error       TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE settings (
    scope       TEXT NOT NULL,                      -- 'global' or a model name
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,                      -- JSON
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
);

CREATE TABLE api_keys (
    name        TEXT PRIMARY KEY,
    hash        TEXT NOT NULL,                      -- sha256 hex of the secret
    role        TEXT NOT NULL,                      -- admin | user | viewer
    created_at  INTEGER NOT NULL
);

CREATE TABLE model_snapshots (
    id          INTEGER PRIMARY KEY,
    taken_at    INTEGER NOT NULL,
    kind        TEXT NOT NULL,                      -- running | installed
    payload     TEXT NOT NULL                       -- JSON
);
CREATE INDEX model_snapshots_taken ON model_snapshots (taken_at);

CREATE TABLE stats_history (
    ts          INTEGER PRIMARY KEY,                -- minute bucket
    payload     TEXT NOT NULL                       -- JSON
);
