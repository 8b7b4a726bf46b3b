-- The other repositories whose issues a repository's pull requests may close (`fixes
-- owner/repo#N`); by default (an empty list) only the repository's own.
ALTER TABLE sync_settings ADD COLUMN closes_issues_in TEXT NOT NULL DEFAULT '[]';
