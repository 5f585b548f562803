-- Nodes added at run time over the admin API (`POST /api/nodes`), restored at start after the
-- configured ones; `config` is the node as a `[[nodes]]` entry, in JSON.
CREATE TABLE fleet_nodes (
    name TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    added_at INTEGER NOT NULL
);

-- Nodes drained over the admin API (configured or added), drained again at start.
CREATE TABLE fleet_drained (
    name TEXT PRIMARY KEY
);
