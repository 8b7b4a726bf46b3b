//! What the GitHub App side keeps besides the outbox: backfill state, small named values (the
//! delivery-recovery cursor and gaps), stuck-run checks, redelivery counts, and the queries over
//! executions and deliveries it needs. (Rollback marks are written with their job: `actions.rs`.)

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;

use super::db::query;
use super::outbox::{NewOutboxJob, enqueue_on, unfinished_job};
use super::pipelines::{scope_clause, scope_query};
use crate::domain::clock;
use crate::store::rows::{ReadRow, column_names, qualified_names};
use crate::store::{Execution, ExecutionScope, SqlStore, StoreResult};

#[async_trait]
pub trait GithubStore {
    /// Marks a pipeline's backfill as running (again).
    async fn start_backfill(&self, pipeline_id: &str) -> StoreResult<()>;

    /// Ends a backfill with `status` done or failed.
    async fn finish_backfill(
        &self,
        pipeline_id: &str,
        status: crate::domain::status::BackfillStatus,
        runs_seen: i64,
        error: Option<&str>,
    ) -> StoreResult<()>;

    async fn get_state(&self, key: &str) -> StoreResult<Option<String>>;

    async fn set_state(&self, key: &str, value: &str) -> StoreResult<()>;

    /// Which of these pipelines have a backfill running.
    async fn running_backfills(&self, pipeline_ids: &[&str]) -> StoreResult<HashSet<String>>;

    /// Which of these delivery GUIDs ccm has stored.
    async fn known_delivery_guids(&self, guids: &[String]) -> StoreResult<HashSet<String>>;

    /// A pipeline's runs that are not completed.
    async fn open_executions(&self, scope: &ExecutionScope) -> StoreResult<Vec<Execution>>;

    /// Runs not completed whose last change is older than `changed_before`, and that were not
    /// re-read since `checked_before`; oldest first.
    async fn stuck_executions(
        &self,
        changed_before: DateTime<Utc>,
        checked_before: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<Execution>>;

    async fn mark_run_checked(&self, run_id: i64, run_attempt: i64) -> StoreResult<()>;

    /// The pipeline's most recent successful run.
    async fn last_successful_execution(&self, scope: &ExecutionScope) -> StoreResult<Option<Execution>>;

    /// The pipeline's most recent run, in any state.
    async fn latest_execution(&self, scope: &ExecutionScope) -> StoreResult<Option<Execution>>;

    /// Queues `job`, the redelivery of `guid`, and counts it, in one transaction: unless a
    /// redelivery of it is queued already, or it was asked `max` times already (given up).
    async fn queue_redelivery(&self, guid: &str, job: &NewOutboxJob, max: i64) -> StoreResult<Redelivery>;

    /// Forgets the redeliveries last asked before `before` (GitHub no longer holds them).
    async fn forget_redeliveries(&self, before: DateTime<Utc>) -> StoreResult<()>;
}

/// What `queue_redelivery` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redelivery {
    /// Queued as this outbox job; this many redeliveries of the GUID asked in all.
    Queued { job_id: i64, requests: i64 },
    /// A redelivery of the GUID is still queued (this job).
    AlreadyQueued { job_id: i64 },
    /// Asked the most times already: not again.
    GivenUp,
}

impl SqlStore {
    /// The values among `values` that `select` (a query of one text column, ending with the column
    /// to match) finds, asked `IN` lists of 100 at a time.
    async fn found_among(&self, select: &str, values: &[&str]) -> StoreResult<HashSet<String>> {
        let mut found = HashSet::new();
        for chunk in values.chunks(100) {
            let params: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!("{select} IN ({})", params.join(", "));
            let rows: Vec<(String,)> =
                query(AssertSqlSafe(sql)).bind_all(chunk.iter().copied()).fetch_all(&self.db).await?;
            found.extend(rows.into_iter().map(|(value,)| value));
        }
        Ok(found)
    }

    /// The executions of `scope` that `rest` (conditions and order after the scope's clause)
    /// selects.
    async fn scope_executions(&self, scope: &ExecutionScope, rest: &str) -> StoreResult<Vec<Execution>> {
        let sql = format!(
            "SELECT {} FROM executions WHERE {} {rest}",
            column_names(Execution::COLUMNS),
            scope_clause(scope, 3)
        );
        Ok(scope_query(sql, scope).fetch_all(&self.db).await?)
    }
}

#[async_trait]
impl GithubStore for SqlStore {
    async fn start_backfill(&self, pipeline_id: &str) -> StoreResult<()> {
        query(
            "INSERT INTO backfills (pipeline_id, status, runs_seen, started_at) VALUES ($1, 'running', 0, $2) \
             ON CONFLICT (pipeline_id) DO UPDATE SET status = 'running', runs_seen = 0, last_error = NULL, \
               started_at = excluded.started_at, finished_at = NULL",
        )
        .bind(pipeline_id)
        .bind(clock::now())
        .execute(&self.db)
        .await?;
        Ok(())
    }

    async fn finish_backfill(
        &self,
        pipeline_id: &str,
        status: crate::domain::status::BackfillStatus,
        runs_seen: i64,
        error: Option<&str>,
    ) -> StoreResult<()> {
        query(
            "UPDATE backfills SET status = $2, runs_seen = $3, last_error = $4, finished_at = $5 \
             WHERE pipeline_id = $1",
        )
        .bind(pipeline_id)
        .bind(status.as_str())
        .bind(runs_seen)
        .bind(error)
        .bind(clock::now())
        .execute(&self.db)
        .await?;
        Ok(())
    }

    async fn get_state(&self, key: &str) -> StoreResult<Option<String>> {
        let value: Option<(String,)> =
            query("SELECT value FROM github_state WHERE key = $1").bind(key).fetch_optional(&self.db).await?;
        Ok(value.map(|(value,)| value))
    }

    async fn set_state(&self, key: &str, value: &str) -> StoreResult<()> {
        query(
            "INSERT INTO github_state (key, value, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(key)
        .bind(value)
        .bind(clock::now())
        .execute(&self.db)
        .await?;
        Ok(())
    }

    async fn running_backfills(&self, pipeline_ids: &[&str]) -> StoreResult<HashSet<String>> {
        self.found_among("SELECT pipeline_id FROM backfills WHERE status = 'running' AND pipeline_id", pipeline_ids)
            .await
    }

    async fn known_delivery_guids(&self, guids: &[String]) -> StoreResult<HashSet<String>> {
        let guids: Vec<&str> = guids.iter().map(String::as_str).collect();
        self.found_among("SELECT guid FROM deliveries WHERE guid", &guids).await
    }

    async fn open_executions(&self, scope: &ExecutionScope) -> StoreResult<Vec<Execution>> {
        self.scope_executions(scope, "AND status <> 'completed' ORDER BY started_at DESC").await
    }

    async fn stuck_executions(
        &self,
        changed_before: DateTime<Utc>,
        checked_before: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<Execution>> {
        let sql = format!(
            "SELECT {} FROM executions e LEFT JOIN run_checks c \
               ON c.run_id = e.run_id AND c.run_attempt = e.run_attempt \
             WHERE e.status <> 'completed' AND e.updated_at < $1 \
               AND (c.checked_at IS NULL OR c.checked_at < $2) \
             ORDER BY e.updated_at LIMIT $3",
            qualified_names("e", Execution::COLUMNS)
        );
        Ok(query(AssertSqlSafe(sql)).bind(changed_before).bind(checked_before).bind(limit).fetch_all(&self.db).await?)
    }

    async fn mark_run_checked(&self, run_id: i64, run_attempt: i64) -> StoreResult<()> {
        query(
            "INSERT INTO run_checks (run_id, run_attempt, checked_at) VALUES ($1, $2, $3) \
             ON CONFLICT (run_id, run_attempt) DO UPDATE SET checked_at = excluded.checked_at",
        )
        .bind(run_id)
        .bind(run_attempt)
        .bind(clock::now())
        .execute(&self.db)
        .await?;
        Ok(())
    }

    async fn last_successful_execution(&self, scope: &ExecutionScope) -> StoreResult<Option<Execution>> {
        let rest = "AND status = 'completed' AND conclusion = 'success' \
                    ORDER BY started_at DESC, run_attempt DESC LIMIT 1";
        Ok(self.scope_executions(scope, rest).await?.pop())
    }

    async fn latest_execution(&self, scope: &ExecutionScope) -> StoreResult<Option<Execution>> {
        Ok(self.scope_executions(scope, "ORDER BY started_at DESC, run_attempt DESC LIMIT 1").await?.pop())
    }

    async fn queue_redelivery(&self, guid: &str, job: &NewOutboxJob, max: i64) -> StoreResult<Redelivery> {
        let mut tx = self.db.begin().await?;
        if let Some(job_id) = unfinished_job(&mut tx, job.dedupe_key.as_deref()).await? {
            return Ok(Redelivery::AlreadyQueued { job_id });
        }
        let counted: Option<(i64,)> = query(
            "INSERT INTO redeliveries (guid, requests, last_requested_at) VALUES ($1, 1, $2) \
             ON CONFLICT (guid) DO UPDATE SET requests = redeliveries.requests + 1, \
               last_requested_at = excluded.last_requested_at \
             WHERE redeliveries.requests < $3 RETURNING requests",
        )
        .bind(guid)
        .bind(clock::now())
        .bind(max)
        .fetch_optional(&mut tx)
        .await?;
        let Some((requests,)) = counted else {
            return Ok(Redelivery::GivenUp);
        };
        let Some(job_id) = enqueue_on(&mut tx, job).await? else {
            return Err(crate::store::StoreError::Conflict(format!("the redelivery of {guid} was queued meanwhile")));
        };
        tx.commit().await?;
        Ok(Redelivery::Queued { job_id, requests })
    }

    async fn forget_redeliveries(&self, before: DateTime<Utc>) -> StoreResult<()> {
        query("DELETE FROM redeliveries WHERE last_requested_at < $1").bind(before).execute(&self.db).await?;
        Ok(())
    }
}
