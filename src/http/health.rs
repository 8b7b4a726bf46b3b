use actix_web::{HttpResponse, web};
use serde_json::json;

use super::routes::{Routes, resource};
use super::{ApiError, AppState};

pub fn routes(routes: &mut Routes) {
    routes.add(resource("/healthz").get(healthz)).add(resource("/readyz").get(readyz));
}

/// The process is up.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"success": true, "status": "ok"}))
}

/// The database answers.
async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match state.store.ping().await {
        Ok(()) => Ok(HttpResponse::Ok().json(json!({"success": true, "status": "ready"}))),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            Err(ApiError::Unavailable("Database unreachable".into()))
        }
    }
}
