-- Chat branches (#16): each message points at the one it follows (`parent_id`, NULL for a
-- session's first turn), so an edited question or a regenerated answer is a sibling of the
-- message it replaces and nothing is lost; `head_id` is the last message of the branch the
-- session shows. Existing sessions become one branch each, in id order.
ALTER TABLE chat_messages ADD COLUMN parent_id INTEGER;
UPDATE chat_messages SET parent_id = (
    SELECT max(p.id) FROM chat_messages p
    WHERE p.session_id = chat_messages.session_id AND p.id < chat_messages.id
);
CREATE INDEX chat_messages_parent ON chat_messages (parent_id);
ALTER TABLE chat_sessions ADD COLUMN head_id INTEGER;
UPDATE chat_sessions SET head_id = (
    SELECT max(m.id) FROM chat_messages m WHERE m.session_id = chat_sessions.id
);
