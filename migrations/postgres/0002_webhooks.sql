-- Every verified GitHub delivery, stored before it is acknowledged. The body is kept
-- compressed (body_encoding); processing state says what became of it.
CREATE TABLE deliveries (
    id              BIGSERIAL PRIMARY KEY,
    guid            TEXT NOT NULL UNIQUE,
    event           TEXT NOT NULL,
    action          TEXT,
    installation_id BIGINT,
    repository      TEXT,
    repo_key        TEXT,
    hook_id         BIGINT,
    received_at     TIMESTAMPTZ NOT NULL,
    headers         JSONB NOT NULL,
    body_encoding   TEXT NOT NULL DEFAULT 'lz4',
    body            BYTEA NOT NULL,
    body_size       BIGINT NOT NULL,
    -- pending | processed | ignored | failed | parked
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT,
    processed_at    TIMESTAMPTZ,
    next_attempt_at TIMESTAMPTZ
);
CREATE INDEX deliveries_received ON deliveries (received_at DESC, id DESC);
CREATE INDEX deliveries_todo ON deliveries (next_attempt_at) WHERE status IN ('pending', 'failed');
CREATE INDEX deliveries_repo_received ON deliveries (repo_key, received_at DESC);
CREATE INDEX deliveries_status ON deliveries (status, id DESC);

-- Which GitHub App installation covers which repositories.
CREATE TABLE installations (
    id         BIGINT PRIMARY KEY,
    account    TEXT,
    suspended  BOOLEAN NOT NULL DEFAULT FALSE,
    deleted    BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE installation_repositories (
    installation_id BIGINT NOT NULL,
    repo_key        TEXT NOT NULL,
    repository      TEXT NOT NULL,
    PRIMARY KEY (installation_id, repo_key)
);
CREATE INDEX installation_repositories_repo ON installation_repositories (repo_key);

-- Jobs of workflow runs (workflow_job events).
CREATE TABLE jobs (
    job_id       BIGINT PRIMARY KEY,
    run_id       BIGINT NOT NULL,
    run_attempt  BIGINT NOT NULL,
    repo_key     TEXT NOT NULL,
    name         TEXT NOT NULL,
    status       TEXT NOT NULL,
    status_rank  BIGINT NOT NULL,
    conclusion   TEXT,
    runner_name  TEXT,
    html_url     TEXT,
    started_at   TIMESTAMPTZ,
    completed_at TIMESTAMPTZ,
    updated_at   TIMESTAMPTZ NOT NULL,
    steps        JSONB NOT NULL
);
CREATE INDEX jobs_run ON jobs (run_id, run_attempt);
