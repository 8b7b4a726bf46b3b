-- How many times missed-delivery recovery asked GitHub to redeliver each GUID: a delivery that
-- keeps failing is redelivered a few times (github::recovery::MAX_REDELIVERIES), not at every
-- scan forever. Rows older than GitHub's 3-day delivery log are removed by the scan.
CREATE TABLE redeliveries (
    guid              TEXT PRIMARY KEY,
    requests          BIGINT NOT NULL,
    last_requested_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX redeliveries_last ON redeliveries (last_requested_at);
