//! On SQLite, batches of runs and jobs are written on a thread of their own through the C API
//! (`store::sqlite::sqlite_writes`); every other batch, and every batch of an in-memory database, through
//! sqlx's pool. Both paths must leave the very same rows and report the same outcomes: the same
//! batches go into a database file (the writer) and an in-memory database (the pool), and every
//! table they touch is compared row by row.

use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;

use crate::helpers::batches::{self, delivery, run};
use ccm::store::{DeliveryOutcome, DeliveryStore, IncomingDelivery, SqlStore};

/// The workflow jobs of these batches belong to run 1.
fn job(guid: &str, id: i64, status: &str, conclusion: Option<&str>, minute: i64) -> IncomingDelivery {
    batches::job(guid, id, 1, status, conclusion, minute)
}

/// Batches covering every step of `ingest`: new runs and jobs, several records of one attempt in
/// a batch, records older than the stored state, duplicates, a re-run, ignored and undecodable
/// deliveries, and the redelivery of a failed one.
fn batches() -> Vec<Vec<IncomingDelivery>> {
    vec![
        vec![
            run("r1-requested", 1, 1, "requested", None, 0),
            run("r1-in-progress", 1, 1, "in_progress", None, 1),
            run("r2-completed", 2, 1, "completed", Some("success"), 4),
            job("j10-in-progress", 10, "in_progress", None, 1),
            delivery("star", "star", br#"{"action":"created","repository":{"full_name":"Org/App"}}"#),
            delivery("broken", "workflow_run", b"{not json"),
        ],
        vec![
            run("r2-completed", 2, 1, "completed", Some("success"), 4),
            run("r1-completed", 1, 1, "completed", Some("failure"), 7),
            run("r1-late", 1, 1, "in_progress", None, 2),
            job("j10-completed", 10, "completed", Some("success"), 3),
            job("j10-late", 10, "in_progress", None, 1),
            run("r2-rerun", 2, 2, "in_progress", None, 9),
            run("r4-completed", 4, 1, "completed", Some("cancelled"), 95),
            run("r4-requested", 4, 1, "requested", None, 0),
        ],
        // The undecodable delivery again, now readable: processed on redelivery.
        vec![run("broken", 3, 1, "completed", Some("success"), 5), run("r1-requested", 1, 1, "requested", None, 0)],
    ]
}

/// Every row of `table` as JSON text, ordered by all its columns, leaving out the columns that
/// hold the time of processing (checked by `processing_times`).
async fn rows(store: &SqlStore, table: &str) -> Vec<String> {
    const PROCESSING_TIMES: &[&str] = &["processed_at", "next_attempt_at", "recorded_at"];
    let columns: Vec<(String, String)> =
        sqlx::query_as(AssertSqlSafe(format!("SELECT name, type FROM pragma_table_info('{table}')")))
            .fetch_all(store.sqlite_pool().unwrap())
            .await
            .unwrap();
    let values: Vec<String> = columns
        .iter()
        .filter(|(name, _)| !PROCESSING_TIMES.contains(&name.as_str()))
        .map(|(name, kind)| if kind == "BLOB" { format!("hex({name})") } else { name.clone() })
        .collect();
    let list = values.join(", ");
    sqlx::query_scalar(AssertSqlSafe(format!("SELECT json_array({list}) FROM {table} ORDER BY {list}")))
        .fetch_all(store.sqlite_pool().unwrap())
        .await
        .unwrap()
}

/// Which of `table`'s rows (by `key`) have a time in `column`; each that has one must read back
/// as a timestamp through sqlx.
async fn processing_times(store: &SqlStore, table: &str, key: &str, column: &str) -> Vec<(String, bool)> {
    let times: Vec<(String, Option<DateTime<Utc>>)> =
        sqlx::query_as(AssertSqlSafe(format!("SELECT CAST({key} AS TEXT), {column} FROM {table} ORDER BY 1")))
            .fetch_all(store.sqlite_pool().unwrap())
            .await
            .unwrap();
    times.into_iter().map(|(key, at)| (key, at.is_some())).collect()
}

#[tokio::test]
async fn the_writer_thread_and_the_pool_leave_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let file = SqlStore::connect(&format!("sqlite://{}", dir.path().join("ccm.db").display()), 2).await.unwrap();
    let memory = SqlStore::connect("sqlite::memory:", 1).await.unwrap();

    let started = ccm::domain::clock::now();
    let mut outcomes = Vec::new();
    for batch in batches() {
        let by_writer: Vec<DeliveryOutcome> = file.ingest(batch.clone().into()).await.unwrap();
        let by_pool: Vec<DeliveryOutcome> = memory.ingest(batch.into()).await.unwrap();
        assert_eq!(by_writer, by_pool);
        outcomes.extend(by_writer);
    }
    let finished = ccm::domain::clock::now();

    for table in ["deliveries", "executions", "jobs", "execution_hours"] {
        let (written, pooled) = (rows(&file, table).await, rows(&memory, table).await);
        assert!(!written.is_empty(), "{table} is empty");
        assert_eq!(written, pooled, "{table}");
    }
    for (table, key, column) in [
        ("deliveries", "guid", "processed_at"),
        ("deliveries", "guid", "next_attempt_at"),
        ("executions", "run_id || '/' || run_attempt", "recorded_at"),
    ] {
        assert_eq!(
            processing_times(&file, table, key, column).await,
            processing_times(&memory, table, key, column).await,
            "{table}.{column}"
        );
    }
    let recorded: Vec<DateTime<Utc>> =
        sqlx::query_scalar("SELECT recorded_at FROM executions").fetch_all(file.sqlite_pool().unwrap()).await.unwrap();
    assert!(recorded.iter().all(|at| (started..=finished).contains(at)), "{recorded:?}");

    // Of several records of one run in a batch, the one stored is the change reported (live
    // subscribers see it); older records, duplicates and re-deliveries of nothing new are not.
    let changed = |guid: &str| outcomes.iter().filter(|o| o.guid == guid).map(|o| o.changed.len()).sum::<usize>();
    let credited = ["r1-in-progress", "r2-completed", "j10-in-progress", "r1-completed", "j10-completed", "r2-rerun"];
    for guid in credited.iter().chain(&["r4-completed", "broken"]) {
        assert_eq!(changed(guid), 1, "{guid}: {outcomes:?}");
    }
    for guid in ["r1-requested", "r1-late", "j10-late", "r4-requested", "star"] {
        assert_eq!(changed(guid), 0, "{guid}: {outcomes:?}");
    }
    let duplicates: Vec<&str> = outcomes.iter().filter(|o| o.duplicate).map(|o| o.guid.as_str()).collect();
    assert_eq!(duplicates, ["r2-completed", "r1-requested"]);

    // The figures the batches imply, so that a path that wrote nothing at all cannot pass.
    let executions: Vec<(i64, i64, String, Option<String>)> =
        sqlx::query_as("SELECT run_id, run_attempt, status, conclusion FROM executions ORDER BY run_id, run_attempt")
            .fetch_all(file.sqlite_pool().unwrap())
            .await
            .unwrap();
    let expected = [
        (1, 1, "completed", Some("failure")),
        (2, 1, "completed", Some("success")),
        (2, 2, "in_progress", None),
        (3, 1, "completed", Some("success")),
        (4, 1, "completed", Some("cancelled")),
    ];
    let expected: Vec<_> = expected.iter().map(|(r, a, s, c)| (*r, *a, s.to_string(), c.map(String::from))).collect();
    assert_eq!(executions, expected);
    let statuses: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT guid, status, attempts FROM deliveries ORDER BY guid")
            .fetch_all(file.sqlite_pool().unwrap())
            .await
            .unwrap();
    assert!(statuses.contains(&("broken".into(), "processed".into(), 2)), "{statuses:?}");
    assert!(statuses.contains(&("star".into(), "ignored".into(), 1)), "{statuses:?}");
    let job: (String, Option<String>) = sqlx::query_as("SELECT status, conclusion FROM jobs WHERE job_id = 10")
        .fetch_one(file.sqlite_pool().unwrap())
        .await
        .unwrap();
    assert_eq!(job, ("completed".into(), Some("success".into())));
}

/// Bytes that do not compress (xorshift), so that each delivery adds its full size to the WAL.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// The writer never checkpoints; a thread beside it copies the WAL into the database file and
/// starts the WAL over once it is 16 MB long, even while batches follow one another (left to
/// passive checkpoints alone, this WAL grew to about 90 MB).
#[tokio::test]
async fn the_wal_is_copied_back_and_started_over_under_continuous_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ccm.db");
    let store = SqlStore::connect(&format!("sqlite://{}", path.display()), 2).await.unwrap();
    let size = |suffix: &str| std::fs::metadata(format!("{}{suffix}", path.display())).map(|m| m.len()).unwrap_or(0);
    let before = size("");

    // 64 MB of deliveries in batches of 256 KB from eight tasks at once: the writer always has
    // the next batch waiting, so a commit hardly ever finds the WAL idle.
    let store = std::sync::Arc::new(store);
    let tasks: Vec<_> = (0..8u64)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                for batch in (0..32u64).map(|b| task * 32 + b) {
                    let deliveries: Vec<IncomingDelivery> = (0..32u64)
                        .map(|i| {
                            let mut d = delivery(&format!("noise-{batch}-{i}"), "star", b"{}");
                            d.body = noise(batch * 32 + i, 8 * 1024);
                            d
                        })
                        .collect();
                    let outcomes = store.ingest(deliveries.into()).await.unwrap();
                    assert!(outcomes.iter().all(|o| o.status.as_str() == "ignored" && !o.duplicate));
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let wal = size("-wal");
    assert!(wal < 32 << 20, "the WAL grew to {wal} bytes: it was never started over");

    crate::helpers::wait_until("the deliveries reach the database file", async || size("") > before + (60 << 20)).await;
    let stored: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM deliveries").fetch_one(store.sqlite_pool().unwrap()).await.unwrap();
    assert_eq!(stored, 256 * 32);
}

/// A long reader (a backup's `VACUUM INTO`, a long report) keeps the WAL from starting over until
/// it is done; the checkpoint thread must not hold the writer back meanwhile. It used to: its
/// restarting checkpoint waited up to 10 s for the reader, with every commit waiting behind it
/// (a 1 GB backup stopped ingest for 4 s). Now it waits at most 20 ms, then lets the WAL grow.
#[tokio::test]
async fn a_long_reader_does_not_hold_the_writer_back() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ccm.db");
    let url = format!("sqlite://{}", path.display());
    let store = SqlStore::connect(&url, 2).await.unwrap();
    let wal = || std::fs::metadata(format!("{}-wal", path.display())).map(|m| m.len()).unwrap_or(0);

    // A reader holding its snapshot from before any delivery.
    let mut reader = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut reader).await.unwrap();
    let seen: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM deliveries").fetch_one(&mut reader).await.unwrap();

    // 32 MB of deliveries, batch after batch: past 16 MB of WAL the checkpoint thread tries to
    // start the WAL over and finds the reader in the way.
    for batch in 0..128u64 {
        let deliveries: Vec<IncomingDelivery> = (0..32u64)
            .map(|i| {
                let mut d = delivery(&format!("long-reader-{batch}-{i}"), "star", b"{}");
                d.body = noise(batch * 32 + i, 8 * 1024);
                d
            })
            .collect();
        let started = std::time::Instant::now();
        store.ingest(deliveries.into()).await.unwrap();
        let took = started.elapsed();
        assert!(took < std::time::Duration::from_secs(2), "batch {batch} waited {took:?} for the checkpoint thread");
    }
    assert!(wal() > 16 << 20, "the WAL ({} bytes) was started over under the reader's snapshot", wal());
    let still: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM deliveries").fetch_one(&mut reader).await.unwrap();
    assert_eq!(still, seen, "the reader keeps its snapshot");
    sqlx::query("COMMIT").execute(&mut reader).await.unwrap();
    let stored: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM deliveries").fetch_one(store.sqlite_pool().unwrap()).await.unwrap();
    assert_eq!(stored, 128 * 32);
}
