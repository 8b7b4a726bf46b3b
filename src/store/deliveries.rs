//! Webhook deliveries: stored before they are acknowledged, processed in the same transaction
//! when possible, retried and parked when not.

use super::rows::{NewDelivery, WrittenRow};
use crate::domain::status::DeliveryStatus;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Effect, Page, StoreResult};

/// Failed deliveries are retried this many times in all, then parked.
pub const MAX_ATTEMPTS: i64 = 5;

/// How a delivery is to be processed, worked out from its body before any I/O.
#[derive(Debug, Clone, PartialEq)]
pub enum Processing {
    /// Apply these effects (possibly none); the delivery becomes `processed`.
    Apply(Vec<Effect>),
    /// An event ccm does not act on; the delivery becomes `ignored`.
    Ignore,
    /// The body could not be understood; the delivery becomes `failed` with this error.
    Fail(String),
}

/// A verified delivery, ready to store.
#[derive(Debug, Clone)]
pub struct IncomingDelivery {
    pub guid: String,
    pub event: String,
    pub action: Option<String>,
    pub installation_id: Option<i64>,
    pub repository: Option<String>,
    pub hook_id: Option<i64>,
    pub received_at: DateTime<Utc>,
    pub headers: Value,
    /// The body, compressed (see `webhook::body`).
    pub body: Vec<u8>,
    pub body_size: i64,
    pub processing: Processing,
}

/// What became of a delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryOutcome {
    pub guid: String,
    pub status: DeliveryStatus,
    /// The GUID was already stored and needed nothing more.
    pub duplicate: bool,
    /// Effects that changed stored state (for live updates).
    pub changed: Vec<Effect>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct DeliverySummary {
    pub guid: String,
    pub event: String,
    pub action: Option<String>,
    pub installation_id: Option<i64>,
    pub repository: Option<String>,
    pub hook_id: Option<i64>,
    pub received_at: DateTime<Utc>,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub processed_at: Option<DateTime<Utc>>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub body_size: i64,
}

/// A stored delivery with its headers and (still compressed) body.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredDelivery {
    #[sqlx(flatten)]
    pub summary: DeliverySummary,
    pub headers: sqlx::types::Json<Value>,
    pub body_encoding: String,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub status: Option<DeliveryStatus>,
    pub event: Option<String>,
    pub repository: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

#[async_trait]
pub trait DeliveryStore {
    /// Stores a batch of deliveries and applies their effects, all in one transaction (one
    /// commit for many deliveries). A GUID stored before is a duplicate unless its processing
    /// had failed, in which case it is processed again.
    /// Shared rather than borrowed: on SQLite the batch crosses to the writer's thread as it is.
    async fn ingest(&self, batch: std::sync::Arc<[IncomingDelivery]>) -> StoreResult<Vec<DeliveryOutcome>>;

    /// Stores a batch as `pending` without processing it (the fallback when `ingest` fails).
    async fn store_pending(&self, batch: &[IncomingDelivery]) -> StoreResult<Vec<DeliveryOutcome>>;

    /// Claims up to `limit` deliveries due for (re)processing: pending ones, and failed ones whose
    /// retry time has come. A claim holds for `lease` (other replicas skip them meanwhile).
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
        limit: i64,
    ) -> StoreResult<Vec<StoredDelivery>>;

    /// Applies `processing` to a stored delivery and records the outcome; a failure past
    /// `MAX_ATTEMPTS` parks it.
    async fn process_stored(&self, guid: &str, processing: &Processing) -> StoreResult<DeliveryOutcome>;

    async fn get_delivery(&self, guid: &str) -> StoreResult<Option<StoredDelivery>>;

    async fn list_deliveries(&self, filter: &DeliveryFilter) -> StoreResult<Page<DeliverySummary>>;
}

/// Seconds to wait before retry number `attempts` (1, 2, ...): 30 s doubling, at most 1 hour.
pub fn retry_delay(attempts: i64) -> chrono::Duration {
    chrono::Duration::seconds((30i64 << (attempts - 1).clamp(0, 7)).min(3600))
}

/// The state a delivery is left in after `processing`, given its attempts so far: its status,
/// its error and when to try again.
pub(crate) fn settle(processing: &Processing, attempts: i64, now: DateTime<Utc>) -> Settled {
    match processing {
        Processing::Apply(_) => (DeliveryStatus::Processed, None, None),
        Processing::Ignore => (DeliveryStatus::Ignored, None, None),
        Processing::Fail(error) if attempts >= MAX_ATTEMPTS => (DeliveryStatus::Parked, Some(error.clone()), None),
        Processing::Fail(error) => (DeliveryStatus::Failed, Some(error.clone()), Some(now + retry_delay(attempts))),
    }
}

/// How a delivery was settled: its status, its error and when to try again (see `settle`).
pub(crate) type Settled = (DeliveryStatus, Option<String>, Option<DateTime<Utc>>);

/// What storing a batch did: which deliveries were stored for the first time (one flag per
/// delivery, in order) and which run attempts were inserted or moved forward.
pub(crate) struct StoredBatch {
    pub is_new: Vec<bool>,
    pub moved: std::collections::HashSet<(i64, i64)>,
    /// The jobs inserted or moved forward.
    pub moved_jobs: std::collections::HashSet<i64>,
}

/// The effects a delivery is to apply (none unless its processing is `Apply`).
pub(crate) fn effects(d: &IncomingDelivery) -> &[Effect] {
    match &d.processing {
        Processing::Apply(effects) => effects,
        _ => &[],
    }
}

/// The runs of the deliveries a batch stored for the first time (`is_new`, one per delivery):
/// they are upserted together, and duplicates apply nothing.
pub(crate) fn new_runs<'a>(batch: &'a [IncomingDelivery], is_new: &[bool]) -> Vec<&'a super::ExecutionRecord> {
    batch
        .iter()
        .zip(is_new)
        .filter(|(_, new)| **new)
        .flat_map(|(d, _)| effects(d))
        .filter_map(|e| match e {
            Effect::Execution(run) => Some(run),
            _ => None,
        })
        .collect()
}

/// The jobs of the deliveries a batch stored for the first time, as `new_runs`.
pub(crate) fn new_jobs<'a>(batch: &'a [IncomingDelivery], is_new: &[bool]) -> Vec<&'a super::JobRecord> {
    batch
        .iter()
        .zip(is_new)
        .filter(|(_, new)| **new)
        .flat_map(|(d, _)| effects(d))
        .filter_map(|e| match e {
            Effect::Job(job) => Some(job),
            _ => None,
        })
        .collect()
}

/// Stores `rows` deliveries in one statement, returning the GUIDs that were not stored before.
/// Binds each row's `NewDelivery::cells`.
pub(crate) fn insert_deliveries_sql(rows: usize) -> String {
    format!(
        "INSERT INTO deliveries ({}) VALUES {} ON CONFLICT (guid) DO NOTHING RETURNING guid",
        super::rows::column_names(NewDelivery::COLUMNS),
        super::chunks::values_placeholders(rows, NewDelivery::COLUMNS.len())
    )
}

/// A stored delivery's status and attempts so far.
pub(crate) const DELIVERY_STATE_SQL: &str = "SELECT status, attempts FROM deliveries WHERE guid = $1";

/// Records a stored delivery's new outcome: guid, status, attempts, last_error, processed_at,
/// next_attempt_at.
pub(crate) const RECORD_OUTCOME_SQL: &str = "UPDATE deliveries SET status = $2, attempts = $3, last_error = $4, \
     processed_at = $5, next_attempt_at = $6 WHERE guid = $1";

macro_rules! delivery_sql {
    ($store:ident, $db:ty, $skip_locked:literal) => {
        use chrono::{DateTime, Utc};
        use sqlx::AssertSqlSafe;
        use $crate::store::deliveries::*;
        use $crate::store::rows::{NewDelivery, WrittenRow};
        use $crate::store::*;

        type Conn = <$db as sqlx::Database>::Connection;

        const SUMMARY_COLUMNS: &str = "guid, event, action, installation_id, repository, hook_id, received_at, \
             status, attempts, last_error, processed_at, next_attempt_at, body_size";

        /// Applies effects, returning those that changed something.
        async fn apply(conn: &mut Conn, effects: &[Effect]) -> StoreResult<Vec<Effect>> {
            let mut changed = Vec::new();
            for effect in effects {
                let did_change = match effect {
                    Effect::Execution(e) => super::pipelines::upsert_execution(conn, e).await?,
                    Effect::Job(j) => super::pipelines::upsert_job(conn, j).await?,
                    Effect::Installation(i) => {
                        super::installations::apply_change(conn, i).await?;
                        true
                    }
                    Effect::Issue(c) => super::tasks::apply_issue_change(conn, c, false).await?.changed,
                    Effect::PullRequest(p) => super::tasks::apply_pull_request(conn, p).await?,
                    Effect::Push(p) => super::tasks::record_push(conn, p).await?,
                };
                if did_change {
                    changed.push(effect.clone());
                }
            }
            Ok(changed)
        }

        async fn insert(conn: &mut Conn, row: &NewDelivery<'_>) -> StoreResult<bool> {
            let args = $crate::store::rows::arguments::<$db>([row.cells($crate::domain::clock::now())])?;
            let inserted: Option<String> = sqlx::query_scalar_with(AssertSqlSafe(insert_deliveries_sql(1)), args)
            .fetch_optional(&mut *conn)
            .await?;
            Ok(inserted.is_some())
        }

        /// Processes an already stored delivery whose processing failed before (a redelivery
        /// or a retry), recording the new outcome.
        async fn reprocess(conn: &mut Conn, guid: &str, attempts: i64, processing: &Processing) -> StoreResult<DeliveryOutcome> {
            let now = $crate::domain::clock::now();
            let changed = match processing {
                Processing::Apply(effects) => apply(conn, effects).await?,
                _ => Vec::new(),
            };
            let attempts = attempts + 1;
            let (status, error, next) = settle(processing, attempts, now);
            sqlx::query(RECORD_OUTCOME_SQL)
            .bind(guid)
            .bind(status)
            .bind(attempts)
            .bind(&error)
            .bind(now)
            .bind(next)
            .execute(&mut *conn)
            .await?;
            Ok(DeliveryOutcome { guid: guid.to_string(), status: status.into(), duplicate: false, changed })
        }

        /// Stores deliveries with multi-row INSERTs (see `chunks`); returns the GUIDs that were
        /// not stored before.
        async fn insert_many(
            conn: &mut Conn,
            batch: &[IncomingDelivery],
            settled: &[Settled],
            now: DateTime<Utc>,
        ) -> StoreResult<std::collections::HashSet<String>> {
            let rows: Vec<_> = batch.iter().zip(settled).collect();
            let mut inserted = std::collections::HashSet::new();
            for chunk in $crate::store::chunks::statement_chunks::<$db, _>(&rows) {
                inserted.extend(insert_chunk(conn, chunk, now).await?);
            }
            Ok(inserted)
        }

        async fn insert_chunk(
            conn: &mut Conn,
            batch: &[(&IncomingDelivery, &Settled)],
            now: DateTime<Utc>,
        ) -> StoreResult<Vec<String>> {
            let rows: Vec<NewDelivery> = batch.iter().map(|(d, settled)| NewDelivery::settled(d, settled, now)).collect();
            let args = $crate::store::rows::arguments::<$db>(rows.iter().map(|row| row.cells(now)))?;
            let sql = AssertSqlSafe(insert_deliveries_sql(batch.len()));
            Ok(sqlx::query_scalar_with::<_, String, _>(sql, args).fetch_all(&mut *conn).await?)
        }

        /// Stores a batch's deliveries in `tx` with multi-row INSERTs and upserts the runs and
        /// jobs of the new ones, each merged into its latest record, runs before jobs.
        async fn store_in(
            tx: &mut Conn,
            batch: &[IncomingDelivery],
            settled: &[Settled],
            now: DateTime<Utc>,
        ) -> StoreResult<StoredBatch> {
            let mut inserted = insert_many(tx, batch, settled, now).await?;
            let is_new: Vec<bool> = batch.iter().map(|d| inserted.remove(&d.guid)).collect();
            let runs = new_runs(batch, &is_new);
            let moved = super::pipelines::upsert_executions(tx, &runs).await?.into_iter().collect();
            let mut moved_jobs = std::collections::HashSet::new();
            for job in $crate::store::pipelines::latest_jobs(&new_jobs(batch, &is_new)) {
                if super::pipelines::upsert_job(tx, job).await? {
                    moved_jobs.insert(job.job_id);
                }
            }
            Ok(StoredBatch { is_new, moved, moved_jobs })
        }

        /// The transaction of a batch, begun when first needed.
        async fn open<'t>(
            pool: &sqlx::Pool<$db>,
            tx: &'t mut Option<sqlx::Transaction<'static, $db>>,
        ) -> StoreResult<&'t mut Conn> {
            let tx = match tx.take() {
                Some(open) => tx.insert(open),
                None => tx.insert(pool.begin().await?),
            };
            Ok(&mut **tx)
        }

        async fn existing_state(conn: &mut Conn, guid: &str) -> StoreResult<($crate::domain::status::DeliveryStatus, i64)> {
            Ok(sqlx::query_as(DELIVERY_STATE_SQL)
                .bind(guid)
                .fetch_one(&mut *conn)
                .await?)
        }

        #[async_trait::async_trait]
        impl DeliveryStore for $store {
            async fn ingest(&self, batch: std::sync::Arc<[IncomingDelivery]>) -> StoreResult<Vec<DeliveryOutcome>> {
                if let Some(writer) = self.batch_writer()
                    && $crate::store::sqlite_writes::SqliteWriter::takes(&batch)
                {
                    return writer.ingest(batch).await;
                }
                let batch = &batch[..];
                let now = $crate::domain::clock::now();
                let settled: Vec<Settled> = batch.iter().map(|d| settle(&d.processing, 1, now)).collect();
                // PostgreSQL stores a batch of runs in one statement, committed on its own; any
                // other batch is stored and applied in a transaction.
                let (StoredBatch { is_new, moved, moved_jobs }, mut tx) = match self.store_at_once(batch, &settled, now).await? {
                    Some(stored) => (stored, None),
                    None => {
                        let mut tx = self.pool.begin().await?;
                        let stored = store_in(&mut tx, batch, &settled, now).await?;
                        (stored, Some(tx))
                    }
                };
                let applied = $crate::store::pipelines::applied_records(&new_runs(batch, &is_new), &moved);
                let applied_jobs = $crate::store::pipelines::applied_jobs(&new_jobs(batch, &is_new), &moved_jobs);
                let mut outcomes = Vec::with_capacity(batch.len());
                for ((d, new), (status, _, _)) in batch.iter().zip(is_new).zip(&settled) {
                    if new {
                        let mut changed = Vec::new();
                        for effect in effects(d) {
                            match effect {
                                Effect::Execution(run) => {
                                    if applied.contains(&$crate::store::pipelines::record_address(run)) {
                                        changed.push(effect.clone());
                                    }
                                }
                                Effect::Job(job) => {
                                    if applied_jobs.contains(&$crate::store::pipelines::job_address(job)) {
                                        changed.push(effect.clone());
                                    }
                                }
                                other => {
                                    let conn = open(&self.pool, &mut tx).await?;
                                    changed.extend(apply(conn, std::slice::from_ref(other)).await?)
                                }
                            }
                        }
                        outcomes.push(DeliveryOutcome { guid: d.guid.clone(), status: (*status).into(), duplicate: false, changed });
                        continue;
                    }
                    let conn = open(&self.pool, &mut tx).await?;
                    let (stored_status, attempts) = existing_state(conn, &d.guid).await?;
                    if matches!(stored_status, $crate::domain::status::DeliveryStatus::Failed | $crate::domain::status::DeliveryStatus::Parked) {
                        outcomes.push(reprocess(conn, &d.guid, attempts, &d.processing).await?);
                    } else {
                        outcomes.push(DeliveryOutcome { guid: d.guid.clone(), status: stored_status, duplicate: true, changed: Vec::new() });
                    }
                }
                if let Some(tx) = tx {
                    tx.commit().await?;
                }
                Ok(outcomes)
            }

            async fn store_pending(&self, batch: &[IncomingDelivery]) -> StoreResult<Vec<DeliveryOutcome>> {
                let now = $crate::domain::clock::now();
                let mut tx = self.pool.begin().await?;
                let mut outcomes = Vec::with_capacity(batch.len());
                for d in batch {
                    let inserted = insert(&mut tx, &NewDelivery {
                        delivery: d,
                        status: $crate::domain::status::DeliveryStatus::Pending,
                        attempts: 0,
                        last_error: None,
                        processed_at: None,
                        next_attempt_at: Some(now),
                    }).await?;
                    let status = if inserted { $crate::domain::status::DeliveryStatus::Pending } else { existing_state(&mut tx, &d.guid).await?.0 };
                    outcomes.push(DeliveryOutcome { guid: d.guid.clone(), status, duplicate: !inserted, changed: Vec::new() });
                }
                tx.commit().await?;
                Ok(outcomes)
            }

            async fn claim_due(&self, now: DateTime<Utc>, lease: chrono::Duration, limit: i64) -> StoreResult<Vec<StoredDelivery>> {
                let sql = format!(
                    "UPDATE deliveries SET next_attempt_at = $2 WHERE id IN ( \
                       SELECT id FROM deliveries WHERE status IN ('pending', 'failed') AND next_attempt_at <= $1 \
                       ORDER BY next_attempt_at LIMIT $3 {}) \
                     RETURNING {SUMMARY_COLUMNS}, headers, body_encoding, body",
                    $skip_locked
                );
                Ok(sqlx::query_as(AssertSqlSafe(sql))
                    .bind(now)
                    .bind(now + lease)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn process_stored(&self, guid: &str, processing: &Processing) -> StoreResult<DeliveryOutcome> {
                let mut tx = self.pool.begin().await?;
                let (_, attempts) = existing_state(&mut tx, guid).await?;
                let outcome = reprocess(&mut tx, guid, attempts, processing).await?;
                tx.commit().await?;
                Ok(outcome)
            }

            async fn get_delivery(&self, guid: &str) -> StoreResult<Option<StoredDelivery>> {
                let sql = format!("SELECT {SUMMARY_COLUMNS}, headers, body_encoding, body FROM deliveries WHERE guid = $1");
                Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(guid).fetch_optional(&self.pool).await?)
            }

            async fn list_deliveries(&self, f: &DeliveryFilter) -> StoreResult<Page<DeliverySummary>> {
                let repo_key = f.repository.as_ref().map(|r| r.to_lowercase());
                let filters = $crate::store::filters::Filters::new(&[
                    ("status", f.status.map(|s| s.as_str())),
                    ("event", f.event.as_deref()),
                    ("repo_key", repo_key.as_deref()),
                ]);
                Ok($crate::store::filters::filtered_page!(
                    &self.pool,
                    "deliveries",
                    SUMMARY_COLUMNS,
                    "received_at DESC, id DESC",
                    filters,
                    f.limit,
                    f.offset,
                ))
            }
        }
    };
}

pub(crate) use delivery_sql;
