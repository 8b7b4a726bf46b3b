-- Deployments (`deployment` and `deployment_status` events): one row per deployment with its
-- latest state, and every state it went through.
CREATE TABLE deployments (
    id           BIGINT PRIMARY KEY,
    repo_key     TEXT NOT NULL,
    repository   TEXT NOT NULL,
    environment  TEXT NOT NULL,
    sha          TEXT NOT NULL,
    git_ref      TEXT,
    task         TEXT,
    creator      TEXT,
    description  TEXT,
    run_id       BIGINT,
    run_attempt  BIGINT,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    state        TEXT,
    state_at     TIMESTAMPTZ
);
CREATE INDEX deployments_repo ON deployments (repo_key, environment, created_at DESC, id DESC);

CREATE TABLE deployment_statuses (
    id            BIGINT PRIMARY KEY,
    deployment_id BIGINT NOT NULL,
    state         TEXT NOT NULL,
    description   TEXT,
    url           TEXT,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX deployment_statuses_deployment ON deployment_statuses (deployment_id, created_at, id);
