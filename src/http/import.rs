//! `POST /api/pipelines/import`: creates the pipelines of an old CCM registry with their original
//! ids, status and VPS link. Idempotent: a pipeline whose id is already stored is reported as
//! already present and left alone; an invalid entry is reported and does not stop the others.
//! With a GitHub App, each active pipeline it creates gets the backfill of its recent runs, as a
//! provisioned one does.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::error::ErrorBody;
use super::routes::{Routes, resource};
use super::{Actor, ApiError, AppState};
use crate::app::pipeline_github::{self, BackfillStarted};
use crate::domain::{clock, registry};
use crate::store::{NewAudit, Pipeline, StoreError};

/// Most entries one request may hold (a larger registry is sent in parts, as `ccm import` does).
pub const MAX_ENTRIES: usize = 1000;

pub fn routes(routes: &mut Routes) {
    routes.add(resource("/pipelines/import").post(import));
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(import))]
pub(super) struct Api;

/// What an import did with each entry.
#[derive(Serialize, ToSchema)]
struct ImportReport {
    success: bool,
    created: i64,
    already_present: i64,
    invalid: i64,
    results: Vec<ImportResult>,
}

#[derive(Serialize, ToSchema)]
struct ImportResult {
    /// The entry's position in the registry (from 0).
    entry: i64,
    pipeline_id: Option<String>,
    /// `created`, `already_present` (the id is stored: left as it is) or `invalid`.
    #[schema(example = "created")]
    result: &'static str,
    /// Why an entry is invalid.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// For an active pipeline created with a GitHub App configured: the backfill of its
    /// repository's recent runs (not verified first; a repository the App cannot read ends
    /// the backfill as failed, with its error in the pipeline's stats).
    #[serde(skip_serializing_if = "Option::is_none")]
    backfill: Option<BackfillStarted>,
}

enum Outcome {
    Created,
    AlreadyPresent,
    Invalid(String),
}

#[utoipa::path(post, path = "/api/pipelines/import", operation_id = "import_pipelines", tag = "pipelines",
    request_body(content = Object, description = "An old CCM registry (`~/.ccm/pipelines.json`): a list of \
        pipelines, or an object keyed by pipeline id, with or without a `version` (2.x, e.g. `2.0`), at the top \
        level or under `pipelines` (a list of pipelines or an object keyed by pipeline id). At most 1000 entries \
        a request."),
    responses(
        (status = 200, description = "Each entry created, already present (left alone) or invalid with its reason",
            body = ImportReport),
        (status = 400, description = "Not a registry, or more than 1000 entries", body = ErrorBody),
        (status = 413, description = "Body larger than the API's limit", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
    ))]
async fn import(state: web::Data<AppState>, actor: Actor, body: web::Json<Value>) -> Result<HttpResponse, ApiError> {
    let doc = registry::read(&body).map_err(ApiError::BadRequest)?;
    if doc.entries.len() > MAX_ENTRIES {
        return Err(ApiError::BadRequest(format!(
            "At most {MAX_ENTRIES} pipelines per request, got {}: send the registry in parts",
            doc.entries.len()
        )));
    }
    let now = clock::now();
    let (mut created, mut present, mut invalid) = (0, 0, 0);
    let mut results = Vec::with_capacity(doc.entries.len());
    for entry in &doc.entries {
        let (outcome, pipeline) = match registry::to_pipeline(entry, now) {
            Ok(pipeline) => (import_one(&state, &actor, &pipeline).await?, Some(pipeline)),
            Err(reason) => (Outcome::Invalid(reason), None),
        };
        let mut result = ImportResult {
            entry: entry.position as i64,
            pipeline_id: entry.id(),
            result: "created",
            reason: None,
            backfill: None,
        };
        match outcome {
            Outcome::Created => {
                created += 1;
                // Its history, as provisioning would fetch it; none without a GitHub App.
                if let (Ok(gh), Some(pipeline)) = (state.github(), &pipeline)
                    && pipeline.is_active()
                {
                    result.backfill = Some(pipeline_github::start_backfill(&gh, pipeline).await);
                }
            }
            Outcome::AlreadyPresent => {
                present += 1;
                result.result = "already_present";
            }
            Outcome::Invalid(reason) => {
                invalid += 1;
                result.result = "invalid";
                result.reason = Some(reason);
            }
        }
        results.push(result);
    }
    tracing::info!(created, already_present = present, invalid, "registry imported");
    Ok(HttpResponse::Ok().json(ImportReport { success: true, created, already_present: present, invalid, results }))
}

async fn import_one(state: &AppState, actor: &Actor, p: &Pipeline) -> Result<Outcome, ApiError> {
    // Twice: a concurrent import of the same registry may create the row between check and insert.
    for _ in 0..2 {
        if let Some(existing) = state.store.get_pipeline(&p.id).await? {
            let same =
                existing.repository.eq_ignore_ascii_case(&p.repository) && existing.workflow_file == p.workflow_file;
            return Ok(if same {
                Outcome::AlreadyPresent
            } else {
                Outcome::Invalid(format!(
                    "pipeline_id {} is already used by {} {}",
                    p.id, existing.repository, existing.workflow_file
                ))
            });
        }
        if let Some(other) = state.store.find_pipeline(&p.repository, &p.workflow_file).await? {
            return Ok(Outcome::Invalid(format!(
                "{} {} already has another pipeline: {}",
                other.repository, other.workflow_file, other.id
            )));
        }
        let audit = NewAudit {
            actor: actor.0.clone(),
            action: "pipeline.imported".into(),
            pipeline_id: Some(p.id.clone()),
            details: json!({
                "repository": p.repository,
                "workflow_file": p.workflow_file,
                "status": p.status,
                "linked_domain": p.linked_domain,
                "linked_app": p.linked_app,
            }),
        };
        match state.store.create_pipeline(p, &audit).await {
            Ok(()) => return Ok(Outcome::Created),
            Err(StoreError::Conflict(_)) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Ok(Outcome::Invalid(format!("{} {} conflicts with a pipeline created meanwhile", p.repository, p.workflow_file)))
}
