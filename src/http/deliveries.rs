//! What operators see of deliveries, and replay.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::error::{ErrorBody, parse_choice};
use super::paging::{self, DEFAULT_LIMIT};
use super::routes::{Routes, resource};
use super::{Actor, ApiError, AppState};
use crate::domain::clock::serde_secs;
use crate::domain::status::DeliveryStatus;
use crate::domain::tokens::Scope;
use crate::store::{DeliveryFilter, DeliverySummary, StoredDelivery};
use crate::webhook;

pub fn routes(routes: &mut Routes) {
    routes
        .add(resource("/deliveries").get(list))
        .add(resource("/deliveries/{guid}").get(show))
        .add(resource("/deliveries/{guid}/replay").post(replay).needs(Scope::Admin));
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(list, show, replay))]
pub(super) struct Api;

#[derive(Serialize, ToSchema)]
struct Delivery<'a> {
    delivery_id: &'a str,
    event: &'a str,
    action: Option<&'a str>,
    installation_id: Option<i64>,
    repository: Option<&'a str>,
    hook_id: Option<i64>,
    #[serde(with = "serde_secs")]
    #[schema(value_type = String)]
    received_at: DateTime<Utc>,
    /// pending, processed, ignored, failed or parked
    #[schema(value_type = String)]
    status: DeliveryStatus,
    attempts: i64,
    last_error: Option<&'a str>,
    #[serde(with = "serde_secs::option")]
    #[schema(value_type = Option<String>)]
    processed_at: Option<DateTime<Utc>>,
    #[serde(with = "serde_secs::option")]
    #[schema(value_type = Option<String>)]
    next_attempt_at: Option<DateTime<Utc>>,
    body_size: i64,
}

impl<'a> From<&'a DeliverySummary> for Delivery<'a> {
    fn from(d: &'a DeliverySummary) -> Self {
        Delivery {
            delivery_id: &d.guid,
            event: &d.event,
            action: d.action.as_deref(),
            installation_id: d.installation_id,
            repository: d.repository.as_deref(),
            hook_id: d.hook_id,
            received_at: d.received_at,
            status: d.status,
            attempts: d.attempts,
            last_error: d.last_error.as_deref(),
            processed_at: d.processed_at,
            next_attempt_at: d.next_attempt_at,
            body_size: d.body_size,
        }
    }
}

/// A delivery with the headers kept (never a secret) and its body.
#[derive(Serialize, ToSchema)]
struct DeliveryWithBody<'a> {
    #[serde(flatten)]
    delivery: Delivery<'a>,
    #[schema(value_type = Object)]
    headers: &'a Value,
    /// The payload (as a string when it is not JSON; null when the stored copy is unreadable).
    body: Value,
    /// Why the stored body cannot be read back (it is corrupt), if it cannot.
    #[serde(skip_serializing_if = "Option::is_none")]
    body_error: Option<String>,
}

impl<'a> DeliveryWithBody<'a> {
    fn new(stored: &'a StoredDelivery) -> Self {
        let (body, body_error) = match webhook::body::decompress(&stored.body_encoding, &stored.body) {
            Ok(body) => {
                let body = serde_json::from_slice(&body)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into()));
                (body, None)
            }
            Err(error) => (Value::Null, Some(error)),
        };
        DeliveryWithBody { delivery: Delivery::from(&stored.summary), headers: &stored.headers.0, body, body_error }
    }
}

#[derive(Serialize, ToSchema)]
struct DeliveryList<'a> {
    success: bool,
    /// Newest first.
    deliveries: Vec<Delivery<'a>>,
    count: i64,
    limit: i64,
    offset: i64,
}

#[derive(Serialize, ToSchema)]
struct DeliveryDetails<'a> {
    success: bool,
    delivery: DeliveryWithBody<'a>,
}

#[derive(Serialize, ToSchema)]
struct Replayed<'a> {
    success: bool,
    delivery_id: &'a str,
    /// The status after processing again.
    #[schema(value_type = String)]
    status: DeliveryStatus,
    delivery: Option<Delivery<'a>>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// pending, processed, ignored, failed or parked
    status: Option<String>,
    /// The X-GitHub-Event name
    event: Option<String>,
    /// owner/name
    #[param(
        pattern = r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]*[A-Za-z0-9_-][A-Za-z0-9._-]*$",
        max_length = 140
    )]
    repository: Option<String>,
    /// 1 to 1000; default 100
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// Deliveries to skip
    #[param(minimum = 0, maximum = 1000000000)]
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
        repository: paging::repository_filter(query.repository.as_deref())?,
        limit,
        offset,
    };
    let page = state.store.list_deliveries(&filter).await?;
    let deliveries = page.items.iter().map(Delivery::from).collect();
    Ok(HttpResponse::Ok().json(DeliveryList { success: true, deliveries, count: page.total, limit, offset }))
}

/// A delivery with its headers and its body (as JSON when it is JSON).
#[utoipa::path(get, path = "/api/deliveries/{guid}", operation_id = "get_delivery", tag = "webhooks",
    params(("guid" = String, Path, description = "The delivery id (X-GitHub-Delivery: a GUID such as 72d3162e-cc78-11e3-81ab-4c9367dc0958)", min_length = 1, max_length = 100)),
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
    Ok(HttpResponse::Ok().json(DeliveryDetails { success: true, delivery: DeliveryWithBody::new(&stored) }))
}

/// Processes the stored body again, whatever its state (after a fix, or to re-apply).
#[utoipa::path(post, path = "/api/deliveries/{guid}/replay", operation_id = "replay_delivery", tag = "webhooks",
    params(("guid" = String, Path, description = "The delivery id (X-GitHub-Delivery: a GUID such as 72d3162e-cc78-11e3-81ab-4c9367dc0958)", min_length = 1, max_length = 100)),
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
    let stored = state.store.get_delivery(&guid).await?;
    let delivery = stored.as_ref().map(|d| Delivery::from(&d.summary));
    Ok(HttpResponse::Ok().json(Replayed { success: true, delivery_id: guid.as_str(), status, delivery }))
}
