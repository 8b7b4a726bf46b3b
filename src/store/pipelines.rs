//! Pipelines, their executions and the audit log.

use async_trait::async_trait;
use chrono::{DateTime, DurationRound, Utc};

use super::rows::{ReadRow, WrittenRow, column_names, qualified_names};
use super::*;

#[async_trait]
pub trait PipelineStore {
    /// A cheap round trip, for readiness checks.
    async fn ping(&self) -> StoreResult<()>;

    /// Inserts a new pipeline and its audit entry in one transaction.
    /// Fails with `Conflict` when the repository and workflow file already have a pipeline.
    async fn create_pipeline(&self, pipeline: &Pipeline, audit: &NewAudit) -> StoreResult<()>;

    async fn get_pipeline(&self, id: &str) -> StoreResult<Option<Pipeline>>;

    /// A pipeline and whether a history backfill of it is running, in one statement (what a
    /// stats request needs besides the stats).
    async fn get_pipeline_for_stats(&self, id: &str) -> StoreResult<Option<(Pipeline, bool)>>;

    /// The pipeline of a repository (case-insensitive) and workflow file, active or not.
    async fn find_pipeline(&self, repository: &str, workflow_file: &str) -> StoreResult<Option<Pipeline>>;

    async fn list_pipelines(&self, filter: &PipelineFilter) -> StoreResult<Page<Pipeline>>;

    /// Writes the mutable fields of `pipeline` (status, config, links, deactivated_at) and its
    /// audit entry in one transaction, if the stored row still has `pipeline.version`.
    /// Returns the saved pipeline (version incremented), or `None` when another writer got there
    /// first: re-read and decide again.
    async fn save_pipeline(&self, pipeline: &Pipeline, audit: &NewAudit) -> StoreResult<Option<Pipeline>>;

    /// Records a workflow run attempt. The stored row only moves forward: a record whose state
    /// rank is lower, or equal with an older or equal `updated_at`, changes nothing.
    /// Returns whether the row was inserted or changed.
    async fn upsert_execution(&self, execution: &ExecutionRecord) -> StoreResult<bool>;

    /// Records a job of a run attempt; like executions, a job never moves backwards.
    async fn upsert_job(&self, job: &JobRecord) -> StoreResult<bool>;

    async fn get_execution(&self, run_id: i64, run_attempt: i64) -> StoreResult<Option<Execution>>;

    async fn get_workflow_job(&self, job_id: i64) -> StoreResult<Option<Job>>;

    /// The jobs of a run attempt, in the order they started.
    async fn list_jobs(&self, run_id: i64, run_attempt: i64) -> StoreResult<Vec<Job>>;

    /// Executions of a pipeline's scope, newest first.
    async fn list_executions(&self, scope: &ExecutionScope, limit: i64, offset: i64) -> StoreResult<Page<Execution>>;

    /// The figures the stats endpoint and the health score are computed from.
    async fn stats_snapshot(&self, scope: &ExecutionScope, now: DateTime<Utc>) -> StoreResult<StatsSnapshot>;

    /// A pipeline, whether a history backfill of it runs, and the stats of `scope` (the scope the
    /// caller expects it to have: compare with its `execution_scope()`), in one statement.
    async fn pipeline_with_stats(
        &self,
        id: &str,
        scope: &ExecutionScope,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<(Pipeline, bool, StatsSnapshot)>>;

    /// `stats_snapshot` of each scope, in order; cheaper than one call each (the live publisher
    /// reads dozens of pipelines' stats at once).
    async fn stats_snapshots(&self, scopes: &[ExecutionScope], now: DateTime<Utc>) -> StoreResult<Vec<StatsSnapshot>>;

    async fn list_audit(&self, filter: &AuditFilter) -> StoreResult<Page<AuditRecord>>;
}

/// Completed runs that count towards success rates and durations (skipped runs never ran).
pub(crate) const COUNTED: &str = "status = 'completed' AND COALESCE(conclusion, '') <> 'skipped'";

/// `WHERE` clause selecting a pipeline's executions; binds `$1` (repo key) and `$2` (workflow
/// path), and the branches from `$first_branch_param` on.
pub(crate) fn scope_clause(scope: &ExecutionScope, first_branch_param: usize) -> String {
    let mut clause = String::from("repo_key = $1 AND workflow_path = $2");
    if !scope.branches.is_empty() {
        let params: Vec<String> = (0..scope.branches.len()).map(|i| format!("${}", first_branch_param + i)).collect();
        clause.push_str(&format!(" AND branch IN ({})", params.join(", ")));
    }
    clause
}

/// Every figure of a pipeline's stats in one statement: the 24-hour window, the 7-day baseline,
/// the last ten runs, the open runs and the latest run with its jobs (`l.*`, NULL without runs).
///
/// The windows' sums come from the hourly roll-ups (`execution_hours`, migration 0006) for their
/// whole hours and from the runs themselves for the partial hours at their edges. Binds the
/// `StatsBounds` as `$1`..`$7`, then the branches.
pub(crate) fn stats_sql(scope: &ExecutionScope) -> String {
    let s = scope_clause(scope, 8);
    let runs = |range: &str| {
        format!(
            "(SELECT COUNT(*) AS runs, COUNT(*) FILTER (WHERE conclusion = 'success') AS successes, \
                COALESCE(SUM(duration_seconds), 0) AS duration_sum, COUNT(duration_seconds) AS durations \
              FROM executions WHERE {s} AND {range} AND {COUNTED})"
        )
    };
    let hours = |range: &str| {
        format!(
            "(SELECT COALESCE(SUM(runs), 0) AS runs, COALESCE(SUM(successes), 0) AS successes, \
                COALESCE(SUM(duration_sum), 0) AS duration_sum, COALESCE(SUM(durations), 0) AS durations \
              FROM execution_hours WHERE {s} AND {range})"
        )
    };
    format!(
        "SELECT l.*, CAST(d1.runs + d2.runs AS BIGINT) AS runs, \
           CAST(d1.successes + d2.successes AS BIGINT) AS successes, \
           CAST(d1.duration_sum + d2.duration_sum AS DOUBLE PRECISION) \
             / CAST(NULLIF(d1.durations + d2.durations, 0) AS DOUBLE PRECISION) AS avg_duration, \
           CAST(b1.duration_sum + b2.duration_sum + b3.duration_sum AS DOUBLE PRECISION) \
             / CAST(NULLIF(b1.durations + b2.durations + b3.durations, 0) AS DOUBLE PRECISION) AS baseline, \
           (SELECT COUNT(*) FROM (SELECT 1 AS one FROM executions WHERE {s} AND {COUNTED} \
              ORDER BY started_at DESC, run_id DESC LIMIT 10) r) AS recent_runs, \
           (SELECT COUNT(*) FROM (SELECT conclusion FROM executions WHERE {s} AND {COUNTED} \
              ORDER BY started_at DESC, run_id DESC LIMIT 10) r WHERE r.conclusion = 'success') AS recent_successes, \
           (SELECT conclusion FROM executions WHERE {s} AND {COUNTED} \
              ORDER BY started_at DESC, run_id DESC, run_attempt DESC LIMIT 1) AS last_conclusion, \
           (SELECT COUNT(*) FROM executions WHERE {s} AND status <> 'completed' AND status = 'in_progress') AS active, \
           (SELECT COUNT(*) FROM executions WHERE {s} AND status <> 'completed' AND status <> 'in_progress') AS queued, \
           (SELECT MAX(received_at) FROM deliveries WHERE repo_key = $1) AS last_delivery \
         FROM {d1} d1 CROSS JOIN {d2} d2 CROSS JOIN {b1} b1 CROSS JOIN {b2} b2 CROSS JOIN {b3} b3 \
         LEFT JOIN ({last}) l ON 1 = 1",
        d1 = runs("started_at >= $3 AND started_at < $5"),
        d2 = hours("hour >= $5"),
        b1 = runs("started_at >= $4 AND started_at < $7"),
        b2 = hours("hour >= $7 AND hour < $6"),
        b3 = runs("started_at >= $6 AND started_at < $3"),
        last = last_run_sql(scope),
    )
}

/// `stats_sql` for many scopes without branch filters in one statement (PostgreSQL): binds
/// `$1`, `$2` the arrays of repo keys and workflow paths, `$3`..`$7` as `stats_sql`; one row per
/// scope with its 1-based `scope_index` after the stats' columns. Planning and a round trip per pipeline cost far more
/// than the index reads of its stats.
pub(crate) fn bulk_stats_sql() -> String {
    let one = stats_sql(&ExecutionScope { repository: String::new(), workflow_path: String::new(), branches: vec![] });
    let correlated = one.replace("$1", "s.repo_key").replace("$2", "s.workflow_path");
    format!(
        "SELECT t.*, s.scope_index \
         FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS s(repo_key, workflow_path, scope_index) \
         CROSS JOIN LATERAL ({correlated}) t ORDER BY s.scope_index"
    )
}

/// The bounds of a pipeline's stats windows at `now`, in the order `stats_sql` binds them after
/// the repository key and workflow path: the 24-hour window is `[day_ago, ∞)`, the baseline
/// `[baseline_from, day_ago)`; each is cut at whole hours, which the roll-ups answer.
pub(crate) struct StatsBounds {
    /// `$3`: 24 hours ago.
    pub day_ago: DateTime<Utc>,
    /// `$4`: the baseline's start, 7 days before `day_ago`.
    pub baseline_from: DateTime<Utc>,
    /// `$5`: the first whole hour after `day_ago` starts.
    pub day_hours_from: DateTime<Utc>,
    /// `$6`: the hour `day_ago` falls in.
    pub day_hour: DateTime<Utc>,
    /// `$7`: the first whole hour after `baseline_from` starts.
    pub baseline_hours_from: DateTime<Utc>,
}

impl StatsBounds {
    pub fn at(now: DateTime<Utc>) -> Self {
        let day_ago = now - chrono::Duration::hours(24);
        let baseline_from = day_ago - chrono::Duration::days(7);
        let hour_of = |at: DateTime<Utc>| at.duration_trunc(chrono::Duration::hours(1)).unwrap_or(at);
        let day_hour = hour_of(day_ago);
        Self {
            day_ago,
            baseline_from,
            day_hours_from: day_hour + chrono::Duration::hours(1),
            day_hour,
            baseline_hours_from: hour_of(baseline_from) + chrono::Duration::hours(1),
        }
    }
}

/// `WHERE` clause of a pipeline listing with only the filters that are set (`$1` the status,
/// then the repo key; see `Filters`).
pub(crate) fn pipeline_filter_clause(filter: &PipelineFilter) -> String {
    super::filters::Filters::new(&[
        ("status", filter.status.as_ref().map(|s| s.as_str())),
        ("repo_key", filter.repository.as_deref()),
    ])
    .clause()
    .to_string()
}

/// The number of pipelines a listing matches, with the filters' parameters of
/// `pipeline_filter_clause`. Without a repository filter it comes from `pipeline_counts`, kept by
/// triggers (migration 0005): one row read, however many pipelines.
pub(crate) fn pipeline_count_sql(filter: &PipelineFilter) -> String {
    match filter.repository {
        None => format!(
            "SELECT CAST(COALESCE(SUM(pipelines), 0) AS BIGINT) FROM pipeline_counts {}",
            pipeline_filter_clause(filter)
        ),
        Some(_) => format!("SELECT COUNT(*) FROM pipelines {}", pipeline_filter_clause(filter)),
    }
}

/// The number of the first parameter after those of `pipeline_filter_clause`.
fn first_param_after_filters(filter: &PipelineFilter) -> usize {
    1 + usize::from(filter.status.is_some()) + usize::from(filter.repository.is_some())
}

/// One page of pipelines, newest first, after the filters' parameters: `$n` the offset, or with
/// keyset paging `$n`, `$n+1` the creation time and id of the last pipeline already listed.
/// With an offset the inner query walks past `OFFSET` entries of an index holding all it reads
/// (status, created_at, id) and only the page's rows are fetched; with a key the walk starts at
/// the key. The limit is written into the text (it is a number) so that PostgreSQL's generic plan
/// knows the page is small and fetches its rows by id.
pub(crate) fn pipeline_page_sql(filter: &PipelineFilter) -> String {
    let n = first_param_after_filters(filter);
    let filters = pipeline_filter_clause(filter);
    let (condition, offset) = match (&filter.after, filters.is_empty()) {
        (None, _) => (filters, format!("OFFSET ${n}")),
        (Some(_), true) => (format!("WHERE (created_at, id) < (${n}, ${})", n + 1), String::new()),
        (Some(_), false) => (format!("{filters} AND (created_at, id) < (${n}, ${})", n + 1), String::new()),
    };
    format!(
        "SELECT {} FROM pipelines WHERE id IN \
           (SELECT id FROM pipelines {condition} ORDER BY created_at DESC, id DESC LIMIT {} {offset}) \
         ORDER BY created_at DESC, id DESC",
        column_names(Pipeline::COLUMNS),
        filter.limit
    )
}

/// Whether the backfill of pipeline `p` is running.
const BACKFILL_RUNNING: &str =
    "EXISTS (SELECT 1 FROM backfills b WHERE b.pipeline_id = p.id AND b.status = 'running') AS backfill_running";

/// A pipeline (binds `$1`, its id) and `backfill_running`.
pub(crate) fn pipeline_for_stats_sql() -> String {
    format!("SELECT {}, {BACKFILL_RUNNING} FROM pipelines p WHERE p.id = $1", column_names(Pipeline::COLUMNS))
}

/// `stats_sql` beside a pipeline (its columns after the stats', `backfill_running` after them). Binds as `stats_sql`, then the pipeline's id.
pub(crate) fn pipeline_with_stats_sql(scope: &ExecutionScope) -> String {
    format!(
        "SELECT s.*, {}, {BACKFILL_RUNNING} FROM pipelines p CROSS JOIN ({}) s WHERE p.id = ${}",
        qualified_names("p", Pipeline::COLUMNS),
        stats_sql(scope),
        8 + scope.branches.len()
    )
}

/// A page of pipelines and the number the filters match, in one statement (one round trip): the
/// count on every row, and one row of NULLs beside it when the page is empty. Binds as
/// `pipeline_page_sql`, whose filter parameters the count shares.
///
/// With an offset, the page is found from whichever end of the index is nearer: past the middle
/// the walk goes oldest first, `total - offset - limit` entries instead of `offset` (see
/// `from_oldest`), so no page costs more than half the index. Only one branch runs: the others'
/// conditions hold no column, and both databases test them once, before any scan. The outer
/// `LIMIT` tells the planner the page is small, so its rows are fetched by id.
pub(crate) fn pipeline_listing_sql(filter: &PipelineFilter) -> String {
    if filter.after.is_some() {
        return format!(
            "SELECT ({}) AS total, p.* FROM (SELECT 1 AS one) o LEFT JOIN ({}) p ON 1 = 1 \
             ORDER BY p.created_at DESC, p.id DESC",
            pipeline_count_sql(filter),
            pipeline_page_sql(filter)
        );
    }
    let n = first_param_after_filters(filter);
    let limit = filter.limit;
    let filters = pipeline_filter_clause(filter);
    let and = |condition: String| match filters.is_empty() {
        true => format!("WHERE {condition}"),
        false => format!("{filters} AND {condition}"),
    };
    let offset = format!("CAST(${n} AS BIGINT)");
    let total = "(SELECT total FROM c)";
    let newest_first = and(format!("{offset} * 2 + {limit} <= {total}"));
    // Oldest first, the page is the newest `limit` of the `total - offset` oldest entries: skip
    // the others. When fewer than `limit` remain, it is all of them, numbered to stop in time.
    let oldest_first = and(format!("{offset} * 2 + {limit} > {total} AND {total} - {offset} >= {limit}"));
    let last = and(format!("{offset} * 2 + {limit} > {total} AND {total} - {offset} < {limit}"));
    // Evaluated whichever branch runs, so never negative.
    let skip = format!("CASE WHEN {total} - {offset} > {limit} THEN {total} - {offset} - {limit} ELSE 0 END");
    format!(
        "WITH c AS (SELECT ({count}) AS total) \
         SELECT c.total, p.* FROM c LEFT JOIN (\
           SELECT {page} FROM (SELECT id FROM (\
             SELECT id FROM (SELECT id FROM pipelines {newest_first} \
               ORDER BY created_at DESC, id DESC LIMIT {limit} OFFSET {offset}) f \
             UNION ALL \
             SELECT id FROM (SELECT id FROM pipelines {oldest_first} \
               ORDER BY created_at, id LIMIT {limit} OFFSET {skip}) b \
             UNION ALL \
             SELECT id FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY created_at, id) AS position \
               FROM pipelines {last} ORDER BY created_at, id LIMIT {limit}) l \
             WHERE position <= {total} - {offset}\
           ) u LIMIT {limit}) k JOIN pipelines r ON r.id = k.id\
         ) p ON 1 = 1 ORDER BY p.created_at DESC, p.id DESC",
        count = pipeline_count_sql(filter),
        page = qualified_names("r", Pipeline::COLUMNS),
    )
}

/// Whether the page at `offset` is nearer the oldest end of a listing of `total` pipelines (see
/// `pipeline_listing_sql`, whose choice this is).
pub(crate) fn from_oldest(offset: i64, limit: i64, total: i64) -> bool {
    offset * 2 + limit > total
}

/// `pipeline_page_sql` walked oldest first: binds the filters' parameters, then how many of the
/// oldest entries to take and how many to skip before them; the page comes back newest first.
pub(crate) fn pipeline_page_from_oldest_sql(filter: &PipelineFilter) -> String {
    let n = first_param_after_filters(filter);
    format!(
        "SELECT {} FROM pipelines WHERE id IN \
           (SELECT id FROM pipelines {} ORDER BY created_at, id LIMIT ${n} OFFSET ${}) \
         ORDER BY created_at DESC, id DESC",
        column_names(Pipeline::COLUMNS),
        pipeline_filter_clause(filter),
        n + 1
    )
}

/// The latest run of a scope, with the figures of its jobs (branches bound from `$8`).
fn last_run_sql(scope: &ExecutionScope) -> String {
    format!(
        "SELECT {}, \
           (SELECT COUNT(*) FROM jobs j WHERE j.run_id = e.run_id AND j.run_attempt = e.run_attempt) AS jobs_total, \
           (SELECT COUNT(*) FROM jobs j WHERE j.run_id = e.run_id AND j.run_attempt = e.run_attempt \
              AND j.status = 'completed') AS jobs_completed, \
           (SELECT j.name FROM jobs j WHERE j.run_id = e.run_id AND j.run_attempt = e.run_attempt \
              AND j.status = 'in_progress' ORDER BY j.started_at, j.job_id LIMIT 1) AS current_job \
         FROM executions e WHERE {} ORDER BY started_at DESC, run_id DESC, run_attempt DESC LIMIT 1",
        column_names(Execution::COLUMNS),
        scope_clause(scope, 8)
    )
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
        super::chunks::values_placeholders(rows, ExecutionRecord::COLUMNS.len())
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
        super::chunks::values_placeholders(1, JobRecord::COLUMNS.len())
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

macro_rules! pipeline_sql {
    ($store:ident, $db:ty) => {
        use chrono::{DateTime, Utc};
        use sqlx::{AssertSqlSafe, Row};
        use $crate::store::pipelines::{
            StatsBounds, UPSERT_JOB_SQL, latest_attempts, pipeline_for_stats_sql, pipeline_listing_sql,
            pipeline_with_stats_sql, scope_clause, stats_sql, upsert_executions_sql,
        };
        use $crate::store::rows::{ReadRow, WrittenRow, column_names, read_sqlx};
        use $crate::store::*;

        async fn insert_audit(tx: &mut sqlx::Transaction<'_, $db>, audit: &NewAudit) -> StoreResult<()> {
            sqlx::query("INSERT INTO audit_log (at, actor, action, pipeline_id, details) VALUES ($1, $2, $3, $4, $5)")
                .bind($crate::domain::clock::now())
                .bind(&audit.actor)
                .bind(&audit.action)
                .bind(&audit.pipeline_id)
                .bind(sqlx::types::Json(&audit.details))
                .execute(&mut **tx)
                .await?;
            Ok(())
        }

        /// See `PipelineStore::upsert_execution`; on an open connection or transaction.
        pub(in crate::store) async fn upsert_execution(
            conn: &mut <$db as sqlx::Database>::Connection,
            e: &ExecutionRecord,
        ) -> StoreResult<bool> {
            Ok(!upsert_executions(conn, &[e]).await?.is_empty())
        }

        /// Many run attempts in a few multi-row statements (see `chunks`).
        /// Records of the same attempt are merged first, keeping the most advanced one. Returns
        /// the attempts that were inserted or moved forward.
        pub(in crate::store) async fn upsert_executions(
            conn: &mut <$db as sqlx::Database>::Connection,
            records: &[&ExecutionRecord],
        ) -> StoreResult<Vec<(i64, i64)>> {
            let latest = latest_attempts(records);
            let mut moved = Vec::new();
            for chunk in $crate::store::chunks::statement_chunks::<$db, _>(&latest) {
                moved.extend(upsert_execution_chunk(conn, chunk).await?);
            }
            Ok(moved)
        }

        /// One multi-row upsert of distinct run attempts (see `chunks` for its sizes).
        async fn upsert_execution_chunk(
            conn: &mut <$db as sqlx::Database>::Connection,
            latest: &[&ExecutionRecord],
        ) -> StoreResult<Vec<(i64, i64)>> {
            let sql = upsert_executions_sql(latest.len());
            let now = $crate::domain::clock::now();
            let args = $crate::store::rows::arguments::<$db>(latest.iter().map(|e| e.cells(now)))?;
            Ok(sqlx::query_as_with::<_, (i64, i64), _>(AssertSqlSafe(sql), args).fetch_all(&mut *conn).await?)
        }

        /// See `PipelineStore::upsert_job`; on an open connection or transaction.
        pub(in crate::store) async fn upsert_job(
            conn: &mut <$db as sqlx::Database>::Connection,
            j: &JobRecord,
        ) -> StoreResult<bool> {
            let args = $crate::store::rows::arguments::<$db>([j.cells($crate::domain::clock::now())])?;
            let result = sqlx::query_with(UPSERT_JOB_SQL.as_str(), args).execute(&mut *conn).await?;
            Ok(result.rows_affected() > 0)
        }

        /// `query` with the stats windows at `now` bound as `$3`..`$7` (see `StatsBounds`).
        pub(in crate::store) fn bind_windows<'q>(
            query: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments>,
            now: DateTime<Utc>,
        ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments> {
            let bounds = StatsBounds::at(now);
            query
                .bind(bounds.day_ago)
                .bind(bounds.baseline_from)
                .bind(bounds.day_hours_from)
                .bind(bounds.day_hour)
                .bind(bounds.baseline_hours_from)
        }

        /// `sql` (`stats_sql` or a statement binding as it does) with the scope and the windows
        /// at `now` bound; the caller binds what follows the branches.
        fn stats_query<'q>(
            sql: String,
            scope: &'q ExecutionScope,
            now: DateTime<Utc>,
        ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments> {
            let query =
                sqlx::query(AssertSqlSafe(sql)).bind(scope.repository.to_lowercase()).bind(&scope.workflow_path);
            let mut query = bind_windows(query, now);
            for branch in &scope.branches {
                query = query.bind(branch);
            }
            query
        }

        /// The pipeline of a `pipeline_with_stats_sql` row: its columns before `backfill_running`,
        /// the last.
        fn pipeline_beside_stats(row: &<$db as sqlx::Database>::Row) -> StoreResult<Pipeline> {
            Ok(read_sqlx(row, row.len() - Pipeline::COLUMNS.len() - 1)?)
        }

        /// A row of `stats_sql` (or one starting with its columns) as the figures it holds.
        pub(in crate::store) fn snapshot_from_row(row: &<$db as sqlx::Database>::Row) -> StoreResult<StatsSnapshot> {
            let has_run = row.try_get::<Option<i64>, _>("run_id")?.is_some();
            let last_run = if has_run { Some(read_sqlx(row, 0)?) } else { None };
            let (jobs_total, jobs_completed, current_job) = if has_run {
                (row.try_get("jobs_total")?, row.try_get("jobs_completed")?, row.try_get("current_job")?)
            } else {
                (0, 0, None)
            };
            Ok(StatsSnapshot {
                runs_24h: row.try_get("runs")?,
                successes_24h: row.try_get("successes")?,
                avg_duration_24h: row.try_get("avg_duration")?,
                avg_duration_baseline: row.try_get("baseline")?,
                recent_runs: row.try_get("recent_runs")?,
                recent_successes: row.try_get("recent_successes")?,
                last_conclusion: row.try_get("last_conclusion")?,
                active_runs: row.try_get("active")?,
                queued_runs: row.try_get("queued")?,
                last_run,
                jobs_total,
                jobs_completed,
                current_job,
                last_delivery_at: row.try_get("last_delivery")?,
            })
        }

        #[async_trait::async_trait]
        impl PipelineStore for $store {
            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn create_pipeline(&self, p: &Pipeline, audit: &NewAudit) -> StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                sqlx::query(
                    "INSERT INTO pipelines (id, repository, repo_key, workflow_file, status, config, \
                       linked_domain, linked_app, version, created_at, updated_at, deactivated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(&p.id)
                .bind(&p.repository)
                .bind(p.repository.to_lowercase())
                .bind(&p.workflow_file)
                .bind(&p.status)
                .bind(&p.config)
                .bind(&p.linked_domain)
                .bind(&p.linked_app)
                .bind(p.version)
                .bind(p.created_at)
                .bind(p.updated_at)
                .bind(p.deactivated_at)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                insert_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn get_pipeline(&self, id: &str) -> StoreResult<Option<Pipeline>> {
                if let Some(reader) = self.inline_reader() {
                    return reader.get_pipeline(id);
                }
                let sql = format!("SELECT {} FROM pipelines WHERE id = $1", column_names(Pipeline::COLUMNS));
                Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_optional(&self.pool).await?)
            }

            async fn get_pipeline_for_stats(&self, id: &str) -> StoreResult<Option<(Pipeline, bool)>> {
                if let Some(reader) = self.inline_reader() {
                    return reader.get_pipeline_for_stats(id);
                }
                let row =
                    sqlx::query(AssertSqlSafe(pipeline_for_stats_sql())).bind(id).fetch_optional(&self.pool).await?;
                row.map(|row| Ok((read_sqlx(&row, 0)?, row.try_get::<bool, _>("backfill_running")?))).transpose()
            }

            async fn find_pipeline(&self, repository: &str, workflow_file: &str) -> StoreResult<Option<Pipeline>> {
                let sql = format!(
                    "SELECT {} FROM pipelines WHERE repo_key = $1 AND workflow_file = $2",
                    column_names(Pipeline::COLUMNS)
                );
                Ok(sqlx::query_as(AssertSqlSafe(sql))
                    .bind(repository.to_lowercase())
                    .bind(workflow_file)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn list_pipelines(&self, f: &PipelineFilter) -> StoreResult<Page<Pipeline>> {
                if let Some(reader) = self.inline_reader() {
                    return reader.list_pipelines(f);
                }
                let repo_key = f.repository.as_ref().map(|r| r.to_lowercase());
                let mut query = sqlx::query(AssertSqlSafe(pipeline_listing_sql(f)));
                for value in [f.status.map(|s| s.as_str()), repo_key.as_deref()].into_iter().flatten() {
                    query = query.bind(value);
                }
                let rows = match &f.after {
                    None => query.bind(f.offset),
                    Some((created_at, id)) => query.bind(*created_at).bind(id),
                }
                .fetch_all(&self.pool)
                .await?;
                let total: i64 = rows.first().map(|row| row.try_get("total")).transpose()?.unwrap_or(0);
                let mut items = Vec::with_capacity(rows.len());
                for row in &rows {
                    // An empty page is one row of NULLs beside the count.
                    if row.try_get::<Option<String>, _>("id")?.is_some() {
                        items.push(read_sqlx(row, 1)?);
                    }
                }
                Ok(Page { items, total })
            }

            async fn save_pipeline(&self, p: &Pipeline, audit: &NewAudit) -> StoreResult<Option<Pipeline>> {
                let mut tx = self.pool.begin().await?;
                let sql = format!(
                    "UPDATE pipelines SET status = $2, config = $3, linked_domain = $4, linked_app = $5, \
                       updated_at = $6, deactivated_at = $7, version = version + 1 \
                     WHERE id = $1 AND version = $8 RETURNING {}",
                    column_names(Pipeline::COLUMNS)
                );
                let saved: Option<Pipeline> = sqlx::query_as(AssertSqlSafe(sql))
                    .bind(&p.id)
                    .bind(&p.status)
                    .bind(&p.config)
                    .bind(&p.linked_domain)
                    .bind(&p.linked_app)
                    .bind(p.updated_at)
                    .bind(p.deactivated_at)
                    .bind(p.version)
                    .fetch_optional(&mut *tx)
                    .await?;
                if saved.is_some() {
                    insert_audit(&mut tx, audit).await?;
                    tx.commit().await?;
                }
                Ok(saved)
            }

            async fn upsert_execution(&self, e: &ExecutionRecord) -> StoreResult<bool> {
                let mut conn = self.pool.acquire().await?;
                upsert_execution(&mut conn, e).await
            }

            async fn upsert_job(&self, job: &JobRecord) -> StoreResult<bool> {
                let mut conn = self.pool.acquire().await?;
                upsert_job(&mut conn, job).await
            }

            async fn get_execution(&self, run_id: i64, run_attempt: i64) -> StoreResult<Option<Execution>> {
                let sql = format!(
                    "SELECT {} FROM executions WHERE run_id = $1 AND run_attempt = $2",
                    column_names(Execution::COLUMNS)
                );
                Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(run_id).bind(run_attempt).fetch_optional(&self.pool).await?)
            }

            async fn get_workflow_job(&self, job_id: i64) -> StoreResult<Option<Job>> {
                Ok(sqlx::query_as(
                    "SELECT job_id, run_id, run_attempt, name, status, conclusion, runner_name, html_url, \
                       started_at, completed_at, steps FROM jobs WHERE job_id = $1",
                )
                .bind(job_id)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn list_jobs(&self, run_id: i64, run_attempt: i64) -> StoreResult<Vec<Job>> {
                Ok(sqlx::query_as(
                    "SELECT job_id, run_id, run_attempt, name, status, conclusion, runner_name, html_url, \
                       started_at, completed_at, steps \
                     FROM jobs WHERE run_id = $1 AND run_attempt = $2 ORDER BY started_at, job_id",
                )
                .bind(run_id)
                .bind(run_attempt)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn list_executions(
                &self,
                scope: &ExecutionScope,
                limit: i64,
                offset: i64,
            ) -> StoreResult<Page<Execution>> {
                let clause = scope_clause(scope, 3);
                let count_sql = format!("SELECT COUNT(*) FROM executions WHERE {clause}");
                let mut count = sqlx::query_scalar(AssertSqlSafe(count_sql))
                    .bind(scope.repository.to_lowercase())
                    .bind(&scope.workflow_path);
                for branch in &scope.branches {
                    count = count.bind(branch);
                }
                let total: i64 = count.fetch_one(&self.pool).await?;
                let n = 3 + scope.branches.len();
                let sql = format!(
                    "SELECT {} FROM executions WHERE {clause} \
                     ORDER BY started_at DESC, run_id DESC, run_attempt DESC LIMIT ${n} OFFSET ${}",
                    column_names(Execution::COLUMNS),
                    n + 1
                );
                let mut query =
                    sqlx::query_as(AssertSqlSafe(sql)).bind(scope.repository.to_lowercase()).bind(&scope.workflow_path);
                for branch in &scope.branches {
                    query = query.bind(branch);
                }
                let items = query.bind(limit).bind(offset).fetch_all(&self.pool).await?;
                Ok(Page { items, total })
            }

            async fn stats_snapshot(&self, scope: &ExecutionScope, now: DateTime<Utc>) -> StoreResult<StatsSnapshot> {
                if let Some(reader) = self.inline_reader() {
                    return reader.stats_snapshot(scope, now);
                }
                snapshot_from_row(&stats_query(stats_sql(scope), scope, now).fetch_one(&self.pool).await?)
            }

            async fn pipeline_with_stats(
                &self,
                id: &str,
                scope: &ExecutionScope,
                now: DateTime<Utc>,
            ) -> StoreResult<Option<(Pipeline, bool, StatsSnapshot)>> {
                if let Some(reader) = self.inline_reader() {
                    let Some((pipeline, backfill)) = reader.get_pipeline_for_stats(id)? else { return Ok(None) };
                    return Ok(Some((pipeline, backfill, reader.stats_snapshot(scope, now)?)));
                }
                let query = stats_query(pipeline_with_stats_sql(scope), scope, now).bind(id);
                let Some(row) = query.fetch_optional(&self.pool).await? else { return Ok(None) };
                Ok(Some((pipeline_beside_stats(&row)?, row.try_get("backfill_running")?, snapshot_from_row(&row)?)))
            }

            async fn stats_snapshots(
                &self,
                scopes: &[ExecutionScope],
                now: DateTime<Utc>,
            ) -> StoreResult<Vec<StatsSnapshot>> {
                self.stats_in_bulk(scopes, now).await
            }

            async fn list_audit(&self, f: &AuditFilter) -> StoreResult<Page<AuditRecord>> {
                let filters = $crate::store::filters::Filters::new(&[
                    ("pipeline_id", f.pipeline_id.as_deref()),
                    ("action", f.action.as_deref()),
                ]);
                Ok($crate::store::filters::filtered_page!(
                    &self.pool,
                    "audit_log",
                    "id, at, actor, action, pipeline_id, details",
                    "id DESC",
                    filters,
                    f.limit,
                    f.offset,
                ))
            }
        }
    };
}

pub(crate) use pipeline_sql;
