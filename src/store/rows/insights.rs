//! The rows a report reads: a run attempt's timings and outcome (`executions`), and a job with
//! why it failed (`jobs` and `job_logs`).

use super::SqlType::{Int, Json, Text, Time};
use super::{CellSource, Column, ReadRow, column};
use crate::domain::insights::RunSample;
use crate::store::sql::insights::ReportJob;

impl ReadRow for RunSample {
    const COLUMNS: &'static [Column] = &[
        column("run_id", Int),
        column("run_attempt", Int),
        column("status", Text),
        column("conclusion", Text),
        column("head_sha", Text),
        column("created_at", Time),
        column("started_at", Time),
        column("completed_at", Time),
        column("duration_seconds", Int),
    ];

    fn read<S: CellSource>(cells: &mut S) -> Result<Self, S::Error> {
        Ok(RunSample {
            run_id: cells.next()?,
            run_attempt: cells.next()?,
            status: cells.next()?,
            conclusion: cells.next()?,
            head_sha: cells.next()?,
            created_at: cells.next()?,
            started_at: cells.next()?,
            completed_at: cells.next()?,
            duration_seconds: cells.next()?,
        })
    }
}

impl ReadRow for ReportJob {
    const COLUMNS: &'static [Column] = &[
        column("run_id", Int),
        column("run_attempt", Int),
        column("name", Text),
        column("conclusion", Text),
        column("started_at", Time),
        column("completed_at", Time),
        column("log_failed_step", Text),
        column("error_message", Text),
        column("failed_steps", Json),
    ];

    fn read<S: CellSource>(cells: &mut S) -> Result<Self, S::Error> {
        Ok(ReportJob {
            run_id: cells.next()?,
            run_attempt: cells.next()?,
            name: cells.next()?,
            conclusion: cells.next()?,
            started_at: cells.next()?,
            completed_at: cells.next()?,
            log_failed_step: cells.next()?,
            error_message: cells.next()?,
            failed_steps: cells.next()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_match_columns() {
        super::super::reads::tests::assert_reads_match::<RunSample>();
        super::super::reads::tests::assert_reads_match::<ReportJob>();
    }
}
