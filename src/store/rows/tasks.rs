//! A research task as `tasks` stores it, and what its repository sends besides issues: the
//! columns a `Task`, a `PullRequest` and a `Push` are read from.

use super::SqlType::{Bool, Int, Json, Text, Time};
use super::{CellSource, Column, ReadRow, column};
use crate::domain::tasks::Task;
use crate::store::{PullRequest, Push, SyncSettings};

impl ReadRow for SyncSettings {
    const COLUMNS: &'static [Column] =
        &[column("auto_sync", Bool), column("default_labels", Json), column("closes_issues_in", Json)];

    fn read<S: CellSource>(cells: &mut S) -> Result<Self, S::Error> {
        let auto_sync = cells.next()?;
        let default_labels: sqlx::types::Json<Vec<String>> = cells.next()?;
        let closes_issues_in: sqlx::types::Json<Vec<String>> = cells.next()?;
        Ok(SyncSettings { auto_sync, default_labels: default_labels.0, closes_issues_in: closes_issues_in.0 })
    }
}

impl ReadRow for Task {
    const COLUMNS: &'static [Column] = &[
        column("id", Int),
        column("title", Text),
        column("description", Text),
        column("status", Text),
        column("priority", Text),
        column("labels", Json),
        column("origin", Text),
        column("repository", Text),
        column("issue_number", Int),
        column("issue_node_id", Text),
        column("issue_url", Text),
        column("issue_deleted", Bool),
        column("synced", Json),
        column("synced_at", Time),
        column("pushed_at", Time),
        column("local_changed_at", Time),
        column("version", Int),
        column("created_at", Time),
        column("updated_at", Time),
    ];

    fn read<S: CellSource>(cells: &mut S) -> Result<Self, S::Error> {
        Ok(Task {
            id: cells.next()?,
            title: cells.next()?,
            description: cells.next()?,
            status: cells.next()?,
            priority: cells.next()?,
            labels: cells.next()?,
            origin: cells.next()?,
            repository: cells.next()?,
            issue_number: cells.next()?,
            issue_node_id: cells.next()?,
            issue_url: cells.next()?,
            issue_deleted: cells.next()?,
            synced: cells.next()?,
            synced_at: cells.next()?,
            pushed_at: cells.next()?,
            local_changed_at: cells.next()?,
            version: cells.next()?,
            created_at: cells.next()?,
            updated_at: cells.next()?,
        })
    }
}

impl ReadRow for PullRequest {
    const COLUMNS: &'static [Column] = &[
        column("repository", Text),
        column("number", Int),
        column("title", Text),
        column("state", Text),
        column("draft", Bool),
        column("merged", Bool),
        column("head_sha", Text),
        column("author", Text),
        column("url", Text),
        column("updated_at", Time),
    ];

    fn read<S: CellSource>(cells: &mut S) -> Result<Self, S::Error> {
        Ok(PullRequest {
            repository: cells.next()?,
            number: cells.next()?,
            title: cells.next()?,
            state: cells.next()?,
            draft: cells.next()?,
            merged: cells.next()?,
            head_sha: cells.next()?,
            author: cells.next()?,
            url: cells.next()?,
            updated_at: cells.next()?,
        })
    }
}

impl ReadRow for Push {
    const COLUMNS: &'static [Column] = &[
        column("id", Int),
        column("repository", Text),
        column("ref", Text),
        column("before_sha", Text),
        column("after_sha", Text),
        column("pusher", Text),
        column("commits_count", Int),
        column("first_commit_at", Time),
        column("received_at", Time),
    ];

    fn read<S: CellSource>(cells: &mut S) -> Result<Self, S::Error> {
        Ok(Push {
            id: cells.next()?,
            repository: cells.next()?,
            git_ref: cells.next()?,
            before_sha: cells.next()?,
            after_sha: cells.next()?,
            pusher: cells.next()?,
            commits_count: cells.next()?,
            first_commit_at: cells.next()?,
            received_at: cells.next()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_match_columns() {
        super::super::reads::tests::assert_reads_match::<Task>();
        super::super::reads::tests::assert_reads_match::<PullRequest>();
        super::super::reads::tests::assert_reads_match::<Push>();
    }
}
