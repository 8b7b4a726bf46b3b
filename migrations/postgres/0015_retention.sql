-- Retention (issue 18): what `ccm prune` and the background pruner need.
--
-- A row in retention_marker exists only inside a pruning transaction (inserted first, deleted
-- before it commits), so no other transaction ever sees one: while it is there, deleting an
-- execution leaves its hour's roll-up as it was, and the stats read from the roll-ups do not
-- change when old runs are pruned.
CREATE TABLE retention_marker (pruning INTEGER NOT NULL);

CREATE OR REPLACE FUNCTION execution_hours_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND EXISTS (SELECT 1 FROM retention_marker) THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status = 'completed' AND COALESCE(OLD.conclusion, '') <> 'skipped' THEN
        UPDATE execution_hours SET
            runs = runs - 1,
            successes = successes - (COALESCE(OLD.conclusion, '') = 'success')::int,
            duration_sum = duration_sum - COALESCE(OLD.duration_seconds, 0),
            durations = durations - (OLD.duration_seconds IS NOT NULL)::int
        WHERE repo_key = OLD.repo_key AND workflow_path = OLD.workflow_path
          AND hour = date_trunc('hour', OLD.started_at, 'UTC') AND branch = COALESCE(OLD.branch, '');
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.status = 'completed' AND COALESCE(NEW.conclusion, '') <> 'skipped' THEN
        INSERT INTO execution_hours AS h (repo_key, workflow_path, hour, branch, runs, successes, duration_sum, durations)
        VALUES (NEW.repo_key, NEW.workflow_path, date_trunc('hour', NEW.started_at, 'UTC'), COALESCE(NEW.branch, ''),
                1, (COALESCE(NEW.conclusion, '') = 'success')::int, COALESCE(NEW.duration_seconds, 0),
                (NEW.duration_seconds IS NOT NULL)::int)
        ON CONFLICT (repo_key, workflow_path, hour, branch) DO UPDATE SET
            runs = h.runs + 1,
            successes = h.successes + EXCLUDED.successes,
            duration_sum = h.duration_sum + EXCLUDED.duration_sum,
            durations = h.durations + EXCLUDED.durations;
    END IF;
    RETURN NULL;
END
$$;

-- One replica prunes at a time: the holder of this lease, until it expires.
CREATE TABLE retention_lease (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    holder TEXT,
    until  TIMESTAMPTZ NOT NULL
);
INSERT INTO retention_lease (id, holder, until) VALUES (1, NULL, '1970-01-01T00:00:00+00:00');

-- The oldest first, of each kind the pruner deletes (deliveries have deliveries_received).
CREATE INDEX executions_started ON executions (started_at) WHERE status = 'completed';
CREATE INDEX deliveries_body_kept ON deliveries (received_at) WHERE body_encoding <> 'pruned';
CREATE INDEX outbox_jobs_finished ON outbox_jobs (finished_at) WHERE status IN ('done', 'failed');
CREATE INDEX audit_log_at ON audit_log (at);
