//! GitHub webhooks: signature check, small typed events, what each one changes, and the group
//! commit that stores and applies them.

pub mod body;
pub mod events;
pub mod fanout;
pub mod ingest;
pub mod plan;
pub mod publish;
pub mod receive;
pub mod signature;

use crate::store::{DeliveryOutcome, IncomingDelivery, Store, StoredDelivery};

pub use ingest::{IngestError, Ingestor};
pub use receive::SignedDelivery;
pub use signature::WebhookSecrets;

/// Everything about a verified delivery that is stored, worked out on the request's thread
/// (parse, plan, compress) so the batch writer only does I/O.
pub fn prepare(delivery: SignedDelivery) -> IncomingDelivery {
    let plan::Reading { envelope, processing } = plan::read(&delivery.event, &delivery.payload);
    IncomingDelivery {
        processing,
        action: envelope.action,
        installation_id: envelope.installation.map(|i| i.id),
        repository: envelope.repository.map(|r| r.full_name),
        hook_id: delivery.hook_id.or(envelope.hook_id),
        received_at: crate::domain::clock::now(),
        headers: delivery.headers,
        body: body::compress(&delivery.payload),
        body_size: delivery.payload.len() as i64,
        guid: delivery.guid,
        event: delivery.event,
    }
}

/// Processes a stored delivery again from its stored body (retries and replays). A body that
/// cannot be read back parks the delivery.
pub async fn reprocess(store: &dyn Store, stored: &StoredDelivery) -> anyhow::Result<DeliveryOutcome> {
    let processing = match body::decompress(&stored.body_encoding, &stored.body) {
        Ok(payload) => plan::processing(&stored.summary.event, &payload),
        Err(error) => {
            tracing::error!(delivery_id = %stored.summary.guid, error = %error, "stored delivery body unreadable; parked");
            crate::store::Processing::Unreadable(error)
        }
    };
    Ok(store.process_stored(&stored.summary.guid, &processing).await?)
}
