-- Each replica's view of its outbound GitHub breaker, so that the github_paused alert reads one
-- answer for every replica (a breaker is in memory, one per process). A row not seen for a while
-- belongs to a replica that has stopped and no longer counts.
CREATE TABLE github_breakers (
    replica      TEXT PRIMARY KEY,
    paused_until TIMESTAMPTZ,
    seen_at      TIMESTAMPTZ NOT NULL
);
