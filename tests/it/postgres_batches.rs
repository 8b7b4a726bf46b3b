//! On PostgreSQL a batch of deliveries whose effects are only runs and jobs is stored and applied by one
//! statement (`store::postgres::postgres_batch`); everywhere else a batch takes multi-row statements in a
//! transaction. The same batches go into PostgreSQL and into SQLite's pool, and both must report
//! the same outcomes and leave the same rows. Needs PostgreSQL (`CCM_TEST_DATABASE_URL`).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

use crate::helpers::batches::{self, at, delivery, run};
use ccm::store::{DeliveryOutcome, DeliveryStore, IncomingDelivery, SqlStore};

/// The workflow jobs of these batches belong to run 7.
fn job(guid: &str, id: i64, status: &str, conclusion: Option<&str>, minute: i64) -> IncomingDelivery {
    batches::job(guid, id, 7, status, conclusion, minute)
}

/// Batches of runs (with deliveries that apply nothing among them): several records of one
/// attempt, records older than the stored state, a GUID twice in one batch and again in a later
/// one, a re-run, runs in other hours, an ignored and an undecodable delivery, and the
/// redelivery of the undecodable one, now readable; two records of one attempt that rank the
/// same.
fn batches() -> Vec<Vec<IncomingDelivery>> {
    vec![
        vec![
            run("r1-requested", 1, 1, "requested", None, 0),
            run("r1-in-progress", 1, 1, "in_progress", None, 1),
            run("r2-completed", 2, 1, "completed", Some("success"), 4),
            run("r2-completed", 2, 1, "completed", Some("success"), 4),
            delivery("star", "star", br#"{"action":"created","repository":{"full_name":"Org/App"}}"#),
            delivery("broken", "workflow_run", b"{not json"),
        ],
        vec![
            run("r2-completed", 2, 1, "completed", Some("success"), 4),
            run("r1-completed", 1, 1, "completed", Some("failure"), 7),
            run("r1-late", 1, 1, "in_progress", None, 2),
            run("r2-rerun", 2, 2, "in_progress", None, 9),
            run("r4-completed", 4, 1, "completed", Some("cancelled"), 95),
            run("r4-requested", 4, 1, "requested", None, 0),
            delivery(
                "r5-completed",
                "workflow_run",
                &crate::helpers::workflow_run(5, 1, "Org/App", "main", "completed", Some("success"), at(70), at(130)),
            ),
        ],
        // Two records of one attempt that rank the same: the first in the batch is kept.
        vec![
            run("r6-first", 6, 1, "completed", Some("success"), 20),
            run("r6-second", 6, 1, "completed", Some("failure"), 20),
        ],
        // Jobs among the runs, several records of one job among them.
        vec![
            run("r7-completed", 7, 1, "completed", Some("success"), 30),
            job("j10-in-progress", 10, "in_progress", None, 25),
            job("j10-completed", 10, "completed", Some("success"), 29),
            job("j10-queued", 10, "queued", None, 20),
            job("j11-queued", 11, "queued", None, 20),
        ],
        vec![job("j10-late", 10, "in_progress", None, 26), job("j11-in-progress", 11, "in_progress", None, 27)],
        // An installation among the runs: this batch takes the transaction on PostgreSQL too.
        vec![
            run("r8-in-progress", 8, 1, "in_progress", None, 40),
            job("j12-queued", 12, "queued", None, 40),
            delivery(
                "i-1",
                "installation",
                br#"{"action":"created","installation":{"id":5,"account":{"login":"Org"}}}"#,
            ),
        ],
        vec![run("broken", 3, 1, "completed", Some("success"), 5), run("r1-requested", 1, 1, "requested", None, 0)],
    ]
}

#[derive(Debug, PartialEq, sqlx::FromRow)]
struct ExecutionRow {
    run_id: i64,
    run_attempt: i64,
    repository: String,
    repo_key: String,
    workflow_path: String,
    workflow_name: Option<String>,
    status: String,
    status_rank: i64,
    conclusion: Option<String>,
    branch: Option<String>,
    head_sha: Option<String>,
    event: Option<String>,
    run_number: Option<i64>,
    actor: Option<String>,
    html_url: Option<String>,
    created_at: DateTime<Utc>,
    started_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
    duration_seconds: Option<i64>,
}

#[derive(Debug, PartialEq, sqlx::FromRow)]
struct DeliveryRow {
    guid: String,
    event: String,
    action: Option<String>,
    installation_id: Option<i64>,
    repository: Option<String>,
    repo_key: Option<String>,
    hook_id: Option<i64>,
    received_at: DateTime<Utc>,
    headers: Json<Value>,
    body: Vec<u8>,
    body_size: i64,
    status: String,
    attempts: i64,
    last_error: Option<String>,
    processed: bool,
    retry_due: bool,
}

#[derive(Debug, PartialEq, sqlx::FromRow)]
struct JobRow {
    job_id: i64,
    run_id: i64,
    run_attempt: i64,
    repo_key: String,
    name: String,
    status: String,
    status_rank: i64,
    conclusion: Option<String>,
    runner_name: Option<String>,
    html_url: Option<String>,
    started_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
    steps: Json<Value>,
}

#[derive(Debug, PartialEq, sqlx::FromRow)]
struct HourRow {
    repo_key: String,
    workflow_path: String,
    hour: DateTime<Utc>,
    branch: String,
    runs: i64,
    successes: i64,
    duration_sum: i64,
    durations: i64,
}

const EXECUTIONS: &str = "SELECT run_id, run_attempt, repository, repo_key, workflow_path, workflow_name, status, \
     status_rank, conclusion, branch, head_sha, event, run_number, actor, html_url, created_at, started_at, \
     updated_at, completed_at, duration_seconds FROM executions ORDER BY run_id, run_attempt";
const DELIVERIES: &str = "SELECT guid, event, action, installation_id, repository, repo_key, hook_id, received_at, \
     headers, body, body_size, status, attempts, last_error, processed_at IS NOT NULL AS processed, \
     next_attempt_at IS NOT NULL AS retry_due FROM deliveries ORDER BY guid";
const JOBS: &str = "SELECT job_id, run_id, run_attempt, repo_key, name, status, status_rank, conclusion, \
     runner_name, html_url, started_at, completed_at, updated_at, steps FROM jobs ORDER BY job_id";
const HOURS: &str = "SELECT repo_key, workflow_path, hour, branch, runs, successes, duration_sum, durations \
     FROM execution_hours ORDER BY repo_key, workflow_path, hour, branch";

macro_rules! rows {
    ($pool:expr, $row:ty, $sql:expr) => {
        sqlx::query_as::<_, $row>($sql).fetch_all($pool).await.unwrap()
    };
}

#[tokio::test]
async fn one_statement_batches_match_the_transaction_path() {
    let postgres = SqlStore::connect(&crate::helpers::fresh_postgres_database().await, 4).await.unwrap();
    let sqlite = SqlStore::connect("sqlite::memory:", 1).await.unwrap();

    let mut outcomes = Vec::new();
    for batch in batches() {
        let at_once: Vec<DeliveryOutcome> = postgres.ingest(batch.clone().into()).await.unwrap();
        let in_transaction: Vec<DeliveryOutcome> = sqlite.ingest(batch.into()).await.unwrap();
        assert_eq!(at_once, in_transaction);
        outcomes.extend(at_once);
    }

    let executions = rows!(postgres.postgres_pool().unwrap(), ExecutionRow, EXECUTIONS);
    assert_eq!(executions, rows!(sqlite.sqlite_pool().unwrap(), ExecutionRow, EXECUTIONS));
    assert_eq!(
        rows!(postgres.postgres_pool().unwrap(), DeliveryRow, DELIVERIES),
        rows!(sqlite.sqlite_pool().unwrap(), DeliveryRow, DELIVERIES)
    );
    let hours = rows!(postgres.postgres_pool().unwrap(), HourRow, HOURS);
    assert_eq!(hours, rows!(sqlite.sqlite_pool().unwrap(), HourRow, HOURS));

    // The figures the batches imply, so that two paths that wrote nothing cannot pass.
    let stored: Vec<_> =
        executions.iter().map(|e| (e.run_id, e.run_attempt, e.status.as_str(), e.conclusion.as_deref())).collect();
    assert_eq!(
        stored,
        [
            (1, 1, "completed", Some("failure")),
            (2, 1, "completed", Some("success")),
            (2, 2, "in_progress", None),
            (3, 1, "completed", Some("success")),
            (4, 1, "completed", Some("cancelled")),
            (5, 1, "completed", Some("success")),
            (6, 1, "completed", Some("success")),
            (7, 1, "completed", Some("success")),
            (8, 1, "in_progress", None),
        ]
    );
    let job_rows = rows!(postgres.postgres_pool().unwrap(), JobRow, JOBS);
    assert_eq!(job_rows, rows!(sqlite.sqlite_pool().unwrap(), JobRow, JOBS));
    let jobs: Vec<_> = job_rows.iter().map(|j| (j.job_id, j.status.as_str(), j.conclusion.as_deref())).collect();
    assert_eq!(jobs, [(10, "completed", Some("success")), (11, "in_progress", None), (12, "queued", None)]);
    let installations: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM installations").fetch_all(postgres.postgres_pool().unwrap()).await.unwrap();
    assert_eq!(installations, [5]);
    let per_hour: Vec<_> = hours.iter().map(|h| (h.hour, h.runs, h.successes)).collect();
    assert_eq!(per_hour, [(at(0), 6, 4), (at(60), 1, 1)]);
    let changed = |guid: &str| outcomes.iter().filter(|o| o.guid == guid).map(|o| o.changed.len()).sum::<usize>();
    for guid in [
        "r1-in-progress",
        "r2-completed",
        "r1-completed",
        "r2-rerun",
        "r4-completed",
        "r5-completed",
        "r6-first",
        "r7-completed",
        "j10-completed",
        "j11-queued",
        "j11-in-progress",
        "r8-in-progress",
        "j12-queued",
        "i-1",
        "broken",
    ] {
        assert_eq!(changed(guid), 1, "{guid}: {outcomes:?}");
    }
    for guid in
        ["r1-requested", "r1-late", "r4-requested", "r6-second", "j10-in-progress", "j10-queued", "j10-late", "star"]
    {
        assert_eq!(changed(guid), 0, "{guid}: {outcomes:?}");
    }
    let duplicates: Vec<&str> = outcomes.iter().filter(|o| o.duplicate).map(|o| o.guid.as_str()).collect();
    assert_eq!(duplicates, ["r2-completed", "r2-completed", "r1-requested"]);
}

/// A delivery's body, compressed by ccm, stays in its row on PostgreSQL while the row fits in a
/// page: nothing goes to the TOAST table (one heap insert a delivery), PostgreSQL never compresses
/// it a second time, and the stored body reads back as it was sent.
#[tokio::test]
async fn delivery_bodies_stay_in_their_row_uncompressed_twice() {
    use ccm::store::DeliveryStore;
    let store = SqlStore::connect(&crate::helpers::fresh_postgres_database().await, 2).await.unwrap();
    let pool = store.postgres_pool().unwrap();
    let payload = std::fs::read(crate::helpers::shared_payloads().join("workflow_run/completed.payload.json")).unwrap();
    assert!(payload.len() > 20_000, "GitHub's example is {} bytes", payload.len());
    store.ingest(vec![delivery("inline-1", "workflow_run", &payload)].into()).await.unwrap();

    let (storage, options): (String, Vec<String>) = sqlx::query_as(
        "SELECT a.attstorage::text, COALESCE(c.reloptions, '{}') FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
         WHERE c.relname = 'deliveries' AND a.attname = 'body'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!((storage.as_str(), options), ("e", vec!["toast_tuple_target=8160".to_string()]));
    let toast_rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(
        sqlx::query_scalar::<_, String>(
            "SELECT t.oid::regclass::text FROM pg_class c JOIN pg_class t ON t.oid = c.reltoastrelid WHERE c.relname = 'deliveries'",
        )
        .fetch_one(pool)
        .await
        .map(|toast| format!("SELECT COUNT(*) FROM {toast}"))
        .unwrap(),
    ))
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(toast_rows, 0, "the body went to the TOAST table");
    let stored = store.get_delivery("inline-1").await.unwrap().expect("stored");
    assert_eq!(ccm::webhook::body::decompress(&stored.body_encoding, &stored.body).unwrap(), payload);
}
