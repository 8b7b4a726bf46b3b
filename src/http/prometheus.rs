//! `GET /metrics`: Prometheus text format (no label carries a repository, a path or a secret,
//! except the opt-in per-pipeline series of CCM_METRICS_PIPELINES, labelled with the pipeline's
//! repository and workflow file; see `metrics::pipelines`).
//! Open unless CCM_METRICS_TOKEN or CCM_METRICS_AUTH asks for a token (`access`). The database
//! gauges are read at most every few seconds, whatever the scrapes (`scrape::GaugeCache`).

use actix_web::{HttpRequest, HttpResponse, web};

use super::error::ErrorBody;
use super::routes::{Routes, resource};
use super::{ApiError, AppState};

pub fn routes(routes: &mut Routes) {
    routes.add(resource("/metrics").get(metrics));
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(metrics))]
pub(super) struct Api;

#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "operations",
    responses(
        (status = 200, description = "Prometheus text format 0.0.4 (the metrics are listed in the README)",
            body = String, content_type = "text/plain; version=0.0.4; charset=utf-8"),
        (status = 401, description = "With CCM_METRICS_TOKEN or CCM_METRICS_AUTH: no token, or a wrong one \
            (in CCM-Token or Authorization: Bearer)", body = ErrorBody),
        (status = 429, description = "Too many failed authentications from this address: retry after the \
            seconds `Retry-After` says", body = ErrorBody),
        (status = 503, description = "With CCM_METRICS_AUTH: the database could not check the token", body = ErrorBody),
    ))]
async fn metrics(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    super::access::metrics_allowed(&state, &req).await?;
    let cache = &state.access.gauges;
    crate::metrics::scrape::refresh_cached(cache, &state.metrics, state.store.as_ref(), state.github.as_deref()).await;
    let mut body = state.metrics.render();
    if let Some(pipelines) = &state.access.pipelines {
        body.push_str(&pipelines.text(state.store.as_ref()).await);
    }
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(body))
}
