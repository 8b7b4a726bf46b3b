-- When the oldest commit of a push to the default branch was made (its `commits[].timestamp`):
-- where a report's lead time for changes starts for the deployments of the push's head.
ALTER TABLE pushes ADD COLUMN first_commit_at TEXT;
