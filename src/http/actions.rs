//! Actions on a pipeline's workflow through GitHub: trigger (workflow_dispatch) and rollback
//! (re-run of the last successful run). Both are queued in the outbox and answer 202 with the
//! job's id (`GET /api/integrations/github/jobs/{id}` tells how it went). Both take an
//! `Idempotency-Key` (`app::runs`).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::error::ErrorBody;
use super::routes::{Routes, resource};
use super::{Actor, ApiError, AppState};
use crate::app::runs::{self as app, ActionError};
use crate::domain::status::{Conclusion, RunStatus};
use crate::store::Execution;

pub fn routes(routes: &mut Routes) {
    routes
        .add(resource("/pipelines/{id}/trigger").post(trigger))
        .add(resource("/pipelines/{id}/rollback").post(rollback));
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(trigger, rollback))]
pub(super) struct Api;

/// An optional JSON object body: empty means `{}`; anything else must be sent as JSON.
fn object_body(req: &HttpRequest, body: &web::Bytes) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(ApiError::UnsupportedMediaType("Unsupported Content-Type: send application/json".into()));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::BadRequest("Request body must be a JSON object".into())),
        Err(e) => Err(ApiError::BadRequest(format!("Malformed JSON body: {e}"))),
    }
}

pub(super) fn action_error(err: ActionError) -> ApiError {
    match err {
        ActionError::NotFound(_) | ActionError::ExecutionNotFound { .. } => ApiError::NotFound(err.to_string()),
        ActionError::RunRefused { ref pipeline_id, .. } => {
            ApiError::Conflict { message: err.to_string(), pipeline_id: Some(pipeline_id.clone()) }
        }
        ActionError::NoRefToDefaultTo | ActionError::InvalidKey(_) => ApiError::BadRequest(err.to_string()),
        ActionError::KeyReused => ApiError::IdempotencyKeyReused(err.to_string()),
        ActionError::Inactive { ref pipeline, .. } | ActionError::NoSuccessfulRun(ref pipeline) => {
            ApiError::Conflict { message: err.to_string(), pipeline_id: Some(pipeline.id.clone()) }
        }
        ActionError::Github(err) => err.into(),
        ActionError::Store(err) => err.into(),
    }
}

/// `POST /api/pipelines/{id}/trigger`; an empty body is `{}`.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)] // read by utoipa: additionalProperties false, as `parse` refuses them
struct TriggerRequest {
    /// A branch or tag; defaults to the first of the pipeline's trigger branches.
    // Checked once the pipeline is known, as the ref to default to is its.
    #[schema(rename = "ref", value_type = Option<String>, example = "main", min_length = 1, max_length = 255)]
    git_ref: Option<Value>,
    /// The DevOps tool's name for `ref` (`{"branch": "main"}`); give one or the other.
    #[schema(value_type = Option<String>, example = "main", min_length = 1, max_length = 255)]
    branch: Option<Value>,
    /// At most 25 inputs, each a string, a number or a boolean.
    #[schema(value_type = Option<Object>)]
    inputs: Map<String, Value>,
}

impl TriggerRequest {
    fn parse(req: &HttpRequest, body: &web::Bytes) -> Result<Self, ApiError> {
        let mut body = object_body(req, body)?;
        if let Some(unknown) = body.keys().find(|k| !["ref", "branch", "inputs"].contains(&k.as_str())) {
            return Err(ApiError::BadRequest(format!(
                "Unknown field '{unknown}': expected ref (or branch) and inputs"
            )));
        }
        let inputs = match body.remove("inputs") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(inputs)) => inputs,
            Some(_) => return Err(ApiError::BadRequest("Field 'inputs' must be an object".into())),
        };
        if inputs.len() > 25 {
            return Err(ApiError::BadRequest("Field 'inputs' may hold at most 25 inputs".into()));
        }
        if let Some((key, _)) = inputs.iter().find(|(_, v)| !(v.is_string() || v.is_number() || v.is_boolean())) {
            return Err(ApiError::BadRequest(format!("Input '{key}' must be a string, a number or a boolean")));
        }
        let request = TriggerRequest { git_ref: body.remove("ref"), branch: body.remove("branch"), inputs };
        if let (Some(r), Some(b)) = (&request.git_ref, &request.branch)
            && !r.is_null()
            && !b.is_null()
            && r != b
        {
            return Err(ApiError::BadRequest("Fields 'ref' and 'branch' differ: give one of them".into()));
        }
        Ok(request)
    }

    /// The ref asked for, under either name.
    fn requested_ref(&self) -> Option<&Value> {
        [&self.git_ref, &self.branch].into_iter().flatten().find(|r| !r.is_null())
    }
}

#[derive(Serialize, ToSchema)]
struct TriggerQueued {
    success: bool,
    pipeline_id: String,
    #[serde(rename = "ref")]
    git_ref: String,
    /// The outbox job (`GET /api/integrations/github/jobs/{id}`).
    job_id: i64,
    /// queued
    status: &'static str,
    message: String,
}

/// `POST /api/pipelines/{id}/rollback`; an empty body is `{}`.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)] // read by utoipa: additionalProperties false, as `parse` refuses them
struct RollbackRequest {
    #[schema(example = "bad release", min_length = 1, max_length = 1000)]
    reason: Option<String>,
}

impl RollbackRequest {
    fn parse(req: &HttpRequest, body: &web::Bytes) -> Result<Self, ApiError> {
        let body = object_body(req, body)?;
        if let Some(unknown) = body.keys().find(|k| *k != "reason") {
            return Err(ApiError::BadRequest(format!("Unknown field '{unknown}': expected reason")));
        }
        match body.get("reason") {
            None | Some(Value::Null) => Ok(RollbackRequest { reason: None }),
            Some(Value::String(r)) if !r.trim().is_empty() && r.len() <= 1000 => {
                Ok(RollbackRequest { reason: Some(r.trim().to_string()) })
            }
            Some(_) => {
                Err(ApiError::BadRequest("Field 'reason' must be a non-empty string (at most 1000 bytes)".into()))
            }
        }
    }
}

#[derive(Serialize, ToSchema)]
struct ExecutionSummary {
    id: i64,
    run_id: i64,
    run_attempt: i64,
    #[schema(value_type = String)]
    status: RunStatus,
    #[schema(value_type = Option<String>)]
    conclusion: Option<Conclusion>,
    branch: Option<String>,
    head_sha: Option<String>,
    html_url: Option<String>,
}

impl From<&Execution> for ExecutionSummary {
    fn from(e: &Execution) -> Self {
        ExecutionSummary {
            id: e.id,
            run_id: e.run_id,
            run_attempt: e.run_attempt,
            status: e.status.clone(),
            conclusion: e.conclusion.clone(),
            branch: e.branch.clone(),
            head_sha: e.head_sha.clone(),
            html_url: e.html_url.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
struct RollbackQueued {
    success: bool,
    pipeline_id: String,
    job_id: i64,
    status: &'static str,
    reason: String,
    /// The successful run re-run.
    previous_execution: ExecutionSummary,
    /// The run marked as rolled back, if a later one exists.
    rolled_back_execution: Option<ExecutionSummary>,
    message: String,
}

/// The request's `Idempotency-Key`, if it sent one, for `operation` on pipeline `id` asking
/// `request`.
pub(super) fn idempotency(
    req: &HttpRequest,
    operation: &str,
    id: &str,
    request: Value,
) -> Result<Option<app::Idempotency>, ApiError> {
    let header = match req.headers().get(IDEMPOTENCY_KEY) {
        None => None,
        Some(value) => {
            Some(value.to_str().map_err(|_| ApiError::BadRequest(format!("{IDEMPOTENCY_KEY} must be ASCII")))?)
        }
    };
    app::Idempotency::of(header, operation, id, &request).map_err(action_error)
}

/// An action's answer; the first one again is marked `Idempotent-Replayed: true`.
pub(super) fn answer(answer: app::Answer) -> HttpResponse {
    let mut response = HttpResponse::build(StatusCode::from_u16(answer.status).unwrap_or(StatusCode::ACCEPTED));
    if answer.replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    response.json(answer.body)
}

const IDEMPOTENCY_KEY: &str = crate::domain::idempotency::HEADER;

fn valid_ref(r: &str) -> bool {
    !r.is_empty() && r.len() <= 255 && !r.chars().any(|c| c.is_control() || c.is_whitespace()) && !r.contains("..")
}

/// `{"ref": "main", "inputs": {...}}` (or the DevOps tool's `{"branch": "main"}`): starts the
/// pipeline's workflow (workflow_dispatch). `ref` defaults to the first of the pipeline's trigger
/// branches.
#[utoipa::path(post, path = "/api/pipelines/{id}/trigger", operation_id = "trigger_pipeline", tag = "runs",
    params(("id" = String, Path, description = "The pipeline id (pipe_ and 12 hex digits)", pattern = "^pipe_[0-9a-f]{12}$"), ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = r"^[!-~]+$",
        description = "Optional: 1 to 255 visible ASCII characters (a UUID). The same key within 24 hours answers the \
                       first response again (`Idempotent-Replayed: true`) instead of acting twice, on any replica; the \
                       same key with another request is a 422.")),
    request_body(content = Option<TriggerRequest>, description = "Optional"),
    responses(
        (status = 202, description = "The workflow dispatch is queued (or, for a repeated `Idempotency-Key`, was: the first response again)",
            body = TriggerQueued, headers(("Idempotent-Replayed" = String, description = "`true` when this is the first response to the same key again"))),
        (status = 422, description = "The `Idempotency-Key` came with another request in the last 24 hours (`idempotency_key_reused`)", body = ErrorBody),
        (status = 400, description = "Invalid ref or inputs, or no ref to default to", body = ErrorBody),
        (status = 404, description = "No such pipeline", body = ErrorBody),
        (status = 409, description = "The pipeline is inactive", body = ErrorBody),
        (status = 415, description = "A body not sent as application/json", body = ErrorBody),
        (status = 503, description = "No GitHub App configured (`github_not_configured`)", body = ErrorBody),
    ))]
async fn trigger(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let request = TriggerRequest::parse(&req, &body)?;
    let git_ref = match request.requested_ref() {
        None => None,
        Some(Value::String(r)) if valid_ref(r) => Some(r.clone()),
        Some(_) => return Err(ApiError::BadRequest("Field 'ref' must be a branch or tag name".into())),
    };
    let inputs = request.inputs;
    // `ref` or `branch`: the same request.
    let key = idempotency(&req, "trigger", &id, serde_json::json!({"ref": git_ref, "inputs": inputs}))?;
    if let Some(first) = app::prior_answer(state.store.as_ref(), key.as_ref()).await.map_err(action_error)? {
        return Ok(answer(first));
    }
    // Then the pipeline: an unknown or inactive one is said so whether GitHub is configured or not.
    let pipeline = app::active_pipeline(state.store.as_ref(), &id, "trigger").await.map_err(action_error)?;
    let git_ref = app::dispatch_ref(git_ref, &pipeline).map_err(action_error)?;
    let gh = state.github()?;
    let message = format!("Workflow dispatch of {} on {} queued", pipeline.workflow_file, git_ref);
    let queued = |job_id| {
        let (pipeline_id, git_ref, message) = (pipeline.id.clone(), git_ref.clone(), message.clone());
        serde_json::to_value(TriggerQueued { success: true, pipeline_id, git_ref, job_id, status: "queued", message })
            .unwrap_or_default()
    };
    let key = key.as_ref();
    Ok(answer(app::trigger(&gh, &actor.0, &pipeline, &git_ref, &inputs, key, &queued).await.map_err(action_error)?))
}

/// `{"reason": "..."}` (optional): re-runs the most recent successful run of the pipeline's
/// workflow (a redeploy of the last good commit) and marks the run it replaces as rolled back.
#[utoipa::path(post, path = "/api/pipelines/{id}/rollback", operation_id = "rollback_pipeline", tag = "runs",
    params(("id" = String, Path, description = "The pipeline id (pipe_ and 12 hex digits)", pattern = "^pipe_[0-9a-f]{12}$"), ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = r"^[!-~]+$",
        description = "Optional: 1 to 255 visible ASCII characters (a UUID). The same key within 24 hours answers the \
                       first response again (`Idempotent-Replayed: true`) instead of acting twice, on any replica; the \
                       same key with another request is a 422.")),
    request_body(content = Option<RollbackRequest>, description = "Optional"),
    responses(
        (status = 202, description = "The re-run of the last successful run is queued (or, for a repeated `Idempotency-Key`, was: the first response again)",
            body = RollbackQueued, headers(("Idempotent-Replayed" = String, description = "`true` when this is the first response to the same key again"))),
        (status = 422, description = "The `Idempotency-Key` came with another request in the last 24 hours (`idempotency_key_reused`)", body = ErrorBody),
        (status = 400, description = "Invalid reason", body = ErrorBody),
        (status = 404, description = "No such pipeline", body = ErrorBody),
        (status = 409, description = "The pipeline is inactive or has no successful run", body = ErrorBody),
        (status = 415, description = "A body not sent as application/json", body = ErrorBody),
        (status = 503, description = "No GitHub App configured (`github_not_configured`)", body = ErrorBody),
    ))]
async fn rollback(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let reason = RollbackRequest::parse(&req, &body)?.reason;
    let key = idempotency(&req, "rollback", &id, serde_json::json!({"reason": reason}))?;
    if let Some(first) = app::prior_answer(state.store.as_ref(), key.as_ref()).await.map_err(action_error)? {
        return Ok(answer(first));
    }
    let reason = reason.unwrap_or_else(|| "rollback requested".to_string());
    // The pipeline first: an unknown or inactive one is said so whether GitHub is configured or not.
    let pipeline = app::active_pipeline(state.store.as_ref(), &id, "roll back").await.map_err(action_error)?;
    let gh = state.github()?;
    let queued = |queued: &app::RolledBack| {
        let app::RolledBack { job_id, target, replaced } = queued;
        let message =
            format!("Re-run of run {} (commit {}) queued", target.run_id, target.head_sha.as_deref().unwrap_or("?"));
        serde_json::to_value(RollbackQueued {
            success: true,
            pipeline_id: pipeline.id.clone(),
            job_id: *job_id,
            status: "queued",
            reason: reason.clone(),
            previous_execution: ExecutionSummary::from(target),
            rolled_back_execution: replaced.as_ref().map(ExecutionSummary::from),
            message,
        })
        .unwrap_or_default()
    };
    let key = key.as_ref();
    Ok(answer(app::rollback(&gh, &actor.0, &pipeline, &reason, key, &queued).await.map_err(action_error)?))
}
