-- Retention (issue 18): what `ccm prune` and the background pruner need.
--
-- A row in retention_marker exists only inside a pruning transaction (inserted first, deleted
-- before it commits), so no other connection ever sees one: while it is there, deleting an
-- execution leaves its hour's roll-up as it was, and the stats read from the roll-ups do not
-- change when old runs are pruned.
CREATE TABLE retention_marker (pruning INTEGER NOT NULL);

DROP TRIGGER execution_hours_delete;
CREATE TRIGGER execution_hours_delete AFTER DELETE ON executions
WHEN OLD.status = 'completed' AND COALESCE(OLD.conclusion, '') <> 'skipped'
  AND NOT EXISTS (SELECT 1 FROM retention_marker)
BEGIN
    UPDATE execution_hours SET
        runs = runs - 1,
        successes = successes - (COALESCE(OLD.conclusion, '') = 'success'),
        duration_sum = duration_sum - COALESCE(OLD.duration_seconds, 0),
        durations = durations - (OLD.duration_seconds IS NOT NULL)
    WHERE repo_key = OLD.repo_key AND workflow_path = OLD.workflow_path
      AND hour = substr(OLD.started_at, 1, 13) || ':00:00+00:00' AND branch = COALESCE(OLD.branch, '');
END;

-- One replica prunes at a time: the holder of this lease, until it expires.
CREATE TABLE retention_lease (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    holder TEXT,
    until  TEXT NOT NULL
);
INSERT INTO retention_lease (id, holder, until) VALUES (1, NULL, '1970-01-01T00:00:00+00:00');

-- The oldest first, of each kind the pruner deletes (deliveries have deliveries_received).
CREATE INDEX executions_started ON executions (started_at) WHERE status = 'completed';
CREATE INDEX deliveries_body_kept ON deliveries (received_at) WHERE body_encoding <> 'pruned';
CREATE INDEX outbox_jobs_finished ON outbox_jobs (finished_at) WHERE status IN ('done', 'failed');
CREATE INDEX audit_log_at ON audit_log (at);
