//! `POST /api/pipelines/import`: creates the pipelines of an old CCM registry with their original
//! ids, status and VPS link (the use case is `app::import`).

use actix_web::{HttpResponse, web};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::error::ErrorBody;
use super::routes::{Routes, resource};
use super::{Actor, ApiError, AppState};
use crate::app::import as app;
use crate::app::pipeline_github::BackfillStarted;
use crate::domain::registry;
use crate::domain::tokens::Scope;

/// Most entries one request may hold (a larger registry is sent in parts, as `ccm import` does).
pub const MAX_ENTRIES: usize = 1000;

pub fn routes(routes: &mut Routes) {
    routes.add(resource("/pipelines/import").post(import).needs(Scope::Admin));
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
    /// The entry's position in the registry (from 1).
    entry: i64,
    /// The id the entry names (as given: an invalid entry's may be anything).
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

/// The body of an import: an old CCM registry in any of its shapes.
pub enum ImportRequest {}

impl utoipa::PartialSchema for ImportRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AnyOfBuilder, ArrayBuilder, ObjectBuilder, SchemaType, Type};
        let list = ArrayBuilder::new()
            .items(ObjectBuilder::new().schema_type(SchemaType::AnyValue))
            .max_items(Some(MAX_ENTRIES))
            .description(Some("A list of pipelines"));
        let version = ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::String, Type::Number, Type::Null]))
            .description(Some("2.x (e.g. 2.0)"));
        let wrapped = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("version", version)
            .property("pipelines", ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::Array, Type::Object])))
            .required("pipelines")
            .description(Some("The pipelines (a list, or an object keyed by pipeline id) under `pipelines`"));
        let keyed = ObjectBuilder::new()
            .schema_type(Type::Object)
            .min_properties(Some(1))
            .additional_properties(Some(utoipa::openapi::schema::AdditionalProperties::FreeForm(true)))
            .description(Some("An object keyed by pipeline id (a `version` beside them is allowed)"));
        AnyOfBuilder::new()
            .item(list)
            .item(wrapped)
            .item(keyed)
            .description(Some(
                "An old CCM registry (`~/.ccm/pipelines.json`): a list of pipelines, or an object keyed by \
                 pipeline id, with or without a `version` (2.x, e.g. `2.0`), at the top level or under \
                 `pipelines` (a list of pipelines or an object keyed by pipeline id). At most 1000 entries a \
                 request. An object with no pipeline at all is refused.",
            ))
            .into()
    }
}

impl ToSchema for ImportRequest {}

#[utoipa::path(post, path = "/api/pipelines/import", operation_id = "import_pipelines", tag = "pipelines",
    request_body = ImportRequest,
    responses(
        (status = 200, description = "Each entry created, already present (left alone) or invalid with its reason",
            body = ImportReport),
        (status = 400, description = "Not a registry (no pipelines), or more than 1000 entries", body = ErrorBody),
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
    let gh = state.github().ok();
    let imported = app::import(state.store.as_ref(), gh.as_ref(), &actor.0, &doc).await?;
    let (created, already_present, invalid) = app::counts(&imported);
    let results = imported
        .into_iter()
        .map(|i| ImportResult {
            entry: i.position as i64,
            pipeline_id: i.pipeline_id,
            result: i.outcome.as_str(),
            reason: match i.outcome {
                app::Outcome::Invalid(reason) => Some(reason),
                _ => None,
            },
            backfill: i.backfill,
        })
        .collect();
    Ok(HttpResponse::Ok().json(ImportReport { success: true, created, already_present, invalid, results }))
}
