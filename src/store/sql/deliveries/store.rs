//! `DeliveryStore` on either database: batches stored and applied in one transaction (or by a
//! fast path: SQLite's writer thread, PostgreSQL's one statement), retries and listings.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;

use super::*;
use crate::domain::clock;
use crate::store::rows::{NewDelivery, ReadRow, WrittenRow, column_names};
use crate::store::sql::chunks::statement_chunks;
use crate::store::sql::db::{Db, On, Tx, query};
use crate::store::sql::filters::Filters;
use crate::store::sql::{deployments, installations, pipelines, tasks};
use crate::store::sqlite::sqlite_writes::SqliteWriter;
use crate::store::{Backend, SqlStore, StoreError, StoreResult};

/// Applies effects, returning those that changed something.
async fn apply(on: &mut On<'_>, effects: &[Effect]) -> StoreResult<Vec<Effect>> {
    let mut changed = Vec::new();
    for effect in effects {
        let did_change = match effect {
            Effect::Execution(e) => pipelines::upsert_execution(&mut *on, e).await?,
            Effect::Job(j) => pipelines::upsert_job(&mut *on, j).await?,
            Effect::Installation(i) => {
                installations::apply_change(on, i).await?;
                true
            }
            Effect::Issue(c) => tasks::apply_issue_change(on, c, false).await?.changed,
            Effect::PullRequest(p) => tasks::apply_pull_request(on, p).await?,
            Effect::Push(p) => tasks::record_push(&mut *on, p).await?,
            Effect::Deployment(d, status) => deployments::apply_deployment(on, d, status.as_ref()).await?,
        };
        if did_change {
            changed.push(effect.clone());
        }
    }
    Ok(changed)
}

/// Whether an error leaves the transaction usable: any but the connection's own failures (it
/// is gone, or the pool is).
fn transaction_survives(err: &StoreError) -> bool {
    !matches!(
        err,
        StoreError::Database(
            sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::Protocol(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed
        )
    )
}

/// Applies one delivery's effects inside a savepoint. A database error in them (a constraint
/// their change breaks, a statement past its timeout) undoes them alone and is returned as the
/// delivery's failure, so that the rest of the transaction (the batch) goes on.
async fn apply_isolated(on: &mut On<'_>, effects: &[Effect]) -> StoreResult<Result<Vec<Effect>, String>> {
    if effects.is_empty() {
        return Ok(Ok(Vec::new()));
    }
    query("SAVEPOINT delivery_effects").execute(&mut *on).await?;
    match apply(on, effects).await {
        Ok(changed) => {
            query("RELEASE SAVEPOINT delivery_effects").execute(&mut *on).await?;
            Ok(Ok(changed))
        }
        Err(err) if transaction_survives(&err) => {
            query("ROLLBACK TO SAVEPOINT delivery_effects").execute(&mut *on).await?;
            query("RELEASE SAVEPOINT delivery_effects").execute(&mut *on).await?;
            Ok(Err(format!("database error while applying the delivery: {err}")))
        }
        Err(err) => Err(err),
    }
}

async fn record_outcome(on: impl Into<On<'_>>, guid: &str, attempts: i64, settled: &Settled) -> StoreResult<()> {
    let (status, error, next) = settled;
    query(RECORD_OUTCOME_SQL)
        .bind(guid)
        .bind(status.as_str())
        .bind(attempts)
        .bind(error.as_deref())
        .bind(clock::now())
        .bind(*next)
        .execute(on)
        .await?;
    Ok(())
}

async fn insert(on: impl Into<On<'_>>, row: &NewDelivery<'_>) -> StoreResult<bool> {
    let inserted: Option<(String,)> =
        query(AssertSqlSafe(insert_deliveries_sql(1))).bind_all(row.cells(clock::now())).fetch_optional(on).await?;
    Ok(inserted.is_some())
}

/// Processes an already stored delivery whose processing failed before (a redelivery or a
/// retry), recording the new outcome.
async fn reprocess(
    on: &mut On<'_>,
    guid: &str,
    attempts: i64,
    processing: &Processing,
) -> StoreResult<DeliveryOutcome> {
    let now = clock::now();
    let attempts = attempts + 1;
    let (changed, settled) = match processing {
        Processing::Apply(effects) => match apply_isolated(on, effects).await? {
            Ok(changed) => (changed, settle(processing, attempts, now)),
            Err(error) => (Vec::new(), settle(&Processing::Fail(error), attempts, now)),
        },
        _ => (Vec::new(), settle(processing, attempts, now)),
    };
    record_outcome(on, guid, attempts, &settled).await?;
    Ok(DeliveryOutcome { guid: guid.to_string(), status: settled.0, duplicate: false, changed })
}

/// Stores deliveries with multi-row INSERTs (see `chunks`); returns the GUIDs that were not
/// stored before.
async fn insert_many(
    on: &mut On<'_>,
    batch: &[IncomingDelivery],
    settled: &[Settled],
    now: DateTime<Utc>,
) -> StoreResult<HashSet<String>> {
    let rows: Vec<NewDelivery> = batch.iter().zip(settled).map(|(d, s)| NewDelivery::settled(d, s, now)).collect();
    let mut inserted = HashSet::new();
    for chunk in statement_chunks(on.backend(), &rows) {
        let guids: Vec<(String,)> = query(AssertSqlSafe(insert_deliveries_sql(chunk.len())))
            .bind_all(chunk.iter().flat_map(|row| row.cells(now)))
            .fetch_all(&mut *on)
            .await?;
        inserted.extend(guids.into_iter().map(|(guid,)| guid));
    }
    Ok(inserted)
}

/// Stores a batch's deliveries with multi-row INSERTs and upserts the runs and jobs of the new
/// ones, each merged into its latest record, runs before jobs.
async fn store_in(
    on: &mut On<'_>,
    batch: &[IncomingDelivery],
    settled: &[Settled],
    now: DateTime<Utc>,
) -> StoreResult<StoredBatch> {
    let mut inserted = insert_many(on, batch, settled, now).await?;
    let is_new: Vec<bool> = batch.iter().map(|d| inserted.remove(&d.guid)).collect();
    let runs = new_runs(batch, &is_new);
    let moved = pipelines::upsert_executions(on, &runs).await?.into_iter().collect();
    let mut moved_jobs = HashSet::new();
    for job in pipelines::latest_jobs(&new_jobs(batch, &is_new)) {
        if pipelines::upsert_job(&mut *on, job).await? {
            moved_jobs.insert(job.job_id);
        }
    }
    Ok(StoredBatch { is_new, moved, moved_jobs })
}

/// The transaction of a batch, begun when first needed.
async fn open<'t>(db: &Db, tx: &'t mut Option<Tx>) -> StoreResult<&'t mut Tx> {
    Ok(match tx.take() {
        Some(open) => tx.insert(open),
        None => tx.insert(db.begin().await?),
    })
}

/// A stored delivery's status and attempts, its row locked until the transaction ends on
/// PostgreSQL (SQLite's transactions hold the write lock already): two processings of one
/// delivery at once each count their attempt.
async fn locked_state(on: impl Into<On<'_>>, guid: &str) -> StoreResult<Option<(DeliveryStatus, i64)>> {
    let on = on.into();
    let sql = match on.backend() {
        Backend::Sqlite => DELIVERY_STATE_SQL.to_string(),
        Backend::Postgres => format!("{DELIVERY_STATE_SQL} FOR UPDATE"),
    };
    Ok(query(AssertSqlSafe(sql)).bind(guid).fetch_optional(on).await?)
}

async fn existing_state(on: impl Into<On<'_>>, guid: &str) -> StoreResult<(DeliveryStatus, i64)> {
    locked_state(on, guid).await?.ok_or_else(|| StoreError::Database(sqlx::Error::RowNotFound))
}

#[async_trait]
impl DeliveryStore for SqlStore {
    async fn ingest(&self, batch: Arc<[IncomingDelivery]>) -> StoreResult<Vec<DeliveryOutcome>> {
        if let Some(writer) = &self.fast.batch_writer
            && SqliteWriter::takes(&batch)
        {
            return writer.ingest(batch).await;
        }
        let batch = &batch[..];
        let now = clock::now();
        let settled: Vec<Settled> = batch.iter().map(|d| settle(&d.processing, 1, now)).collect();
        // PostgreSQL stores a batch of runs in one statement, committed on its own; any other
        // batch is stored and applied in a transaction.
        let at_once = self.fast.one_statement_batch.as_ref().filter(|fast| fast.takes(batch));
        let (StoredBatch { is_new, moved, moved_jobs }, mut tx) = match at_once {
            Some(fast) => (fast.store(batch, &settled, now).await?, None),
            None => {
                let mut tx = self.db.begin().await?;
                let stored = store_in(&mut tx.on(), batch, &settled, now).await?;
                (stored, Some(tx))
            }
        };
        let applied = pipelines::applied_records(&new_runs(batch, &is_new), &moved);
        let applied_jobs = pipelines::applied_jobs(&new_jobs(batch, &is_new), &moved_jobs);
        let mut outcomes = Vec::with_capacity(batch.len());
        for ((d, new), (status, _, _)) in batch.iter().zip(is_new).zip(&settled) {
            if new {
                let mut changed = Vec::new();
                let mut others = Vec::new();
                for effect in effects(d) {
                    match effect {
                        Effect::Execution(run) => {
                            if applied.contains(&pipelines::record_address(run)) {
                                changed.push(effect.clone());
                            }
                        }
                        Effect::Job(job) => {
                            if applied_jobs.contains(&pipelines::job_address(job)) {
                                changed.push(effect.clone());
                            }
                        }
                        other => others.push(other.clone()),
                    }
                }
                let mut status = *status;
                if !others.is_empty() {
                    let mut on = open(&self.db, &mut tx).await?.on();
                    match apply_isolated(&mut on, &others).await? {
                        Ok(applied) => changed.extend(applied),
                        // Its effects are undone; it is a failed delivery of the batch, which goes on.
                        Err(error) => {
                            let failed = settle(&Processing::Fail(error), 1, now);
                            record_outcome(&mut on, &d.guid, 1, &failed).await?;
                            status = failed.0;
                        }
                    }
                }
                outcomes.push(DeliveryOutcome { guid: d.guid.clone(), status, duplicate: false, changed });
                continue;
            }
            let mut on = open(&self.db, &mut tx).await?.on();
            let (stored_status, attempts) = existing_state(&mut on, &d.guid).await?;
            if matches!(stored_status, DeliveryStatus::Failed | DeliveryStatus::Parked) {
                outcomes.push(reprocess(&mut on, &d.guid, attempts, &d.processing).await?);
            } else {
                outcomes.push(DeliveryOutcome {
                    guid: d.guid.clone(),
                    status: stored_status,
                    duplicate: true,
                    changed: Vec::new(),
                });
            }
        }
        if let Some(tx) = tx {
            tx.commit().await?;
        }
        Ok(outcomes)
    }

    async fn store_pending(&self, batch: &[IncomingDelivery]) -> StoreResult<Vec<DeliveryOutcome>> {
        let now = clock::now();
        let mut tx = self.db.begin().await?;
        let mut outcomes = Vec::with_capacity(batch.len());
        for d in batch {
            let row = NewDelivery {
                delivery: d,
                status: DeliveryStatus::Pending,
                attempts: 0,
                last_error: None,
                processed_at: None,
                next_attempt_at: Some(now),
            };
            let inserted = insert(&mut tx, &row).await?;
            let status = if inserted { DeliveryStatus::Pending } else { existing_state(&mut tx, &d.guid).await?.0 };
            outcomes.push(DeliveryOutcome { guid: d.guid.clone(), status, duplicate: !inserted, changed: Vec::new() });
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
        limit: i64,
    ) -> StoreResult<Vec<StoredDelivery>> {
        let sql = format!(
            "UPDATE deliveries SET next_attempt_at = $2 WHERE id IN ( \
               SELECT id FROM deliveries WHERE status IN ('pending', 'failed') AND next_attempt_at <= $1 \
               ORDER BY next_attempt_at LIMIT $3 {}) \
             RETURNING {}",
            self.db.skip_locked(),
            column_names(StoredDelivery::COLUMNS)
        );
        Ok(query(AssertSqlSafe(sql)).bind(now).bind(now + lease).bind(limit).fetch_all(&self.db).await?)
    }

    async fn process_stored(&self, guid: &str, processing: &Processing) -> StoreResult<DeliveryOutcome> {
        let mut tx = self.db.begin().await?;
        let mut on = tx.on();
        let (_, attempts) = existing_state(&mut on, guid).await?;
        let outcome = reprocess(&mut on, guid, attempts, processing).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    async fn count_failed_attempt(&self, guid: &str, error: &str) -> StoreResult<Option<DeliveryStatus>> {
        let mut tx = self.db.begin().await?;
        let state = locked_state(&mut tx, guid).await?;
        let Some((DeliveryStatus::Pending | DeliveryStatus::Failed, attempts)) = state else {
            return Ok(None);
        };
        let attempts = attempts + 1;
        let settled = settle(&Processing::Fail(error.to_string()), attempts, clock::now());
        record_outcome(&mut tx, guid, attempts, &settled).await?;
        tx.commit().await?;
        Ok(Some(settled.0))
    }

    async fn get_delivery(&self, guid: &str) -> StoreResult<Option<StoredDelivery>> {
        let sql = format!("SELECT {} FROM deliveries WHERE guid = $1", column_names(StoredDelivery::COLUMNS));
        Ok(query(AssertSqlSafe(sql)).bind(guid).fetch_optional(&self.db).await?)
    }

    async fn list_deliveries(&self, f: &DeliveryFilter) -> StoreResult<Page<DeliverySummary>> {
        let repo_key = f.repository.as_ref().map(|r| r.to_lowercase());
        let filters = Filters::new(&[
            ("status", f.status.map(|s| s.as_str())),
            ("event", f.event.as_deref()),
            ("repo_key", repo_key.as_deref()),
        ]);
        filters.page(&self.db, "deliveries", "received_at DESC, id DESC", f.limit, f.offset).await
    }
}
