-- 0003: traces get a stable integer key (keyset pagination, full-text index), text search over
-- input/output with FTS5, an index per API key; chat sessions get an owner.

CREATE TABLE traces_v2 (
    seq                  INTEGER PRIMARY KEY,       -- insertion order; stable rowid for FTS
    id                   TEXT NOT NULL UNIQUE,      -- UUIDv7: sorts by time
    created_at           INTEGER NOT NULL,
    endpoint             TEXT NOT NULL,
    model                TEXT NOT NULL DEFAULT '',
    api_key              TEXT,
    client_addr          TEXT,
    stream               INTEGER NOT NULL DEFAULT 0,
    status               TEXT NOT NULL,
    http_status          INTEGER,
    error                TEXT,
    input                TEXT,
    output               TEXT,
    tool_calls           TEXT,
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
INSERT INTO traces_v2 (id, created_at, endpoint, model, api_key, client_addr, stream, status,
    http_status, error, input, output, tool_calls, prompt_tokens, completion_tokens, total_tokens,
    duration_ms, ttft_ms, load_ns, prompt_eval_ns, eval_ns, total_ns)
SELECT id, created_at, endpoint, model, api_key, client_addr, stream, status,
    http_status, error, input, output, tool_calls, prompt_tokens, completion_tokens, total_tokens,
    duration_ms, ttft_ms, load_ns, prompt_eval_ns, eval_ns, total_ns
FROM traces ORDER BY created_at, id;
DROP TABLE traces;
ALTER TABLE traces_v2 RENAME TO traces;
CREATE INDEX traces_created ON traces (created_at);
CREATE INDEX traces_model ON traces (model, seq);
CREATE INDEX traces_status ON traces (status, seq);
CREATE INDEX traces_key ON traces (api_key, seq);

CREATE VIRTUAL TABLE traces_fts USING fts5 (
    input, output, content = 'traces', content_rowid = 'seq'
);
INSERT INTO traces_fts (traces_fts) VALUES ('rebuild');
CREATE TRIGGER traces_fts_insert AFTER INSERT ON traces BEGIN
    INSERT INTO traces_fts (rowid, input, output) VALUES (new.seq, new.input, new.output);
END;
CREATE TRIGGER traces_fts_delete AFTER DELETE ON traces BEGIN
    INSERT INTO traces_fts (traces_fts, rowid, input, output)
    VALUES ('delete', old.seq, old.input, old.output);
END;
CREATE TRIGGER traces_fts_update AFTER UPDATE OF input, output ON traces BEGIN
    INSERT INTO traces_fts (traces_fts, rowid, input, output)
    VALUES ('delete', old.seq, old.input, old.output);
    INSERT INTO traces_fts (rowid, input, output) VALUES (new.seq, new.input, new.output);
END;

ALTER TABLE chat_sessions ADD COLUMN owner TEXT;
CREATE INDEX chat_sessions_owner ON chat_sessions (owner, updated_at);
