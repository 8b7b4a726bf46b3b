//! What a pipeline's stats are read from: the statement of one scope's figures, of many scopes'
//! at once (PostgreSQL), and of a pipeline beside its stats; the windows they are counted in.

use chrono::{DateTime, DurationRound, Utc};

use sqlx::AssertSqlSafe;

use crate::store::rows::{ReadRow, column_names, qualified_names};
use crate::store::sql::db::{Query, Row, query};
use crate::store::{Execution, ExecutionScope, Pipeline, StatsSnapshot, StoreResult};

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

/// `sql` (with a `scope_clause` whose branches start at `$3`) with the scope bound; the caller
/// binds what follows the branches.
pub(crate) fn scope_query(sql: String, scope: &ExecutionScope) -> Query<'_> {
    query(AssertSqlSafe(sql)).bind(scope.repository.to_lowercase()).bind(&scope.workflow_path).bind_all(&scope.branches)
}

/// `sql` (`stats_sql` or a statement binding as it does) with the scope and the windows at `now`
/// bound; the caller binds what follows the branches.
pub(crate) fn stats_query(sql: String, scope: &ExecutionScope, now: DateTime<Utc>) -> Query<'_> {
    query(AssertSqlSafe(sql))
        .bind(scope.repository.to_lowercase())
        .bind(&scope.workflow_path)
        .bind_all(StatsBounds::at(now).in_order())
        .bind_all(&scope.branches)
}

/// A row of `stats_sql` (or one starting with its columns) as the figures it holds.
pub(crate) fn snapshot_from_row(row: &Row) -> StoreResult<StatsSnapshot> {
    let has_run = row.get::<Option<i64>>("run_id")?.is_some();
    let last_run = if has_run { Some(row.read(0)?) } else { None };
    let (jobs_total, jobs_completed, current_job) = if has_run {
        (row.get("jobs_total")?, row.get("jobs_completed")?, row.get("current_job")?)
    } else {
        (0, 0, None)
    };
    Ok(StatsSnapshot {
        runs_24h: row.get("runs")?,
        successes_24h: row.get("successes")?,
        avg_duration_24h: row.get("avg_duration")?,
        avg_duration_baseline: row.get("baseline")?,
        recent_runs: row.get("recent_runs")?,
        recent_successes: row.get("recent_successes")?,
        last_conclusion: row.get("last_conclusion")?,
        active_runs: row.get("active")?,
        queued_runs: row.get("queued")?,
        last_run,
        jobs_total,
        jobs_completed,
        current_job,
        last_delivery_at: row.get("last_delivery")?,
    })
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
    /// The bounds, in the order `stats_sql` binds them (`$3`..`$7`).
    pub fn in_order(&self) -> [DateTime<Utc>; 5] {
        [self.day_ago, self.baseline_from, self.day_hours_from, self.day_hour, self.baseline_hours_from]
    }

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

/// `PipelineFlags` of pipeline `p`: whether its backfill is running, whether it has open alerts.
const PIPELINE_FLAGS: &str = "EXISTS (SELECT 1 FROM backfills b WHERE b.pipeline_id = p.id AND b.status = 'running') AS backfill_running, \
     EXISTS (SELECT 1 FROM alerts a WHERE a.pipeline_id = p.id AND a.open_key IS NOT NULL) AS open_alerts";

/// How many columns `PIPELINE_FLAGS` adds, after the pipeline's.
pub(crate) const PIPELINE_FLAG_COLUMNS: usize = 2;

/// What a stats answer needs to know of a pipeline besides its runs, read in the same statement.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PipelineFlags {
    /// A history backfill of it is running.
    pub backfill_running: bool,
    /// It has open alerts (only then are they read).
    pub open_alerts: bool,
}

impl PipelineFlags {
    pub(crate) fn from_row(row: &Row) -> sqlx::Result<Self> {
        Ok(PipelineFlags { backfill_running: row.get("backfill_running")?, open_alerts: row.get("open_alerts")? })
    }
}

/// A pipeline (binds `$1`, its id) and its `PIPELINE_FLAGS`.
pub(crate) fn pipeline_for_stats_sql() -> String {
    format!("SELECT {}, {PIPELINE_FLAGS} FROM pipelines p WHERE p.id = $1", column_names(Pipeline::COLUMNS))
}

/// `stats_sql` beside a pipeline (its columns after the stats', its `PIPELINE_FLAGS` after them).
/// Binds as `stats_sql`, then the pipeline's id.
pub(crate) fn pipeline_with_stats_sql(scope: &ExecutionScope) -> String {
    format!(
        "SELECT s.*, {}, {PIPELINE_FLAGS} FROM pipelines p CROSS JOIN ({}) s WHERE p.id = ${}",
        qualified_names("p", Pipeline::COLUMNS),
        stats_sql(scope),
        8 + scope.branches.len()
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
