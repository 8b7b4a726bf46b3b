-- The logs of completed jobs of pipelines' workflows (issue 17): the tail of each log (LZ4,
-- size-prepended) up to CCM_JOB_LOG_MAX_MB, or why there is none, and what explains a failure.
CREATE TABLE job_logs (
    job_id        BIGINT PRIMARY KEY,
    run_id        BIGINT NOT NULL,
    run_attempt   BIGINT NOT NULL,
    repo_key      TEXT NOT NULL,
    state         TEXT NOT NULL,
    reason        TEXT,
    log_bytes     BIGINT NOT NULL DEFAULT 0,
    kept_bytes    BIGINT NOT NULL DEFAULT 0,
    stored_bytes  BIGINT NOT NULL DEFAULT 0,
    truncated     BOOLEAN NOT NULL DEFAULT FALSE,
    failed_step   TEXT,
    error_message TEXT,
    fetched_at    TIMESTAMPTZ NOT NULL,
    log           BYTEA
);
CREATE INDEX job_logs_run ON job_logs (run_id, run_attempt);
CREATE INDEX job_logs_fetched ON job_logs (fetched_at);
-- The budget's sum and its oldest logs, read from the index alone (never the logs' pages).
CREATE INDEX job_logs_budget ON job_logs (state, fetched_at, job_id, stored_bytes);
-- Runs whose jobs were read from the REST API (GitHub sent no workflow_job events for them), so
-- that a run without jobs is listed once, not at every sweep.
CREATE TABLE job_listings (
    run_id      BIGINT NOT NULL,
    run_attempt BIGINT NOT NULL,
    listed_at   TIMESTAMPTZ NOT NULL,
    jobs        BIGINT NOT NULL,
    PRIMARY KEY (run_id, run_attempt)
);
