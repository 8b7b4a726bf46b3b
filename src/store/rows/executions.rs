//! A run attempt as `executions` stores it: the upsert's columns (`ExecutionRecord`), and the
//! columns an `Execution` is read from.

use chrono::{DateTime, Utc};

use super::SqlType::{Bool, Int, Text, Time};
use super::{Cell, CellSource, Column, ReadRow, WrittenRow, column};
use crate::domain::runs::{Execution, ExecutionRecord};

impl WrittenRow for ExecutionRecord {
    const COLUMNS: &'static [Column] = &[
        column("run_id", Int),
        column("run_attempt", Int),
        column("repository", Text),
        column("repo_key", Text),
        column("workflow_path", Text),
        column("workflow_name", Text),
        column("status", Text),
        column("status_rank", Int),
        column("conclusion", Text),
        column("branch", Text),
        column("head_sha", Text),
        column("event", Text),
        column("run_number", Int),
        column("actor", Text),
        column("html_url", Text),
        column("created_at", Time),
        column("started_at", Time),
        column("updated_at", Time),
        column("completed_at", Time),
        column("duration_seconds", Int),
        column("recorded_at", Time),
    ];

    fn cells(&self, now: DateTime<Utc>) -> Vec<Cell<'_>> {
        vec![
            self.run_id.into(),
            self.run_attempt.into(),
            self.repository.as_str().into(),
            self.repository.to_lowercase().into(),
            self.workflow_path.as_str().into(),
            self.workflow_name.as_deref().into(),
            self.status.as_str().into(),
            self.status.rank().into(),
            self.conclusion.as_ref().map(|c| c.as_str()).into(),
            self.branch.as_deref().into(),
            self.head_sha.as_deref().into(),
            self.event.as_deref().into(),
            self.run_number.into(),
            self.actor.as_deref().into(),
            self.html_url.as_deref().into(),
            self.created_at.into(),
            self.started_at.into(),
            self.updated_at.into(),
            self.completed_at.into(),
            self.duration_seconds().into(),
            now.into(),
        ]
    }
}

impl ReadRow for Execution {
    const COLUMNS: &'static [Column] = &[
        column("id", Int),
        column("run_id", Int),
        column("run_attempt", Int),
        column("repository", Text),
        column("workflow_path", Text),
        column("workflow_name", Text),
        column("status", Text),
        column("conclusion", Text),
        column("branch", Text),
        column("head_sha", Text),
        column("event", Text),
        column("run_number", Int),
        column("actor", Text),
        column("html_url", Text),
        column("created_at", Time),
        column("started_at", Time),
        column("updated_at", Time),
        column("completed_at", Time),
        column("duration_seconds", Int),
        column("rolled_back", Bool),
        column("rollback_reason", Text),
        column("rollback_previous_execution_id", Int),
    ];

    fn read<S: CellSource>(cells: &mut S) -> Result<Self, S::Error> {
        Ok(Execution {
            id: cells.next()?,
            run_id: cells.next()?,
            run_attempt: cells.next()?,
            repository: cells.next()?,
            workflow_path: cells.next()?,
            workflow_name: cells.next()?,
            status: cells.next()?,
            conclusion: cells.next()?,
            branch: cells.next()?,
            head_sha: cells.next()?,
            event: cells.next()?,
            run_number: cells.next()?,
            actor: cells.next()?,
            html_url: cells.next()?,
            created_at: cells.next()?,
            started_at: cells.next()?,
            updated_at: cells.next()?,
            completed_at: cells.next()?,
            duration_seconds: cells.next()?,
            rolled_back: cells.next()?,
            rollback_reason: cells.next()?,
            rollback_previous_execution_id: cells.next()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::status::{Conclusion, RunStatus};

    #[test]
    fn cells_match_columns() {
        let at = Utc::now();
        let record = ExecutionRecord {
            run_id: 1,
            run_attempt: 2,
            repository: "Octo/App".into(),
            workflow_path: ".github/workflows/ci.yml".into(),
            workflow_name: None,
            status: RunStatus::Completed,
            conclusion: Some(Conclusion::Success),
            branch: Some("main".into()),
            head_sha: None,
            event: None,
            run_number: Some(3),
            actor: None,
            html_url: None,
            created_at: at,
            started_at: at,
            updated_at: at,
            completed_at: None,
        };
        super::super::tests::assert_cells_match(&record);
        let cells = record.cells(at);
        let position = |name: &str| ExecutionRecord::COLUMNS.iter().position(|c| c.name == name).unwrap();
        assert_eq!(cells[position("repo_key")], Cell::from("octo/app"));
        assert_eq!(cells[position("status_rank")], Cell::Int(Some(3)));
        assert_eq!(cells[position("conclusion")], Cell::from("success"));
    }

    #[test]
    fn reads_match_columns() {
        super::super::reads::tests::assert_reads_match::<Execution>();
    }
}
