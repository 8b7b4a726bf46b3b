-- How many pipelines have each status, kept by triggers in the transaction that changes them, so
-- that a listing's total costs one row read instead of a count over every pipeline.
CREATE TABLE pipeline_counts (
    status    TEXT PRIMARY KEY CHECK (status IN ('active', 'inactive')),
    pipelines INTEGER NOT NULL
);
INSERT INTO pipeline_counts (status, pipelines)
SELECT s.status, (SELECT COUNT(*) FROM pipelines p WHERE p.status = s.status)
FROM (SELECT 'active' AS status UNION ALL SELECT 'inactive') s;

CREATE TRIGGER pipeline_counts_insert AFTER INSERT ON pipelines BEGIN
    UPDATE pipeline_counts SET pipelines = pipelines + 1 WHERE status = NEW.status;
END;

CREATE TRIGGER pipeline_counts_delete AFTER DELETE ON pipelines BEGIN
    UPDATE pipeline_counts SET pipelines = pipelines - 1 WHERE status = OLD.status;
END;

CREATE TRIGGER pipeline_counts_update AFTER UPDATE OF status ON pipelines WHEN OLD.status <> NEW.status BEGIN
    UPDATE pipeline_counts SET pipelines = pipelines - 1 WHERE status = OLD.status;
    UPDATE pipeline_counts SET pipelines = pipelines + 1 WHERE status = NEW.status;
END;

-- Newest first with the id as tie-break in the same direction, so that keyset paging
-- (`(created_at, id) < (last shown)`) walks these indexes backwards from the key.
DROP INDEX pipelines_created;
CREATE INDEX pipelines_created ON pipelines (created_at, id);
DROP INDEX pipelines_status_created;
CREATE INDEX pipelines_status_created ON pipelines (status, created_at, id);
