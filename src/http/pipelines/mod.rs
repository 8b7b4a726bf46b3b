//! The CCM pipeline API: provision, list, details, change, stats, teardown.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

mod bodies;
mod replace;

use bodies::{PipelineDetails, PipelineList, PipelineUpdated, PipelineView, Provisioned, StatsResponse, TornDown};

use super::error::ErrorBody;
use super::paging::{self, DEFAULT_LIMIT, MAX_LIMIT};
use super::routes::{Routes, resource};
use super::{Actor, ApiError, AppState};
use crate::app::pipeline_github::{self, VerifyError};
use crate::app::pipelines::{self as app, PipelineError};
use crate::domain::clock;
use crate::domain::pipeline::{self as rules, PipelineChange, ProvisionRequest};
use crate::domain::stats::Stats;
use crate::domain::status::PipelineStatus;
use crate::store::{Pipeline, PipelineFilter};

pub fn routes(routes: &mut Routes) {
    routes
        .add(resource("/pipelines/provision").post(provision))
        .add(resource("/pipelines").get(list))
        .add(resource("/pipelines/{id}").get(show).put(replace::replace).patch(change).delete(teardown))
        .add(resource("/pipelines/{id}/stats").get(pipeline_stats));
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(provision, list, show, replace::replace, change, pipeline_stats, teardown))]
pub(super) struct Api;

async fn load(state: &AppState, id: &str) -> Result<Pipeline, ApiError> {
    state.store.get_pipeline(id).await?.ok_or_else(|| ApiError::NotFound(format!("Pipeline not found: {id}")))
}

#[utoipa::path(post, path = "/api/pipelines/provision", operation_id = "provision_pipeline", tag = "pipelines",
    request_body = ProvisionRequest,
    responses(
        (status = 201, description = "Provisioned, reactivated, or (`existing`) the very same provision made \
            before: its active pipeline, unchanged", body = Provisioned),
        (status = 400, description = "Missing or invalid fields, or (with GitHub) no such workflow file",
            body = ErrorBody),
        (status = 404, description = "(With GitHub) repository not found or App not installed", body = ErrorBody),
        (status = 409, description = "An active pipeline exists for this repository and workflow file, \
            provisioned otherwise (another config or VPS link); `pipeline_id` names it", body = ErrorBody),
        (status = 413, description = "Body larger than 1 MiB", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
    ))]
async fn provision(state: web::Data<AppState>, actor: Actor, body: web::Json<Value>) -> Result<HttpResponse, ApiError> {
    let req = rules::parse_provision(&body).map_err(ApiError::BadRequest)?;
    let gh = state.github().ok();
    let verified = pipeline_github::verify(gh.as_ref(), &req).await.map_err(verify_error)?;
    let provisioned = app::provision(state.store.as_ref(), &actor.0, &req).await.map_err(api_error)?;
    let github = pipeline_github::after_provision(gh.as_ref(), &provisioned.pipeline, verified).await;
    let how = (provisioned.reactivated, provisioned.existing);
    Ok(HttpResponse::Created().json(Provisioned::new(&provisioned.pipeline, how, verified, github)))
}

fn verify_error(err: VerifyError) -> ApiError {
    match err {
        VerifyError::NotInstalled(_) => ApiError::NotFound(err.to_string()),
        VerifyError::MissingWorkflow { .. } => ApiError::BadRequest(err.to_string()),
        VerifyError::Github(err) => err.into(),
    }
}

pub(super) fn api_error(err: PipelineError) -> ApiError {
    match err {
        PipelineError::NotFound(_) => ApiError::NotFound(err.to_string()),
        PipelineError::Invalid(message) => ApiError::BadRequest(message),
        PipelineError::ActiveExists(ref existing) => {
            ApiError::Conflict { message: err.to_string(), pipeline_id: Some(existing.id.clone()) }
        }
        PipelineError::KeptLosingRaces(what) => ApiError::Internal(anyhow::anyhow!("{what} kept losing races")),
        PipelineError::Store(err) => err.into(),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// active or inactive
    status: Option<String>,
    /// owner/name (case-insensitive)
    #[param(
        pattern = r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]*[A-Za-z0-9_-][A-Za-z0-9._-]*$",
        max_length = 140
    )]
    repository: Option<String>,
    /// 1 to 1000; default 1000 (everything, for unpaged callers)
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// Pipelines to skip
    #[param(minimum = 0, maximum = 1000000000)]
    offset: Option<i64>,
    /// The `next` cursor of the previous page.
    after: Option<String>,
    /// `stats`: each pipeline with its stats (one request instead of one per pipeline)
    include: Option<String>,
}

/// A keyset cursor: the creation time (microseconds since the epoch) and id of the last
/// pipeline of a page. Opaque to clients, who pass back the `next` value they were given.
fn cursor(p: &Pipeline) -> String {
    format!("{}.{}", p.created_at.timestamp_micros(), p.id)
}

fn parse_cursor(cursor: &str) -> Result<(DateTime<Utc>, String), ApiError> {
    let invalid = || ApiError::BadRequest(format!("after is not a cursor given by this API: '{cursor}'"));
    let (micros, id) = cursor.split_once('.').ok_or_else(invalid)?;
    let at = micros.parse().ok().and_then(DateTime::from_timestamp_micros).ok_or_else(invalid)?;
    if id.is_empty() {
        return Err(invalid());
    }
    Ok((at, id.to_string()))
}

#[utoipa::path(get, path = "/api/pipelines", operation_id = "list_pipelines", tag = "pipelines",
    params(ListQuery),
    responses(
        (status = 200, description = "Pipelines, newest first", body = PipelineList),
        (status = 400, description = "Invalid filter or paging", body = ErrorBody),
    ))]
async fn list(
    state: web::Data<AppState>,
    _actor: Actor,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    // Unpaged callers (the VPS manager's list_pipelines) get everything up to the maximum page.
    let (limit, offset) = paging::resolve(query.limit, query.offset, MAX_LIMIT)?;
    let status = match query.status.as_deref() {
        None => None,
        Some(status) => Some(
            status
                .parse::<PipelineStatus>()
                .map_err(|_| ApiError::BadRequest(format!("status must be active or inactive, got '{status}'")))?,
        ),
    };
    let after = query.after.as_deref().filter(|a| !a.is_empty()).map(parse_cursor).transpose()?;
    if after.is_some() && offset > 0 {
        return Err(ApiError::BadRequest("after and offset cannot be combined: page with one or the other".into()));
    }
    let repository = paging::repository_filter(query.repository.as_deref())?;
    let filter = PipelineFilter { status, repository, limit, offset, after };
    let with_stats = match query.include.as_deref().filter(|i| !i.is_empty()) {
        None => false,
        Some("stats") => true,
        Some(other) => return Err(ApiError::BadRequest(format!("include must be stats, got '{other}'"))),
    };
    let page = state.store.list_pipelines(&filter).await?;
    let next = page.items.last().filter(|_| page.items.len() as i64 == limit).map(cursor);
    let mut pipelines: Vec<_> = page.items.iter().map(PipelineView::new).collect();
    if with_stats {
        for (view, stats) in pipelines.iter_mut().zip(stats_of(&state, &page.items).await?) {
            view.stats = Some(stats);
        }
    }
    Ok(HttpResponse::Ok().json(PipelineList { success: true, pipelines, count: page.total, limit, offset, next }))
}

/// The stats bodies of `pipelines` (as `pipeline_stats` answers them), read together.
async fn stats_of(state: &AppState, pipelines: &[Pipeline]) -> Result<Vec<Stats>, ApiError> {
    let scopes: Vec<_> = pipelines.iter().map(Pipeline::execution_scope).collect();
    let snapshots = state.store.stats_snapshots(&scopes, clock::now()).await?;
    let ids: Vec<&str> = pipelines.iter().map(|p| p.id.as_str()).collect();
    let running = state.store.running_backfills(&ids).await?;
    // Issue 16: each pipeline's open alerts, as its stats answer them (the open alerts are few:
    // one read for the whole listing).
    let mut open: std::collections::HashMap<String, Vec<crate::domain::alerts::Alert>> = Default::default();
    for alert in state.store.open_alerts().await?.into_iter().rev() {
        if let Some(id) = alert.pipeline_id.clone() {
            open.entry(id).or_default().push(alert);
        }
    }
    Ok(pipelines
        .iter()
        .zip(&snapshots)
        .map(|(pipeline, snapshot)| {
            let mut stats = Stats::new(pipeline, snapshot).with_backfill(running.contains(&pipeline.id));
            stats.alerts = Some(open.remove(&pipeline.id).unwrap_or_default());
            stats
        })
        .collect())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct DetailsQuery {
    /// Executions per page, 1 to 1000; default 100
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// Executions to skip
    #[param(minimum = 0, maximum = 1000000000)]
    offset: Option<i64>,
}

/// A pipeline with its config, VPS link and a page of its executions (newest first).
#[utoipa::path(get, path = "/api/pipelines/{id}", operation_id = "get_pipeline", tag = "pipelines",
    params(("id" = String, Path, description = "The pipeline id (pipe_ and 12 hex digits)", pattern = "^pipe_[0-9a-f]{12}$"), DetailsQuery),
    responses(
        (status = 200, description = "The pipeline and a page of its executions", body = PipelineDetails),
        (status = 400, description = "Invalid paging", body = ErrorBody),
        (status = 404, description = "No such pipeline", body = ErrorBody),
    ))]
async fn show(
    state: web::Data<AppState>,
    _actor: Actor,
    id: web::Path<String>,
    query: web::Query<DetailsQuery>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = paging::resolve(query.limit, query.offset, DEFAULT_LIMIT)?;
    let pipeline = load(&state, &id).await?;
    let executions = state.store.list_executions(&pipeline.execution_scope(), limit, offset).await?;
    // Why the failed ones failed: one query for the page.
    let failed: Vec<(i64, i64)> = executions
        .items
        .iter()
        .filter(|e| e.conclusion.as_ref().is_some_and(crate::domain::status::Conclusion::is_failure))
        .map(|e| (e.run_id, e.run_attempt))
        .collect();
    let mut reasons = std::collections::HashMap::new();
    for f in state.store.failed_jobs_of(&failed).await? {
        reasons
            .entry((f.job.run_id, f.job.run_attempt))
            .or_insert_with(|| crate::domain::job_logs::reason_of(&f.job, f.failed_step, f.error_message));
    }
    let executions_page = executions
        .items
        .into_iter()
        .map(|execution| {
            let failure = reasons.remove(&(execution.run_id, execution.run_attempt));
            bodies::ExecutionWithFailure { execution, failure }
        })
        .collect();
    let environments = state.store.latest_deployments(&pipeline.repository, &pipeline.workflow_file).await?;
    Ok(HttpResponse::Ok().json(PipelineDetails {
        success: true,
        pipeline: PipelineView::new(&pipeline),
        environments,
        executions: executions_page,
        executions_count: executions.total,
        limit,
        offset,
    }))
}

/// Changes config (RFC 7396 merge patch), trigger branches and the VPS link.
#[utoipa::path(patch, path = "/api/pipelines/{id}", operation_id = "update_pipeline", tag = "pipelines",
    params(("id" = String, Path, description = "The pipeline id (pipe_ and 12 hex digits)", pattern = "^pipe_[0-9a-f]{12}$")),
    request_body = PipelineChange,
    responses(
        (status = 200, description = "The changed pipeline", body = PipelineUpdated),
        (status = 400, description = "Nothing to change, an unknown field or an invalid value", body = ErrorBody),
        (status = 404, description = "No such pipeline", body = ErrorBody),
    ))]
async fn change(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let change = rules::parse_change(&body).map_err(ApiError::BadRequest)?;
    let saved = app::change(state.store.as_ref(), &actor.0, &id, &change, &body.0).await.map_err(api_error)?;
    Ok(HttpResponse::Ok().json(PipelineUpdated { success: true, pipeline: PipelineView::new(&saved) }))
}

#[utoipa::path(get, path = "/api/pipelines/{id}/stats", operation_id = "get_pipeline_stats", tag = "pipelines",
    params(("id" = String, Path, description = "The pipeline id (pipe_ and 12 hex digits)", pattern = "^pipe_[0-9a-f]{12}$")),
    responses(
        (status = 200, description = "Stats computed from the stored runs", body = StatsResponse),
        (status = 404, description = "No such pipeline", body = ErrorBody),
    ))]
async fn pipeline_stats(
    state: web::Data<AppState>,
    _actor: Actor,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    // With the scope the pipeline had last time, its stats are read in the same statement as the
    // pipeline: one round trip, unless the scope changed since (then they are read again).
    let read = match state.scope_hints.get(&id) {
        Some(hint) => {
            state.store.pipeline_with_stats(&id, &hint, clock::now()).await?.map(|(pipeline, flags, stats)| {
                let current = pipeline.execution_scope() == hint;
                (pipeline, flags, current.then_some(stats))
            })
        }
        None => state.store.get_pipeline_for_stats(&id).await?.map(|(pipeline, flags)| (pipeline, flags, None)),
    };
    let (pipeline, flags, snapshot) = read.ok_or_else(|| ApiError::NotFound(format!("Pipeline not found: {id}")))?;
    let snapshot = match snapshot {
        Some(snapshot) => snapshot,
        None => {
            let scope = pipeline.execution_scope();
            state.scope_hints.remember(&id, &scope);
            state.store.stats_snapshot(&scope, clock::now()).await?
        }
    };
    let mut stats = Stats::new(&pipeline, &snapshot).with_backfill(flags.backfill_running);
    if let (Some(run), Some(last_run)) = (&snapshot.last_run, &mut stats.last_run)
        && run.conclusion.as_ref().is_some_and(crate::domain::status::Conclusion::is_failure)
    {
        // The first failed job (in start order), as the pipeline's details explain each run.
        let failed = state.store.failed_jobs_of(&[(run.run_id, run.run_attempt)]).await?;
        last_run.failure = failed
            .into_iter()
            .next()
            .map(|f| crate::domain::job_logs::reason_of(&f.job, f.failed_step, f.error_message));
    }
    let alerts = if flags.open_alerts { state.store.pipeline_alerts(&pipeline.id).await? } else { Vec::new() };
    stats.alerts = Some(alerts);
    Ok(HttpResponse::Ok().json(StatsResponse { success: true, stats }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct TeardownQuery {
    /// true (the default); false is refused: repositories are never deleted
    #[param(pattern = "^([Tt][Rr][Uu][Ee]|1|[Yy][Ee][Ss]|[Ff][Aa][Ll][Ss][Ee]|0|[Nn][Oo])?$")]
    preserve_repo: Option<String>,
}

/// Deactivates a pipeline. Repositories are never deleted.
#[utoipa::path(delete, path = "/api/pipelines/{id}", operation_id = "teardown_pipeline", tag = "pipelines",
    params(("id" = String, Path, description = "The pipeline id (pipe_ and 12 hex digits)", pattern = "^pipe_[0-9a-f]{12}$"), TeardownQuery),
    responses(
        (status = 200, description = "Deactivated (or already inactive); the repository is kept", body = TornDown),
        (status = 400, description = "preserve_repo=false (repositories are never deleted)", body = ErrorBody),
        (status = 404, description = "No such pipeline", body = ErrorBody),
    ))]
async fn teardown(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
    query: web::Query<TeardownQuery>,
) -> Result<HttpResponse, ApiError> {
    match query.preserve_repo.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("true" | "1" | "yes" | "") => {}
        Some("false" | "0" | "no") => {
            return Err(ApiError::BadRequest(
                "preserve_repo=false is not supported: ccm never deletes repositories. \
                 Omit preserve_repo (or pass true) to deactivate the pipeline."
                    .into(),
            ));
        }
        Some(other) => {
            return Err(ApiError::BadRequest(format!("preserve_repo must be true or false, got '{other}'")));
        }
    }
    match app::teardown(state.store.as_ref(), &actor.0, &id).await.map_err(api_error)? {
        app::TornDown::AlreadyInactive(pipeline) => {
            Ok(HttpResponse::Ok().json(TornDown::already_inactive(&pipeline.id)))
        }
        app::TornDown::Deactivated(saved) => {
            let gh = state.github().ok();
            let cancels = pipeline_github::cancel_open_runs(state.store.as_ref(), gh.as_ref(), &saved).await;
            Ok(HttpResponse::Ok().json(TornDown::deactivated(&saved.id, cancels)))
        }
    }
}
