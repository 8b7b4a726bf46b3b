//! A pipeline's deployments (issue 19): `GET /api/pipelines/{id}/deployments?environment=`, each
//! with its states over time and whether a later deployment rolled it back.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::ErrorBody;
use super::paging;
use super::routes::{Routes, resource};
use super::{Actor, ApiError, AppState};
use crate::domain::deployments::{self, Deployment, DeploymentStatus};

pub fn routes(routes: &mut Routes) {
    routes.add(resource("/pipelines/{id}/deployments").get(list));
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(list))]
pub(super) struct Api;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DeploymentsQuery {
    /// Only this environment's deployments.
    #[param(max_length = 255)]
    environment: Option<String>,
    /// Deployments per page, 1 to 1000; default 100
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// Deployments to skip
    #[param(minimum = 0, maximum = 1000000000)]
    offset: Option<i64>,
}

/// A deployment, the states it went through, and what rolled it back.
#[derive(Serialize, ToSchema)]
struct DeploymentView {
    #[serde(flatten)]
    deployment: Deployment,
    /// Oldest first.
    statuses: Vec<DeploymentStatus>,
    /// The later successful deployment that went back to an earlier sha, replacing this one.
    rolled_back_by: Option<i64>,
}

#[derive(Serialize, ToSchema)]
struct DeploymentList {
    success: bool,
    pipeline_id: String,
    /// Newest first.
    deployments: Vec<DeploymentView>,
    count: i64,
    limit: i64,
    offset: i64,
}

/// The deployments of the pipeline's workflow, newest first: those its runs made, and those of
/// its repository that no run of another workflow made (by hand, or by a run ccm never saw).
#[utoipa::path(get, path = "/api/pipelines/{id}/deployments", operation_id = "list_deployments", tag = "pipelines",
    params(("id" = String, Path, description = "The pipeline id (pipe_ and 12 hex digits)", pattern = "^pipe_[0-9a-f]{12}$"), DeploymentsQuery),
    responses(
        (status = 200, description = "A page of deployments", body = DeploymentList),
        (status = 400, description = "Invalid paging, or an environment longer than 255 characters", body = ErrorBody),
        (status = 404, description = "No such pipeline", body = ErrorBody),
    ))]
async fn list(
    state: web::Data<AppState>,
    _actor: Actor,
    id: web::Path<String>,
    query: web::Query<DeploymentsQuery>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = paging::resolve(query.limit, query.offset, paging::DEFAULT_LIMIT)?;
    let pipeline =
        state.store.get_pipeline(&id).await?.ok_or_else(|| ApiError::NotFound(format!("Pipeline not found: {id}")))?;
    let environment = query.environment.as_deref().map(str::trim).filter(|e| !e.is_empty());
    if environment.is_some_and(|e| e.chars().count() > 255) {
        return Err(ApiError::BadRequest("environment must be at most 255 characters".into()));
    }
    let page =
        state.store.list_deployments(&pipeline.repository, &pipeline.workflow_file, environment, limit, offset).await?;
    // Rollbacks are judged over the history around the page: everything newer (which rolls it
    // back) and the 100 deployments before it (what a rollback returns to).
    let around = (offset + limit + 100).min(5000);
    let history = state
        .store
        .list_deployments(&pipeline.repository, &pipeline.workflow_file, environment, around, 0)
        .await?
        .items;
    // The statuses of both, read once: the history's judge the rollbacks, the page's are shown.
    let mut ids: Vec<i64> = history.iter().chain(&page.items).map(|d| d.id).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut statuses = state.store.deployment_statuses(&ids).await?;
    let rolled = deployments::rollbacks(&deployments::judged(&history, &statuses));
    let views = page
        .items
        .into_iter()
        .map(|deployment| {
            let mine: Vec<DeploymentStatus> = statuses.extract_if(.., |s| s.deployment_id == deployment.id).collect();
            DeploymentView { rolled_back_by: rolled.get(&deployment.id).copied(), statuses: mine, deployment }
        })
        .collect();
    Ok(HttpResponse::Ok().json(DeploymentList {
        success: true,
        pipeline_id: pipeline.id,
        deployments: views,
        count: page.total,
        limit,
        offset,
    }))
}
