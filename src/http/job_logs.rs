//! Logs of a pipeline's jobs (issue 17): one job's log as text (`?tail=`, `Range`), and the
//! DevOps tool's `GET /api/pipelines/{id}/logs` (a run's jobs with why they failed and the end of
//! their logs). Logs are fetched through the App once a job completes (`github::logs`); an absent
//! log is a 404 that says why.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::ErrorBody;
use super::routes::{Routes, resource};
use super::{Actor, ApiError, AppState};
use crate::domain::job_logs::{self, JobLogSummary};
use crate::domain::status::{Conclusion, JobLogState, RunStatus};
use crate::store::{Execution, Job, Pipeline};

pub fn routes(routes: &mut Routes) {
    routes
        .add(resource("/pipelines/{id}/executions/{run_id}/{attempt}/jobs/{job_id}/logs").get(job_log))
        .add(resource("/pipelines/{id}/logs").get(pipeline_logs));
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(job_log, pipeline_logs))]
pub(super) struct Api;

/// Lines a tail may ask for.
const MAX_TAIL: usize = 100_000;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct TailQuery {
    /// Only the last N lines (1 to 100000).
    #[param(minimum = 1, maximum = 100000)]
    tail: Option<String>,
}

fn tail_lines(raw: Option<&str>, default: Option<usize>) -> Result<Option<usize>, ApiError> {
    match raw {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_TAIL).contains(n))
            .map(Some)
            .ok_or_else(|| ApiError::BadRequest(format!("tail must be a number of lines from 1 to {MAX_TAIL}"))),
    }
}

async fn pipeline(state: &AppState, id: &str) -> Result<Pipeline, ApiError> {
    state.store.get_pipeline(id).await?.ok_or_else(|| ApiError::NotFound(format!("Pipeline not found: {id}")))
}

/// Why a job has no log to show: a 404 that says so.
fn absent(state: &AppState, summary: Option<&JobLogSummary>, job_id: i64) -> ApiError {
    let why = match summary {
        Some(s) => match s.state {
            JobLogState::Expired => "expired on GitHub".to_string(),
            _ => s.reason.clone().unwrap_or_else(|| s.state.to_string()),
        },
        None if state.github.is_none() => {
            "no App: ccm fetches job logs through the GitHub App, which is not configured".to_string()
        }
        None => "not fetched yet (it is fetched once the job has completed)".to_string(),
    };
    ApiError::NotFound(format!("No log of job {job_id}: {why}"))
}

/// The text of a job's log (as much as is kept).
#[utoipa::path(get, path = "/api/pipelines/{id}/executions/{run_id}/{attempt}/jobs/{job_id}/logs",
    operation_id = "get_job_log", tag = "pipelines",
    params(
        ("id" = String, Path, description = "The pipeline id (pipe_ and 12 hex digits)", pattern = "^pipe_[0-9a-f]{12}$"),
        ("run_id" = i64, Path, description = "GitHub's workflow run id", minimum = 1),
        ("attempt" = i64, Path, description = "The run attempt (from 1)", minimum = 1),
        ("job_id" = i64, Path, description = "GitHub's job id", minimum = 1),
        TailQuery,
        ("Range" = Option<String>, Header, description = "One byte range (`bytes=0-1023`, `bytes=-4096`), over the text after `tail`"),
    ),
    responses(
        (status = 200, description = "The log, or its last lines with `tail`", content_type = "text/plain", body = String,
            headers(("X-CCM-Log-Truncated" = String, description = "`true` when only the log's tail is kept (longer than CCM_JOB_LOG_MAX_MB)"))),
        (status = 206, description = "The byte range asked for", content_type = "text/plain", body = String,
            headers(("Content-Range" = String, description = "bytes FIRST-LAST/LENGTH"))),
        (status = 400, description = "A tail that is not a number of lines from 1 to 100000", body = ErrorBody),
        (status = 404, description = "No such pipeline, run or job, or no log, with the reason: not fetched yet, expired on GitHub, no App", body = ErrorBody),
        (status = 416, description = "A range outside the log (`range_not_satisfiable`)", body = ErrorBody),
    ))]
async fn job_log(
    state: web::Data<AppState>,
    _actor: Actor,
    path: web::Path<(String, String, String, String)>,
    query: web::Query<TailQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (id, run_id, attempt, job_id) = path.into_inner();
    let tail = tail_lines(query.tail.as_deref(), None)?;
    let pipeline = pipeline(&state, &id).await?;
    let not_found = || ApiError::NotFound(format!("Job {job_id} not found in run {run_id} attempt {attempt} of {id}"));
    let (Ok(run_id), Ok(attempt), Ok(job_id)) = (run_id.parse::<i64>(), attempt.parse::<i64>(), job_id.parse::<i64>())
    else {
        return Err(not_found());
    };
    let run = state.store.get_execution(run_id, attempt).await?.filter(|e| pipeline.execution_scope().contains(e));
    let job = state.store.get_workflow_job(job_id).await?.filter(|j| j.run_id == run_id && j.run_attempt == attempt);
    if run.is_none() || job.is_none() {
        return Err(not_found());
    }
    let log = state.store.job_log(job_id).await?;
    let Some(text) = log.as_ref().and_then(|l| l.text()) else {
        return Err(absent(&state, log.as_ref().map(|l| &l.summary), job_id));
    };
    let truncated = log.as_ref().is_some_and(|l| l.summary.truncated);
    let text = match tail {
        Some(n) => job_logs::last_lines(&text, n).to_string(),
        None => text,
    };
    let mut response = HttpResponse::Ok();
    response
        .content_type("text/plain; charset=utf-8")
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header(("X-CCM-Log-Truncated", truncated.to_string()));
    let range = req.headers().get(header::RANGE).and_then(|v| v.to_str().ok());
    let len = text.len() as u64;
    match range.and_then(|r| job_logs::byte_range(r, len)) {
        None => Ok(response.body(text)),
        Some(Err(())) => Err(ApiError::RangeNotSatisfiable {
            message: format!("Range {} is outside the log ({len} bytes)", range.unwrap_or_default()),
            len,
        }),
        Some(Ok((first, last))) => {
            let part = text.into_bytes()[first as usize..=last as usize].to_vec();
            Ok(response
                .status(actix_web::http::StatusCode::PARTIAL_CONTENT)
                .insert_header((header::CONTENT_RANGE, format!("bytes {first}-{last}/{len}")))
                .body(part))
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct LogsQuery {
    /// A run of the pipeline [default: its latest].
    #[param(minimum = 1)]
    run_id: Option<i64>,
    /// The run's attempt [default: 1 with run_id, else the latest run's].
    #[param(minimum = 1)]
    attempt: Option<i64>,
    /// Only this job: its id or its name.
    job: Option<String>,
    /// Lines of each log's end to include (1 to 100000) [default: 100].
    #[param(minimum = 1, maximum = 100000)]
    tail: Option<String>,
}

/// One job of the run, why it failed, and the end of its log.
#[derive(Serialize, ToSchema)]
struct JobLogEntry {
    job_id: i64,
    name: String,
    status: RunStatus,
    conclusion: Option<Conclusion>,
    /// The first step that failed, for a failed job.
    failed_step: Option<String>,
    /// Why it failed: the first failure annotation, else the log's error lines.
    error_message: Option<String>,
    /// What ccm holds of the job's log; null until it is fetched.
    log: Option<JobLogSummary>,
    /// The last `tail` lines of the log, if it is stored.
    log_tail: Option<String>,
    /// Why there is no log to show, when there is none.
    log_missing: Option<String>,
    /// The whole log, as text.
    log_url: String,
}

#[derive(Serialize, ToSchema)]
struct PipelineLogs {
    success: bool,
    pipeline_id: String,
    execution: Execution,
    jobs: Vec<JobLogEntry>,
}

/// A run's jobs (the latest run's by default), with why each failed and the end of its log.
#[utoipa::path(get, path = "/api/pipelines/{id}/logs", operation_id = "get_pipeline_logs", tag = "pipelines",
    params(("id" = String, Path, description = "The pipeline id (pipe_ and 12 hex digits)", pattern = "^pipe_[0-9a-f]{12}$"), LogsQuery),
    responses(
        (status = 200, description = "The run's jobs and their logs' ends", body = PipelineLogs),
        (status = 400, description = "A tail that is not a number of lines from 1 to 100000", body = ErrorBody),
        (status = 404, description = "No such pipeline, no run of it yet, no such run, or no such job in the run", body = ErrorBody),
    ))]
async fn pipeline_logs(
    state: web::Data<AppState>,
    _actor: Actor,
    id: web::Path<String>,
    query: web::Query<LogsQuery>,
) -> Result<HttpResponse, ApiError> {
    let tail = tail_lines(query.tail.as_deref(), Some(100))?.unwrap_or(100);
    let pipeline = pipeline(&state, &id).await?;
    let execution = match query.run_id {
        Some(run_id) => {
            let attempt = query.attempt.unwrap_or(1);
            state
                .store
                .get_execution(run_id, attempt)
                .await?
                .filter(|e| pipeline.execution_scope().contains(e))
                .ok_or_else(|| {
                    ApiError::NotFound(format!("Execution not found in pipeline {id}: run {run_id} attempt {attempt}"))
                })?
        }
        None => state
            .store
            .list_executions(&pipeline.execution_scope(), 1, 0)
            .await?
            .items
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::NotFound(format!("Pipeline {id} has no runs yet")))?,
    };
    let jobs: Vec<Job> = state
        .store
        .list_jobs(execution.run_id, execution.run_attempt)
        .await?
        .into_iter()
        .filter(|j| query.job.as_deref().is_none_or(|want| want == j.name || want == j.job_id.to_string()))
        .collect();
    if let Some(want) = &query.job
        && jobs.is_empty()
    {
        return Err(ApiError::NotFound(format!(
            "No job '{want}' in run {} attempt {}",
            execution.run_id, execution.run_attempt
        )));
    }
    let mut entries = Vec::with_capacity(jobs.len());
    for job in jobs {
        let log = state.store.job_log(job.job_id).await?;
        let text = log.as_ref().and_then(|l| l.text());
        let summary = log.map(|l| l.summary);
        let log_missing = text.is_none().then(|| absent(&state, summary.as_ref(), job.job_id).to_string());
        entries.push(JobLogEntry {
            job_id: job.job_id,
            failed_step: summary
                .as_ref()
                .and_then(|s| s.failed_step.clone())
                .or_else(|| job_logs::failed_step_of(&job)),
            error_message: summary.as_ref().and_then(|s| s.error_message.clone()),
            log_tail: text.as_deref().map(|t| job_logs::last_lines(t, tail).to_string()),
            log_missing,
            log_url: format!(
                "/api/pipelines/{}/executions/{}/{}/jobs/{}/logs",
                pipeline.id, execution.run_id, execution.run_attempt, job.job_id
            ),
            log: summary,
            name: job.name,
            status: job.status,
            conclusion: job.conclusion,
        });
    }
    Ok(HttpResponse::Ok().json(PipelineLogs { success: true, pipeline_id: pipeline.id, execution, jobs: entries }))
}
