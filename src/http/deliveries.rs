//! What operators see of deliveries, and replay.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ErrorBody, parse_choice};
use super::openapi::{DeliveryDetails, DeliveryList, Replayed};
use super::paging::{self, DEFAULT_LIMIT};
use super::routes::{Routes, resource};
use super::{Actor, ApiError, AppState};
use crate::domain::clock;
use crate::store::{DeliveryFilter, DeliverySummary};
use crate::webhook;

pub fn routes(routes: &mut Routes) {
    routes
        .add(resource("/deliveries").get(list))
        .add(resource("/deliveries/{guid}").get(show))
        .add(resource("/deliveries/{guid}/replay").post(replay));
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(list, show, replay))]
pub(super) struct Api;

pub fn summary_json(d: &DeliverySummary) -> Value {
    json!({
        "delivery_id": d.guid,
        "event": d.event,
        "action": d.action,
        "installation_id": d.installation_id,
        "repository": d.repository,
        "hook_id": d.hook_id,
        "received_at": clock::format(&d.received_at),
        "status": d.status,
        "attempts": d.attempts,
        "last_error": d.last_error,
        "processed_at": d.processed_at.as_ref().map(clock::format),
        "next_attempt_at": d.next_attempt_at.as_ref().map(clock::format),
        "body_size": d.body_size,
    })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// pending, processed, ignored, failed or parked
    status: Option<String>,
    /// The X-GitHub-Event name
    event: Option<String>,
    /// owner/name
    repository: Option<String>,
    /// 1 to 1000; default 100
    limit: Option<i64>,
    /// Deliveries to skip
    offset: Option<i64>,
}

#[utoipa::path(get, path = "/api/deliveries", operation_id = "list_deliveries", tag = "webhooks",
    params(ListQuery),
    responses(
        (status = 200, description = "Deliveries, newest first", body = DeliveryList),
        (status = 400, description = "Invalid filter or paging", body = ErrorBody),
    ))]
async fn list(
    state: web::Data<AppState>,
    _actor: Actor,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = paging::resolve(query.limit, query.offset, DEFAULT_LIMIT)?;
    let filter = DeliveryFilter {
        status: query.status.as_deref().map(|s| parse_choice(s, "status")).transpose()?,
        event: query.event.clone(),
        repository: query.repository.clone(),
        limit,
        offset,
    };
    let page = state.store.list_deliveries(&filter).await?;
    Ok(HttpResponse::Ok().json(json!({
        "success": true,
        "deliveries": page.items.iter().map(summary_json).collect::<Vec<_>>(),
        "count": page.total,
        "limit": limit,
        "offset": offset,
    })))
}

/// A delivery with its headers and its body (as JSON when it is JSON).
#[utoipa::path(get, path = "/api/deliveries/{guid}", operation_id = "get_delivery", tag = "webhooks",
    params(("guid" = String, Path, description = "The delivery id (X-GitHub-Delivery)")),
    responses(
        (status = 200, description = "The delivery with its headers and body", body = DeliveryDetails),
        (status = 404, description = "No such delivery", body = ErrorBody),
    ))]
async fn show(state: web::Data<AppState>, _actor: Actor, guid: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let stored = state
        .store
        .get_delivery(&guid)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("Delivery not found: {guid}")))?;
    let body = webhook::body::decompress(&stored.body_encoding, &stored.body)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))?;
    let body: Value =
        serde_json::from_slice(&body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into()));
    let mut delivery = summary_json(&stored.summary);
    delivery["headers"] = stored.headers.0.clone();
    delivery["body"] = body;
    Ok(HttpResponse::Ok().json(json!({"success": true, "delivery": delivery})))
}

/// Processes the stored body again, whatever its state (after a fix, or to re-apply).
#[utoipa::path(post, path = "/api/deliveries/{guid}/replay", operation_id = "replay_delivery", tag = "webhooks",
    params(("guid" = String, Path, description = "The delivery id (X-GitHub-Delivery)")),
    responses(
        (status = 200, description = "Processed again from its stored body", body = Replayed),
        (status = 404, description = "No such delivery", body = ErrorBody),
    ))]
async fn replay(state: web::Data<AppState>, actor: Actor, guid: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let stored = state
        .store
        .get_delivery(&guid)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("Delivery not found: {guid}")))?;
    let outcome = webhook::reprocess(state.store.as_ref(), &stored).await?;
    tracing::info!(delivery_id = %guid, actor = %actor.0, status = %outcome.status, "delivery replayed");
    let status = outcome.status;
    let outcomes = vec![outcome];
    state.metrics.runs_changed(&outcomes);
    state.changes.send(outcomes);
    let summary = state.store.get_delivery(&guid).await?.map(|d| summary_json(&d.summary));
    Ok(HttpResponse::Ok()
        .json(json!({"success": true, "delivery_id": guid.as_str(), "status": status, "delivery": summary})))
}
