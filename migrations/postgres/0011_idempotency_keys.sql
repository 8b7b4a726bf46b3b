-- Idempotency-Key of trigger and rollback: the request each key came with (its fingerprint) and
-- the response it got, kept 24 hours, written in the transaction that queued the work.
CREATE TABLE idempotency_keys (
    key         TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    status      BIGINT NOT NULL,
    response    JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
