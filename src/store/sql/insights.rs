//! What reports, the overview and the per-pipeline metrics read (issue 19): the few rows their
//! figures are computed from (`domain::insights`), through indexes on the pipeline's scope and
//! time, in SQL both databases share.
//!
//! A report's runs are chosen by `created_at` (a run belongs to the day it was created) but found
//! through `started_at`, which `executions_scope_started` holds: an attempt starts at or after its
//! run's creation, so `started_at >= from` finds every run created since `from`, and the test on
//! `created_at` keeps only those (a pipeline's runs of the period: a few hundred rows).
//!
//! The overview and the metrics read across every active pipeline: they go from the active
//! pipelines to each one's runs in that index (`CROSS JOIN` keeps this order on SQLite) and count
//! the attempts *started* in the period, which the index answers alone, without reading the runs'
//! rows (at 1,000,000 runs a week, counting by creation meant reading half a million rows).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::AssertSqlSafe;
use sqlx::types::Json;

use super::db::query;
use super::deployments::of_workflow;
use super::pipelines::{scope_clause, scope_query};
use crate::domain::deployments::FirstCommit;
use crate::domain::insights::overview::{GroupFigures, GroupOutcomes, RunGroup};
use crate::domain::insights::quality::CommitOutcomes;
use crate::domain::insights::{JobSample, RunSample};
use crate::domain::job_logs::failed_step;
use crate::domain::status::{Conclusion, DeploymentState, PipelineStatus, RunStatus};
use crate::store::rows::{ReadRow, column_names, qualified_names};
use crate::store::sqlite::sqlite_reads::SqliteReader;
use crate::store::{Backend, Deployment, DeploymentStatus, ExecutionScope, Pipeline, SqlStore, StoreResult};

/// How many of each environment's deployments before a report's days it reads: what a rollback
/// in the report's days may return to, and the shas the environment already had.
pub const DEPLOYMENTS_BEFORE: i64 = 100;

/// A workflow's deployments, their statuses, and where the changes they deployed began.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeploymentHistory {
    pub deployments: Vec<Deployment>,
    pub statuses: Vec<DeploymentStatus>,
    /// Sorted by sha.
    pub first_commits: Vec<FirstCommit>,
}

/// Completed runs of one group by conclusion (the per-pipeline metrics).
#[derive(Debug, Clone, PartialEq)]
pub struct ConclusionCount {
    pub group: RunGroup,
    pub conclusion: Conclusion,
    pub runs: i64,
}

/// A repository's deployments in one environment and state (the per-pipeline metrics), and the
/// workflow of the known run that made them (none: every workflow's, as `of_workflow` says).
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentCount {
    pub repo_key: String,
    pub workflow_path: Option<String>,
    pub environment: String,
    pub state: Option<DeploymentState>,
    pub deployments: i64,
}

#[async_trait]
pub trait InsightStore {
    /// The run attempts of `scope` created at or after `from`.
    async fn report_runs(&self, scope: &ExecutionScope, from: DateTime<Utc>) -> StoreResult<Vec<RunSample>>;

    /// The jobs of those run attempts, with their failed step and message.
    async fn report_jobs(&self, scope: &ExecutionScope, from: DateTime<Utc>) -> StoreResult<Vec<JobSample>>;

    /// The deployments of a repository's workflow (`of_workflow`) created at or after `from`,
    /// each environment's `DEPLOYMENTS_BEFORE` ones before it, their statuses, and the first
    /// commits of the pushes whose heads those created since `from` deployed.
    async fn report_deployments(
        &self,
        repository: &str,
        workflow: &str,
        from: DateTime<Utc>,
    ) -> StoreResult<DeploymentHistory>;

    /// Every active pipeline.
    async fn active_pipelines(&self) -> StoreResult<Vec<Pipeline>>;

    /// The completed attempts (skipped ones left out) started at or after `from` of active
    /// pipelines' workflows, summed by repository, workflow file and branch.
    async fn run_groups(&self, from: DateTime<Utc>) -> StoreResult<HashMap<RunGroup, GroupFigures>>;

    /// The jobs of those attempts that both failed and passed on the same commit, by group.
    async fn flaky_outcomes(&self, from: DateTime<Utc>) -> StoreResult<Vec<GroupOutcomes>>;

    /// Completed runs started at or after `from` of active pipelines' workflows, by group and
    /// conclusion.
    async fn runs_by_conclusion(&self, from: DateTime<Utc>) -> StoreResult<Vec<ConclusionCount>>;

    /// The deployments of active pipelines' repositories, by environment and latest state.
    async fn deployments_by_state(&self) -> StoreResult<Vec<DeploymentCount>>;
}

/// `'failure', 'timed_out', 'startup_failure'`: the conclusions of a failed run or job.
fn failed_conclusions() -> String {
    [Conclusion::Failure, Conclusion::TimedOut, Conclusion::StartupFailure]
        .iter()
        .map(|c| format!("'{}'", c.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Completed runs that count (as the stats count them), of a table aliased `e`.
fn counted() -> String {
    format!(
        "e.status = '{}' AND COALESCE(e.conclusion, '') <> '{}'",
        RunStatus::Completed.as_str(),
        Conclusion::Skipped.as_str()
    )
}

/// The active pipelines (binds `${status}`, the active status), then each one's runs `e` started
/// at or after `${from}`, found in the scope index: `FROM` and the start of `WHERE`.
fn active_pipelines_runs(status: usize, from: usize) -> String {
    format!(
        "FROM pipelines p CROSS JOIN executions e WHERE p.status = ${status} AND e.repo_key = p.repo_key \
         AND e.workflow_path = p.workflow_file AND e.started_at >= ${from}"
    )
}

/// Whole seconds from `from` to `to` (two timestamp columns) on `backend`.
fn seconds_between(backend: Backend, from: &str, to: &str) -> String {
    match backend {
        Backend::Sqlite => format!("CAST(ROUND((julianday({to}) - julianday({from})) * 86400) AS INTEGER)"),
        Backend::Postgres => format!("CAST(EXTRACT(EPOCH FROM ({to} - {from})) AS BIGINT)"),
    }
}

fn group_of(row: &super::db::Row) -> sqlx::Result<RunGroup> {
    Ok(RunGroup {
        repo_key: row.get("repo_key")?,
        workflow_path: row.get("workflow_path")?,
        branch: row.get("branch")?,
    })
}

/// A report's run attempts of `scope` created at or after `from`: binds the scope (`scope_query`),
/// then `from`.
pub(crate) fn report_runs_sql(scope: &ExecutionScope) -> String {
    let n = 3 + scope.branches.len();
    format!(
        "SELECT {} FROM executions WHERE {} AND started_at >= ${n} AND created_at >= ${n}",
        column_names(RunSample::COLUMNS),
        scope_clause(scope, 3)
    )
}

/// The jobs of those run attempts (`ReportJob`'s columns), bound as `report_runs_sql`.
pub(crate) fn report_jobs_sql(scope: &ExecutionScope) -> String {
    let n = 3 + scope.branches.len();
    let failed = failed_conclusions();
    format!(
        "SELECT j.run_id, j.run_attempt, j.name, j.conclusion, j.started_at, j.completed_at, \
           l.failed_step AS log_failed_step, l.error_message, \
           CASE WHEN j.conclusion IN ({failed}) AND l.failed_step IS NULL THEN j.steps END AS failed_steps \
         FROM (SELECT run_id, run_attempt FROM executions WHERE {} AND started_at >= ${n} AND created_at >= ${n}) e \
         JOIN jobs j ON j.run_id = e.run_id AND j.run_attempt = e.run_attempt \
         LEFT JOIN job_logs l ON l.job_id = j.job_id",
        scope_clause(scope, 3)
    )
}

/// The deployments of a repository's workflow (`$1`: the repository's key, `$2`: the
/// workflow's path) created at or after `$3`.
pub(crate) fn recent_deployments_sql() -> String {
    let columns = qualified_names("d", <Deployment as ReadRow>::COLUMNS);
    format!("SELECT {columns} FROM deployments d WHERE {} AND d.created_at >= $3", of_workflow("d", 1, 2))
}

/// Each environment's `$4` deployments of the workflow (bound as `recent_deployments_sql`)
/// created last before `$3`.
pub(crate) fn deployments_before_sql() -> String {
    let columns = column_names(<Deployment as ReadRow>::COLUMNS);
    format!(
        "SELECT {columns} FROM (SELECT {}, ROW_NUMBER() OVER (PARTITION BY d.environment \
           ORDER BY d.created_at DESC, d.id DESC) AS nth \
         FROM deployments d WHERE {} AND d.created_at < $3) recent WHERE nth <= $4",
        qualified_names("d", <Deployment as ReadRow>::COLUMNS),
        of_workflow("d", 1, 2)
    )
}

/// The statuses of the workflow's deployments (bound as `recent_deployments_sql`) created at or
/// after `$3`.
pub(crate) fn deployment_statuses_sql() -> String {
    format!(
        "SELECT {} FROM deployment_statuses s JOIN deployments d ON d.id = s.deployment_id \
         WHERE {} AND d.created_at >= $3",
        qualified_names("s", <DeploymentStatus as ReadRow>::COLUMNS),
        of_workflow("d", 1, 2)
    )
}

/// The oldest first commit of the pushes (to the default branch) whose heads the workflow's
/// deployments (bound as `recent_deployments_sql`) created at or after `$3` deployed, by sha.
pub(crate) fn first_commits_sql() -> String {
    format!(
        "SELECT p.after_sha, MIN(p.first_commit_at) FROM pushes p WHERE p.repo_key = $1 \
         AND p.first_commit_at IS NOT NULL \
         AND p.after_sha IN (SELECT d.sha FROM deployments d WHERE {} AND d.created_at >= $3) \
         GROUP BY p.after_sha ORDER BY p.after_sha",
        of_workflow("d", 1, 2)
    )
}

/// `first_commits_sql`'s rows.
pub(crate) fn first_commits(rows: Vec<(String, DateTime<Utc>)>) -> Vec<FirstCommit> {
    rows.into_iter().map(|(sha, at)| FirstCommit { sha, at }).collect()
}

/// The earliest creation among the deployments read before a report's days, or `from`: where
/// their statuses are read from.
pub(crate) fn statuses_since(before: &[Deployment], from: DateTime<Utc>) -> DateTime<Utc> {
    before.iter().map(|d| d.created_at).min().unwrap_or(from).min(from)
}

/// A row of `report_jobs_sql`: a job, its logged failed step and message, and its steps when it
/// failed without a logged step.
pub(crate) struct ReportJob {
    pub run_id: i64,
    pub run_attempt: i64,
    pub name: String,
    pub conclusion: Option<Conclusion>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub log_failed_step: Option<String>,
    pub error_message: Option<String>,
    pub failed_steps: Option<Json<Value>>,
}

impl From<ReportJob> for JobSample {
    fn from(job: ReportJob) -> Self {
        JobSample {
            run_id: job.run_id,
            run_attempt: job.run_attempt,
            name: job.name,
            conclusion: job.conclusion,
            started_at: job.started_at,
            completed_at: job.completed_at,
            failed_step: job.log_failed_step.or_else(|| job.failed_steps.and_then(|s| failed_step(&s.0))),
            error_message: job.error_message,
        }
    }
}

/// Runs `read` on SQLite's inline reader on a blocking thread: a report reads thousands of rows,
/// milliseconds the async worker's other requests (deliveries among them) must not wait for.
async fn off_worker<T: Send + 'static>(
    reader: &Arc<SqliteReader>,
    read: impl FnOnce(&SqliteReader) -> StoreResult<T> + Send + 'static,
) -> StoreResult<T> {
    let reader = reader.clone();
    tokio::task::spawn_blocking(move || read(&reader)).await.map_err(|_| sqlx::Error::WorkerCrashed)?
}

#[async_trait]
impl InsightStore for SqlStore {
    async fn report_runs(&self, scope: &ExecutionScope, from: DateTime<Utc>) -> StoreResult<Vec<RunSample>> {
        if let Some(reader) = &self.fast.inline_reader {
            let scope = scope.clone();
            return off_worker(reader, move |reader| reader.report_runs(&scope, from)).await;
        }
        Ok(scope_query(report_runs_sql(scope), scope).bind(from).fetch_all(&self.db).await?)
    }

    async fn report_jobs(&self, scope: &ExecutionScope, from: DateTime<Utc>) -> StoreResult<Vec<JobSample>> {
        if let Some(reader) = &self.fast.inline_reader {
            let scope = scope.clone();
            return off_worker(reader, move |reader| reader.report_jobs(&scope, from)).await;
        }
        let jobs: Vec<ReportJob> = scope_query(report_jobs_sql(scope), scope).bind(from).fetch_all(&self.db).await?;
        Ok(jobs.into_iter().map(JobSample::from).collect())
    }

    async fn report_deployments(
        &self,
        repository: &str,
        workflow: &str,
        from: DateTime<Utc>,
    ) -> StoreResult<DeploymentHistory> {
        let repo_key = repository.to_lowercase();
        if let Some(reader) = &self.fast.inline_reader {
            let workflow = workflow.to_string();
            return off_worker(reader, move |reader| reader.report_deployments(&repo_key, &workflow, from)).await;
        }
        let mut deployments: Vec<Deployment> = query(AssertSqlSafe(recent_deployments_sql()))
            .bind(repo_key.as_str())
            .bind(workflow)
            .bind(from)
            .fetch_all(&self.db)
            .await?;
        let before: Vec<Deployment> = query(AssertSqlSafe(deployments_before_sql()))
            .bind(repo_key.as_str())
            .bind(workflow)
            .bind(from)
            .bind(DEPLOYMENTS_BEFORE)
            .fetch_all(&self.db)
            .await?;
        let since = statuses_since(&before, from);
        deployments.extend(before);
        let statuses = query(AssertSqlSafe(deployment_statuses_sql()))
            .bind(repo_key.as_str())
            .bind(workflow)
            .bind(since)
            .fetch_all(&self.db)
            .await?;
        let commits = query(AssertSqlSafe(first_commits_sql()))
            .bind(repo_key.as_str())
            .bind(workflow)
            .bind(from)
            .fetch_all(&self.db)
            .await?;
        Ok(DeploymentHistory { deployments, statuses, first_commits: first_commits(commits) })
    }

    async fn active_pipelines(&self) -> StoreResult<Vec<Pipeline>> {
        let sql = format!("SELECT {} FROM pipelines WHERE status = $1 ORDER BY id", column_names(Pipeline::COLUMNS));
        Ok(query(AssertSqlSafe(sql)).bind(PipelineStatus::Active.as_str()).fetch_all(&self.db).await?)
    }

    async fn run_groups(&self, from: DateTime<Utc>) -> StoreResult<HashMap<RunGroup, GroupFigures>> {
        let failed = failed_conclusions();
        let sql = format!(
            "SELECT e.repo_key, e.workflow_path, e.branch, COUNT(*) AS runs, \
               CAST(SUM(CASE WHEN e.conclusion IN ({failed}) THEN 1 ELSE 0 END) AS BIGINT) AS failures, \
               CAST(SUM(CASE WHEN e.conclusion IN ({failed}) THEN COALESCE(e.duration_seconds, 0) ELSE 0 END) AS BIGINT) \
                 AS failed_seconds, \
               CAST(SUM(CASE WHEN e.run_attempt > 1 THEN 1 ELSE 0 END) AS BIGINT) AS reruns, \
               CAST(SUM(CASE WHEN e.run_attempt > 1 THEN COALESCE(e.duration_seconds, 0) ELSE 0 END) AS BIGINT) \
                 AS rerun_seconds \
             {} AND {} GROUP BY e.repo_key, e.workflow_path, e.branch",
            active_pipelines_runs(2, 1),
            counted()
        );
        let rows = query(AssertSqlSafe(sql)).bind(from).bind(PipelineStatus::Active.as_str()).rows(&self.db).await?;
        let groups = rows
            .iter()
            .map(|row| {
                let figures = GroupFigures {
                    runs: row.get("runs")?,
                    failures: row.get("failures")?,
                    failed_seconds: row.get("failed_seconds")?,
                    reruns: row.get("reruns")?,
                    rerun_seconds: row.get("rerun_seconds")?,
                };
                Ok((group_of(row)?, figures))
            })
            .collect::<sqlx::Result<HashMap<_, _>>>()?;
        Ok(groups)
    }

    async fn flaky_outcomes(&self, from: DateTime<Utc>) -> StoreResult<Vec<GroupOutcomes>> {
        let failed = failed_conclusions();
        let success = Conclusion::Success.as_str();
        let seconds = seconds_between(self.db.backend(), "j.started_at", "j.completed_at");
        // A job fails and passes on one commit only across two attempts or runs of it (a job's
        // name is one job of an attempt): the jobs of commits run once (most of them) are not
        // read. Counting each commit's attempts beside them keeps this one pass over the runs.
        let sql = format!(
            "SELECT e.repo_key, e.workflow_path, e.branch, j.name, \
               CAST(SUM(CASE WHEN j.conclusion = '{success}' THEN 1 ELSE 0 END) AS BIGINT) AS passed, \
               CAST(SUM(CASE WHEN j.conclusion IN ({failed}) THEN 1 ELSE 0 END) AS BIGINT) AS failed, \
               CAST(SUM(CASE WHEN j.conclusion IN ({failed}) THEN COALESCE({seconds}, 0) ELSE 0 END) AS BIGINT) \
                 AS failed_seconds \
             FROM (SELECT e.repo_key, e.workflow_path, e.branch, e.head_sha, e.run_id, e.run_attempt, \
                     COUNT(*) OVER (PARTITION BY e.repo_key, e.workflow_path, e.branch, e.head_sha) AS attempts \
                   {} AND {} AND e.head_sha IS NOT NULL) e \
             CROSS JOIN jobs j WHERE e.attempts > 1 AND j.run_id = e.run_id AND j.run_attempt = e.run_attempt \
             GROUP BY e.repo_key, e.workflow_path, e.branch, e.head_sha, j.name \
             HAVING SUM(CASE WHEN j.conclusion = '{success}' THEN 1 ELSE 0 END) > 0 \
               AND SUM(CASE WHEN j.conclusion IN ({failed}) THEN 1 ELSE 0 END) > 0",
            active_pipelines_runs(2, 1),
            counted()
        );
        let rows = query(AssertSqlSafe(sql)).bind(from).bind(PipelineStatus::Active.as_str()).rows(&self.db).await?;
        let outcomes = rows
            .iter()
            .map(|row| {
                Ok(GroupOutcomes {
                    group: group_of(row)?,
                    outcomes: CommitOutcomes {
                        job: row.get("name")?,
                        passed: row.get("passed")?,
                        failed: row.get("failed")?,
                        failed_seconds: row.get("failed_seconds")?,
                    },
                })
            })
            .collect::<sqlx::Result<Vec<_>>>()?;
        Ok(outcomes)
    }

    async fn runs_by_conclusion(&self, from: DateTime<Utc>) -> StoreResult<Vec<ConclusionCount>> {
        let sql = format!(
            "SELECT e.repo_key, e.workflow_path, e.branch, e.conclusion, COUNT(*) AS runs \
             {} AND e.status = '{}' AND e.conclusion IS NOT NULL \
             GROUP BY e.repo_key, e.workflow_path, e.branch, e.conclusion",
            active_pipelines_runs(2, 1),
            RunStatus::Completed.as_str()
        );
        let rows = query(AssertSqlSafe(sql)).bind(from).bind(PipelineStatus::Active.as_str()).rows(&self.db).await?;
        let counts = rows
            .iter()
            .map(|row| {
                Ok(ConclusionCount {
                    group: group_of(row)?,
                    conclusion: row.get("conclusion")?,
                    runs: row.get("runs")?,
                })
            })
            .collect::<sqlx::Result<Vec<_>>>()?;
        Ok(counts)
    }

    async fn deployments_by_state(&self) -> StoreResult<Vec<DeploymentCount>> {
        let rows = query(
            "SELECT repo_key, workflow_path, environment, state, COUNT(*) AS deployments FROM (\
               SELECT d.repo_key, d.environment, d.state, (SELECT MIN(x.workflow_path) FROM executions x \
                 WHERE x.run_id = d.run_id) AS workflow_path \
               FROM (SELECT DISTINCT repo_key FROM pipelines WHERE status = $1) p CROSS JOIN deployments d \
               WHERE d.repo_key = p.repo_key) made \
             GROUP BY repo_key, workflow_path, environment, state",
        )
        .bind(PipelineStatus::Active.as_str())
        .rows(&self.db)
        .await?;
        let counts = rows
            .iter()
            .map(|row| {
                Ok(DeploymentCount {
                    repo_key: row.get("repo_key")?,
                    workflow_path: row.get("workflow_path")?,
                    environment: row.get("environment")?,
                    state: row.get("state")?,
                    deployments: row.get("deployments")?,
                })
            })
            .collect::<sqlx::Result<Vec<_>>>()?;
        Ok(counts)
    }
}
