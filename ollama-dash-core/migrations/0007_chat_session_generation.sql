-- Per-session generation settings (#16): besides its model, system prompt and `options`, a chat
-- session keeps the `think` switch (JSON: true, false or a level) and the `keep_alive` (JSON: a
-- duration string or seconds) its turns are sent with; NULL leaves them to the settings.
ALTER TABLE chat_sessions ADD COLUMN think TEXT;
ALTER TABLE chat_sessions ADD COLUMN keep_alive TEXT;
