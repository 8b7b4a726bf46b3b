//! The durable queue of outbound calls (GitHub today): a job is a task (its kind and JSON payload)
//! and its retry state. Workers claim due jobs (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so
//! replicas never take the same job), and a claim is a lease: a job whose worker died is claimed
//! again.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::AssertSqlSafe;
use sqlx::types::Json;

use super::db::{On, query};
use crate::domain::clock;
use crate::domain::outbox::{InvalidTask, OutboxTask};
use crate::domain::status::OutboxJobStatus;
use crate::store::rows::{ReadRow, column_names};
use crate::store::{SqlStore, StoreResult};

#[derive(Debug, Clone, PartialEq)]
pub struct NewOutboxJob {
    pub task: OutboxTask,
    /// At most one unfinished (pending or running) job per key; `None` never collides.
    pub dedupe_key: Option<String>,
    pub max_attempts: i64,
    pub run_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutboxJob {
    pub id: i64,
    /// Decoded from the stored kind and payload; a row this version cannot read is kept, so
    /// that the worker fails it instead of stopping.
    pub task: Result<OutboxTask, InvalidTask>,
    pub dedupe_key: Option<String>,
    pub status: OutboxJobStatus,
    pub attempts: i64,
    pub max_attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub result: Option<Json<Value>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl OutboxJob {
    /// The stored kind, known or not.
    pub fn kind(&self) -> &str {
        match &self.task {
            Ok(task) => task.kind(),
            Err(invalid) => &invalid.kind,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct OutboxCounts {
    pub pending: i64,
    pub running: i64,
    pub done: i64,
    pub failed: i64,
}

#[async_trait]
pub trait OutboxStore {
    /// Queues a job; returns its id, or the id of the unfinished job already holding its
    /// dedupe key.
    async fn enqueue_job(&self, job: &NewOutboxJob) -> StoreResult<i64>;

    /// Claims up to `limit` due jobs (pending and due, or running with an expired lease), marks
    /// them running until `lease_until` and counts the attempt.
    async fn claim_jobs(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<OutboxJob>>;

    /// Marks a claimed job done. `attempts` is the claim's attempt number: a worker whose lease
    /// was taken over changes nothing. Returns whether the job was updated.
    async fn complete_job(&self, id: i64, attempts: i64, result: &Value) -> StoreResult<bool>;

    /// Puts a claimed job back to pending until `next_attempt_at`. `refund`: the attempt does not
    /// count (the call never went out: calls were paused or rate-limited).
    async fn retry_job(
        &self,
        id: i64,
        attempts: i64,
        next_attempt_at: DateTime<Utc>,
        error: &str,
        refund: bool,
    ) -> StoreResult<bool>;

    /// Gives a claimed job up.
    async fn fail_job(&self, id: i64, attempts: i64, error: &str) -> StoreResult<bool>;

    async fn get_job(&self, id: i64) -> StoreResult<Option<OutboxJob>>;

    async fn outbox_counts(&self) -> StoreResult<OutboxCounts>;
}

/// Queues a job on a pool or in a transaction; returns its id, or the id of the unfinished job
/// already holding its dedupe key. `None`: that holder finished meanwhile (queue it again).
pub(crate) async fn enqueue_on(on: impl Into<On<'_>>, job: &NewOutboxJob) -> StoreResult<Option<i64>> {
    let mut on = on.into();
    let now = clock::now();
    let payload = job.task.payload();
    let id: Option<(i64,)> = query(
        "INSERT INTO outbox_jobs (kind, payload, dedupe_key, status, attempts, max_attempts, \
           next_attempt_at, created_at, updated_at) \
         VALUES ($1, $2, $3, 'pending', 0, $4, $5, $6, $6) \
         ON CONFLICT (dedupe_key) WHERE status IN ('pending', 'running') DO NOTHING RETURNING id",
    )
    .bind(job.task.kind())
    .bind(&payload)
    .bind(&job.dedupe_key)
    .bind(job.max_attempts)
    .bind(job.run_at)
    .bind(now)
    .fetch_optional(&mut on)
    .await?;
    if let Some((id,)) = id {
        return Ok(Some(id));
    }
    unfinished_job(on, job.dedupe_key.as_deref()).await
}

/// The unfinished (pending or running) job holding `dedupe_key`, if any.
pub(crate) async fn unfinished_job(on: impl Into<On<'_>>, dedupe_key: Option<&str>) -> StoreResult<Option<i64>> {
    let existing: Option<(i64,)> = query(
        "SELECT id FROM outbox_jobs WHERE dedupe_key = $1 AND status IN ('pending', 'running') \
         ORDER BY id DESC LIMIT 1",
    )
    .bind(dedupe_key)
    .fetch_optional(on)
    .await?;
    Ok(existing.map(|(id,)| id))
}

#[async_trait]
impl OutboxStore for SqlStore {
    async fn enqueue_job(&self, job: &NewOutboxJob) -> StoreResult<i64> {
        loop {
            if let Some(id) = enqueue_on(&self.db, job).await? {
                return Ok(id);
            }
        }
    }

    async fn claim_jobs(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<OutboxJob>> {
        let sql = format!(
            "UPDATE outbox_jobs SET status = 'running', attempts = attempts + 1, locked_until = $2, \
               updated_at = $1 \
             WHERE id IN (SELECT id FROM outbox_jobs \
               WHERE (status = 'pending' AND next_attempt_at <= $1) \
                  OR (status = 'running' AND locked_until < $1) \
               ORDER BY next_attempt_at, id LIMIT $3 {}) \
             RETURNING {}",
            self.db.skip_locked(),
            column_names(OutboxJob::COLUMNS)
        );
        let mut jobs: Vec<OutboxJob> =
            query(AssertSqlSafe(sql)).bind(now).bind(lease_until).bind(limit).fetch_all(&self.db).await?;
        jobs.sort_by_key(|j| (j.next_attempt_at, j.id));
        Ok(jobs)
    }

    async fn complete_job(&self, id: i64, attempts: i64, result: &Value) -> StoreResult<bool> {
        let done = query(
            "UPDATE outbox_jobs SET status = 'done', result = $3, last_error = NULL, locked_until = NULL, \
               updated_at = $4, finished_at = $4 \
             WHERE id = $1 AND attempts = $2 AND status = 'running'",
        )
        .bind(id)
        .bind(attempts)
        .bind(result)
        .bind(clock::now())
        .execute(&self.db)
        .await?;
        Ok(done > 0)
    }

    async fn retry_job(
        &self,
        id: i64,
        attempts: i64,
        next_attempt_at: DateTime<Utc>,
        error: &str,
        refund: bool,
    ) -> StoreResult<bool> {
        let done = query(
            "UPDATE outbox_jobs SET status = 'pending', next_attempt_at = $3, last_error = $4, \
               locked_until = NULL, updated_at = $5, attempts = attempts - $6 \
             WHERE id = $1 AND attempts = $2 AND status = 'running'",
        )
        .bind(id)
        .bind(attempts)
        .bind(next_attempt_at)
        .bind(error)
        .bind(clock::now())
        .bind(i64::from(refund))
        .execute(&self.db)
        .await?;
        Ok(done > 0)
    }

    async fn fail_job(&self, id: i64, attempts: i64, error: &str) -> StoreResult<bool> {
        let done = query(
            "UPDATE outbox_jobs SET status = 'failed', last_error = $3, locked_until = NULL, \
               updated_at = $4, finished_at = $4 \
             WHERE id = $1 AND attempts = $2 AND status = 'running'",
        )
        .bind(id)
        .bind(attempts)
        .bind(error)
        .bind(clock::now())
        .execute(&self.db)
        .await?;
        Ok(done > 0)
    }

    async fn get_job(&self, id: i64) -> StoreResult<Option<OutboxJob>> {
        let sql = format!("SELECT {} FROM outbox_jobs WHERE id = $1", column_names(OutboxJob::COLUMNS));
        Ok(query(AssertSqlSafe(sql)).bind(id).fetch_optional(&self.db).await?)
    }

    async fn outbox_counts(&self) -> StoreResult<OutboxCounts> {
        let rows: Vec<(OutboxJobStatus, i64)> =
            query("SELECT status, COUNT(*) FROM outbox_jobs GROUP BY status").fetch_all(&self.db).await?;
        let mut counts = OutboxCounts::default();
        for (status, n) in rows {
            match status {
                OutboxJobStatus::Pending => counts.pending = n,
                OutboxJobStatus::Running => counts.running = n,
                OutboxJobStatus::Done => counts.done = n,
                OutboxJobStatus::Failed => counts.failed = n,
            }
        }
        Ok(counts)
    }
}
