//! `GET /metrics`: Prometheus text format, no token (no label carries a repository, a path or a
//! secret).

use actix_web::{HttpResponse, web};

use super::AppState;
use super::routes::{Routes, resource};

pub fn routes(routes: &mut Routes) {
    routes.add(resource("/metrics").get(metrics));
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(metrics))]
pub(super) struct Api;

#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format 0.0.4 (the metrics are listed in the README)",
        body = String, content_type = "text/plain; version=0.0.4; charset=utf-8")))]
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    crate::metrics::scrape::refresh(&state.metrics, state.store.as_ref(), state.github.as_deref()).await;
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(state.metrics.render())
}
