-- The node a job runs on (pull, start, delete are one job per node). NULL: a job of a release
-- that did not record it (it ran on the only, or the primary, node).
ALTER TABLE jobs ADD COLUMN node TEXT;
