//! `POST /webhooks/github`: GitHub's deliveries, answered once durable. Every delivery, accepted
//! or refused, is logged once (`webhook delivery`) with its id, event, repository and outcome.

use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::error::ErrorBody;
use super::routes::{Routes, resource};
use super::{ApiError, AppState, Received};
use crate::domain::status::DeliveryStatus;
use crate::store::{Effect, Processing};
use crate::webhook::{self, IngestError, SignedDelivery};

/// Bodies larger than this are prepared off the request thread.
const BLOCKING_PREPARE: usize = 256 * 1024;

pub fn routes(routes: &mut Routes) {
    routes
        .add(resource("/webhooks/github").post(receive))
        // CommandCenter's path (see `aliases`); outside the /api scope's token, as GitHub calls it.
        .add(resource("/api/v1/integrations/github/webhook").post(receive));
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(receive))]
pub(super) struct Api;

/// A delivery stored (and, when it could be, processed) before the answer.
#[derive(Serialize, utoipa::ToSchema)]
struct DeliveryAccepted {
    success: bool,
    delivery_id: String,
    event: String,
    /// processed, ignored, failed, parked or pending (stored, processed in the background).
    #[schema(value_type = String)]
    status: DeliveryStatus,
    /// The delivery id was already stored: nothing was done again.
    duplicate: bool,
}

#[utoipa::path(post, path = "/webhooks/github", operation_id = "receive_github_webhook", tag = "webhooks",
    description = "GitHub's deliveries (JSON, or form-encoded with a `payload` field), up to 25 MB. The \
        signature is checked against each configured secret before anything is parsed; the answer comes once \
        the delivery is durably stored.",
    params(
        ("X-GitHub-Event" = String, Header, description = "The event name (`workflow_run`, `ping`, ...)"),
        ("X-GitHub-Delivery" = String, Header, description = "The delivery's GUID (at most 100 characters)",
            max_length = 100),
        ("X-Hub-Signature-256" = String, Header,
            description = "`sha256=` and the hex HMAC-SHA256 of the raw body with the webhook secret"),
        ("X-GitHub-Hook-ID" = Option<i64>, Header, description = "The hook that sent it"),
    ),
    request_body(content = Object, description = "The event's payload, as GitHub sends it",
        content_type = "application/json"),
    responses(
        (status = 200, description = "Stored (and processed when it could be), or a duplicate",
            body = DeliveryAccepted),
        (status = 400, description = "A GitHub header is missing or the body is not understood", body = ErrorBody),
        (status = 401, description = "Missing or wrong X-Hub-Signature-256", body = ErrorBody),
        (status = 413, description = "Larger than 25 MB", body = ErrorBody),
        (status = 503, description = "No webhook secret configured, overloaded, or the database is unavailable",
            body = ErrorBody),
    ))]
async fn receive(
    state: web::Data<AppState>,
    req: HttpRequest,
    delivery: Result<SignedDelivery, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let delivery = delivery.inspect_err(|err| refused(&state, &req, err))?;
    let received = req.extensions().get::<Received>().map(|r| r.0);
    let incoming = if delivery.payload.len() > BLOCKING_PREPARE {
        web::block(move || webhook::prepare(delivery)).await.map_err(|e| ApiError::Internal(e.into()))?
    } else {
        webhook::prepare(delivery)
    };
    let run_id = match &incoming.processing {
        Processing::Apply(effects) => match effects.first() {
            Some(Effect::Execution(e)) => Some(e.run_id),
            Some(Effect::Job(j)) => Some(j.run_id),
            _ => None,
        },
        _ => None,
    };
    let (guid, event, action, repo) =
        (incoming.guid.clone(), incoming.event.clone(), incoming.action.clone(), incoming.repository.clone());
    let outcome = match state.ingestor.submit(incoming).await {
        Ok(outcome) => outcome,
        Err(err) => {
            let err = match err {
                IngestError::Busy => {
                    ApiError::Unavailable("ccm is overloaded: delivery not stored, retry later".into())
                }
                IngestError::NotStored => {
                    ApiError::Unavailable("Delivery not stored: the database is unavailable".into())
                }
            };
            state.metrics.delivery_rejected(err.code());
            tracing::warn!(delivery_id = %guid, event = %event, action, repo, run_id, outcome = "rejected",
                reason = err.code(), error = %err, "webhook delivery");
            return Err(err);
        }
    };
    let label = if outcome.duplicate { "duplicate" } else { outcome.status.as_str() };
    let latency = received.filter(|_| !outcome.duplicate).map(|at| at.elapsed());
    state.metrics.delivery(&event, label, latency);
    tracing::info!(delivery_id = %guid, event = %event, action, repo, run_id, outcome = label,
        duplicate = outcome.duplicate, "webhook delivery");
    Ok(HttpResponse::Ok().json(DeliveryAccepted {
        success: true,
        delivery_id: guid,
        event,
        status: outcome.status,
        duplicate: outcome.duplicate,
    }))
}

/// Logs and counts a delivery refused before it was stored. Its id and event are the headers'
/// (unverified: shortened, and never used as metric labels).
fn refused(state: &AppState, req: &HttpRequest, err: &ApiError) {
    let header = |name: &actix_web::http::header::HeaderName| {
        req.headers().get(name).and_then(|v| v.to_str().ok()).map(|v| v.chars().take(100).collect::<String>())
    };
    state.metrics.delivery_rejected(err.code());
    tracing::warn!(
        delivery_id = header(&webhook::receive::X_GITHUB_DELIVERY),
        event = header(&webhook::receive::X_GITHUB_EVENT),
        outcome = "rejected",
        reason = err.code(),
        error = %err,
        "webhook delivery"
    );
}
