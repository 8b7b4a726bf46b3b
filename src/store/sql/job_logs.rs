//! The logs of completed jobs (`job_logs`): which jobs still need theirs, storing one, reading
//! one, and keeping them all within a budget.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;

use super::chunks::values_placeholders;
use super::db::query;
use crate::domain::job_logs::{JobLog, JobLogSummary};
use crate::domain::runs::Job;
use crate::domain::status::JobLogState;
use crate::store::rows::{ReadRow, WrittenRow, column_names, qualified_names};
use crate::store::{SqlStore, StoreResult};

/// A completed job of an active pipeline's workflow whose log ccm has not fetched.
#[derive(Debug, Clone, PartialEq)]
pub struct JobWithoutLog {
    pub job_id: i64,
    /// As the run's `repository` has it (owner/name).
    pub repository: String,
}

/// A log that arrived, and the pipeline whose run it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct ArrivedLog {
    pub summary: JobLogSummary,
    pub pipeline_id: String,
}

/// A completed run attempt of an active pipeline's workflow of which no job is known.
#[derive(Debug, Clone, PartialEq)]
pub struct RunWithoutJobs {
    pub run_id: i64,
    pub run_attempt: i64,
    pub repository: String,
}

/// A failed job, and what its log record says of it.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedJob {
    pub job: Job,
    pub failed_step: Option<String>,
    pub error_message: Option<String>,
}

#[async_trait]
pub trait JobLogStore {
    /// Completed jobs of the runs of active pipelines' workflows started at or after `since`
    /// (read from the pipelines down, never from all the jobs the App hears of), without a log
    /// record yet nor a fetch queued (`log:{job_id}`, see `github::logs`), oldest first.
    async fn jobs_without_logs(&self, since: DateTime<Utc>, limit: i64) -> StoreResult<Vec<JobWithoutLog>>;

    /// Run attempts of active pipelines' workflows started at or after `since` and completed
    /// before `settled` (their jobs' events had time to come), of which no job is stored, whose
    /// jobs were never listed and whose listing is not queued (`jobs:{run}:{attempt}`).
    async fn runs_without_jobs(
        &self,
        since: DateTime<Utc>,
        settled: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<RunWithoutJobs>>;

    /// Notes that a run attempt's jobs were listed (`jobs` of them).
    async fn jobs_listed(&self, run_id: i64, run_attempt: i64, jobs: i64) -> StoreResult<()>;

    /// The failed jobs (`failure`, `timed_out`, `startup_failure`) of these run attempts, in
    /// start order, each with its log record's failed step and message when it has one.
    async fn failed_jobs_of(&self, runs: &[(i64, i64)]) -> StoreResult<Vec<FailedJob>>;

    /// Stores a job's log record (replacing any earlier one).
    async fn save_job_log(&self, log: &JobLog) -> StoreResult<()>;

    /// A job's log record, with the log.
    async fn job_log(&self, job_id: i64) -> StoreResult<Option<JobLog>>;

    /// The log records of a run attempt's jobs.
    async fn job_log_summaries(&self, run_id: i64, run_attempt: i64) -> StoreResult<Vec<JobLogSummary>>;

    /// The log records written after `since` (at most `limit`, oldest first), each with the
    /// pipeline of its run.
    async fn logs_arrived_since(&self, since: DateTime<Utc>, limit: i64) -> StoreResult<Vec<ArrivedLog>>;

    /// Drops the oldest stored logs (their records stay, `evicted`) until the stored ones take
    /// at most `budget` bytes; returns how many were dropped.
    async fn evict_logs_over(&self, budget: i64) -> StoreResult<u64>;
}

#[async_trait]
impl JobLogStore for SqlStore {
    async fn jobs_without_logs(&self, since: DateTime<Utc>, limit: i64) -> StoreResult<Vec<JobWithoutLog>> {
        let rows = query(
            "SELECT j.job_id, e.repository FROM pipelines p \
             JOIN executions e ON e.repo_key = p.repo_key AND e.workflow_path = p.workflow_file \
                 AND e.started_at >= $1 \
             JOIN jobs j ON j.run_id = e.run_id AND j.run_attempt = e.run_attempt \
             LEFT JOIN job_logs l ON l.job_id = j.job_id \
             WHERE p.status = 'active' AND j.status = 'completed' AND l.job_id IS NULL \
               AND NOT EXISTS (SELECT 1 FROM outbox_jobs o WHERE o.dedupe_key = 'log:' || j.job_id \
                   AND o.status IN ('pending', 'running')) \
             ORDER BY j.completed_at LIMIT $2",
        )
        .bind(since)
        .bind(limit)
        .fetch_all::<(i64, String)>(&self.db)
        .await?;
        Ok(rows.into_iter().map(|(job_id, repository)| JobWithoutLog { job_id, repository }).collect())
    }

    async fn runs_without_jobs(
        &self,
        since: DateTime<Utc>,
        settled: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<RunWithoutJobs>> {
        let rows = query(
            "SELECT e.run_id, e.run_attempt, e.repository FROM pipelines p \
             JOIN executions e ON e.repo_key = p.repo_key AND e.workflow_path = p.workflow_file \
             WHERE p.status = 'active' AND e.started_at >= $1 AND e.status = 'completed' \
               AND e.completed_at < $2 \
               AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.run_id = e.run_id AND j.run_attempt = e.run_attempt) \
               AND NOT EXISTS (SELECT 1 FROM job_listings l WHERE l.run_id = e.run_id AND l.run_attempt = e.run_attempt) \
               AND NOT EXISTS (SELECT 1 FROM outbox_jobs o \
                   WHERE o.dedupe_key = 'jobs:' || e.run_id || ':' || e.run_attempt \
                   AND o.status IN ('pending', 'running')) \
             ORDER BY e.started_at LIMIT $3",
        )
        .bind(since)
        .bind(settled)
        .bind(limit)
        .rows(&self.db)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(RunWithoutJobs {
                    run_id: row.get("run_id")?,
                    run_attempt: row.get("run_attempt")?,
                    repository: row.get("repository")?,
                })
            })
            .collect::<sqlx::Result<_>>()
            .map_err(Into::into)
    }

    async fn jobs_listed(&self, run_id: i64, run_attempt: i64, jobs: i64) -> StoreResult<()> {
        query(
            "INSERT INTO job_listings (run_id, run_attempt, listed_at, jobs) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (run_id, run_attempt) DO UPDATE SET listed_at = excluded.listed_at, jobs = excluded.jobs",
        )
        .bind(run_id)
        .bind(run_attempt)
        .bind(crate::domain::clock::now())
        .bind(jobs)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    async fn failed_jobs_of(&self, runs: &[(i64, i64)]) -> StoreResult<Vec<FailedJob>> {
        if runs.is_empty() {
            return Ok(Vec::new());
        }
        let mut run_ids: Vec<i64> = runs.iter().map(|(run, _)| *run).collect();
        run_ids.sort_unstable();
        run_ids.dedup();
        let list = (1..=run_ids.len()).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT {}, l.failed_step AS log_failed_step, l.error_message AS log_error_message FROM jobs j \
             LEFT JOIN job_logs l ON l.job_id = j.job_id \
             WHERE j.run_id IN ({list}) AND j.conclusion IN ('failure', 'timed_out', 'startup_failure') \
             ORDER BY j.started_at, j.job_id",
            qualified_names("j", Job::COLUMNS)
        );
        let rows = query(AssertSqlSafe(sql)).bind_all(run_ids).rows(&self.db).await?;
        let failed = rows
            .iter()
            .map(|row| {
                Ok(FailedJob {
                    job: row.read(0)?,
                    failed_step: row.get("log_failed_step")?,
                    error_message: row.get("log_error_message")?,
                })
            })
            .collect::<sqlx::Result<Vec<_>>>()?;
        Ok(failed.into_iter().filter(|f| runs.contains(&(f.job.run_id, f.job.run_attempt))).collect())
    }

    async fn save_job_log(&self, log: &JobLog) -> StoreResult<()> {
        let columns = <JobLog as WrittenRow>::COLUMNS;
        let updates =
            columns.iter().skip(1).map(|c| format!("{0} = excluded.{0}", c.name)).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "INSERT INTO job_logs ({}) VALUES {} ON CONFLICT (job_id) DO UPDATE SET {updates}",
            column_names(columns),
            values_placeholders(1, columns.len())
        );
        query(AssertSqlSafe(sql)).bind_all(log.cells(crate::domain::clock::now())).execute(&self.db).await?;
        Ok(())
    }

    async fn job_log(&self, job_id: i64) -> StoreResult<Option<JobLog>> {
        let sql = format!("SELECT {} FROM job_logs WHERE job_id = $1", column_names(<JobLog as ReadRow>::COLUMNS));
        Ok(query(AssertSqlSafe(sql)).bind(job_id).fetch_optional(&self.db).await?)
    }

    async fn job_log_summaries(&self, run_id: i64, run_attempt: i64) -> StoreResult<Vec<JobLogSummary>> {
        let sql = format!(
            "SELECT {} FROM job_logs WHERE run_id = $1 AND run_attempt = $2 ORDER BY job_id",
            column_names(JobLogSummary::COLUMNS)
        );
        Ok(query(AssertSqlSafe(sql)).bind(run_id).bind(run_attempt).fetch_all(&self.db).await?)
    }

    async fn logs_arrived_since(&self, since: DateTime<Utc>, limit: i64) -> StoreResult<Vec<ArrivedLog>> {
        let sql = format!(
            "SELECT {}, p.id AS pipeline_id FROM job_logs l \
             JOIN executions e ON e.run_id = l.run_id AND e.run_attempt = l.run_attempt \
             JOIN pipelines p ON p.repo_key = e.repo_key AND p.workflow_file = e.workflow_path \
             WHERE l.fetched_at > $1 ORDER BY l.fetched_at LIMIT $2",
            qualified_names("l", JobLogSummary::COLUMNS)
        );
        let rows = query(AssertSqlSafe(sql)).bind(since).bind(limit).rows(&self.db).await?;
        rows.iter()
            .map(|row| {
                let summary: JobLogSummary = row.read(0)?;
                let pipeline_id: String = row.get("pipeline_id")?;
                Ok(ArrivedLog { summary, pipeline_id })
            })
            .collect::<sqlx::Result<_>>()
            .map_err(Into::into)
    }

    async fn evict_logs_over(&self, budget: i64) -> StoreResult<u64> {
        let stored = JobLogState::Stored.as_str();
        let (total,): (i64,) =
            query("SELECT CAST(COALESCE(SUM(stored_bytes), 0) AS BIGINT) FROM job_logs WHERE state = $1")
                .bind(stored)
                .fetch_one(&self.db)
                .await?;
        let mut over = total - budget;
        if over <= 0 {
            return Ok(0);
        }
        let oldest: Vec<(i64, i64)> =
            query("SELECT job_id, stored_bytes FROM job_logs WHERE state = $1 ORDER BY fetched_at, job_id LIMIT 1000")
                .bind(stored)
                .fetch_all(&self.db)
                .await?;
        let mut evicted = 0;
        for (job_id, size) in oldest {
            if over <= 0 {
                break;
            }
            evicted += query(
                "UPDATE job_logs SET state = $2, reason = $3, log = NULL, stored_bytes = 0 \
                 WHERE job_id = $1 AND state = $4",
            )
            .bind(job_id)
            .bind(JobLogState::Evicted.as_str())
            .bind("removed to keep the stored logs within CCM_JOB_LOG_BUDGET_MB")
            .bind(stored)
            .execute(&self.db)
            .await?;
            over -= size;
        }
        Ok(evicted)
    }
}
