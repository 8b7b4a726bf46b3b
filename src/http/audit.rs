use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::error::ErrorBody;
use super::openapi::AuditList;
use super::paging::{self, DEFAULT_LIMIT};
use super::routes::{Routes, resource};
use super::{Actor, ApiError, AppState};
use crate::domain::clock;
use crate::store::AuditFilter;

pub fn routes(routes: &mut Routes) {
    routes.add(resource("/audit").get(list_audit));
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(list_audit))]
pub(super) struct Api;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// Only this pipeline's entries
    pipeline_id: Option<String>,
    /// Only this action (`pipeline.provisioned`, ...)
    action: Option<String>,
    /// 1 to 1000; default 100
    limit: Option<i64>,
    /// Entries to skip
    offset: Option<i64>,
}

/// Who did what to which pipeline, newest first.
#[utoipa::path(get, path = "/api/audit", operation_id = "list_audit", tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "Audit entries, newest first", body = AuditList),
        (status = 400, description = "Invalid paging", body = ErrorBody),
    ))]
async fn list_audit(
    state: web::Data<AppState>,
    _actor: Actor,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = paging::resolve(query.limit, query.offset, DEFAULT_LIMIT)?;
    let page = state
        .store
        .list_audit(&AuditFilter {
            pipeline_id: query.pipeline_id.clone(),
            action: query.action.clone(),
            limit,
            offset,
        })
        .await?;
    let entries: Vec<_> = page
        .items
        .iter()
        .map(|e| {
            json!({
                "id": e.id,
                "at": clock::format(&e.at),
                "actor": e.actor,
                "action": e.action,
                "pipeline_id": e.pipeline_id,
                "details": e.details.0,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "success": true,
        "entries": entries,
        "count": page.total,
        "limit": limit,
        "offset": offset,
    })))
}
