use actix_web::{HttpResponse, web};
use serde::Serialize;

use super::error::ErrorBody;
use super::routes::{Routes, resource};
use super::{ApiError, AppState};

pub fn routes(routes: &mut Routes) {
    routes
        .add(resource("/healthz").get(healthz))
        .add(resource("/readyz").get(readyz))
        // CommandCenter's path (see `aliases`).
        .add(resource("/api/v1/health").get(healthz));
}

/// Only `/healthz` (the webhook listener's probe, issue 20).
pub fn liveness(routes: &mut Routes) {
    routes.add(resource("/healthz").get(healthz));
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(healthz, readyz))]
pub(super) struct Api;

/// `/healthz` and `/readyz`.
#[derive(Serialize, utoipa::ToSchema)]
struct HealthStatus {
    #[schema(example = true)]
    success: bool,
    /// `ok` (healthz) or `ready` (readyz).
    #[schema(example = "ok")]
    status: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = "operations",
    responses((status = 200, description = "The process is up", body = HealthStatus)))]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(HealthStatus { success: true, status: "ok" })
}

/// The database answers.
#[utoipa::path(get, path = "/readyz", operation_id = "readyz", tag = "operations",
    responses(
        (status = 200, description = "The database answers", body = HealthStatus),
        (status = 503, description = "The database does not answer", body = ErrorBody),
    ))]
async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match state.store.ping().await {
        Ok(()) => Ok(HttpResponse::Ok().json(HealthStatus { success: true, status: "ready" })),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            Err(ApiError::Unavailable("Database unreachable".into()))
        }
    }
}
