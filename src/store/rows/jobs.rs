//! A job as `jobs` stores it: the upsert's columns (`JobRecord`), and the columns a `Job` is
//! read from.

use chrono::{DateTime, Utc};

use super::SqlType::{Int, Json, Text, Time};
use super::{Cell, CellSource, Column, ReadRow, WrittenRow, column};
use crate::domain::runs::{Job, JobRecord};

impl WrittenRow for JobRecord {
    const COLUMNS: &'static [Column] = &[
        column("job_id", Int),
        column("run_id", Int),
        column("run_attempt", Int),
        column("repo_key", Text),
        column("name", Text),
        column("status", Text),
        column("status_rank", Int),
        column("conclusion", Text),
        column("runner_name", Text),
        column("html_url", Text),
        column("started_at", Time),
        column("completed_at", Time),
        column("updated_at", Time),
        column("steps", Json),
    ];

    fn cells(&self, _now: DateTime<Utc>) -> Vec<Cell<'_>> {
        vec![
            self.job_id.into(),
            self.run_id.into(),
            self.run_attempt.into(),
            self.repository.to_lowercase().into(),
            self.name.as_str().into(),
            self.status.as_str().into(),
            self.status.rank().into(),
            self.conclusion.as_ref().map(|c| c.as_str()).into(),
            self.runner_name.as_deref().into(),
            self.html_url.as_deref().into(),
            self.started_at.into(),
            self.completed_at.into(),
            self.updated_at.into(),
            (&self.steps).into(),
        ]
    }
}

impl ReadRow for Job {
    const COLUMNS: &'static [Column] = &[
        column("job_id", Int),
        column("run_id", Int),
        column("run_attempt", Int),
        column("name", Text),
        column("status", Text),
        column("conclusion", Text),
        column("runner_name", Text),
        column("html_url", Text),
        column("started_at", Time),
        column("completed_at", Time),
        column("steps", Json),
    ];

    fn read<S: CellSource>(cells: &mut S) -> Result<Self, S::Error> {
        Ok(Job {
            job_id: cells.next()?,
            run_id: cells.next()?,
            run_attempt: cells.next()?,
            name: cells.next()?,
            status: cells.next()?,
            conclusion: cells.next()?,
            runner_name: cells.next()?,
            html_url: cells.next()?,
            started_at: cells.next()?,
            completed_at: cells.next()?,
            steps: cells.next()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::status::RunStatus;

    #[test]
    fn cells_match_columns() {
        let record = JobRecord {
            job_id: 9,
            run_id: 1,
            run_attempt: 1,
            repository: "Octo/App".into(),
            name: "build".into(),
            status: RunStatus::InProgress,
            conclusion: None,
            runner_name: None,
            html_url: None,
            started_at: Some(Utc::now()),
            completed_at: None,
            updated_at: Utc::now(),
            steps: serde_json::json!([]),
        };
        super::super::tests::assert_cells_match(&record);
        assert_eq!(record.cells(Utc::now())[3], Cell::from("octo/app"));
    }

    #[test]
    fn reads_match_columns() {
        super::super::reads::tests::assert_reads_match::<Job>();
    }
}
