//! A research task as `tasks` stores it: the columns a `Task` is read from.

use super::SqlType::{Bool, Int, Json, Text, Time};
use super::{CellSource, Column, ReadRow, column};
use crate::domain::tasks::Task;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_match_columns() {
        super::super::reads::tests::assert_reads_match::<Task>();
    }
}
