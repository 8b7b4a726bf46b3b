//! The hottest reads on SQLite (a pipeline, a page of pipelines, a pipeline's stats) and the
//! reads of a report (its runs, their jobs, the repository's deployments: thousands of rows) run
//! on the calling thread through the C API, on read-only connections of their own.
//!
//! sqlx runs every SQLite connection on a thread of its own: each statement and each row crosses
//! a channel with a wake-up on both sides, which costs more than the SQL itself (a page of 50
//! pipelines paid about 12 µs a row in wake-ups alone). These statements are indexed and take
//! tens of microseconds, so running them inline is cheaper than any hand-off. In WAL mode a
//! reader never waits for the writer, and every statement sees the last commit. The SQL is the
//! same text PostgreSQL runs (see `sql/pipelines/`); only the driver differs.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OpenFlags, Row, params_from_iter};

use crate::domain::insights::{JobSample, RunSample};
use crate::store::rows::{FromCells, ReadCell, ReadRow, column_names, read_rusqlite};
use crate::store::sql::insights::{
    DEPLOYMENTS_BEFORE, DeploymentHistory, ReportJob, deployment_statuses_sql, deployments_before_sql, first_commits,
    first_commits_sql, recent_deployments_sql, report_jobs_sql, report_runs_sql, statuses_since,
};
use crate::store::sql::pipelines::{
    PipelineFlags, StatsBounds, from_oldest, pipeline_count_sql, pipeline_for_stats_sql, pipeline_page_from_oldest_sql,
    pipeline_page_sql, stats_sql,
};
use crate::store::{
    Deployment, Execution, ExecutionScope, Page, Pipeline, PipelineFilter, StatsSnapshot, StoreError, StoreResult,
};

/// Connections kept open between reads; more are opened while more reads run at once.
const IDLE: usize = 8;

pub struct SqliteReader {
    path: PathBuf,
    /// The store's pool: once it is closed (shutdown), these reads stop too.
    pool: sqlx::SqlitePool,
    idle: Mutex<Vec<Connection>>,
    /// Statement texts by shape (which filters, how many branches): built once each.
    texts: Mutex<HashMap<String, Arc<str>>>,
}

/// How much of the database file each connection maps (address space, not memory: only the pages
/// read are resident, and they are the kernel's page cache, shared by every connection): SQLite's
/// own maximum (2 GiB, `SQLITE_MAX_MMAP_SIZE`); pages past it are read with a system call each.
pub(crate) const MMAP_SIZE: i64 = 0x7fff_0000;

impl SqliteReader {
    /// A reader of the database file at `path`, or `None` when it cannot be opened on its own
    /// (an in-memory database lives only in the pool's connections).
    pub fn open(path: PathBuf, pool: sqlx::SqlitePool) -> Option<Self> {
        let reader = Self { path, pool, idle: Mutex::new(Vec::new()), texts: Mutex::new(HashMap::new()) };
        match reader.connect() {
            Ok(conn) => {
                reader.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(conn);
                Some(reader)
            }
            Err(err) => {
                tracing::debug!(error = %err, "SQLite reads go through the pool");
                None
            }
        }
    }

    /// The text of the statement of shape `key`, built by `build` (with `$n` placeholders) once.
    fn text(&self, key: String, build: impl FnOnce() -> String) -> Arc<str> {
        let mut texts = self.texts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        texts.entry(key).or_insert_with(|| positional(&build()).into()).clone()
    }

    /// Runs `read` on an idle connection (opening one when none is idle).
    fn with<T>(&self, read: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> StoreResult<T> {
        if self.pool.is_closed() {
            return Err(StoreError::Database(sqlx::Error::PoolClosed));
        }
        let idle = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.connect()?,
        };
        let result = read(&conn);
        let mut idle = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if idle.len() < IDLE {
            idle.push(conn);
        }
        Ok(result?)
    }

    fn connect(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.set_prepared_statement_cache_capacity(64);
        // Pages are read straight from a memory map of the database file instead of being copied
        // in by a read() each (the WAL is still read normally). Without it, the pages of an
        // index walk went through a system call and a copy every time.
        conn.pragma_update(None, "mmap_size", MMAP_SIZE)?;
        Ok(conn)
    }

    /// The rows of `sql` (its text built once under `key`) with `params`, each read as `R`.
    fn all<R: FromCells>(&self, key: String, sql: impl FnOnce() -> String, params: &[SqlValue]) -> StoreResult<Vec<R>> {
        let sql = self.text(key, sql);
        self.with(|conn| {
            let mut statement = conn.prepare_cached(&sql)?;
            let rows = statement.query_map(params_from_iter(params), |row| read_rusqlite::<R>(row, 0))?;
            rows.collect()
        })
    }

    /// A report's run attempts (`sql::insights::report_runs_sql`).
    pub fn report_runs(&self, scope: &ExecutionScope, from: DateTime<Utc>) -> StoreResult<Vec<RunSample>> {
        let key = format!("report runs {}", scope.branches.len());
        self.all(key, || report_runs_sql(scope), &scope_params(scope, [SqlValue::Text(timestamp(&from))]))
    }

    /// Their jobs (`sql::insights::report_jobs_sql`).
    pub fn report_jobs(&self, scope: &ExecutionScope, from: DateTime<Utc>) -> StoreResult<Vec<JobSample>> {
        let key = format!("report jobs {}", scope.branches.len());
        let params = scope_params(scope, [SqlValue::Text(timestamp(&from))]);
        let jobs: Vec<ReportJob> = self.all(key, || report_jobs_sql(scope), &params)?;
        Ok(jobs.into_iter().map(JobSample::from).collect())
    }

    /// A repository workflow's deployments around a report's days, and their statuses.
    pub fn report_deployments(
        &self,
        repo_key: &str,
        workflow: &str,
        from: DateTime<Utc>,
    ) -> StoreResult<DeploymentHistory> {
        let scope = || [SqlValue::Text(repo_key.to_string()), SqlValue::Text(workflow.to_string())];
        let at = |t: DateTime<Utc>| SqlValue::Text(timestamp(&t));
        let [repo, path] = scope();
        let mut deployments: Vec<Deployment> =
            self.all("recent deployments".into(), recent_deployments_sql, &[repo, path, at(from)])?;
        let [repo, path] = scope();
        let before: Vec<Deployment> = self.all(
            "deployments before".into(),
            deployments_before_sql,
            &[repo, path, at(from), SqlValue::Integer(DEPLOYMENTS_BEFORE)],
        )?;
        let since = statuses_since(&before, from);
        deployments.extend(before);
        let [repo, path] = scope();
        let statuses = self.all("deployment statuses".into(), deployment_statuses_sql, &[repo, path, at(since)])?;
        let [repo, path] = scope();
        let commits = self.all("first commits".into(), first_commits_sql, &[repo, path, at(from)])?;
        Ok(DeploymentHistory { deployments, statuses, first_commits: first_commits(commits) })
    }

    pub fn get_pipeline(&self, id: &str) -> StoreResult<Option<Pipeline>> {
        let sql = self.text("pipeline".into(), || {
            format!("SELECT {} FROM pipelines WHERE id = $1", column_names(Pipeline::COLUMNS))
        });
        self.with(|conn| {
            let mut statement = conn.prepare_cached(&sql)?;
            let mut rows = statement.query([id])?;
            rows.next()?.map(pipeline).transpose()
        })
    }

    pub fn get_pipeline_for_stats(&self, id: &str) -> StoreResult<Option<(Pipeline, PipelineFlags)>> {
        let sql = self.text("pipeline for stats".into(), pipeline_for_stats_sql);
        self.with(|conn| {
            let mut statement = conn.prepare_cached(&sql)?;
            let mut rows = statement.query([id])?;
            let read = |row: &Row| {
                let at = Pipeline::COLUMNS.len();
                let flags = PipelineFlags { backfill_running: row.get(at)?, open_alerts: row.get(at + 1)? };
                Ok((pipeline(row)?, flags))
            };
            rows.next()?.map(read).transpose()
        })
    }

    pub fn list_pipelines(&self, f: &PipelineFilter) -> StoreResult<Page<Pipeline>> {
        let shape = format!("{:?}/{:?}/{}/{}", f.status.is_some(), f.repository.is_some(), f.after.is_some(), f.limit);
        let count_sql = self.text(format!("count {shape}"), || pipeline_count_sql(f));
        let page_sql = self.text(format!("page {shape}"), || pipeline_page_sql(f));
        let from_oldest_sql = self.text(format!("page from oldest {shape}"), || pipeline_page_from_oldest_sql(f));
        let filters: Vec<SqlValue> =
            [f.status.map(|s| s.as_str().to_string()), f.repository.as_ref().map(|r| r.to_lowercase())]
                .into_iter()
                .flatten()
                .map(SqlValue::Text)
                .collect();
        let mut page_params = filters.clone();
        match &f.after {
            None => page_params.push(SqlValue::Integer(f.offset)),
            Some((created_at, id)) => {
                page_params.push(SqlValue::Text(timestamp(created_at)));
                page_params.push(SqlValue::Text(id.clone()));
            }
        }
        self.with(|conn| {
            let total: i64 =
                conn.prepare_cached(&count_sql)?.query_row(params_from_iter(&filters), |row| row.get(0))?;
            // Past the middle, the page is found oldest first (see `pipeline_listing_sql`).
            if f.after.is_none() && from_oldest(f.offset, f.limit, total) {
                let left = total - f.offset;
                if left <= 0 {
                    return Ok(Page { items: Vec::new(), total });
                }
                let mut params = filters.clone();
                params.push(SqlValue::Integer(left.min(f.limit)));
                params.push(SqlValue::Integer((left - f.limit).max(0)));
                let mut statement = conn.prepare_cached(&from_oldest_sql)?;
                let items = statement.query_map(params_from_iter(&params), pipeline)?.collect::<Result<_, _>>()?;
                return Ok(Page { items, total });
            }
            let mut statement = conn.prepare_cached(&page_sql)?;
            let items = statement.query_map(params_from_iter(&page_params), pipeline)?.collect::<Result<_, _>>()?;
            Ok(Page { items, total })
        })
    }

    pub fn stats_snapshot(&self, scope: &ExecutionScope, now: DateTime<Utc>) -> StoreResult<StatsSnapshot> {
        let sql = self.text(format!("stats {}", scope.branches.len()), || stats_sql(scope));
        let mut params =
            vec![SqlValue::Text(scope.repository.to_lowercase()), SqlValue::Text(scope.workflow_path.clone())];
        params.extend(StatsBounds::at(now).in_order().iter().map(|at| SqlValue::Text(timestamp(at))));
        params.extend(scope.branches.iter().cloned().map(SqlValue::Text));
        self.with(|conn| conn.prepare_cached(&sql)?.query_row(params_from_iter(&params), snapshot))
    }
}

/// The parameters of a `scope_clause` statement whose branches start at `$3`, then `after`.
fn scope_params<const N: usize>(scope: &ExecutionScope, after: [SqlValue; N]) -> Vec<SqlValue> {
    let mut params = vec![SqlValue::Text(scope.repository.to_lowercase()), SqlValue::Text(scope.workflow_path.clone())];
    params.extend(scope.branches.iter().cloned().map(SqlValue::Text));
    params.extend(after);
    params
}

/// `$n` placeholders as `?n`: SQLite numbers `$n` by first appearance, `?n` by `n`.
pub(crate) fn positional(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

/// The text sqlx writes for a timestamp, so that comparisons with stored values hold.
pub(crate) fn timestamp(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// A row of `Pipeline::COLUMNS`, read by position: a page holds 50 of them, and looking each
/// column up by name cost more than reading it.
fn pipeline(row: &Row) -> rusqlite::Result<Pipeline> {
    read_rusqlite(row, 0)
}

/// The columns of a `stats_sql` row after the last run's (`Execution::COLUMNS` and its three job
/// figures), in order. The live publisher reads every busy pipeline's stats many times a second,
/// and looking 36 columns up by name cost more than reading them.
const STATS_COLUMNS: [&str; 13] = [
    "jobs_total",
    "jobs_completed",
    "current_job",
    "runs",
    "successes",
    "avg_duration",
    "baseline",
    "recent_runs",
    "recent_successes",
    "last_conclusion",
    "active",
    "queued",
    "last_delivery",
];

fn snapshot(row: &Row) -> rusqlite::Result<StatsSnapshot> {
    const RUN: usize = Execution::COLUMNS.len();
    let at = |name: &str| {
        let i = RUN + STATS_COLUMNS.iter().position(|c| *c == name).expect("a stats column");
        debug_assert_eq!(row.as_ref().column_name(i).ok(), Some(name), "stats_sql's columns moved");
        i
    };
    debug_assert_eq!(row.as_ref().column_name(1).ok(), Some("run_id"), "stats_sql's columns moved");
    debug_assert_eq!(row.as_ref().column_name(RUN - 1).ok(), Some("rollback_previous_execution_id"));
    let has_run = row.get_ref(1)?.data_type() != rusqlite::types::Type::Null;
    let last_run = if has_run { Some(read_rusqlite(row, 0)?) } else { None };
    let (jobs_total, jobs_completed, current_job) = if has_run {
        (row.get(at("jobs_total"))?, row.get(at("jobs_completed"))?, row.get(at("current_job"))?)
    } else {
        (0, 0, None)
    };
    Ok(StatsSnapshot {
        runs_24h: row.get(at("runs"))?,
        successes_24h: row.get(at("successes"))?,
        avg_duration_24h: row.get(at("avg_duration"))?,
        avg_duration_baseline: row.get(at("baseline"))?,
        recent_runs: row.get(at("recent_runs"))?,
        recent_successes: row.get(at("recent_successes"))?,
        last_conclusion: row.get(at("last_conclusion"))?,
        active_runs: row.get(at("active"))?,
        queued_runs: row.get(at("queued"))?,
        last_run,
        jobs_total,
        jobs_completed,
        current_job,
        last_delivery_at: ReadCell::from_rusqlite(row, at("last_delivery"))?,
    })
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        StoreError::Sqlite(err)
    }
}

#[cfg(test)]
mod tests {
    use super::positional;

    #[test]
    fn placeholders_keep_their_numbers() {
        assert_eq!(
            positional("a = $2 AND b = $10 AND c = '$x' AND d = $1"),
            "a = ?2 AND b = ?10 AND c = '$x' AND d = ?1"
        );
    }
}
