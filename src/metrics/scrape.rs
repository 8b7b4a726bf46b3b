//! Scrape-time gauges: what the database holds (pipelines, backlog, outbox queue, open runs) and
//! what the GitHub client has seen (calls, rate limit).

use std::time::{Duration, Instant};

use crate::domain::status::{DeliveryStatus, OutboxJobStatus, PipelineStatus, RunStatus};
use crate::github::GithubClient;
use crate::store::Store;

use super::Metrics;

const PIPELINE_STATUSES: &[&str] = &[PipelineStatus::Active.as_str(), PipelineStatus::Inactive.as_str()];
/// The deliveries still to be processed (`GaugeCounts::deliveries`).
const BACKLOG_STATUSES: &[&str] =
    &[DeliveryStatus::Pending.as_str(), DeliveryStatus::Failed.as_str(), DeliveryStatus::Parked.as_str()];
/// The outbox jobs not done (`GaugeCounts::outbox`).
const OUTBOX_STATUSES: &[&str] =
    &[OutboxJobStatus::Pending.as_str(), OutboxJobStatus::Running.as_str(), OutboxJobStatus::Failed.as_str()];
const OPEN_RUN_STATUSES: [RunStatus; 5] =
    [RunStatus::Requested, RunStatus::Queued, RunStatus::Waiting, RunStatus::Pending, RunStatus::InProgress];

/// When the database gauges were last read: scrapes within `interval` of it serve those values,
/// and scrapes arriving together share one read (the pool is the webhook writers' too).
pub struct GaugeCache {
    interval: Duration,
    last: tokio::sync::Mutex<Option<Instant>>,
}

impl GaugeCache {
    pub fn new(interval: Duration) -> Self {
        GaugeCache { interval, last: tokio::sync::Mutex::new(None) }
    }
}

/// Refreshes the scrape-time gauges, the database ones only when `cache` says they are due.
pub async fn refresh_cached(cache: &GaugeCache, metrics: &Metrics, store: &dyn Store, github: Option<&GithubClient>) {
    {
        // Held while reading: a concurrent scrape waits for this read and then serves it.
        let mut last = cache.last.lock().await;
        if last.is_none_or(|at| at.elapsed() >= cache.interval) {
            refresh_database(metrics, store).await;
            *last = Some(Instant::now());
        }
    }
    refresh_github(metrics, github);
}

/// A database that does not answer sets `ccm_database_up` to 0 and leaves the database gauges at
/// their last values.
async fn refresh_database(metrics: &Metrics, store: &dyn Store) {
    match store.gauge_counts().await {
        Ok(counts) => {
            set_by_status(metrics, "ccm_pipelines", PIPELINE_STATUSES, &counts.pipelines);
            set_by_status(metrics, "ccm_webhook_backlog", BACKLOG_STATUSES, &counts.deliveries);
            set_by_status(metrics, "ccm_outbox_jobs", OUTBOX_STATUSES, &counts.outbox);
            let open_runs = OPEN_RUN_STATUSES.each_ref().map(RunStatus::as_str);
            set_by_status(metrics, "ccm_runs_active", &open_runs, &counts.open_runs);
            metrics.set_gauge("ccm_database_up", &[], 1.0);
        }
        Err(err) => {
            tracing::warn!(error = %err, "metrics: the database did not answer");
            metrics.set_gauge("ccm_database_up", &[], 0.0);
        }
    }
}

fn refresh_github(metrics: &Metrics, github: Option<&GithubClient>) {
    if let Some(client) = github {
        for (status, calls) in client.health.calls_by_status() {
            metrics.set_counter("ccm_github_api_calls_total", &[("status", status)], calls);
        }
        if let Some(remaining) = client.health.snapshot(crate::domain::clock::now()).rate_limit.remaining {
            metrics.set_gauge("ccm_github_rate_limit_remaining", &[], remaining as f64);
        }
    }
}

/// Sets every known status (0 when absent, so a drained count shows 0), then any other found.
fn set_by_status(metrics: &Metrics, name: &'static str, known: &[&str], rows: &[(String, i64)]) {
    for status in known {
        let n = rows.iter().find(|(s, _)| s == status).map_or(0, |(_, n)| *n);
        metrics.set_gauge(name, &[("status", status.to_string())], n as f64);
    }
    for (status, n) in rows.iter().filter(|(s, _)| !known.contains(&s.as_str())) {
        metrics.set_gauge(name, &[("status", status.clone())], *n as f64);
    }
}
