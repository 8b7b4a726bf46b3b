//! Insights (issue 19): a pipeline's report, `GET /api/pipelines/{id}/report?days=14`, as JSON or
//! (`format=html`) as a printable page; and the overview across pipelines, `GET /api/insights`.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::ErrorBody;
use super::report_page;
use super::routes::{Routes, resource};
use super::{Actor, ApiError, AppState};
use crate::app::insights;
use crate::domain::clock;
use crate::domain::insights::PipelineReport;
use crate::domain::insights::overview::Overview;
use crate::domain::insights::window::parse_days;

/// The days a report covers unless asked.
const REPORT_DAYS: u32 = 14;
/// The days the overview covers unless asked.
const OVERVIEW_DAYS: u32 = 7;
/// Pipelines the overview lists unless asked, and at most.
const OVERVIEW_LIMIT: usize = 20;
const OVERVIEW_MAX_LIMIT: usize = 100;

pub fn routes(routes: &mut Routes) {
    routes.add(resource("/pipelines/{id}/report").get(report)).add(resource("/insights").get(overview));
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(report, overview))]
pub(super) struct Api;

/// How a report is answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
enum ReportFormat {
    #[default]
    Json,
    /// A printable, self-contained page (`text/html`).
    Html,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ReportQuery {
    /// UTC calendar days ending today, 1 to 90; default 14
    #[param(value_type = Option<i64>, minimum = 1, maximum = 90)]
    days: Option<String>,
    /// `json` (default) or `html`
    #[param(inline)]
    format: Option<ReportFormat>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct OverviewQuery {
    /// UTC calendar days ending today, 1 to 90; default 7
    #[param(value_type = Option<i64>, minimum = 1, maximum = 90)]
    days: Option<String>,
    /// Pipelines listed, 1 to 100; default 20
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
}

/// A number in a query, or a 400 naming the parameter.
fn number(name: &str, raw: Option<&str>) -> Result<Option<i64>, ApiError> {
    raw.map(|raw| raw.trim().parse::<i64>().map_err(|_| ApiError::BadRequest(format!("{name} must be a whole number"))))
        .transpose()
}

/// A pipeline's report: performance per day and its trend, flaky and failing jobs, deployments
/// per environment (the DORA four) and recommendations. Days are UTC calendar days ending today; a
/// run counts on the day it was created.
#[utoipa::path(get, path = "/api/pipelines/{id}/report", operation_id = "pipeline_report", tag = "pipelines",
    params(("id" = String, Path, description = "The pipeline id (pipe_ and 12 hex digits)", pattern = "^pipe_[0-9a-f]{12}$"), ReportQuery),
    responses(
        (status = 200, description = "The report: JSON, or with `format=html` a printable page",
            content((PipelineReport = "application/json"), (String = "text/html"))),
        (status = 400, description = "days outside 1 to 90, or an unknown format", body = ErrorBody),
        (status = 404, description = "No such pipeline", body = ErrorBody),
    ))]
async fn report(
    state: web::Data<AppState>,
    _actor: Actor,
    id: web::Path<String>,
    query: web::Query<ReportQuery>,
) -> Result<HttpResponse, ApiError> {
    let days = parse_days(number("days", query.days.as_deref())?, REPORT_DAYS).map_err(ApiError::BadRequest)?;
    let pipeline =
        state.store.get_pipeline(&id).await?.ok_or_else(|| ApiError::NotFound(format!("Pipeline not found: {id}")))?;
    let report = insights::pipeline_report(state.store.as_ref(), &pipeline, days, clock::now()).await?;
    Ok(match query.format.unwrap_or_default() {
        ReportFormat::Json => HttpResponse::Ok().json(report),
        // Private data, like every answer: not cached; the page may run nothing and load nothing.
        ReportFormat::Html => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::CONTENT_SECURITY_POLICY, report_page::CONTENT_SECURITY_POLICY))
            .body(report_page::render(&report)),
    })
}

/// The active pipelines ranked by failures (then the minutes lost to them, then re-runs), with
/// their health scores, and the flakiest jobs across pipelines.
#[utoipa::path(get, path = "/api/insights", operation_id = "insights_overview", tag = "pipelines",
    params(OverviewQuery),
    responses(
        (status = 200, description = "The overview", body = Overview),
        (status = 400, description = "days outside 1 to 90, or limit outside 1 to 100", body = ErrorBody),
    ))]
async fn overview(
    state: web::Data<AppState>,
    _actor: Actor,
    query: web::Query<OverviewQuery>,
) -> Result<HttpResponse, ApiError> {
    let days = parse_days(number("days", query.days.as_deref())?, OVERVIEW_DAYS).map_err(ApiError::BadRequest)?;
    let limit = match number("limit", query.limit.as_deref())? {
        None => OVERVIEW_LIMIT,
        Some(n) if (1..=OVERVIEW_MAX_LIMIT as i64).contains(&n) => n as usize,
        Some(n) => {
            return Err(ApiError::BadRequest(format!("limit must be between 1 and {OVERVIEW_MAX_LIMIT} (got {n})")));
        }
    };
    let overview = insights::overview(state.store.as_ref(), days, limit, clock::now()).await?;
    Ok(HttpResponse::Ok().json(overview))
}
