//! Webhook deliveries: stored before they are acknowledged, processed in the same transaction
//! when possible, retried and parked when not.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::domain::status::DeliveryStatus;
use crate::store::rows::{NewDelivery, WrittenRow};
use crate::store::{Effect, Page, StoreResult};

mod store;

/// Failed deliveries are retried this many times in all, then parked.
pub const MAX_ATTEMPTS: i64 = 5;

/// How a delivery is to be processed, worked out from its body before any I/O.
#[derive(Debug, Clone, PartialEq)]
pub enum Processing {
    /// Apply these effects (possibly none); the delivery becomes `processed`.
    Apply(Vec<Effect>),
    /// An event ccm does not act on; the delivery becomes `ignored`.
    Ignore,
    /// The body could not be understood; the delivery becomes `failed` with this error.
    Fail(String),
    /// The stored body cannot be read back (corrupt): no retry can succeed, so the delivery is
    /// `parked` at once with this error.
    Unreadable(String),
}

/// A verified delivery, ready to store.
#[derive(Debug, Clone)]
pub struct IncomingDelivery {
    pub guid: String,
    pub event: String,
    pub action: Option<String>,
    pub installation_id: Option<i64>,
    pub repository: Option<String>,
    pub hook_id: Option<i64>,
    pub received_at: DateTime<Utc>,
    /// The kept request headers, as a JSON object's text.
    pub headers: Box<serde_json::value::RawValue>,
    /// The body, compressed (see `webhook::body`).
    pub body: Vec<u8>,
    pub body_size: i64,
    pub processing: Processing,
}

/// What became of a delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryOutcome {
    pub guid: String,
    pub status: DeliveryStatus,
    /// The GUID was already stored and needed nothing more.
    pub duplicate: bool,
    /// Effects that changed stored state (for live updates).
    pub changed: Vec<Effect>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DeliverySummary {
    pub guid: String,
    pub event: String,
    pub action: Option<String>,
    pub installation_id: Option<i64>,
    pub repository: Option<String>,
    pub hook_id: Option<i64>,
    pub received_at: DateTime<Utc>,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub processed_at: Option<DateTime<Utc>>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub body_size: i64,
}

/// A stored delivery with its headers and (still compressed) body.
#[derive(Debug, Clone)]
pub struct StoredDelivery {
    pub summary: DeliverySummary,
    pub headers: sqlx::types::Json<Value>,
    pub body_encoding: String,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub status: Option<DeliveryStatus>,
    pub event: Option<String>,
    pub repository: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

#[async_trait]
pub trait DeliveryStore {
    /// Stores a batch of deliveries and applies their effects, all in one transaction (one
    /// commit for many deliveries). A GUID stored before is a duplicate unless its processing
    /// had failed, in which case it is processed again.
    /// Shared rather than borrowed: on SQLite the batch crosses to the writer's thread as it is.
    async fn ingest(&self, batch: std::sync::Arc<[IncomingDelivery]>) -> StoreResult<Vec<DeliveryOutcome>>;

    /// Stores a batch as `pending` without processing it (the fallback when `ingest` fails).
    async fn store_pending(&self, batch: &[IncomingDelivery]) -> StoreResult<Vec<DeliveryOutcome>>;

    /// Claims up to `limit` deliveries due for (re)processing: pending ones, and failed ones whose
    /// retry time has come. A claim holds for `lease` (other replicas skip them meanwhile).
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
        limit: i64,
    ) -> StoreResult<Vec<StoredDelivery>>;

    /// Applies `processing` to a stored delivery and records the outcome; a failure past
    /// `MAX_ATTEMPTS` parks it. A database error while applying its effects is the delivery's
    /// failure (its effects are undone, the attempt counts).
    async fn process_stored(&self, guid: &str, processing: &Processing) -> StoreResult<DeliveryOutcome>;

    /// Counts a failed attempt at processing a stored delivery that could not even be recorded
    /// (`process_stored` failed): `failed` with `error` and its next retry time, or `parked` past
    /// `MAX_ATTEMPTS`. Returns the status it is left in (`None`: no such delivery, or not due
    /// for processing).
    async fn count_failed_attempt(&self, guid: &str, error: &str) -> StoreResult<Option<DeliveryStatus>>;

    async fn get_delivery(&self, guid: &str) -> StoreResult<Option<StoredDelivery>>;

    async fn list_deliveries(&self, filter: &DeliveryFilter) -> StoreResult<Page<DeliverySummary>>;
}

/// Seconds to wait before retry number `attempts` (1, 2, ...): 30 s doubling, at most 1 hour.
pub fn retry_delay(attempts: i64) -> chrono::Duration {
    chrono::Duration::seconds((30i64 << (attempts - 1).clamp(0, 7)).min(3600))
}

/// The state a delivery is left in after `processing`, given its attempts so far: its status,
/// its error and when to try again.
pub(crate) fn settle(processing: &Processing, attempts: i64, now: DateTime<Utc>) -> Settled {
    match processing {
        Processing::Apply(_) => (DeliveryStatus::Processed, None, None),
        Processing::Ignore => (DeliveryStatus::Ignored, None, None),
        Processing::Fail(error) if attempts >= MAX_ATTEMPTS => (DeliveryStatus::Parked, Some(error.clone()), None),
        Processing::Fail(error) => (DeliveryStatus::Failed, Some(error.clone()), Some(now + retry_delay(attempts))),
        Processing::Unreadable(error) => (DeliveryStatus::Parked, Some(error.clone()), None),
    }
}

/// How a delivery was settled: its status, its error and when to try again (see `settle`).
pub(crate) type Settled = (DeliveryStatus, Option<String>, Option<DateTime<Utc>>);

/// What storing a batch did: which deliveries were stored for the first time (one flag per
/// delivery, in order) and which run attempts were inserted or moved forward.
pub(crate) struct StoredBatch {
    pub is_new: Vec<bool>,
    pub moved: std::collections::HashSet<(i64, i64)>,
    /// The jobs inserted or moved forward.
    pub moved_jobs: std::collections::HashSet<i64>,
}

/// The effects a delivery is to apply (none unless its processing is `Apply`).
pub(crate) fn effects(d: &IncomingDelivery) -> &[Effect] {
    match &d.processing {
        Processing::Apply(effects) => effects,
        _ => &[],
    }
}

/// The runs of the deliveries a batch stored for the first time (`is_new`, one per delivery):
/// they are upserted together, and duplicates apply nothing.
pub(crate) fn new_runs<'a>(batch: &'a [IncomingDelivery], is_new: &[bool]) -> Vec<&'a crate::store::ExecutionRecord> {
    batch
        .iter()
        .zip(is_new)
        .filter(|(_, new)| **new)
        .flat_map(|(d, _)| effects(d))
        .filter_map(|e| match e {
            Effect::Execution(run) => Some(run),
            _ => None,
        })
        .collect()
}

/// The jobs of the deliveries a batch stored for the first time, as `new_runs`.
pub(crate) fn new_jobs<'a>(batch: &'a [IncomingDelivery], is_new: &[bool]) -> Vec<&'a crate::store::JobRecord> {
    batch
        .iter()
        .zip(is_new)
        .filter(|(_, new)| **new)
        .flat_map(|(d, _)| effects(d))
        .filter_map(|e| match e {
            Effect::Job(job) => Some(job),
            _ => None,
        })
        .collect()
}

/// Stores `rows` deliveries in one statement, returning the GUIDs that were not stored before.
/// Binds each row's `NewDelivery::cells`.
pub(crate) fn insert_deliveries_sql(rows: usize) -> String {
    format!(
        "INSERT INTO deliveries ({}) VALUES {} ON CONFLICT (guid) DO NOTHING RETURNING guid",
        crate::store::rows::column_names(NewDelivery::COLUMNS),
        super::chunks::values_placeholders(rows, NewDelivery::COLUMNS.len())
    )
}

/// A stored delivery's status and attempts so far.
pub(crate) const DELIVERY_STATE_SQL: &str = "SELECT status, attempts FROM deliveries WHERE guid = $1";

/// Records a stored delivery's new outcome: guid, status, attempts, last_error, processed_at,
/// next_attempt_at.
pub(crate) const RECORD_OUTCOME_SQL: &str = "UPDATE deliveries SET status = $2, attempts = $3, last_error = $4, \
     processed_at = $5, next_attempt_at = $6 WHERE guid = $1";
