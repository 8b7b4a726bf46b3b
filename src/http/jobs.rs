//! The jobs of one of a pipeline's executions: `GET /api/pipelines/{id}/executions/{run_id}/{attempt}/jobs`.

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use serde::Serialize;

use super::error::ErrorBody;
use super::routes::{Routes, resource};
use super::{Actor, ApiError, AppState};
use crate::domain::job_logs::{self, JobLogSummary};
use crate::domain::status::JobLogState;
use crate::store::{Execution, Job};

pub fn routes(routes: &mut Routes) {
    routes.add(resource("/pipelines/{id}/executions/{run_id}/{attempt}/jobs").get(list));
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(list))]
pub(super) struct Api;

/// `GET /api/pipelines/{id}/executions/{run_id}/{attempt}/jobs`.
#[derive(Serialize, utoipa::ToSchema)]
struct ExecutionJobs {
    success: bool,
    pipeline_id: String,
    execution: Execution,
    /// In start order.
    jobs: Vec<JobWithFailure>,
    count: i64,
}

/// A job, why it failed, and where its log stands.
#[derive(Serialize, utoipa::ToSchema)]
struct JobWithFailure {
    #[serde(flatten)]
    job: Job,
    /// The first step that failed, for a failed job.
    failed_step: Option<String>,
    /// Why it failed: the first failure annotation, else the log's error lines (once the log is
    /// fetched).
    error_message: Option<String>,
    /// Where the job's log stands (`stored`, `expired`, ...); null until it is fetched.
    log_state: Option<JobLogState>,
}

#[utoipa::path(get, path = "/api/pipelines/{id}/executions/{run_id}/{attempt}/jobs", operation_id = "list_execution_jobs",
    tag = "pipelines",
    params(
        ("id" = String, Path, description = "The pipeline id (pipe_ and 12 hex digits)", pattern = "^pipe_[0-9a-f]{12}$"),
        ("run_id" = i64, Path, description = "GitHub's workflow run id", minimum = 1),
        ("attempt" = i64, Path, description = "The run attempt (from 1)", minimum = 1),
    ),
    responses(
        (status = 200, description = "The execution and its jobs", body = ExecutionJobs),
        (status = 404, description = "No such pipeline, or no such run of this pipeline", body = ErrorBody),
    ))]
async fn list(
    state: web::Data<AppState>,
    _actor: Actor,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, run_id, attempt) = path.into_inner();
    let pipeline =
        state.store.get_pipeline(&id).await?.ok_or_else(|| ApiError::NotFound(format!("Pipeline not found: {id}")))?;
    let not_found =
        || ApiError::NotFound(format!("Execution not found in pipeline {id}: run {run_id} attempt {attempt}"));
    let (Ok(run), Ok(attempt_number)) = (run_id.parse::<i64>(), attempt.parse::<i64>()) else {
        return Err(not_found());
    };
    let execution =
        state.store.get_execution(run, attempt_number).await?.filter(|e| pipeline.execution_scope().contains(e));
    let Some(execution) = execution else {
        return Err(not_found());
    };
    let logs: HashMap<i64, JobLogSummary> = state
        .store
        .job_log_summaries(run, attempt_number)
        .await?
        .into_iter()
        .map(|summary| (summary.job_id, summary))
        .collect();
    let jobs: Vec<JobWithFailure> = state
        .store
        .list_jobs(run, attempt_number)
        .await?
        .into_iter()
        .map(|job| {
            let log = logs.get(&job.job_id);
            JobWithFailure {
                failed_step: log.and_then(|l| l.failed_step.clone()).or_else(|| job_logs::failed_step_of(&job)),
                error_message: log.and_then(|l| l.error_message.clone()),
                log_state: log.map(|l| l.state),
                job,
            }
        })
        .collect();
    let count = jobs.len() as i64;
    Ok(HttpResponse::Ok().json(ExecutionJobs { success: true, pipeline_id: pipeline.id, execution, jobs, count }))
}
