-- Every verified GitHub delivery, stored before it is acknowledged. The body is kept
-- compressed (body_encoding); processing state says what became of it.
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    guid            TEXT NOT NULL UNIQUE,
    event           TEXT NOT NULL,
    action          TEXT,
    installation_id INTEGER,
    repository      TEXT,
    repo_key        TEXT,
    hook_id         INTEGER,
    received_at     TEXT NOT NULL,
    headers         TEXT NOT NULL,
    body_encoding   TEXT NOT NULL DEFAULT 'lz4',
    body            BLOB NOT NULL,
    body_size       INTEGER NOT NULL,
    -- pending | processed | ignored | failed | parked
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    processed_at    TEXT,
    next_attempt_at TEXT
);
CREATE INDEX deliveries_received ON deliveries (received_at DESC, id DESC);
CREATE INDEX deliveries_todo ON deliveries (next_attempt_at) WHERE status IN ('pending', 'failed');
CREATE INDEX deliveries_repo_received ON deliveries (repo_key, received_at DESC);
CREATE INDEX deliveries_status ON deliveries (status, id DESC);

-- Which GitHub App installation covers which repositories.
CREATE TABLE installations (
    id         INTEGER PRIMARY KEY,
    account    TEXT,
    suspended  BOOLEAN NOT NULL DEFAULT FALSE,
    deleted    BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at TEXT NOT NULL
);
CREATE TABLE installation_repositories (
    installation_id INTEGER NOT NULL,
    repo_key        TEXT NOT NULL,
    repository      TEXT NOT NULL,
    PRIMARY KEY (installation_id, repo_key)
);
CREATE INDEX installation_repositories_repo ON installation_repositories (repo_key);

-- Jobs of workflow runs (workflow_job events).
CREATE TABLE jobs (
    job_id       INTEGER PRIMARY KEY,
    run_id       INTEGER NOT NULL,
    run_attempt  INTEGER NOT NULL,
    repo_key     TEXT NOT NULL,
    name         TEXT NOT NULL,
    status       TEXT NOT NULL,
    status_rank  INTEGER NOT NULL,
    conclusion   TEXT,
    runner_name  TEXT,
    html_url     TEXT,
    started_at   TEXT,
    completed_at TEXT,
    updated_at   TEXT NOT NULL,
    steps        TEXT NOT NULL
);
CREATE INDEX jobs_run ON jobs (run_id, run_attempt);
