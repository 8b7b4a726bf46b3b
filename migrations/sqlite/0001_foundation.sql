-- Pipelines provisioned through the CCM API. One row per (repository, workflow file):
-- teardown marks it inactive and provisioning it again reactivates the same row.
CREATE TABLE pipelines (
    id             TEXT PRIMARY KEY,
    repository     TEXT NOT NULL,
    repo_key       TEXT NOT NULL,
    workflow_file  TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('active', 'inactive')),
    config         TEXT NOT NULL DEFAULT '{}',
    linked_domain  TEXT,
    linked_app     TEXT,
    version        INTEGER NOT NULL DEFAULT 0,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    deactivated_at TEXT
);
CREATE UNIQUE INDEX pipelines_repo_workflow ON pipelines (repo_key, workflow_file);
CREATE INDEX pipelines_created ON pipelines (created_at DESC, id);
CREATE INDEX pipelines_status_created ON pipelines (status, created_at DESC, id);

-- One row per workflow run attempt, for every repository ccm hears of.
CREATE TABLE executions (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id           INTEGER NOT NULL,
    run_attempt      INTEGER NOT NULL,
    repository       TEXT NOT NULL,
    repo_key         TEXT NOT NULL,
    workflow_path    TEXT NOT NULL,
    workflow_name    TEXT,
    status           TEXT NOT NULL,
    status_rank      INTEGER NOT NULL,
    conclusion       TEXT,
    branch           TEXT,
    head_sha         TEXT,
    event            TEXT,
    run_number       INTEGER,
    actor            TEXT,
    html_url         TEXT,
    created_at       TEXT NOT NULL,
    started_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    completed_at     TEXT,
    duration_seconds INTEGER,
    recorded_at      TEXT NOT NULL,
    UNIQUE (run_id, run_attempt)
);
-- A pipeline's runs, newest attempt first, carrying every column the stats read, so that its
-- aggregates never touch the table.
CREATE INDEX executions_scope_started ON executions (
    repo_key, workflow_path, started_at DESC, run_id DESC, run_attempt DESC, status, conclusion, duration_seconds, branch
);
CREATE INDEX executions_scope_open ON executions (repo_key, workflow_path, status) WHERE status <> 'completed';

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    pipeline_id TEXT,
    details     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_pipeline ON audit_log (pipeline_id, id DESC);
