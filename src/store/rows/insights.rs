//! The rows a report reads: a run attempt's timings and outcome (`executions`).

use super::SqlType::{Int, Text, Time};
use super::{CellSource, Column, ReadRow, column};
use crate::domain::insights::RunSample;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_match_columns() {
        super::super::reads::tests::assert_reads_match::<RunSample>();
    }
}
