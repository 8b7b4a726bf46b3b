-- The roll-ups' figures move into their primary key's index (INCLUDE), so that a pipeline's stats
-- read its hours from a few contiguous index pages (an index-only scan) instead of one heap page
-- per hour: a pipeline's roll-up rows are written hour after hour among every other pipeline's,
-- so each lies on a page of its own. With 1,000,000 runs the roll-ups outgrow a default
-- shared_buffers, and those heap reads made the stats' slow tail. SQLite's table is already
-- stored in key order (WITHOUT ROWID).
ALTER TABLE execution_hours DROP CONSTRAINT execution_hours_pkey;
ALTER TABLE execution_hours ADD CONSTRAINT execution_hours_pkey
    PRIMARY KEY (repo_key, workflow_path, hour, branch) INCLUDE (runs, successes, duration_sum, durations);
