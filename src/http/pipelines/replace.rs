//! `PUT /api/pipelines/{id}` (the DevOps tool's update): replaces the pipeline's mutable fields,
//! its config and VPS link (`PATCH` changes only the fields it names). The rules are
//! `domain::replacement`'s.

use actix_web::{HttpResponse, web};
use serde_json::Value;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{AdditionalProperties, ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type};

use super::bodies::{PipelineUpdated, PipelineView};
use super::{api_error, app};
use crate::domain::pipeline::{MAX_TRIGGER_BRANCHES, PIPELINE_ID_PATTERN, request_config_schema};
use crate::domain::replacement::parse_replacement;
use crate::http::error::ErrorBody;
use crate::http::{Actor, ApiError, AppState};

/// The body of a `PUT`: a pipeline as `GET` shows it, or the DevOps tool's fields.
pub enum PipelineReplacement {}

fn nullable_string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null])).max_length(Some(255))
}

impl utoipa::PartialSchema for PipelineReplacement {
    fn schema() -> RefOr<Schema> {
        let branches = ArrayBuilder::new()
            .items(ObjectBuilder::new().schema_type(Type::String))
            .max_items(Some(MAX_TRIGGER_BRANCHES))
            .description(Some("Sets config.trigger_branches (at most 50)"));
        let links = ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
            .property("linked_domain", nullable_string())
            .property("linked_app", nullable_string())
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .description(Some("The VPS link as GET shows it (instead of linked_domain and linked_app)"));
        let own =
            |description: &'static str| ObjectBuilder::new().schema_type(Type::String).description(Some(description));
        let ignored =
            || ObjectBuilder::new().schema_type(SchemaType::AnyValue).description(Some("Set by ccm: ignored"));
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("config", request_config_schema())
            .property("trigger_branches", branches)
            .property("linked_domain", nullable_string().description(Some("Absent or null: no link")))
            .property("linked_app", nullable_string().description(Some("Absent or null: no link")))
            .property("vps_integration", links)
            .property("pipeline_id", own("The pipeline's own id, if sent").pattern(Some(PIPELINE_ID_PATTERN)))
            .property("repository", own("The pipeline's own repository, if sent"))
            .property("workflow_file", own("The pipeline's own workflow file, if sent"))
            .property("status", own("The pipeline's own status, if sent").enum_values(Some(["active", "inactive"])))
            .property("created_at", ignored())
            .property("updated_at", ignored())
            .property("deactivated_at", ignored())
            .property("stats", ignored())
            .additional_properties(Some(AdditionalProperties::FreeForm(true)))
            .description(Some(
                "Replaces every mutable field: the config (with trigger_branches) and the VPS link; what is not \
                 sent is cleared. A pipeline as GET shows it round-trips (the fields naming it must be its own, \
                 those ccm sets are ignored). Any other field, such as the DevOps tool's port or subdomain, is \
                 kept in the config. At most 64 KB of config.",
            ))
            .examples([serde_json::json!({"port": 8081, "subdomain": "newapp", "trigger_branches": ["main"]})])
            .into()
    }
}

impl utoipa::ToSchema for PipelineReplacement {}

/// Replaces a pipeline's config and VPS link (the DevOps tool's `PUT`).
#[utoipa::path(put, path = "/api/pipelines/{id}", operation_id = "replace_pipeline", tag = "pipelines",
    params(("id" = String, Path, description = "The pipeline id (pipe_ and 12 hex digits)", pattern = "^pipe_[0-9a-f]{12}$")),
    request_body = PipelineReplacement,
    responses(
        (status = 200, description = "The pipeline as replaced", body = PipelineUpdated),
        (status = 400, description = "An invalid field, or one naming the pipeline that is not its own", body = ErrorBody),
        (status = 404, description = "No such pipeline", body = ErrorBody),
    ))]
pub(super) async fn replace(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let replacement = parse_replacement(&body).map_err(ApiError::BadRequest)?;
    let saved = app::replace(state.store.as_ref(), &actor.0, &id, &replacement, &body.0).await.map_err(api_error)?;
    Ok(HttpResponse::Ok().json(PipelineUpdated { success: true, pipeline: PipelineView::new(&saved) }))
}
