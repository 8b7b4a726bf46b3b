-- The GitHub App's side: the outbound-call queue, backfill state, the delivery-recovery cursor,
-- stuck-run checks and rollback marks on executions.

-- Every outbound GitHub call (or group of calls) is a job here, claimed by the outbox worker.
-- kind names the handler; payload is its JSON input; dedupe_key, when set, allows one
-- unfinished job per key.
CREATE TABLE outbox_jobs (
    id              BIGSERIAL PRIMARY KEY,
    kind            TEXT NOT NULL,
    payload         JSONB NOT NULL DEFAULT '{}',
    dedupe_key      TEXT,
    -- pending | running | done | failed
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    max_attempts    BIGINT NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    locked_until    TIMESTAMPTZ,
    last_error      TEXT,
    result          JSONB,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    finished_at     TIMESTAMPTZ
);
CREATE INDEX outbox_jobs_due ON outbox_jobs (next_attempt_at, id) WHERE status IN ('pending', 'running');
CREATE UNIQUE INDEX outbox_jobs_dedupe ON outbox_jobs (dedupe_key) WHERE status IN ('pending', 'running');
CREATE INDEX outbox_jobs_status ON outbox_jobs (status);

-- The backfill of a pipeline's recent runs, started at provisioning.
CREATE TABLE backfills (
    pipeline_id TEXT PRIMARY KEY,
    -- running | done | failed
    status      TEXT NOT NULL,
    runs_seen   BIGINT NOT NULL DEFAULT 0,
    last_error  TEXT,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ
);

-- Small named values: the delivery-recovery cursor.
CREATE TABLE github_state (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- When a run that looked stuck was last re-read from the REST API.
CREATE TABLE run_checks (
    run_id      BIGINT NOT NULL,
    run_attempt BIGINT NOT NULL,
    checked_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (run_id, run_attempt)
);

-- Rollbacks (POST /api/pipelines/{id}/rollback) mark the execution they rolled back from.
ALTER TABLE executions ADD COLUMN rolled_back BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE executions ADD COLUMN rollback_reason TEXT;
ALTER TABLE executions ADD COLUMN rollback_previous_execution_id BIGINT;
