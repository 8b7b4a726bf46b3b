use actix_web::{HttpResponse, web};
use serde_json::json;

use super::{ApiError, AppState, method_not_allowed};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/healthz").route(web::get().to(healthz)).default_service(web::to(method_not_allowed)))
        .service(web::resource("/readyz").route(web::get().to(readyz)).default_service(web::to(method_not_allowed)));
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
