use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::ErrorBody;
use super::paging::{self, DEFAULT_LIMIT};
use super::routes::{Routes, resource};
use super::{Actor, ApiError, AppState};
use crate::domain::clock::serde_secs;
use crate::domain::tokens::Scope;
use crate::store::{AuditFilter, AuditRecord};

pub fn routes(routes: &mut Routes) {
    routes.add(resource("/audit").get(list_audit).needs(Scope::Admin));
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
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// Entries to skip
    #[param(minimum = 0, maximum = 1000000000)]
    offset: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct AuditEntry<'a> {
    id: i64,
    #[serde(with = "serde_secs")]
    #[schema(value_type = String)]
    at: DateTime<Utc>,
    /// `token:` and the first 8 hex characters of the token's SHA-256
    #[schema(example = "token:1a2b3c4d")]
    actor: &'a str,
    #[schema(example = "pipeline.provisioned")]
    action: &'a str,
    pipeline_id: Option<&'a str>,
    #[schema(value_type = Object)]
    details: &'a Value,
}

impl<'a> From<&'a AuditRecord> for AuditEntry<'a> {
    fn from(e: &'a AuditRecord) -> Self {
        AuditEntry {
            id: e.id,
            at: e.at,
            actor: &e.actor,
            action: &e.action,
            pipeline_id: e.pipeline_id.as_deref(),
            details: &e.details.0,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct AuditList<'a> {
    success: bool,
    /// Newest first.
    entries: Vec<AuditEntry<'a>>,
    count: i64,
    limit: i64,
    offset: i64,
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
    let entries = page.items.iter().map(AuditEntry::from).collect();
    Ok(HttpResponse::Ok().json(AuditList { success: true, entries, count: page.total, limit, offset }))
}
