//! A job of the outbox as `outbox_jobs` stores it: the columns an `OutboxJob` is read from (its
//! kind and payload decoded into its task).

use sqlx::types::Json;

use super::SqlType::{Int, Json as JsonType, Text, Time};
use super::{CellSource, Column, ReadRow, column};
use crate::domain::idempotency::StoredAnswer;
use crate::domain::outbox::OutboxTask;
use crate::store::OutboxJob;

/// An `Idempotency-Key`'s record (`idempotency_keys`), of the actions that queue jobs.
impl ReadRow for StoredAnswer {
    const COLUMNS: &'static [Column] =
        &[column("fingerprint", Text), column("status", Int), column("response", JsonType), column("created_at", Time)];

    fn read<S: CellSource>(cells: &mut S) -> Result<Self, S::Error> {
        let fingerprint = cells.next()?;
        let status: i64 = cells.next()?;
        let body: Json<serde_json::Value> = cells.next()?;
        let created_at = cells.next()?;
        Ok(StoredAnswer { fingerprint, status: u16::try_from(status).unwrap_or(500), body: body.0, created_at })
    }
}

impl ReadRow for OutboxJob {
    const COLUMNS: &'static [Column] = &[
        column("id", Int),
        column("kind", Text),
        column("payload", JsonType),
        column("dedupe_key", Text),
        column("status", Text),
        column("attempts", Int),
        column("max_attempts", Int),
        column("next_attempt_at", Time),
        column("last_error", Text),
        column("result", JsonType),
        column("created_at", Time),
        column("updated_at", Time),
        column("finished_at", Time),
    ];

    fn read<S: CellSource>(cells: &mut S) -> Result<Self, S::Error> {
        let id = cells.next()?;
        let kind: String = cells.next()?;
        let payload: Json<serde_json::Value> = cells.next()?;
        Ok(OutboxJob {
            id,
            task: OutboxTask::decode(&kind, payload.0),
            dedupe_key: cells.next()?,
            status: cells.next()?,
            attempts: cells.next()?,
            max_attempts: cells.next()?,
            next_attempt_at: cells.next()?,
            last_error: cells.next()?,
            result: cells.next()?,
            created_at: cells.next()?,
            updated_at: cells.next()?,
            finished_at: cells.next()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_match_columns() {
        super::super::reads::tests::assert_reads_match::<OutboxJob>();
    }
}
