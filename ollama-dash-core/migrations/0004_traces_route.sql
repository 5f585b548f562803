-- Which node served a generation, why routing chose it, and how long it waited for a slot.
ALTER TABLE traces ADD COLUMN node TEXT;
ALTER TABLE traces ADD COLUMN route_reason TEXT;
ALTER TABLE traces ADD COLUMN queue_ms REAL;
