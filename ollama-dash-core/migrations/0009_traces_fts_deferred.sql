-- Full-text indexing once per transaction instead of once per trace. FTS5 writes out its
-- pending terms at every savepoint of a transaction it takes part in, and the store opens one
-- per write: indexing each trace by trigger wrote (and later merged) a segment per trace, most
-- of the store thread's time (benches/RESULTS.md, issue 14). A new trace now waits in
-- traces_fts_pending; the store indexes the waiting ones in one statement just before each
-- transaction commits (store/worker.rs `index_pending`), so a search never sees a committed
-- trace unindexed. A trace deleted or changed while pending has nothing in the index to undo.
CREATE TABLE traces_fts_pending (seq INTEGER PRIMARY KEY);

DROP TRIGGER traces_fts_insert;
CREATE TRIGGER traces_fts_insert AFTER INSERT ON traces BEGIN
    INSERT INTO traces_fts_pending (seq) VALUES (new.seq);
END;

DROP TRIGGER traces_fts_delete;
CREATE TRIGGER traces_fts_delete AFTER DELETE ON traces BEGIN
    INSERT INTO traces_fts (traces_fts, rowid, input, output)
    SELECT 'delete', old.seq, old.input, old.output
    WHERE NOT EXISTS (SELECT 1 FROM traces_fts_pending WHERE seq = old.seq);
    DELETE FROM traces_fts_pending WHERE seq = old.seq;
END;

DROP TRIGGER traces_fts_update;
CREATE TRIGGER traces_fts_update AFTER UPDATE OF input, output ON traces
WHEN NOT EXISTS (SELECT 1 FROM traces_fts_pending WHERE seq = old.seq) BEGIN
    INSERT INTO traces_fts (traces_fts, rowid, input, output)
    VALUES ('delete', old.seq, old.input, old.output);
    INSERT INTO traces_fts (rowid, input, output) VALUES (new.seq, new.input, new.output);
END;
