//! PostgreSQL: a batch of deliveries whose effects are only runs and jobs, stored and applied by one
//! statement in an implicit transaction. One round trip, where BEGIN, the deliveries' insert, the
//! runs' upsert and COMMIT took four, each waking ccm and a backend in turn on a busy machine.
//! The batch travels as arrays, so the statement's text is the same for every batch size and is
//! prepared once per connection.

use std::collections::HashSet;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::types::Json;

use super::deliveries::{DELIVERY_INSERT_COLUMNS, IncomingDelivery, Settled, StoredBatch, effects};
use super::pipelines::{EXECUTION_CONFLICT, EXECUTION_INSERT_COLUMNS, JOB_CONFLICT, JOB_INSERT_COLUMNS};
use super::{Effect, StoreResult};
use crate::domain::status::Conclusion;

/// Whether `store` can take this batch: every effect in it is a run or a job.
pub(crate) fn takes(batch: &[IncomingDelivery]) -> bool {
    batch.iter().flat_map(effects).all(|e| matches!(e, Effect::Execution(_) | Effect::Job(_)))
}

/// The deliveries are inserted (a GUID stored before is skipped). The runs of the new ones are
/// merged per attempt into the most advanced record, as `pipelines::latest_attempts` does in
/// Rust (state rank, then `updated_at`, then the first in the batch), and upserted in the lock
/// order of every writer: by hour, then run. Their jobs likewise, per job (`latest_jobs`), in
/// job order. Each row returned is a new delivery (kind 0, its GUID), a run attempt that moved
/// (1, run and attempt) or a job that moved (2, job).
static SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH d AS ( \
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::text[], $6::text[], \
             $7::int8[], $8::timestamptz[], $9::jsonb[], $10::bytea[], $11::int8[], $12::text[], $13::text[], \
             $14::timestamptz[]) \
           AS d(guid, event, action, installation_id, repository, repo_key, hook_id, received_at, headers, body, \
             body_size, status, last_error, next_attempt_at)), \
         ins AS ( \
           INSERT INTO deliveries ({DELIVERY_INSERT_COLUMNS}) \
           SELECT guid, event, action, installation_id, repository, repo_key, hook_id, received_at, headers, body, \
             body_size, status, 1, last_error, $15, next_attempt_at FROM d \
           ON CONFLICT (guid) DO NOTHING RETURNING guid), \
         r AS ( \
           SELECT * FROM unnest($16::text[], $17::int8[], $18::int8[], $19::int8[], $20::text[], $21::text[], \
             $22::text[], $23::text[], $24::text[], $25::int8[], $26::text[], $27::text[], $28::text[], $29::text[], \
             $30::int8[], $31::text[], $32::text[], $33::timestamptz[], $34::timestamptz[], $35::timestamptz[], \
             $36::timestamptz[], $37::int8[]) \
           AS r(guid, ord, run_id, run_attempt, repository, repo_key, workflow_path, workflow_name, status, \
             status_rank, conclusion, branch, head_sha, event, run_number, actor, html_url, created_at, started_at, \
             updated_at, completed_at, duration_seconds)), \
         latest AS ( \
           SELECT DISTINCT ON (run_id, run_attempt) * FROM r WHERE guid IN (SELECT guid FROM ins) \
           ORDER BY run_id, run_attempt, status_rank DESC, updated_at DESC, ord), \
         up AS ( \
           INSERT INTO executions ({EXECUTION_INSERT_COLUMNS}) \
           SELECT run_id, run_attempt, repository, repo_key, workflow_path, workflow_name, status, status_rank, \
             conclusion, branch, head_sha, event, run_number, actor, html_url, created_at, started_at, updated_at, \
             completed_at, duration_seconds, $15 FROM latest \
           ORDER BY date_trunc('hour', started_at, 'UTC'), run_id, run_attempt \
           {EXECUTION_CONFLICT} RETURNING run_id, run_attempt), \
         j AS ( \
           SELECT * FROM unnest($38::text[], $39::int8[], $40::int8[], $41::int8[], $42::int8[], $43::text[], \
             $44::text[], $45::text[], $46::int8[], $47::text[], $48::text[], $49::text[], $50::timestamptz[], \
             $51::timestamptz[], $52::timestamptz[], $53::jsonb[]) \
           AS j(guid, ord, job_id, run_id, run_attempt, repo_key, name, status, status_rank, conclusion, runner_name, \
             html_url, started_at, completed_at, updated_at, steps)), \
         latest_jobs AS ( \
           SELECT DISTINCT ON (job_id) * FROM j WHERE guid IN (SELECT guid FROM ins) \
           ORDER BY job_id, status_rank DESC, updated_at DESC, ord), \
         upj AS ( \
           INSERT INTO jobs ({JOB_INSERT_COLUMNS}) \
           SELECT job_id, run_id, run_attempt, repo_key, name, status, status_rank, conclusion, runner_name, \
             html_url, started_at, completed_at, updated_at, steps FROM latest_jobs ORDER BY job_id \
           {JOB_CONFLICT} RETURNING job_id) \
         SELECT 0 AS kind, guid, NULL::int8 AS a, NULL::int8 AS b FROM ins \
         UNION ALL SELECT 1, NULL, run_id, run_attempt FROM up \
         UNION ALL SELECT 2, NULL, job_id, NULL FROM upj"
    )
});

/// Stores a batch that `takes` accepts, settled as `settled` says (one per delivery), and
/// applies the runs and jobs of its new deliveries. Committed when it returns.
pub(crate) async fn store(
    pool: &PgPool,
    batch: &[IncomingDelivery],
    settled: &[Settled],
    now: DateTime<Utc>,
) -> StoreResult<StoredBatch> {
    let deliveries = DeliveryColumns::of(batch, settled);
    let runs = RunColumns::of(batch);
    let jobs = JobColumns::of(batch);
    let query = sqlx::query_as::<_, (i32, Option<String>, Option<i64>, Option<i64>)>(SQL.as_str())
        .bind(deliveries.guid)
        .bind(deliveries.event)
        .bind(deliveries.action)
        .bind(deliveries.installation_id)
        .bind(deliveries.repository)
        .bind(deliveries.repo_key)
        .bind(deliveries.hook_id)
        .bind(deliveries.received_at)
        .bind(deliveries.headers)
        .bind(deliveries.body)
        .bind(deliveries.body_size)
        .bind(deliveries.status)
        .bind(deliveries.last_error)
        .bind(deliveries.next_attempt_at)
        .bind(now)
        .bind(runs.guid)
        .bind(runs.ord)
        .bind(runs.run_id)
        .bind(runs.run_attempt)
        .bind(runs.repository)
        .bind(runs.repo_key)
        .bind(runs.workflow_path)
        .bind(runs.workflow_name)
        .bind(runs.status)
        .bind(runs.status_rank)
        .bind(runs.conclusion)
        .bind(runs.branch)
        .bind(runs.head_sha)
        .bind(runs.event)
        .bind(runs.run_number)
        .bind(runs.actor)
        .bind(runs.html_url)
        .bind(runs.created_at)
        .bind(runs.started_at)
        .bind(runs.updated_at)
        .bind(runs.completed_at)
        .bind(runs.duration_seconds)
        .bind(jobs.guid)
        .bind(jobs.ord)
        .bind(jobs.job_id)
        .bind(jobs.run_id)
        .bind(jobs.run_attempt)
        .bind(jobs.repo_key)
        .bind(jobs.name)
        .bind(jobs.status)
        .bind(jobs.status_rank)
        .bind(jobs.conclusion)
        .bind(jobs.runner_name)
        .bind(jobs.html_url)
        .bind(jobs.started_at)
        .bind(jobs.completed_at)
        .bind(jobs.updated_at)
        .bind(jobs.steps);
    let (mut inserted, mut moved, mut moved_jobs) = (HashSet::new(), HashSet::new(), HashSet::new());
    for row in query.fetch_all(pool).await? {
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

/// The batch's deliveries, column by column.
#[derive(Default)]
struct DeliveryColumns<'a> {
    guid: Vec<&'a str>,
    event: Vec<&'a str>,
    action: Vec<Option<&'a str>>,
    installation_id: Vec<Option<i64>>,
    repository: Vec<Option<&'a str>>,
    repo_key: Vec<Option<String>>,
    hook_id: Vec<Option<i64>>,
    received_at: Vec<DateTime<Utc>>,
    headers: Vec<Json<&'a serde_json::Value>>,
    body: Vec<&'a [u8]>,
    body_size: Vec<i64>,
    status: Vec<&'static str>,
    last_error: Vec<Option<&'a str>>,
    next_attempt_at: Vec<Option<DateTime<Utc>>>,
}

impl<'a> DeliveryColumns<'a> {
    fn of(batch: &'a [IncomingDelivery], settled: &'a [Settled]) -> Self {
        let mut c = Self::default();
        for (d, (status, error, next)) in batch.iter().zip(settled) {
            c.guid.push(&d.guid);
            c.event.push(&d.event);
            c.action.push(d.action.as_deref());
            c.installation_id.push(d.installation_id);
            c.repository.push(d.repository.as_deref());
            c.repo_key.push(d.repository.as_ref().map(|r| r.to_lowercase()));
            c.hook_id.push(d.hook_id);
            c.received_at.push(d.received_at);
            c.headers.push(Json(&d.headers));
            c.body.push(&d.body);
            c.body_size.push(d.body_size);
            c.status.push(status.as_str());
            c.last_error.push(error.as_deref());
            c.next_attempt_at.push(*next);
        }
        c
    }
}

/// The runs of the batch's deliveries, column by column, each with its delivery's GUID and its
/// position.
#[derive(Default)]
struct RunColumns<'a> {
    guid: Vec<&'a str>,
    ord: Vec<i64>,
    run_id: Vec<i64>,
    run_attempt: Vec<i64>,
    repository: Vec<&'a str>,
    repo_key: Vec<String>,
    workflow_path: Vec<&'a str>,
    workflow_name: Vec<Option<&'a str>>,
    status: Vec<&'a str>,
    status_rank: Vec<i64>,
    conclusion: Vec<Option<&'a str>>,
    branch: Vec<Option<&'a str>>,
    head_sha: Vec<Option<&'a str>>,
    event: Vec<Option<&'a str>>,
    run_number: Vec<Option<i64>>,
    actor: Vec<Option<&'a str>>,
    html_url: Vec<Option<&'a str>>,
    created_at: Vec<DateTime<Utc>>,
    started_at: Vec<DateTime<Utc>>,
    updated_at: Vec<DateTime<Utc>>,
    completed_at: Vec<Option<DateTime<Utc>>>,
    duration_seconds: Vec<Option<i64>>,
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

impl<'a> RunColumns<'a> {
    fn of(batch: &'a [IncomingDelivery]) -> Self {
        let mut c = Self::default();
        let runs = first_copies(batch).filter_map(|(guid, e)| match e {
            Effect::Execution(run) => Some((guid, run)),
            _ => None,
        });
        for (ord, (guid, e)) in runs.enumerate() {
            c.guid.push(guid);
            c.ord.push(ord as i64);
            c.run_id.push(e.run_id);
            c.run_attempt.push(e.run_attempt);
            c.repository.push(&e.repository);
            c.repo_key.push(e.repository.to_lowercase());
            c.workflow_path.push(&e.workflow_path);
            c.workflow_name.push(e.workflow_name.as_deref());
            c.status.push(e.status.as_str());
            c.status_rank.push(e.status.rank());
            c.conclusion.push(e.conclusion.as_ref().map(Conclusion::as_str));
            c.branch.push(e.branch.as_deref());
            c.head_sha.push(e.head_sha.as_deref());
            c.event.push(e.event.as_deref());
            c.run_number.push(e.run_number);
            c.actor.push(e.actor.as_deref());
            c.html_url.push(e.html_url.as_deref());
            c.created_at.push(e.created_at);
            c.started_at.push(e.started_at);
            c.updated_at.push(e.updated_at);
            c.completed_at.push(e.completed_at);
            c.duration_seconds.push(e.duration_seconds());
        }
        c
    }
}

/// The jobs of the batch's deliveries, column by column, as `RunColumns`.
#[derive(Default)]
struct JobColumns<'a> {
    guid: Vec<&'a str>,
    ord: Vec<i64>,
    job_id: Vec<i64>,
    run_id: Vec<i64>,
    run_attempt: Vec<i64>,
    repo_key: Vec<String>,
    name: Vec<&'a str>,
    status: Vec<&'a str>,
    status_rank: Vec<i64>,
    conclusion: Vec<Option<&'a str>>,
    runner_name: Vec<Option<&'a str>>,
    html_url: Vec<Option<&'a str>>,
    started_at: Vec<Option<DateTime<Utc>>>,
    completed_at: Vec<Option<DateTime<Utc>>>,
    updated_at: Vec<DateTime<Utc>>,
    steps: Vec<Json<&'a serde_json::Value>>,
}

impl<'a> JobColumns<'a> {
    fn of(batch: &'a [IncomingDelivery]) -> Self {
        let mut c = Self::default();
        let jobs = first_copies(batch).filter_map(|(guid, e)| match e {
            Effect::Job(job) => Some((guid, job)),
            _ => None,
        });
        for (ord, (guid, j)) in jobs.enumerate() {
            c.guid.push(guid);
            c.ord.push(ord as i64);
            c.job_id.push(j.job_id);
            c.run_id.push(j.run_id);
            c.run_attempt.push(j.run_attempt);
            c.repo_key.push(j.repository.to_lowercase());
            c.name.push(&j.name);
            c.status.push(j.status.as_str());
            c.status_rank.push(j.status.rank());
            c.conclusion.push(j.conclusion.as_ref().map(Conclusion::as_str));
            c.runner_name.push(j.runner_name.as_deref());
            c.html_url.push(j.html_url.as_deref());
            c.started_at.push(j.started_at);
            c.completed_at.push(j.completed_at);
            c.updated_at.push(j.updated_at);
            c.steps.push(Json(&j.steps));
        }
        c
    }
}
