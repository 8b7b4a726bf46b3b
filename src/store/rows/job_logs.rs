//! A job's log as `job_logs` stores it: one definition of its columns, written and read.

use chrono::{DateTime, Utc};

use super::SqlType::{Bool, Bytes, Int, Text, Time};
use super::{Cell, CellSource, Column, ReadRow, WrittenRow, column, joined};
use crate::domain::job_logs::{JobLog, JobLogSummary};

const SUMMARY: &[Column] = &[
    column("job_id", Int),
    column("run_id", Int),
    column("run_attempt", Int),
    column("repo_key", Text),
    column("state", Text),
    column("reason", Text),
    column("log_bytes", Int),
    column("kept_bytes", Int),
    column("stored_bytes", Int),
    column("truncated", Bool),
    column("failed_step", Text),
    column("error_message", Text),
    column("fetched_at", Time),
];

const ALL: [Column; 14] = joined(SUMMARY, &[column("log", Bytes)]);

impl ReadRow for JobLogSummary {
    const COLUMNS: &'static [Column] = SUMMARY;

    fn read<S: CellSource>(cells: &mut S) -> Result<Self, S::Error> {
        Ok(JobLogSummary {
            job_id: cells.next()?,
            run_id: cells.next()?,
            run_attempt: cells.next()?,
            repository: cells.next()?,
            state: cells.next()?,
            reason: cells.next()?,
            log_bytes: cells.next()?,
            kept_bytes: cells.next()?,
            stored_bytes: cells.next()?,
            truncated: cells.next()?,
            failed_step: cells.next()?,
            error_message: cells.next()?,
            fetched_at: cells.next()?,
        })
    }
}

impl ReadRow for JobLog {
    const COLUMNS: &'static [Column] = &ALL;

    fn read<S: CellSource>(cells: &mut S) -> Result<Self, S::Error> {
        let summary = JobLogSummary::read(cells)?;
        // No log is stored as an empty one (a cell has no NULL of bytes).
        let compressed: Option<Vec<u8>> = cells.next()?;
        Ok(JobLog { summary, compressed: compressed.filter(|bytes| !bytes.is_empty()) })
    }
}

impl WrittenRow for JobLog {
    const COLUMNS: &'static [Column] = &ALL;

    fn cells(&self, _now: DateTime<Utc>) -> Vec<Cell<'_>> {
        let s = &self.summary;
        vec![
            s.job_id.into(),
            s.run_id.into(),
            s.run_attempt.into(),
            s.repository.to_lowercase().into(),
            s.state.as_str().into(),
            s.reason.as_deref().into(),
            s.log_bytes.into(),
            s.kept_bytes.into(),
            s.stored_bytes.into(),
            s.truncated.into(),
            s.failed_step.as_deref().into(),
            s.error_message.as_deref().into(),
            s.fetched_at.into(),
            Cell::Bytes(self.compressed.as_deref().unwrap_or_default()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::status::JobLogState;

    #[test]
    fn cells_match_columns() {
        let log = JobLog {
            summary: JobLogSummary {
                job_id: 1,
                run_id: 2,
                run_attempt: 1,
                repository: "Octo/App".into(),
                state: JobLogState::Stored,
                reason: None,
                log_bytes: 10,
                kept_bytes: 10,
                stored_bytes: 8,
                truncated: false,
                failed_step: None,
                error_message: None,
                fetched_at: Utc::now(),
            },
            compressed: Some(vec![1, 2, 3]),
        };
        super::super::tests::assert_cells_match(&log);
        assert_eq!(log.cells(Utc::now())[3], Cell::from("octo/app"));
    }

    #[test]
    fn reads_match_columns() {
        super::super::reads::tests::assert_reads_match::<JobLogSummary>();
        super::super::reads::tests::assert_reads_match::<JobLog>();
    }
}
