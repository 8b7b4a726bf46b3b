//! Job logs through the App (issue 17). A sweep, every few seconds on each replica, queues the
//! fetch of the log of each completed job of an active pipeline's workflow that has none yet
//! (one outbox job per job: its dedupe key keeps replicas from queueing it twice), announces the
//! logs that arrived since its last look (from the database, so every replica announces the logs
//! any of them fetched), and drops the oldest logs past the budget. The fetch reads a failed
//! job's failure annotation, then the log (its tail, streamed), and stores both.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::client::{Download, GhError, Method};
use super::jobs::repo_auth;
use super::{Github, outbox};
use crate::domain::clock;
use crate::domain::job_logs::{self, JobLog, JobLogSummary};
use crate::domain::outbox::OutboxTask;
use crate::domain::runs::Job;
use crate::domain::status::{Conclusion, JobLogState};
use crate::store::ArrivedLog;

/// What the sweep calls for each log that arrived (the server publishes it as a live event).
pub type Announce = Box<dyn Fn(&ArrivedLog) + Send + Sync>;

/// How long after a run completes its jobs' events may still come, before they are read from the
/// REST API instead.
const JOB_EVENTS_GRACE: chrono::Duration = chrono::Duration::minutes(2);

/// Sweeps between two checks of the budget.
const BUDGET_EVERY: u64 = 12;

/// Most jobs queued, and logs announced, per sweep.
const PER_SWEEP: i64 = 200;

fn store_err(err: crate::store::StoreError) -> GhError {
    GhError::Unavailable(format!("database: {err}"))
}

/// The outbox job that fetches `job_id`'s log.
pub fn fetch_task(repository: &str, job_id: i64) -> (OutboxTask, String) {
    (OutboxTask::FetchJobLog { repo: repository.to_string(), job_id }, format!("log:{job_id}"))
}

fn failed(job: &Job) -> bool {
    job.conclusion.as_ref().is_some_and(Conclusion::is_failure)
}

fn record(job: &Job, repo: &str, state: JobLogState, reason: Option<String>) -> JobLog {
    JobLog {
        summary: JobLogSummary {
            job_id: job.job_id,
            run_id: job.run_id,
            run_attempt: job.run_attempt,
            repository: repo.to_lowercase(),
            state,
            reason,
            log_bytes: 0,
            kept_bytes: 0,
            stored_bytes: 0,
            truncated: false,
            failed_step: job_logs::failed_step_of(job),
            error_message: None,
            fetched_at: clock::now(),
        },
        compressed: None,
    }
}

/// Fetches and stores the log of job `job_id` of `repo`, and for a failed job what explains it.
pub async fn fetch_job_log(gh: &Github, repo: &str, job_id: i64) -> Result<Value, GhError> {
    let job = gh.store.get_workflow_job(job_id).await.map_err(store_err)?.ok_or_else(|| GhError::Refused {
        status: 404,
        message: format!("job {job_id} is not stored: nothing to fetch a log for"),
    })?;
    let who = repo_auth(gh, repo).await?;
    let mut log = record(&job, repo, JobLogState::Stored, None);
    if failed(&job) {
        // A workflow job's check run has the job's id (its `check_run_url` ends with it).
        let path = format!("/repos/{repo}/check-runs/{job_id}/annotations?per_page=50");
        let reply = gh.client.call(who, Method::Get, &path, None).await?;
        if reply.is_success() {
            log.summary.error_message = job_logs::failure_annotation(&reply.body);
        }
    }
    let path = format!("/repos/{repo}/actions/jobs/{job_id}/logs");
    match gh.client.download_tail(who, &path, gh.client.config.job_logs.max_bytes).await? {
        Download::Body { kept, truncated, total } => {
            if log.summary.failed_step.is_some() && log.summary.error_message.is_none() {
                log.summary.error_message = job_logs::error_from_log(&String::from_utf8_lossy(&kept));
            }
            let compressed = lz4_flex::compress_prepend_size(&kept);
            log.summary.log_bytes = total as i64;
            log.summary.kept_bytes = kept.len() as i64;
            log.summary.stored_bytes = compressed.len() as i64;
            log.summary.truncated = truncated;
            log.compressed = Some(compressed);
        }
        Download::Gone(status) => {
            log.summary.state = JobLogState::Expired;
            log.summary.reason = Some(format!("expired on GitHub (GitHub answered {status})"));
        }
    }
    gh.store.save_job_log(&log).await.map_err(store_err)?;
    let s = &log.summary;
    Ok(json!({"state": s.state, "log_bytes": s.log_bytes, "kept_bytes": s.kept_bytes, "truncated": s.truncated}))
}

/// Reads a completed run attempt's jobs from the REST API (GitHub sent no workflow_job event for
/// it: the App was not subscribed, or the events were lost) and stores them; the next sweep then
/// fetches their logs.
pub async fn list_run_jobs(gh: &Github, repo: &str, run_id: i64, run_attempt: i64) -> Result<Value, GhError> {
    let who = repo_auth(gh, repo).await?;
    let mut path = Some(format!("/repos/{repo}/actions/runs/{run_id}/attempts/{run_attempt}/jobs?per_page=100"));
    let (mut pages, mut stored) = (0, 0i64);
    while let Some(current) = path.take() {
        pages += 1;
        let reply = gh.client.call(who, Method::Get, &current, None).await?;
        if reply.status == 404 {
            break;
        }
        let reply = reply.success(&format!("listing the jobs of run {run_id} of {repo}"))?;
        for job in reply.body.get("jobs").and_then(Value::as_array).into_iter().flatten() {
            let Some(record) = super::runs::job_from_rest(repo, job) else { continue };
            gh.store.upsert_job(&record).await.map_err(store_err)?;
            stored += 1;
        }
        // A run has at most a few hundred jobs.
        if pages < 5 {
            path = reply.next;
        }
    }
    gh.store.jobs_listed(run_id, run_attempt, stored).await.map_err(store_err)?;
    Ok(json!({"jobs": stored, "pages": pages}))
}

/// When a fetch is given up: the job is recorded as having no log, with the reason, so that the
/// sweep does not queue it again.
pub async fn given_up(gh: &Github, repo: &str, job_id: i64, error: &str) {
    let job = match gh.store.get_workflow_job(job_id).await {
        Ok(Some(job)) => job,
        Ok(None) => return,
        Err(err) => return tracing::error!(error = %err, job_id, "reading a job whose log fetch was given up"),
    };
    let log = record(&job, repo, JobLogState::Unavailable, Some(error.to_string()));
    if let Err(err) = gh.store.save_job_log(&log).await {
        tracing::error!(error = %err, job_id, "recording a job log that could not be fetched");
    }
}

/// One look: announce what arrived after `since` (moved forward), queue the fetches, and with
/// `budget_due` keep the budget.
pub async fn sweep(
    gh: &Github,
    since: &mut DateTime<Utc>,
    announce: &Announce,
    budget_due: bool,
) -> crate::store::StoreResult<()> {
    let settings = &gh.client.config.job_logs;
    for arrived in gh.store.logs_arrived_since(*since, PER_SWEEP).await? {
        *since = (*since).max(arrived.summary.fetched_at);
        announce(&arrived);
    }
    if !settings.enabled {
        return Ok(());
    }
    let window = chrono::Duration::from_std(settings.window).unwrap_or(chrono::Duration::days(1));
    let now = clock::now();
    for run in gh.store.runs_without_jobs(now - window, now - JOB_EVENTS_GRACE, PER_SWEEP).await? {
        let (repo, run_id, run_attempt) = (run.repository, run.run_id, run.run_attempt);
        let dedupe_key = format!("jobs:{run_id}:{run_attempt}");
        outbox::enqueue(gh, OutboxTask::ListRunJobs { repo, run_id, run_attempt }, Some(dedupe_key)).await?;
    }
    for job in gh.store.jobs_without_logs(now - window, PER_SWEEP).await? {
        let (task, dedupe_key) = fetch_task(&job.repository, job.job_id);
        outbox::enqueue(gh, task, Some(dedupe_key)).await?;
    }
    if budget_due {
        let evicted = gh.store.evict_logs_over(settings.budget_bytes).await?;
        if evicted > 0 {
            tracing::info!(evicted, "dropped the oldest job logs to stay within CCM_JOB_LOG_BUDGET_MB");
        }
    }
    Ok(())
}

/// Runs `sweep` every `sweep_interval` until `shutdown` turns true.
pub fn spawn_sweeper(gh: Github, announce: Announce, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let interval = gh.client.config.job_logs.sweep_interval;
        let mut since = clock::now();
        for round in 0u64.. {
            // The budget is summed every BUDGET_EVERY sweeps (and at start), not at each.
            if let Err(err) = sweep(&gh, &mut since, &announce, round % BUDGET_EVERY == 0).await {
                tracing::warn!(error = %err, "the job log sweep failed; trying again later");
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                break;
            }
        }
    })
}
