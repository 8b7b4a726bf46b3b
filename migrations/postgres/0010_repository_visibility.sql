-- Whether each repository is private, as its last issue or pull request webhook said
-- (`repository.private`): issue sync is on by default for private repositories only.
CREATE TABLE repository_visibility (
    repo_key   TEXT PRIMARY KEY,
    repository TEXT NOT NULL,
    private    BOOLEAN NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
