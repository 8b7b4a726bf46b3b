-- Research tasks synced with GitHub issues, the pull requests that reference them, per-repository
-- sync settings and pushes to default branches.

CREATE TABLE tasks (
    id                BIGSERIAL PRIMARY KEY,
    title             TEXT NOT NULL,
    description       TEXT NOT NULL DEFAULT '',
    -- todo | in_progress | done
    status            TEXT NOT NULL,
    -- high | medium | low
    priority          TEXT NOT NULL,
    labels            JSONB NOT NULL DEFAULT '[]',
    -- api | github
    origin            TEXT NOT NULL,
    -- The linked issue (all NULL when the task has none).
    repository        TEXT,
    repo_key          TEXT,
    issue_number      BIGINT,
    issue_node_id     TEXT,
    issue_url         TEXT,
    issue_deleted     BOOLEAN NOT NULL DEFAULT FALSE,
    -- The issue as ccm last knew GitHub to have it ({title, body, state, labels}): what an
    -- incoming event is compared with (echoes and conflicts) and what a local edit differs from.
    synced            JSONB,
    -- GitHub's updated_at of the last issue change ccm applied or wrote.
    synced_at         TIMESTAMPTZ,
    -- GitHub's updated_at returned by ccm's own last write: bot events up to it are echoes.
    pushed_at         TIMESTAMPTZ,
    -- When a local edit not yet written to GitHub was made (NULL when none is pending).
    local_changed_at  TIMESTAMPTZ,
    version           BIGINT NOT NULL DEFAULT 0,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX tasks_issue ON tasks (repo_key, issue_number) WHERE issue_number IS NOT NULL;
CREATE INDEX tasks_status ON tasks (status, priority);

CREATE TABLE pull_requests (
    repo_key    TEXT NOT NULL,
    repository  TEXT NOT NULL,
    number      BIGINT NOT NULL,
    title       TEXT NOT NULL,
    state       TEXT NOT NULL,
    draft       BOOLEAN NOT NULL DEFAULT FALSE,
    merged      BOOLEAN NOT NULL DEFAULT FALSE,
    head_sha    TEXT,
    author      TEXT,
    url         TEXT,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (repo_key, number)
);

CREATE TABLE task_pull_requests (
    task_id     BIGINT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    repo_key    TEXT NOT NULL,
    number      BIGINT NOT NULL,
    PRIMARY KEY (task_id, repo_key, number)
);

CREATE TABLE sync_settings (
    repo_key       TEXT PRIMARY KEY,
    repository     TEXT NOT NULL,
    auto_sync      BOOLEAN NOT NULL,
    default_labels JSONB NOT NULL DEFAULT '[]',
    updated_at     TIMESTAMPTZ NOT NULL
);

CREATE TABLE pushes (
    id            BIGSERIAL PRIMARY KEY,
    repo_key      TEXT NOT NULL,
    repository    TEXT NOT NULL,
    ref           TEXT NOT NULL,
    before_sha    TEXT NOT NULL,
    after_sha     TEXT NOT NULL,
    pusher        TEXT,
    commits_count BIGINT NOT NULL,
    received_at   TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX pushes_unique ON pushes (repo_key, ref, after_sha);
CREATE INDEX pushes_repo ON pushes (repo_key, id DESC);
