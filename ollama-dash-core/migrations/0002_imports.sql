-- 0002: what an import was asked to do, and what validation found in the file.
ALTER TABLE imports ADD COLUMN request TEXT;   -- JSON: name, base, template, system, parameters, replace
ALTER TABLE imports ADD COLUMN report TEXT;    -- JSON: the validation report (architecture, kind, …)
CREATE INDEX imports_upload ON imports (upload_id);
