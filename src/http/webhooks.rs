//! `POST /webhooks/github`: GitHub's deliveries, answered once durable.

use actix_web::{HttpResponse, web};
use serde_json::json;
use tracing::Instrument;

use super::{ApiError, AppState, method_not_allowed};
use crate::store::{Effect, Processing};
use crate::webhook::{self, IngestError, SignedDelivery};

/// Bodies larger than this are prepared off the request thread.
const BLOCKING_PREPARE: usize = 256 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/webhooks/github").route(web::post().to(receive)).default_service(web::to(method_not_allowed)),
    );
}

async fn receive(state: web::Data<AppState>, delivery: SignedDelivery) -> Result<HttpResponse, ApiError> {
    let span = tracing::info_span!(
        "delivery",
        delivery_id = %delivery.guid,
        event = %delivery.event,
        repo = tracing::field::Empty,
        run_id = tracing::field::Empty,
    );
    async move {
        let incoming = if delivery.payload.len() > BLOCKING_PREPARE {
            web::block(move || webhook::prepare(delivery)).await.map_err(|e| ApiError::Internal(e.into()))?
        } else {
            webhook::prepare(delivery)
        };
        let span = tracing::Span::current();
        if let Some(repo) = &incoming.repository {
            span.record("repo", repo.as_str());
        }
        if let Processing::Apply(effects) = &incoming.processing {
            match effects.first() {
                Some(Effect::Execution(e)) => span.record("run_id", e.run_id),
                Some(Effect::Job(j)) => span.record("run_id", j.run_id),
                _ => &span,
            };
        }
        let (guid, event) = (incoming.guid.clone(), incoming.event.clone());
        let outcome = state.ingestor.submit(incoming).await.map_err(|err| match err {
            IngestError::Busy => ApiError::Unavailable("ccm is overloaded: delivery not stored, retry later".into()),
            IngestError::NotStored => ApiError::Unavailable("Delivery not stored: the database is unavailable".into()),
        })?;
        tracing::info!(status = %outcome.status, duplicate = outcome.duplicate, "delivery stored");
        Ok(HttpResponse::Ok().json(json!({
            "success": true,
            "delivery_id": guid,
            "event": event,
            "status": outcome.status,
            "duplicate": outcome.duplicate,
        })))
    }
    .instrument(span)
    .await
}
