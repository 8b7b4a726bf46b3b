-- Issue 16: alert rules, the alerts they raise, and the durable queue of their notifications.

-- Where notifications go. `url` and `secret` are write-only: never returned by the API.
CREATE TABLE notification_channels (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL,
    url        TEXT,
    secret     TEXT,
    -- JSON array of e-mail addresses (email channels).
    recipients TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- A rule: its kind, its pipeline (NULL: every active pipeline, or global kinds), and its
-- settings as JSON (threshold, for_minutes, channels).
CREATE TABLE alert_rules (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    pipeline_id TEXT,
    spec        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

-- An alert. `open_key` (rule and pipeline) is set while the alert is open and NULL once resolved:
-- its unique index lets one open alert exist per rule and pipeline, whichever replica saw the
-- condition first (the others' inserts do nothing).
CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    rule_id         INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    state           TEXT NOT NULL,
    pipeline_id     TEXT,
    repository      TEXT,
    workflow_file   TEXT,
    summary         TEXT NOT NULL,
    details         TEXT NOT NULL,
    run             TEXT,
    open_key        TEXT UNIQUE,
    started_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    resolved_at     TEXT,
    acknowledged_at TEXT
);
CREATE INDEX alerts_by_pipeline ON alerts (pipeline_id, id);
CREATE INDEX alerts_by_rule ON alerts (rule_id, pipeline_id, id);

-- The durable queue of notifications: one row per alert event and channel. `delivery_id` is
-- sent as X-CCM-Delivery on every attempt.
CREATE TABLE alert_notifications (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id        INTEGER NOT NULL,
    channel_id      INTEGER NOT NULL,
    event           TEXT NOT NULL,
    delivery_id     TEXT NOT NULL UNIQUE,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at TEXT NOT NULL,
    locked_until    TEXT,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    sent_at         TEXT
);
CREATE INDEX alert_notifications_due ON alert_notifications (status, next_attempt_at);
CREATE INDEX alert_notifications_by_alert ON alert_notifications (alert_id, channel_id, id);
