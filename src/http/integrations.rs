//! `GET /api/integrations/github/health` and `GET /api/integrations/github/jobs/{id}`.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::error::ErrorBody;
use super::routes::{Routes, resource};
use super::{Actor, ApiError, AppState};
use crate::domain::clock;
use crate::domain::status::OutboxJobStatus;
use crate::github::health::{HealthSnapshot, RateBudget};
use crate::store::OutboxCounts;

pub fn routes(routes: &mut Routes) {
    routes
        .add(resource("/integrations/github/health").get(health))
        .add(resource("/integrations/github/jobs/{id}").get(job));
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(health, job))]
pub(super) struct Api;

/// The outbound calls since this process started, the pause, the rate-limit budget and the
/// outbox queue. Without a GitHub App only `configured`, `message` and `outbox` are present.
// Without an App every other field is absent: `Some(None)` is null, `None` absent.
#[derive(Serialize, ToSchema)]
struct GithubHealth {
    configured: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    outbox: OutboxCounts,
    /// app or token
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    mode: Option<Option<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    concurrency: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    success_count: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_count: Option<i64>,
    /// Percent; null before the first call.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<f64>)]
    success_rate: Option<Option<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    consecutive_failures: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    last_error: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    last_error_at: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    last_success_at: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    paused: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    paused_until: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rate_limited: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    rate_limited_until: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rate_limit: Option<RateBudget>,
}

impl GithubHealth {
    fn not_configured(outbox: OutboxCounts) -> Self {
        GithubHealth {
            configured: false,
            message: Some(ApiError::GithubNotConfigured.to_string()),
            outbox,
            mode: None,
            api_url: None,
            concurrency: None,
            success_count: None,
            error_count: None,
            success_rate: None,
            consecutive_failures: None,
            last_error: None,
            last_error_at: None,
            last_success_at: None,
            paused: None,
            paused_until: None,
            rate_limited: None,
            rate_limited_until: None,
            rate_limit: None,
        }
    }

    fn configured(client: &crate::github::GithubClient, s: HealthSnapshot, outbox: OutboxCounts) -> Self {
        let at = |t: Option<chrono::DateTime<chrono::Utc>>| Some(t.as_ref().map(clock::format));
        GithubHealth {
            configured: true,
            message: None,
            outbox,
            mode: Some(client.config.mode()),
            api_url: Some(client.config.api_url.clone()),
            concurrency: Some(client.config.concurrency as i64),
            success_count: Some(s.success_count as i64),
            error_count: Some(s.error_count as i64),
            success_rate: Some(s.success_rate),
            consecutive_failures: Some(i64::from(s.consecutive_failures)),
            last_error: Some(s.last_error),
            last_error_at: at(s.last_error_at),
            last_success_at: at(s.last_success_at),
            paused: Some(s.paused),
            paused_until: at(s.paused_until),
            rate_limited: Some(s.rate_limited),
            rate_limited_until: at(s.rate_limited_until),
            rate_limit: Some(s.rate_limit),
        }
    }
}

#[derive(Serialize, ToSchema)]
struct GithubHealthResponse {
    success: bool,
    github: GithubHealth,
}

/// Outbound call figures (since this process started), the pause, the rate-limit budget and
/// the outbox's queue (from the database).
#[utoipa::path(get, path = "/api/integrations/github/health", operation_id = "get_github_health", tag = "github",
    responses((status = 200, description = "The GitHub integration's state", body = GithubHealthResponse)))]
async fn health(state: web::Data<AppState>, _actor: Actor) -> Result<HttpResponse, ApiError> {
    let outbox = state.store.outbox_counts().await?;
    let github = match &state.github {
        Some(client) => GithubHealth::configured(client, client.health.snapshot(clock::now()), outbox),
        None => GithubHealth::not_configured(outbox),
    };
    Ok(HttpResponse::Ok().json(GithubHealthResponse { success: true, github }))
}

/// An outbox job as the API shows it.
#[derive(Serialize, ToSchema)]
struct OutboxJob {
    id: i64,
    kind: String,
    status: OutboxJobStatus,
    attempts: i64,
    max_attempts: i64,
    next_attempt_at: String,
    last_error: Option<String>,
    result: Option<Value>,
    created_at: String,
    finished_at: Option<String>,
}

impl From<crate::store::OutboxJob> for OutboxJob {
    fn from(job: crate::store::OutboxJob) -> Self {
        OutboxJob {
            id: job.id,
            kind: job.kind().to_string(),
            status: job.status,
            attempts: job.attempts,
            max_attempts: job.max_attempts,
            next_attempt_at: clock::format(&job.next_attempt_at),
            last_error: job.last_error,
            result: job.result.map(|r| r.0),
            created_at: clock::format(&job.created_at),
            finished_at: job.finished_at.as_ref().map(clock::format),
        }
    }
}

#[derive(Serialize, ToSchema)]
struct OutboxJobResponse {
    success: bool,
    job: OutboxJob,
}

/// One outbox job: its kind, state, attempts, last error and result.
#[utoipa::path(get, path = "/api/integrations/github/jobs/{id}", operation_id = "get_github_job", tag = "github",
    params(("id" = i64, Path, description = "The outbox job id", minimum = 1)),
    responses(
        (status = 200, description = "The job", body = OutboxJobResponse),
        (status = 400, description = "Not a job id", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
    ))]
async fn job(state: web::Data<AppState>, _actor: Actor, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let job_id: i64 = id.parse().map_err(|_| ApiError::BadRequest(format!("Invalid job id '{id}'")))?;
    let job =
        state.store.get_job(job_id).await?.ok_or_else(|| ApiError::NotFound(format!("Job not found: {job_id}")))?;
    Ok(HttpResponse::Ok().json(OutboxJobResponse { success: true, job: OutboxJob::from(job) }))
}
