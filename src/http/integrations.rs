//! `GET /api/integrations/github/health` and `GET /api/integrations/github/jobs/{id}`.

use actix_web::{HttpResponse, web};
use serde_json::{Value, json};

use super::error::ErrorBody;
use super::openapi::{GithubHealthResponse, OutboxJobResponse};
use super::routes::{Routes, resource};
use super::{Actor, ApiError, AppState};
use crate::domain::clock;

pub fn routes(routes: &mut Routes) {
    routes
        .add(resource("/integrations/github/health").get(health))
        .add(resource("/integrations/github/jobs/{id}").get(job));
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(health, job))]
pub(super) struct Api;

/// Outbound call figures (since this process started), the pause, the rate-limit budget and
/// the outbox's queue (from the database).
#[utoipa::path(get, path = "/api/integrations/github/health", operation_id = "get_github_health", tag = "github",
    responses((status = 200, description = "The GitHub integration's state", body = GithubHealthResponse)))]
async fn health(state: web::Data<AppState>, _actor: Actor) -> Result<HttpResponse, ApiError> {
    let outbox = state.store.outbox_counts().await?;
    let Some(client) = &state.github else {
        return Ok(HttpResponse::Ok().json(json!({
            "success": true,
            "github": {
                "configured": false,
                "message": ApiError::GithubNotConfigured.to_string(),
                "outbox": outbox,
            }
        })));
    };
    let snapshot = client.health.snapshot(clock::now());
    let mut github = serde_json::to_value(&snapshot).map_err(|e| ApiError::Internal(e.into()))?;
    if let Value::Object(map) = &mut github {
        map.insert("configured".into(), Value::from(true));
        map.insert("mode".into(), Value::from(client.config.mode()));
        map.insert("api_url".into(), Value::from(client.config.api_url.clone()));
        map.insert("concurrency".into(), Value::from(client.config.concurrency));
        map.insert("outbox".into(), serde_json::to_value(&outbox).map_err(|e| ApiError::Internal(e.into()))?);
    }
    Ok(HttpResponse::Ok().json(json!({"success": true, "github": github})))
}

/// One outbox job: its kind, state, attempts, last error and result.
#[utoipa::path(get, path = "/api/integrations/github/jobs/{id}", operation_id = "get_github_job", tag = "github",
    params(("id" = i64, Path, description = "The outbox job id")),
    responses(
        (status = 200, description = "The job", body = OutboxJobResponse),
        (status = 400, description = "Not a job id", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
    ))]
async fn job(state: web::Data<AppState>, _actor: Actor, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let job_id: i64 = id.parse().map_err(|_| ApiError::BadRequest(format!("Invalid job id '{id}'")))?;
    let job =
        state.store.get_job(job_id).await?.ok_or_else(|| ApiError::NotFound(format!("Job not found: {job_id}")))?;
    Ok(HttpResponse::Ok().json(json!({
        "success": true,
        "job": {
            "id": job.id,
            "kind": job.kind(),
            "status": job.status,
            "attempts": job.attempts,
            "max_attempts": job.max_attempts,
            "next_attempt_at": clock::format(&job.next_attempt_at),
            "last_error": job.last_error,
            "result": job.result.map(|r| r.0),
            "created_at": clock::format(&job.created_at),
            "finished_at": job.finished_at.as_ref().map(clock::format),
        }
    })))
}
