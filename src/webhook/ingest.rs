//! Group commit: deliveries arriving together are stored and applied in one transaction, and
//! each request is answered once its delivery is durable. Failed ones are retried in the
//! background, and deliveries left unprocessed by a crash are picked up at start.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, Notify, mpsc, oneshot};

use crate::domain::status::DeliveryStatus;
use crate::metrics::Metrics;
use crate::store::{DeliveryOutcome, Effect, IncomingDelivery, Store};

use super::publish::Changes;

/// Most deliveries committed in one transaction.
const MAX_BATCH: usize = 256;
/// Requests waiting for a writer before new ones are refused (backpressure, bounded memory).
const QUEUE: usize = 4096;

struct Job {
    delivery: IncomingDelivery,
    reply: oneshot::Sender<Option<Stored>>,
}

/// What the sender of a delivery is told once it is durable.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stored {
    pub status: DeliveryStatus,
    /// The delivery id was already stored: nothing was done again.
    pub duplicate: bool,
}

impl From<&DeliveryOutcome> for Stored {
    fn from(outcome: &DeliveryOutcome) -> Self {
        Stored { status: outcome.status, duplicate: outcome.duplicate }
    }
}

/// Hands deliveries to the batch writers. Cheap to clone.
#[derive(Clone)]
pub struct Ingestor {
    jobs: mpsc::Sender<Job>,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("too many deliveries waiting to be stored")]
    Busy,
    #[error("the delivery could not be stored")]
    NotStored,
}

impl Ingestor {
    /// Starts `writers` batch writers and the retry worker.
    pub fn start(store: Arc<dyn Store>, changes: Changes, writers: usize, metrics: Metrics) -> Self {
        let (jobs, receiver) = mpsc::channel(QUEUE);
        let receiver = Arc::new(Mutex::new(receiver));
        let retry = Arc::new(Notify::new());
        for _ in 0..writers.max(1) {
            tokio::spawn(write_batches(
                receiver.clone(),
                store.clone(),
                changes.clone(),
                retry.clone(),
                metrics.clone(),
            ));
        }
        tokio::spawn(retry_worker(store, changes, retry, metrics));
        Ingestor { jobs }
    }

    /// Stores (and, when possible, applies) a delivery; returns once it is durable.
    pub async fn submit(&self, delivery: IncomingDelivery) -> Result<Stored, IngestError> {
        let (reply, answer) = oneshot::channel();
        self.jobs.try_send(Job { delivery, reply }).map_err(|_| IngestError::Busy)?;
        answer.await.ok().flatten().ok_or(IngestError::NotStored)
    }
}

async fn write_batches(
    receiver: Arc<Mutex<mpsc::Receiver<Job>>>,
    store: Arc<dyn Store>,
    changes: Changes,
    retry: Arc<Notify>,
    metrics: Metrics,
) {
    loop {
        let mut jobs = Vec::new();
        {
            let mut receiver = receiver.lock().await;
            match receiver.recv().await {
                Some(job) => jobs.push(job),
                None => return,
            }
            while jobs.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
        }
        // One lock order for every writer (runs by hour then id, then jobs by id) so that
        // concurrent batches on PostgreSQL never deadlock on the same rows: a run's row, then
        // the hourly roll-up it counts in.
        jobs.sort_by_key(|job| lock_key(&job.delivery));
        let (deliveries, replies): (Vec<_>, Vec<_>) = jobs.into_iter().map(|j| (j.delivery, j.reply)).unzip();
        let deliveries: Arc<[IncomingDelivery]> = deliveries.into();
        let started = std::time::Instant::now();
        let outcomes = match store.ingest(deliveries.clone()).await {
            Ok(outcomes) => {
                metrics.delivery_batch(deliveries.len(), started.elapsed());
                Some(outcomes)
            }
            Err(err) => {
                tracing::error!(error = %err, batch = deliveries.len(), "batch processing failed; storing the deliveries as pending");
                match store.store_pending(&deliveries).await {
                    Ok(outcomes) => {
                        retry.notify_one();
                        Some(outcomes)
                    }
                    Err(err) => {
                        tracing::error!(error = %err, batch = deliveries.len(), "deliveries could not be stored");
                        None
                    }
                }
            }
        };
        match outcomes {
            Some(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(&outcomes) {
                    let _ = reply.send(Some(outcome.into()));
                }
                metrics.runs_changed(&outcomes);
                changes.send(outcomes);
            }
            None => {
                for reply in replies {
                    let _ = reply.send(None);
                }
            }
        }
    }
}

fn lock_key(d: &IncomingDelivery) -> (u8, i64, i64) {
    use crate::store::Processing;
    match &d.processing {
        Processing::Apply(effects) => match effects.first() {
            Some(Effect::Execution(e)) => (0, e.started_at.timestamp().div_euclid(3600), e.run_id),
            Some(Effect::Job(j)) => (1, 0, j.job_id),
            Some(Effect::Installation(_)) => (2, 0, 0),
            Some(Effect::Issue(c)) => (4, 0, c.link.number),
            Some(Effect::PullRequest(p)) => (5, 0, p.number),
            Some(Effect::Push(_)) => (6, 0, 0),
            Some(Effect::Deployment(d, _)) => (7, 0, d.id),
            None => (3, 0, 0),
        },
        _ => (3, 0, 0),
    }
}

/// Processes stored deliveries that are due: pending ones (left by a crash or a failed batch)
/// and failed ones whose retry time has come.
async fn retry_worker(store: Arc<dyn Store>, changes: Changes, wake: Arc<Notify>, metrics: Metrics) {
    const CLAIM: i64 = 100;
    loop {
        let claimed = match store.claim_due(crate::domain::clock::now(), chrono::Duration::seconds(120), CLAIM).await {
            Ok(claimed) => claimed,
            Err(err) => {
                tracing::warn!(error = %err, "could not look for deliveries to retry");
                Vec::new()
            }
        };
        let full = claimed.len() as i64 == CLAIM;
        let mut outcomes = Vec::new();
        for stored in claimed {
            let guid = stored.summary.guid.clone();
            match super::reprocess(store.as_ref(), &stored).await {
                Ok(outcome) => {
                    tracing::info!(delivery_id = %guid, status = %outcome.status, "delivery retried");
                    metrics.delivery_retried(outcome.status.as_str());
                    outcomes.push(outcome);
                }
                // Not even its outcome could be recorded: the attempt still counts (so that a
                // delivery that always fails this way is parked, not retried forever).
                Err(err) => match store.count_failed_attempt(&guid, &format!("{err:#}")).await {
                    Ok(status) => {
                        tracing::warn!(delivery_id = %guid, error = %err, status = ?status, "delivery retry failed");
                        metrics.delivery_retried(status.unwrap_or(DeliveryStatus::Failed).as_str());
                    }
                    Err(again) => {
                        tracing::warn!(delivery_id = %guid, error = %err, also = %again, "delivery retry failed, uncounted")
                    }
                },
            }
        }
        if !outcomes.is_empty() {
            metrics.runs_changed(&outcomes);
            changes.send(outcomes);
        }
        if !full {
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
        }
    }
}
