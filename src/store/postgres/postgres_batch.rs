//! PostgreSQL: a batch of deliveries whose effects are only runs and jobs, stored and applied by one
//! statement in an implicit transaction. One round trip, where BEGIN, the deliveries' insert, the
//! runs' upsert and COMMIT took four, each waking ccm and a backend in turn on a busy machine.
//! The batch travels as arrays, so the statement's text is the same for every batch size and is
//! prepared once per connection.

use std::collections::HashSet;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::error::BoxDynError;
use sqlx::postgres::PgArguments;

use crate::store::rows::{Cell, Column, NewDelivery, PgArrays, SqlType, WrittenRow, column, column_names, pg_unnest};
use crate::store::sql::deliveries::{IncomingDelivery, Settled, StoredBatch, effects};
use crate::store::sql::pipelines::{EXECUTION_CONFLICT, JOB_CONFLICT};
use crate::store::{Effect, ExecutionRecord, JobRecord, StoreResult};

/// The batches of deliveries PostgreSQL stores in one statement (see the module's comment).
pub(crate) struct OneStatementBatch {
    pool: PgPool,
}

impl OneStatementBatch {
    pub(crate) fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Whether `store` can take this batch: every effect in it is a run or a job.
    pub(crate) fn takes(&self, batch: &[IncomingDelivery]) -> bool {
        batch.iter().flat_map(effects).all(|e| matches!(e, Effect::Execution(_) | Effect::Job(_)))
    }

    /// Stores a batch that `takes` accepts, settled as `settled` says (one per delivery), and
    /// applies the runs and jobs of its new deliveries. Committed when it returns.
    pub(crate) async fn store(
        &self,
        batch: &[IncomingDelivery],
        settled: &[Settled],
        now: DateTime<Utc>,
    ) -> StoreResult<StoredBatch> {
        let mut args = PgArguments::default();
        // Room for the whole batch at once: the bodies dominate it, and each time the buffer
        // grows it copies them again.
        let size: usize = batch.iter().map(|d| d.body.len() + d.headers.get().len() + 1024).sum();
        sqlx::Arguments::reserve(&mut args, 3 * (NewDelivery::COLUMNS.len() + 24), size);
        arrays(batch, settled, now, &mut args).map_err(sqlx::Error::Encode)?;
        let query = sqlx::query_as_with::<_, (i32, Option<String>, Option<i64>, Option<i64>), _>(SQL.as_str(), args);
        let (mut inserted, mut moved, mut moved_jobs) = (HashSet::new(), HashSet::new(), HashSet::new());
        for row in query.fetch_all(&self.pool).await? {
            match row {
                (0, Some(guid), _, _) => {
                    inserted.insert(guid);
                }
                (1, _, Some(run_id), Some(run_attempt)) => {
                    moved.insert((run_id, run_attempt));
                }
                (2, _, Some(job_id), _) => {
                    moved_jobs.insert(job_id);
                }
                _ => {}
            }
        }
        let is_new = batch.iter().map(|d| inserted.remove(&d.guid)).collect();
        Ok(StoredBatch { is_new, moved, moved_jobs })
    }
}

/// The deliveries are inserted (a GUID stored before is skipped). The runs of the new ones are
/// merged per attempt into the most advanced record, as `pipelines::latest_attempts` does in
/// Rust (state rank, then `updated_at`, then the first in the batch), and upserted in the lock
/// order of every writer: by hour, then run. Their jobs likewise, per job (`latest_jobs`), in
/// job order. Each row returned is a new delivery (kind 0, its GUID), a run attempt that moved
/// (1, run and attempt) or a job that moved (2, job).
///
/// Every table travels as one array per column of its row (`rows`), runs and jobs with their
/// delivery's GUID and their position in the batch first (`BATCH_KEYS`).
static SQL: LazyLock<String> = LazyLock::new(|| {
    let deliveries = NewDelivery::COLUMNS;
    let (runs, jobs) = (with_batch_keys(ExecutionRecord::COLUMNS), with_batch_keys(JobRecord::COLUMNS));
    let (run_names, job_names) = (column_names(ExecutionRecord::COLUMNS), column_names(JobRecord::COLUMNS));
    format!(
        "WITH d AS (SELECT * FROM {}), \
         ins AS ( \
           INSERT INTO deliveries ({delivery_names}) SELECT {delivery_names} FROM d \
           ON CONFLICT (guid) DO NOTHING RETURNING guid), \
         r AS (SELECT * FROM {}), \
         latest AS ( \
           SELECT DISTINCT ON (run_id, run_attempt) * FROM r WHERE guid IN (SELECT guid FROM ins) \
           ORDER BY run_id, run_attempt, status_rank DESC, updated_at DESC, ord), \
         up AS ( \
           INSERT INTO executions ({run_names}) SELECT {run_names} FROM latest \
           ORDER BY date_trunc('hour', started_at, 'UTC'), run_id, run_attempt \
           {EXECUTION_CONFLICT} RETURNING run_id, run_attempt), \
         j AS (SELECT * FROM {}), \
         latest_jobs AS ( \
           SELECT DISTINCT ON (job_id) * FROM j WHERE guid IN (SELECT guid FROM ins) \
           ORDER BY job_id, status_rank DESC, updated_at DESC, ord), \
         upj AS ( \
           INSERT INTO jobs ({job_names}) SELECT {job_names} FROM latest_jobs ORDER BY job_id \
           {JOB_CONFLICT} RETURNING job_id) \
         SELECT 0 AS kind, guid, NULL::int8 AS a, NULL::int8 AS b FROM ins \
         UNION ALL SELECT 1, NULL, run_id, run_attempt FROM up \
         UNION ALL SELECT 2, NULL, job_id, NULL FROM upj",
        pg_unnest(deliveries, 1, "d"),
        pg_unnest(&runs, 1 + deliveries.len(), "r"),
        pg_unnest(&jobs, 1 + deliveries.len() + runs.len(), "j"),
        delivery_names = column_names(deliveries),
    )
});

/// What a run or job carries in a batch before its row: its delivery's GUID and its position.
const BATCH_KEYS: [Column; 2] = [column("guid", SqlType::Text), column("ord", SqlType::Int)];

fn with_batch_keys(columns: &[Column]) -> Vec<Column> {
    BATCH_KEYS.iter().chain(columns).copied().collect()
}

/// The batch's deliveries, runs and jobs as `SQL` binds them.
fn arrays(
    batch: &[IncomingDelivery],
    settled: &[Settled],
    now: DateTime<Utc>,
    args: &mut PgArguments,
) -> Result<(), BoxDynError> {
    let rows: Vec<NewDelivery> = batch.iter().zip(settled).map(|(d, s)| NewDelivery::settled(d, s, now)).collect();
    let mut deliveries = PgArrays::new(NewDelivery::COLUMNS);
    for row in &rows {
        deliveries.push(row.cells(now))?;
    }
    let mut runs = PgArrays::new(&with_batch_keys(ExecutionRecord::COLUMNS));
    let mut jobs = PgArrays::new(&with_batch_keys(JobRecord::COLUMNS));
    let (mut run_ord, mut job_ord) = (0, 0);
    for (guid, effect) in first_copies(batch) {
        let (arrays, ord, cells) = match effect {
            Effect::Execution(run) => (&mut runs, &mut run_ord, run.cells(now)),
            Effect::Job(job) => (&mut jobs, &mut job_ord, job.cells(now)),
            _ => continue,
        };
        arrays.push([Cell::from(guid), Cell::from(*ord)].into_iter().chain(cells))?;
        *ord += 1;
    }
    deliveries.add_to(args)?;
    runs.add_to(args)?;
    jobs.add_to(args)
}

/// The effects of each GUID's first copy in a batch, with the GUID (a second copy is a
/// duplicate and brings nothing).
fn first_copies(batch: &[IncomingDelivery]) -> impl Iterator<Item = (&str, &Effect)> {
    let mut seen = HashSet::new();
    batch
        .iter()
        .filter(move |d| seen.insert(d.guid.as_str()))
        .flat_map(|d| effects(d).iter().map(|e| (d.guid.as_str(), e)))
}
