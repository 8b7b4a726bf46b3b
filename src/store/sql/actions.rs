//! The actions that queue work on GitHub for a pipeline (trigger, rollback): the outbox job, its
//! audit entry, the rollback's mark on the run it replaces and the `Idempotency-Key`'s record,
//! written in one transaction: all of them, or none.

use async_trait::async_trait;
use serde_json::Value;
use sqlx::AssertSqlSafe;

use super::db::query;
use super::outbox::{NewOutboxJob, enqueue_on};
use super::pipelines::insert_audit;
use crate::domain::clock;
use crate::domain::idempotency::{StoredAnswer, WINDOW};
use crate::store::rows::{ReadRow, column_names};
use crate::store::{NewAudit, SqlStore, StoreResult};

/// An action to queue.
#[derive(Debug, Clone)]
pub struct NewAction<'a> {
    pub job: NewOutboxJob,
    /// Its audit entry; `job_id` is added to its details.
    pub audit: NewAudit,
    /// A rollback marks the run it replaces.
    pub rollback: Option<RollbackMark<'a>>,
    /// The request's `Idempotency-Key` and fingerprint, recorded with its response.
    pub idempotency: Option<(&'a str, &'a str)>,
}

/// A run replaced by a rollback to an earlier one.
#[derive(Debug, Clone, Copy)]
pub struct RollbackMark<'a> {
    pub execution_id: i64,
    pub reason: &'a str,
    pub previous_execution_id: i64,
}

/// What `queue_action` did.
#[derive(Debug, Clone, PartialEq)]
pub enum ActionQueued {
    /// Queued as this job, answered with this body.
    Queued { job_id: i64, body: Value },
    /// Another request with the same key was recorded first: nothing was written (its answer is
    /// `idempotent_answer`'s).
    KeyTaken,
}

/// The response of an action to a job id.
pub type Respond<'a> = dyn Fn(i64) -> Value + Send + Sync + 'a;

#[async_trait]
pub trait ActionStore {
    /// Queues the action's job, writes its audit entry (and its rollback mark), and records its
    /// key with the response `respond` gives for the job (answered with `status`), in one
    /// transaction.
    async fn queue_action(
        &self,
        action: &NewAction<'_>,
        status: u16,
        respond: &Respond<'_>,
    ) -> StoreResult<ActionQueued>;

    /// The record of an `Idempotency-Key`, if one was stored (expired or not).
    async fn idempotent_answer(&self, key: &str) -> StoreResult<Option<StoredAnswer>>;
}

#[async_trait]
impl ActionStore for SqlStore {
    async fn queue_action(
        &self,
        action: &NewAction<'_>,
        status: u16,
        respond: &Respond<'_>,
    ) -> StoreResult<ActionQueued> {
        let now = clock::now();
        let mut tx = self.db.begin().await?;
        if action.idempotency.is_some() {
            // Records past the window are forgotten, this key's included.
            query("DELETE FROM idempotency_keys WHERE created_at < $1").bind(now - WINDOW).execute(&mut tx).await?;
        }
        let job_id = loop {
            // `None`: the job holding the dedupe key finished meanwhile; queue it again.
            if let Some(id) = enqueue_on(&mut tx, &action.job).await? {
                break id;
            }
        };
        if let Some(mark) = action.rollback {
            query(
                "UPDATE executions SET rolled_back = TRUE, rollback_reason = $2, \
                   rollback_previous_execution_id = $3 WHERE id = $1",
            )
            .bind(mark.execution_id)
            .bind(mark.reason)
            .bind(mark.previous_execution_id)
            .execute(&mut tx)
            .await?;
        }
        let mut audit = action.audit.clone();
        if let Value::Object(details) = &mut audit.details {
            details.insert("job_id".into(), job_id.into());
        }
        insert_audit(&mut tx, &audit).await?;
        let body = respond(job_id);
        if let Some((key, fingerprint)) = action.idempotency {
            let recorded = query(
                "INSERT INTO idempotency_keys (key, fingerprint, status, response, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO NOTHING",
            )
            .bind(key)
            .bind(fingerprint)
            .bind(i64::from(status))
            .bind_json(&body)
            .bind(now)
            .execute(&mut tx)
            .await?;
            if recorded == 0 {
                // Dropped uncommitted: the job, the audit entry and the mark are undone.
                return Ok(ActionQueued::KeyTaken);
            }
        }
        tx.commit().await?;
        Ok(ActionQueued::Queued { job_id, body })
    }

    async fn idempotent_answer(&self, key: &str) -> StoreResult<Option<StoredAnswer>> {
        let sql = format!("SELECT {} FROM idempotency_keys WHERE key = $1", column_names(StoredAnswer::COLUMNS));
        Ok(query(AssertSqlSafe(sql)).bind(key).fetch_optional(&self.db).await?)
    }
}
