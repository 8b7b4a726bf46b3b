//! Actions on one run of a pipeline through GitHub: cancel it, re-run it, re-run its failed jobs.
//! Like trigger and rollback (`actions`), each is queued in the outbox, audited, answers 202 with
//! the job's id and takes an `Idempotency-Key`; a run in a state GitHub would refuse the action
//! in (a completed run cancelled, a running one re-run) is a 409 before anything is queued.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::actions::{action_error, answer, idempotency};
use super::error::ErrorBody;
use super::routes::{Routes, resource};
use super::{Actor, ApiError, AppState};
use crate::app::runs::{self as app, RunAction};

pub fn routes(routes: &mut Routes) {
    routes
        .add(resource("/pipelines/{id}/executions/{run_id}/{attempt}/cancel").post(cancel))
        .add(resource("/pipelines/{id}/executions/{run_id}/{attempt}/rerun").post(rerun))
        .add(resource("/pipelines/{id}/executions/{run_id}/{attempt}/rerun-failed-jobs").post(rerun_failed_jobs));
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(cancel, rerun, rerun_failed_jobs))]
pub(super) struct Api;

#[derive(Serialize, ToSchema)]
struct RunActionQueued {
    success: bool,
    pipeline_id: String,
    run_id: i64,
    run_attempt: i64,
    /// `execution.cancel`, `execution.rerun` or `execution.rerun_failed_jobs` (as in the audit log).
    #[schema(example = "execution.cancel")]
    action: String,
    /// The outbox job (`GET /api/integrations/github/jobs/{id}`).
    job_id: i64,
    /// queued
    #[schema(example = "queued")]
    status: String,
    message: String,
}

async fn act(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<(String, String, String)>,
    req: HttpRequest,
    action: RunAction,
) -> Result<HttpResponse, ApiError> {
    let (id, run_id, attempt) = path.into_inner();
    let not_found =
        || ApiError::NotFound(format!("Execution not found in pipeline {id}: run {run_id} attempt {attempt}"));
    let (Ok(run_id), Ok(attempt)) = (run_id.parse::<i64>(), attempt.parse::<i64>()) else {
        return Err(not_found());
    };
    let operation = action.audit_action();
    let key = idempotency(&req, operation, &id, serde_json::json!({"run_id": run_id, "attempt": attempt}))?;
    if let Some(first) = app::prior_answer(state.store.as_ref(), key.as_ref()).await.map_err(action_error)? {
        return Ok(answer(first));
    }
    // The pipeline and the run first: either unknown is said so whether GitHub is configured or not.
    let pipeline = app::active_pipeline(state.store.as_ref(), &id, "act on a run of").await.map_err(action_error)?;
    let run = app::pipeline_run(state.store.as_ref(), &pipeline, run_id, attempt).await.map_err(action_error)?;
    let gh = state.github()?;
    let queued = |job_id| {
        serde_json::to_value(RunActionQueued {
            success: true,
            pipeline_id: pipeline.id.clone(),
            run_id,
            run_attempt: attempt,
            action: operation.to_string(),
            job_id,
            status: "queued".into(),
            message: format!("{} of run {run_id} of {} queued", action.describe(), pipeline.repository),
        })
        .unwrap_or_default()
    };
    let key = key.as_ref();
    Ok(answer(app::act_on_run(&gh, &actor.0, &pipeline, &run, action, key, &queued).await.map_err(action_error)?))
}

/// Cancels a run that has not completed (`POST /repos/{repo}/actions/runs/{run_id}/cancel`).
#[utoipa::path(post, path = "/api/pipelines/{id}/executions/{run_id}/{attempt}/cancel", operation_id = "cancel_execution",
    tag = "runs",
    params(
        ("id" = String, Path, description = "The pipeline id (pipe_ and 12 hex digits)", pattern = "^pipe_[0-9a-f]{12}$"),
        ("run_id" = i64, Path, description = "GitHub's workflow run id", minimum = 1),
        ("attempt" = i64, Path, description = "The run attempt (from 1)", minimum = 1),
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = r"^[!-~]+$",
            description = "Optional: the same key within 24 hours answers the first response again (`Idempotent-Replayed: true`)."),
    ),
    responses(
        (status = 202, description = "The cancellation is queued", body = RunActionQueued,
            headers(("Idempotent-Replayed" = String, description = "`true` when this is the first response to the same key again"))),
        (status = 400, description = "An `Idempotency-Key` that is not 1 to 255 visible ASCII characters", body = ErrorBody),
        (status = 404, description = "No such pipeline, or no such run of this pipeline", body = ErrorBody),
        (status = 409, description = "The pipeline is inactive, or the run is already completed", body = ErrorBody),
        (status = 422, description = "The `Idempotency-Key` came with another request in the last 24 hours (`idempotency_key_reused`)", body = ErrorBody),
        (status = 503, description = "No GitHub App configured (`github_not_configured`)", body = ErrorBody),
    ))]
async fn cancel(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<(String, String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    act(state, actor, path, req, RunAction::Cancel).await
}

/// Re-runs a completed run, all of its jobs, as a new attempt
/// (`POST /repos/{repo}/actions/runs/{run_id}/rerun`).
#[utoipa::path(post, path = "/api/pipelines/{id}/executions/{run_id}/{attempt}/rerun", operation_id = "rerun_execution",
    tag = "runs",
    params(
        ("id" = String, Path, description = "The pipeline id (pipe_ and 12 hex digits)", pattern = "^pipe_[0-9a-f]{12}$"),
        ("run_id" = i64, Path, description = "GitHub's workflow run id", minimum = 1),
        ("attempt" = i64, Path, description = "The run attempt (from 1)", minimum = 1),
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = r"^[!-~]+$",
            description = "Optional: the same key within 24 hours answers the first response again (`Idempotent-Replayed: true`)."),
    ),
    responses(
        (status = 202, description = "The re-run is queued", body = RunActionQueued,
            headers(("Idempotent-Replayed" = String, description = "`true` when this is the first response to the same key again"))),
        (status = 400, description = "An `Idempotency-Key` that is not 1 to 255 visible ASCII characters", body = ErrorBody),
        (status = 404, description = "No such pipeline, or no such run of this pipeline", body = ErrorBody),
        (status = 409, description = "The pipeline is inactive, or the run has not completed", body = ErrorBody),
        (status = 422, description = "The `Idempotency-Key` came with another request in the last 24 hours (`idempotency_key_reused`)", body = ErrorBody),
        (status = 503, description = "No GitHub App configured (`github_not_configured`)", body = ErrorBody),
    ))]
async fn rerun(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<(String, String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    act(state, actor, path, req, RunAction::Rerun).await
}

/// Re-runs the failed jobs of a completed run that failed, was cancelled or timed out, and the
/// jobs that depend on them (`POST /repos/{repo}/actions/runs/{run_id}/rerun-failed-jobs`).
#[utoipa::path(post, path = "/api/pipelines/{id}/executions/{run_id}/{attempt}/rerun-failed-jobs",
    operation_id = "rerun_failed_jobs", tag = "runs",
    params(
        ("id" = String, Path, description = "The pipeline id (pipe_ and 12 hex digits)", pattern = "^pipe_[0-9a-f]{12}$"),
        ("run_id" = i64, Path, description = "GitHub's workflow run id", minimum = 1),
        ("attempt" = i64, Path, description = "The run attempt (from 1)", minimum = 1),
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = r"^[!-~]+$",
            description = "Optional: the same key within 24 hours answers the first response again (`Idempotent-Replayed: true`)."),
    ),
    responses(
        (status = 202, description = "The re-run of the failed jobs is queued", body = RunActionQueued,
            headers(("Idempotent-Replayed" = String, description = "`true` when this is the first response to the same key again"))),
        (status = 400, description = "An `Idempotency-Key` that is not 1 to 255 visible ASCII characters", body = ErrorBody),
        (status = 404, description = "No such pipeline, or no such run of this pipeline", body = ErrorBody),
        (status = 409, description = "The pipeline is inactive, or the run has not completed or has no failed jobs", body = ErrorBody),
        (status = 422, description = "The `Idempotency-Key` came with another request in the last 24 hours (`idempotency_key_reused`)", body = ErrorBody),
        (status = 503, description = "No GitHub App configured (`github_not_configured`)", body = ErrorBody),
    ))]
async fn rerun_failed_jobs(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<(String, String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    act(state, actor, path, req, RunAction::RerunFailedJobs).await
}
