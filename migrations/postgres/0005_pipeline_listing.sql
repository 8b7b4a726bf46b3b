-- How many pipelines have each status, kept by a trigger in the transaction that changes them, so
-- that a listing's total costs one row read instead of a count over every pipeline.
CREATE TABLE pipeline_counts (
    status    TEXT PRIMARY KEY CHECK (status IN ('active', 'inactive')),
    pipelines BIGINT NOT NULL
);
INSERT INTO pipeline_counts (status, pipelines)
SELECT s.status, (SELECT COUNT(*) FROM pipelines p WHERE p.status = s.status)
FROM (VALUES ('active'), ('inactive')) AS s (status);

CREATE FUNCTION pipeline_counts_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE pipeline_counts SET pipelines = pipelines - 1 WHERE status = OLD.status;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        UPDATE pipeline_counts SET pipelines = pipelines + 1 WHERE status = NEW.status;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER pipeline_counts_insert_delete AFTER INSERT OR DELETE ON pipelines
    FOR EACH ROW EXECUTE FUNCTION pipeline_counts_track();
CREATE TRIGGER pipeline_counts_update AFTER UPDATE OF status ON pipelines
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION pipeline_counts_track();

-- Newest first with the id as tie-break in the same direction, so that keyset paging
-- (`(created_at, id) < (last shown)`) walks these indexes backwards from the key.
DROP INDEX pipelines_created;
CREATE INDEX pipelines_created ON pipelines (created_at, id);
DROP INDEX pipelines_status_created;
CREATE INDEX pipelines_status_created ON pipelines (status, created_at, id);
