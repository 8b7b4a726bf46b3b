//! The jobs of one of a pipeline's executions: `GET /api/pipelines/{id}/executions/{run_id}/{attempt}/jobs`.

use actix_web::{HttpResponse, web};
use serde::Serialize;

use super::error::ErrorBody;
use super::routes::{Routes, resource};
use super::{Actor, ApiError, AppState};
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
    jobs: Vec<Job>,
    count: i64,
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
    let jobs = state.store.list_jobs(run, attempt_number).await?;
    let count = jobs.len() as i64;
    Ok(HttpResponse::Ok().json(ExecutionJobs { success: true, pipeline_id: pipeline.id, execution, jobs, count }))
}
