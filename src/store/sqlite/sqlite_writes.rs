//! Batches of webhook deliveries on SQLite, written on one thread of their own through the C API.
//!
//! Through sqlx, a batch crossed to its connection's thread and back once per statement (begin,
//! each multi-row insert, the runs' upsert, commit), and each crossing waited for a core busy
//! with parsing the next requests: a batch of 27 deliveries took 9.5 ms, of which the SQL and the
//! fsync took 2.4. Here the whole transaction is one hand-off. SQLite has one writer at a time
//! anyway; other writes (the API's, the retries') still go through the pool and take turns with
//! this connection through SQLite's lock and busy timeout.
//!
//! The writer never copies the WAL back into the database file itself (a checkpoint, which
//! SQLite otherwise runs inside whichever commit crosses 1,000 pages of WAL, and which fsyncs the
//! database file): a thread of its own does that every `CHECKPOINT_EVERY`, beside the writer, so
//! no batch waits for it.
//!
//! Only batches whose effects are runs and jobs come here: that is what a busy repository sends.
//! The rest (issues, installations, pull requests, pushes) take the pool's path, which applies
//! every kind of effect. The SQL is the same text either way (`sql/deliveries/`, `sql/pipelines/`).

use crate::store::rows::{NewDelivery, WrittenRow, sqlite_time, sqlite_values};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use rusqlite::{Connection, OpenFlags, TransactionBehavior, params_from_iter};
use tokio::sync::oneshot;

use super::sqlite_reads::positional;
use crate::domain::status::DeliveryStatus;
use crate::store::sql::chunks::power_of_two_chunks;
use crate::store::sql::deliveries::{
    DELIVERY_STATE_SQL, DeliveryOutcome, IncomingDelivery, Processing, RECORD_OUTCOME_SQL, effects,
    insert_deliveries_sql, new_jobs, new_runs, settle,
};
use crate::store::sql::pipelines::{
    UPSERT_JOB_SQL, applied_jobs, applied_records, job_address, latest_attempts, latest_jobs, record_address,
    upsert_executions_sql,
};
use crate::store::{Effect, ExecutionRecord, JobRecord, StoreError, StoreResult};

type Reply = oneshot::Sender<StoreResult<Vec<DeliveryOutcome>>>;
type Batch = std::sync::Arc<[IncomingDelivery]>;

/// The writer thread's side: hands batches over and waits for their outcome.
pub struct SqliteWriter {
    jobs: mpsc::Sender<(Batch, Reply)>,
    /// Dropped with the writer, which ends the checkpoint thread.
    _checkpoints: mpsc::Sender<()>,
    /// The store's pool: once it is closed (shutdown), this writer stops taking batches too.
    pool: sqlx::SqlitePool,
}

impl SqliteWriter {
    /// A writer of the migrated database file at `path`, or `None` when it cannot be opened on
    /// its own (an in-memory database lives only in the pool's connections).
    pub fn open(path: &Path, pool: sqlx::SqlitePool) -> Option<Self> {
        let opened = connect(path).and_then(|writer| Ok((writer, connect(path)?)));
        let (conn, checkpoint_conn) = match opened {
            Ok(conns) => conns,
            Err(err) => {
                tracing::debug!(error = %err, "SQLite deliveries are written through the pool");
                return None;
            }
        };
        let (jobs, batches) = mpsc::channel::<(Batch, Reply)>();
        let spawned = std::thread::Builder::new().name("ccm-sqlite-writer".into()).spawn(move || {
            let mut writer = Writer { conn, texts: Texts::default() };
            // Ends when the store, and with it the sender, is dropped.
            for (batch, reply) in batches {
                let _ = reply.send(writer.ingest(&batch));
            }
        });
        let (checkpoints, stop) = mpsc::channel::<()>();
        let spawned = spawned.and_then(|_| {
            std::thread::Builder::new().name("ccm-sqlite-ckpt".into()).spawn(move || checkpoint(checkpoint_conn, stop))
        });
        match spawned {
            Ok(_) => Some(Self { jobs, _checkpoints: checkpoints, pool }),
            Err(err) => {
                tracing::warn!(error = %err, "no SQLite writer thread; deliveries are written through the pool");
                None
            }
        }
    }

    /// Whether this writer applies every effect of `batch` (runs and jobs only).
    pub fn takes(batch: &[IncomingDelivery]) -> bool {
        batch.iter().flat_map(effects).all(|e| matches!(e, Effect::Execution(_) | Effect::Job(_)))
    }

    /// `DeliveryStore::ingest` for a batch this writer `takes`.
    pub async fn ingest(&self, batch: Batch) -> StoreResult<Vec<DeliveryOutcome>> {
        if self.pool.is_closed() {
            return Err(StoreError::Database(sqlx::Error::PoolClosed));
        }
        let (reply, outcome) = oneshot::channel();
        let gone = || StoreError::Database(sqlx::Error::WorkerCrashed);
        self.jobs.send((batch, reply)).map_err(|_| gone())?;
        outcome.await.map_err(|_| gone())?
    }
}

/// How often the checkpoint thread copies the WAL back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(50);

/// WAL frames (4 KB pages) past which the WAL is started over (16 MB).
const WAL_RESTART: i64 = 4_096;

/// Checkpoints the WAL every `CHECKPOINT_EVERY` until `stop`'s sender is dropped.
///
/// A passive checkpoint copies the frames committed so far without waiting for anyone. But SQLite
/// only starts the WAL over when a commit finds every frame copied, which never happens while
/// batches follow one another: the WAL would grow without end. So once it is `WAL_RESTART` frames
/// long, a restarting checkpoint waits for the batch being written, holds the next one back
/// while it copies the few frames the passive ones left, and lets the next commit start over.
///
/// A restarting checkpoint also waits for every reader of older frames, holding writers back
/// meanwhile, and a reader can take seconds (a backup's `VACUUM INTO`, a long report): it once
/// stopped ingest for 4 s. So it is tried only when the passive checkpoint just copied every
/// frame, which it cannot while a reader holds an older snapshot: the WAL grows instead, until
/// the reader is done.
fn checkpoint(conn: Connection, stop: mpsc::Receiver<()>) {
    if let Err(err) = conn.busy_handler(Some(waits::<2_500>)) {
        tracing::warn!(error = %err, "WAL checkpoints: cannot set their busy handler");
    }
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        // The WAL's frames, and how many of them are in the database file now.
        let passive = conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?)));
        let result = match passive {
            Ok((frames, copied)) if frames > WAL_RESTART && copied == frames => {
                conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))
            }
            other => other.map(|_| ()),
        };
        if let Err(err) = result {
            tracing::warn!(error = %err, "WAL checkpoint failed");
        }
    }
}

/// A busy handler that retries every 100 µs, `TRIES` times. SQLite's own sleeps 1 to 100 ms at a
/// time: far longer than the writer or the checkpoint thread hold a lock the other waits for. The
/// connections wait up to 10 s (`waits::<100_000>`); a restarting checkpoint, which holds writers
/// back while it waits, 250 ms (`waits::<2_500>`): longer than a batch takes on a busy machine.
fn waits<const TRIES: i32>(attempt: i32) -> bool {
    if attempt >= TRIES {
        return false;
    }
    std::thread::sleep(Duration::from_micros(100));
    true
}

fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
    )?;
    conn.busy_handler(Some(waits::<100_000>))?;
    // As the pool's connections: a commit is on disk before any delivery of it is acknowledged.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    // Checkpoints are the checkpoint thread's (see the module's comment).
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.set_prepared_statement_cache_capacity(128);
    // Only a migrated file will do (an in-memory database opened here would be a new, empty one).
    conn.query_row("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'deliveries'", [], |_| Ok(()))?;
    Ok(conn)
}

struct Writer {
    conn: Connection,
    texts: Texts,
}

/// Statement texts with `?n` placeholders, by kind and rows, built once each.
#[derive(Default)]
struct Texts(HashMap<(&'static str, usize), String>);

impl Texts {
    fn get(&mut self, kind: &'static str, rows: usize, build: impl FnOnce() -> String) -> &str {
        self.0.entry((kind, rows)).or_insert_with(|| positional(&build()))
    }
}

impl Writer {
    /// The same steps as the pool's `ingest` (see `deliveries.rs`), in one transaction.
    fn ingest(&mut self, batch: &[IncomingDelivery]) -> StoreResult<Vec<DeliveryOutcome>> {
        let Writer { conn, texts } = self;
        let now = crate::domain::clock::now();
        let settled: Vec<_> = batch.iter().map(|d| settle(&d.processing, 1, now)).collect();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut inserted = HashSet::new();
        let rows: Vec<NewDelivery> = batch.iter().zip(&settled).map(|(d, s)| NewDelivery::settled(d, s, now)).collect();
        for chunk in power_of_two_chunks(&rows) {
            let sql = texts.get("insert deliveries", chunk.len(), || insert_deliveries_sql(chunk.len()));
            let values = sqlite_values(chunk.iter().map(|row| row.cells(now)))?;
            let mut statement = tx.prepare_cached(sql)?;
            for guid in statement.query_map(params_from_iter(&values), |row| row.get::<_, String>(0))? {
                inserted.insert(guid?);
            }
        }
        let is_new: Vec<bool> = batch.iter().map(|d| inserted.remove(&d.guid)).collect();
        let runs = new_runs(batch, &is_new);
        let applied = applied_records(&runs, &upsert_executions(&tx, texts, &runs, now)?);
        let jobs = new_jobs(batch, &is_new);
        let mut moved_jobs = HashSet::new();
        for job in latest_jobs(&jobs) {
            if upsert_job(&tx, texts, job, now)? {
                moved_jobs.insert(job.job_id);
            }
        }
        let applied_jobs = applied_jobs(&jobs, &moved_jobs);
        let mut outcomes = Vec::with_capacity(batch.len());
        for ((d, new), (status, _, _)) in batch.iter().zip(is_new).zip(&settled) {
            if !new {
                let sql = texts.get("delivery state", 1, || DELIVERY_STATE_SQL.into());
                let (stored_status, attempts): (DeliveryStatus, i64) =
                    tx.prepare_cached(sql)?.query_row([&d.guid], |row| Ok((row.get(0)?, row.get(1)?)))?;
                outcomes.push(if matches!(stored_status, DeliveryStatus::Failed | DeliveryStatus::Parked) {
                    reprocess(&tx, texts, d, attempts)?
                } else {
                    DeliveryOutcome {
                        guid: d.guid.clone(),
                        status: stored_status,
                        duplicate: true,
                        changed: Vec::new(),
                    }
                });
                continue;
            }
            let mut changed = Vec::new();
            for effect in effects(d) {
                let did_change = match effect {
                    Effect::Execution(run) => applied.contains(&record_address(run)),
                    Effect::Job(job) => applied_jobs.contains(&job_address(job)),
                    _ => unreachable!("SqliteWriter::takes admits runs and jobs only"),
                };
                if did_change {
                    changed.push(effect.clone());
                }
            }
            outcomes.push(DeliveryOutcome { guid: d.guid.clone(), status: *status, duplicate: false, changed });
        }
        tx.commit()?;
        Ok(outcomes)
    }
}

/// Processes a stored delivery whose processing failed before (a redelivery), recording the
/// new outcome, as the pool's `reprocess` does.
fn reprocess(tx: &Connection, texts: &mut Texts, d: &IncomingDelivery, attempts: i64) -> StoreResult<DeliveryOutcome> {
    let now = crate::domain::clock::now();
    let mut changed = Vec::new();
    if let Processing::Apply(applied) = &d.processing {
        for effect in applied {
            let did_change = match effect {
                Effect::Execution(run) => !upsert_executions(tx, texts, &[run], now)?.is_empty(),
                Effect::Job(job) => upsert_job(tx, texts, job, now)?,
                _ => unreachable!("SqliteWriter::takes admits runs and jobs only"),
            };
            if did_change {
                changed.push(effect.clone());
            }
        }
    }
    let attempts = attempts + 1;
    let (status, error, next) = settle(&d.processing, attempts, now);
    let sql = texts.get("record outcome", 1, || RECORD_OUTCOME_SQL.into());
    tx.prepare_cached(sql)?.execute(rusqlite::params![
        d.guid,
        status,
        attempts,
        error,
        sqlite_time(now),
        next.map(sqlite_time)
    ])?;
    Ok(DeliveryOutcome { guid: d.guid.clone(), status, duplicate: false, changed })
}

/// Applies the latest record of each run attempt; returns the attempts that changed.
fn upsert_executions(
    tx: &Connection,
    texts: &mut Texts,
    records: &[&ExecutionRecord],
    now: DateTime<Utc>,
) -> StoreResult<HashSet<(i64, i64)>> {
    let latest = latest_attempts(records);
    let mut moved = HashSet::new();
    for chunk in power_of_two_chunks(&latest) {
        let sql = texts.get("upsert executions", chunk.len(), || upsert_executions_sql(chunk.len()));
        let values = sqlite_values(chunk.iter().map(|e| e.cells(now)))?;
        let mut statement = tx.prepare_cached(sql)?;
        for attempt in statement.query_map(params_from_iter(&values), |row| Ok((row.get(0)?, row.get(1)?)))? {
            moved.insert(attempt?);
        }
    }
    Ok(moved)
}

/// Applies a job's record; returns whether it changed the stored job.
fn upsert_job(tx: &Connection, texts: &mut Texts, j: &JobRecord, now: DateTime<Utc>) -> StoreResult<bool> {
    let sql = texts.get("upsert job", 1, || UPSERT_JOB_SQL.to_string());
    let values = sqlite_values([j.cells(now)])?;
    let changed = tx.prepare_cached(sql)?.execute(params_from_iter(&values))?;
    Ok(changed > 0)
}
