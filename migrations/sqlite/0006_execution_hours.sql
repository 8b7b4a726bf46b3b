-- Hourly roll-ups of the runs the stats count (completed and not skipped), per pipeline scope and
-- branch, kept by triggers in the transaction that changes a run. A pipeline's stats then read at
-- most 24 + 168 roll-up rows and the runs of the two or three partial hours at the windows'
-- edges, however many runs it has: the busiest pipelines' stats cost as much as the quietest.
-- `hour` has the text form of a timestamp (`2026-11-23T14:00:00+00:00`), as `started_at` does,
-- so that both compare with the same bound values. A run without a branch is kept under ''.
CREATE TABLE execution_hours (
    repo_key      TEXT NOT NULL,
    workflow_path TEXT NOT NULL,
    hour          TEXT NOT NULL,
    branch        TEXT NOT NULL,
    runs          INTEGER NOT NULL,
    successes     INTEGER NOT NULL,
    duration_sum  INTEGER NOT NULL,
    durations     INTEGER NOT NULL,
    PRIMARY KEY (repo_key, workflow_path, hour, branch)
) WITHOUT ROWID;

INSERT INTO execution_hours (repo_key, workflow_path, hour, branch, runs, successes, duration_sum, durations)
SELECT repo_key, workflow_path, substr(started_at, 1, 13) || ':00:00+00:00', COALESCE(branch, ''), COUNT(*),
       SUM(COALESCE(conclusion, '') = 'success'), COALESCE(SUM(duration_seconds), 0), COUNT(duration_seconds)
FROM executions
WHERE status = 'completed' AND COALESCE(conclusion, '') <> 'skipped'
GROUP BY 1, 2, 3, 4;

CREATE TRIGGER execution_hours_insert AFTER INSERT ON executions
WHEN NEW.status = 'completed' AND COALESCE(NEW.conclusion, '') <> 'skipped'
BEGIN
    INSERT INTO execution_hours (repo_key, workflow_path, hour, branch, runs, successes, duration_sum, durations)
    VALUES (NEW.repo_key, NEW.workflow_path, substr(NEW.started_at, 1, 13) || ':00:00+00:00', COALESCE(NEW.branch, ''),
            1, COALESCE(NEW.conclusion, '') = 'success', COALESCE(NEW.duration_seconds, 0), NEW.duration_seconds IS NOT NULL)
    ON CONFLICT (repo_key, workflow_path, hour, branch) DO UPDATE SET
        runs = runs + 1,
        successes = successes + excluded.successes,
        duration_sum = duration_sum + excluded.duration_sum,
        durations = durations + excluded.durations;
END;

CREATE TRIGGER execution_hours_delete AFTER DELETE ON executions
WHEN OLD.status = 'completed' AND COALESCE(OLD.conclusion, '') <> 'skipped'
BEGIN
    UPDATE execution_hours SET
        runs = runs - 1,
        successes = successes - (COALESCE(OLD.conclusion, '') = 'success'),
        duration_sum = duration_sum - COALESCE(OLD.duration_seconds, 0),
        durations = durations - (OLD.duration_seconds IS NOT NULL)
    WHERE repo_key = OLD.repo_key AND workflow_path = OLD.workflow_path
      AND hour = substr(OLD.started_at, 1, 13) || ':00:00+00:00' AND branch = COALESCE(OLD.branch, '');
END;

-- An update takes the old row out of its hour and puts the new one in (both only when counted),
-- when it changes anything the roll-up depends on.
CREATE TRIGGER execution_hours_update AFTER UPDATE ON executions
WHEN ((OLD.status = 'completed' AND COALESCE(OLD.conclusion, '') <> 'skipped')
      OR (NEW.status = 'completed' AND COALESCE(NEW.conclusion, '') <> 'skipped'))
  AND (OLD.status IS NOT NEW.status OR OLD.conclusion IS NOT NEW.conclusion OR OLD.started_at IS NOT NEW.started_at
       OR OLD.branch IS NOT NEW.branch OR OLD.duration_seconds IS NOT NEW.duration_seconds
       OR OLD.repo_key IS NOT NEW.repo_key OR OLD.workflow_path IS NOT NEW.workflow_path)
BEGIN
    UPDATE execution_hours SET
        runs = runs - 1,
        successes = successes - (COALESCE(OLD.conclusion, '') = 'success'),
        duration_sum = duration_sum - COALESCE(OLD.duration_seconds, 0),
        durations = durations - (OLD.duration_seconds IS NOT NULL)
    WHERE OLD.status = 'completed' AND COALESCE(OLD.conclusion, '') <> 'skipped'
      AND repo_key = OLD.repo_key AND workflow_path = OLD.workflow_path
      AND hour = substr(OLD.started_at, 1, 13) || ':00:00+00:00' AND branch = COALESCE(OLD.branch, '');
    INSERT INTO execution_hours (repo_key, workflow_path, hour, branch, runs, successes, duration_sum, durations)
    SELECT NEW.repo_key, NEW.workflow_path, substr(NEW.started_at, 1, 13) || ':00:00+00:00', COALESCE(NEW.branch, ''),
           1, COALESCE(NEW.conclusion, '') = 'success', COALESCE(NEW.duration_seconds, 0), NEW.duration_seconds IS NOT NULL
    WHERE NEW.status = 'completed' AND COALESCE(NEW.conclusion, '') <> 'skipped'
    ON CONFLICT (repo_key, workflow_path, hour, branch) DO UPDATE SET
        runs = runs + 1,
        successes = successes + excluded.successes,
        duration_sum = duration_sum + excluded.duration_sum,
        durations = durations + excluded.durations;
END;
