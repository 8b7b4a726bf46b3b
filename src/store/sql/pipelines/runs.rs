//! How run attempts and jobs are upserted: the statements, the rules that move a stored row
//! forward and never back, and the merge of a batch's records of one attempt or job.

use sqlx::AssertSqlSafe;

use crate::store::rows::{WrittenRow, column_names};
use crate::store::sql::chunks::statement_chunks;
use crate::store::sql::db::{On, query};
use crate::store::{ExecutionRecord, JobRecord, StoreResult};

/// See `PipelineStore::upsert_execution`; on a pool or in a transaction.
pub(crate) async fn upsert_execution(on: impl Into<On<'_>>, e: &ExecutionRecord) -> StoreResult<bool> {
    Ok(!upsert_execution_chunk(on, &[e]).await?.is_empty())
}

/// Many run attempts in a few multi-row statements (see `chunks`). Records of the same attempt
/// are merged first, keeping the most advanced one. Returns the attempts that were inserted or
/// moved forward.
pub(crate) async fn upsert_executions(on: &mut On<'_>, records: &[&ExecutionRecord]) -> StoreResult<Vec<(i64, i64)>> {
    let latest = latest_attempts(records);
    let mut moved = Vec::new();
    for chunk in statement_chunks(on.backend(), &latest) {
        moved.extend(upsert_execution_chunk(&mut *on, chunk).await?);
    }
    Ok(moved)
}

/// One multi-row upsert of distinct run attempts (see `chunks` for its sizes).
async fn upsert_execution_chunk(on: impl Into<On<'_>>, latest: &[&ExecutionRecord]) -> StoreResult<Vec<(i64, i64)>> {
    let now = crate::domain::clock::now();
    Ok(query(AssertSqlSafe(upsert_executions_sql(latest.len())))
        .bind_all(latest.iter().flat_map(|e| e.cells(now)))
        .fetch_all(on)
        .await?)
}

/// See `PipelineStore::upsert_job`; on a pool or in a transaction.
pub(crate) async fn upsert_job(on: impl Into<On<'_>>, j: &JobRecord) -> StoreResult<bool> {
    let now = crate::domain::clock::now();
    Ok(query(UPSERT_JOB_SQL.as_str()).bind_all(j.cells(now)).execute(on).await? > 0)
}

/// The records of each run attempt merged into the most advanced one (by state rank, then
/// `updated_at`), in (run, attempt) order.
pub(crate) fn latest_attempts<'a>(records: &[&'a ExecutionRecord]) -> Vec<&'a ExecutionRecord> {
    let mut latest: std::collections::BTreeMap<(i64, i64), &ExecutionRecord> = std::collections::BTreeMap::new();
    for e in records {
        let rank = |r: &ExecutionRecord| (r.status.rank(), r.updated_at);
        let slot = latest.entry((e.run_id, e.run_attempt)).or_insert(e);
        if rank(e) > rank(slot) {
            *slot = e;
        }
    }
    latest.into_values().collect()
}

/// The records an upsert of `records` applied, given the attempts it reports as moved: for each
/// such attempt, the one record `latest_attempts` picked. When a batch holds several records of
/// one attempt (requested and in_progress together), only the applied one is reported as a
/// change, so live subscribers see the state that was stored. Records are told apart by
/// address (`record_address`): equal records of one attempt are still distinct deliveries.
pub(crate) fn applied_records(
    records: &[&ExecutionRecord],
    moved: &std::collections::HashSet<(i64, i64)>,
) -> std::collections::HashSet<usize> {
    latest_attempts(records)
        .into_iter()
        .filter(|r| moved.contains(&(r.run_id, r.run_attempt)))
        .map(record_address)
        .collect()
}

/// Identifies one record among `applied_records`' (an address kept as a number, never read
/// through, so that it can cross `await`s).
pub(crate) fn record_address(record: &ExecutionRecord) -> usize {
    record as *const ExecutionRecord as usize
}

/// Inserts `rows` run attempts or moves stored ones forward (never back: a lower state rank, or
/// an older update of the same rank, changes nothing); returns the attempts that changed. Binds
/// each row's `ExecutionRecord::cells`.
pub(crate) fn upsert_executions_sql(rows: usize) -> String {
    format!(
        "INSERT INTO executions ({}) VALUES {} {EXECUTION_CONFLICT} RETURNING run_id, run_attempt",
        column_names(ExecutionRecord::COLUMNS),
        crate::store::sql::chunks::values_placeholders(rows, ExecutionRecord::COLUMNS.len())
    )
}

/// How an upsert of run attempts moves a stored attempt forward, never back.
pub(crate) const EXECUTION_CONFLICT: &str = "ON CONFLICT (run_id, run_attempt) DO UPDATE SET \
       status = excluded.status, status_rank = excluded.status_rank, \
       conclusion = COALESCE(excluded.conclusion, executions.conclusion), \
       workflow_name = COALESCE(excluded.workflow_name, executions.workflow_name), \
       branch = COALESCE(excluded.branch, executions.branch), \
       head_sha = COALESCE(excluded.head_sha, executions.head_sha), \
       event = COALESCE(excluded.event, executions.event), \
       run_number = COALESCE(excluded.run_number, executions.run_number), \
       actor = COALESCE(excluded.actor, executions.actor), \
       html_url = COALESCE(excluded.html_url, executions.html_url), \
       started_at = excluded.started_at, updated_at = excluded.updated_at, \
       completed_at = COALESCE(excluded.completed_at, executions.completed_at), \
       duration_seconds = COALESCE(excluded.duration_seconds, executions.duration_seconds), \
       recorded_at = excluded.recorded_at \
     WHERE excluded.status_rank > executions.status_rank \
        OR (excluded.status_rank = executions.status_rank AND excluded.updated_at > executions.updated_at)";

/// Inserts a job or moves a stored one forward, as `upsert_executions_sql` does runs. Binds the
/// job's `JobRecord::cells`.
pub(crate) static UPSERT_JOB_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "INSERT INTO jobs ({}) VALUES {} {JOB_CONFLICT}",
        column_names(JobRecord::COLUMNS),
        crate::store::sql::chunks::values_placeholders(1, JobRecord::COLUMNS.len())
    )
});

/// How an upsert of jobs moves a stored job forward, never back.
pub(crate) const JOB_CONFLICT: &str = "ON CONFLICT (job_id) DO UPDATE SET \
       name = excluded.name, status = excluded.status, status_rank = excluded.status_rank, \
       conclusion = COALESCE(excluded.conclusion, jobs.conclusion), \
       runner_name = COALESCE(excluded.runner_name, jobs.runner_name), \
       html_url = COALESCE(excluded.html_url, jobs.html_url), \
       started_at = COALESCE(excluded.started_at, jobs.started_at), \
       completed_at = COALESCE(excluded.completed_at, jobs.completed_at), \
       updated_at = excluded.updated_at, steps = excluded.steps \
     WHERE excluded.status_rank > jobs.status_rank \
        OR (excluded.status_rank = jobs.status_rank AND excluded.updated_at > jobs.updated_at)";

/// The records of each job merged into the most advanced one, as `latest_attempts` does runs,
/// in job order (the lock order of every writer).
pub(crate) fn latest_jobs<'a>(records: &[&'a JobRecord]) -> Vec<&'a JobRecord> {
    let mut latest: std::collections::BTreeMap<i64, &JobRecord> = std::collections::BTreeMap::new();
    for j in records {
        let rank = |r: &JobRecord| (r.status.rank(), r.updated_at);
        let slot = latest.entry(j.job_id).or_insert(j);
        if rank(j) > rank(slot) {
            *slot = j;
        }
    }
    latest.into_values().collect()
}

/// The job records an upsert of `records` applied, given the jobs it reports as moved (see
/// `applied_records`; told apart by `job_address`).
pub(crate) fn applied_jobs(
    records: &[&JobRecord],
    moved: &std::collections::HashSet<i64>,
) -> std::collections::HashSet<usize> {
    latest_jobs(records).into_iter().filter(|j| moved.contains(&j.job_id)).map(job_address).collect()
}

/// Identifies one record among `applied_jobs`' (see `record_address`).
pub(crate) fn job_address(record: &JobRecord) -> usize {
    record as *const JobRecord as usize
}
