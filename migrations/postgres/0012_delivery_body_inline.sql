-- A delivery's body is LZ4-compressed by ccm (about 5 KB for GitHub's 21 KB workflow_run): left to
-- the defaults, PostgreSQL tried to compress it again with pglz (and failed, on compressed bytes)
-- and moved it to the TOAST table in ~2 KB chunks, each with its own index entry. Kept in the row
-- while the row fits in a page, and never compressed twice: one heap insert a delivery instead of
-- a heap insert, three TOAST rows and their index entries.
ALTER TABLE deliveries ALTER COLUMN body SET STORAGE EXTERNAL;
ALTER TABLE deliveries SET (toast_tuple_target = 8160);
