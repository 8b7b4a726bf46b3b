-- Hourly roll-ups of the runs the stats count (completed and not skipped), per pipeline scope and
-- branch, kept by a trigger in the transaction that changes a run. A pipeline's stats then read at
-- most 24 + 168 roll-up rows and the runs of the two or three partial hours at the windows'
-- edges, however many runs it has: the busiest pipelines' stats cost as much as the quietest.
-- Hours are UTC. A run without a branch is kept under ''.
CREATE TABLE execution_hours (
    repo_key      TEXT NOT NULL,
    workflow_path TEXT NOT NULL,
    hour          TIMESTAMPTZ NOT NULL,
    branch        TEXT NOT NULL,
    runs          BIGINT NOT NULL,
    successes     BIGINT NOT NULL,
    duration_sum  BIGINT NOT NULL,
    durations     BIGINT NOT NULL,
    PRIMARY KEY (repo_key, workflow_path, hour, branch)
);

INSERT INTO execution_hours (repo_key, workflow_path, hour, branch, runs, successes, duration_sum, durations)
SELECT repo_key, workflow_path, date_trunc('hour', started_at, 'UTC'), COALESCE(branch, ''), COUNT(*),
       COUNT(*) FILTER (WHERE conclusion = 'success'), COALESCE(SUM(duration_seconds), 0), COUNT(duration_seconds)
FROM executions
WHERE status = 'completed' AND COALESCE(conclusion, '') <> 'skipped'
GROUP BY 1, 2, 3, 4;

CREATE FUNCTION execution_hours_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
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

CREATE TRIGGER execution_hours_insert_delete AFTER INSERT OR DELETE ON executions
    FOR EACH ROW EXECUTE FUNCTION execution_hours_track();
-- Only updates that can move a run between hours or change what it counts for.
CREATE TRIGGER execution_hours_update AFTER UPDATE ON executions
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.conclusion IS DISTINCT FROM NEW.conclusion
          OR OLD.started_at IS DISTINCT FROM NEW.started_at OR OLD.branch IS DISTINCT FROM NEW.branch
          OR OLD.duration_seconds IS DISTINCT FROM NEW.duration_seconds
          OR OLD.repo_key IS DISTINCT FROM NEW.repo_key OR OLD.workflow_path IS DISTINCT FROM NEW.workflow_path)
    EXECUTE FUNCTION execution_hours_track();
