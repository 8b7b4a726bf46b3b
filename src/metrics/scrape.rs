//! Scrape-time gauges: what the database holds (pipelines, backlog, outbox queue, open runs) and
//! what the GitHub client has seen (calls, rate limit).

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

/// Refreshes the scrape-time gauges. A database that does not answer sets `ccm_database_up` to
/// 0 and leaves the database gauges at their last values.
pub async fn refresh(metrics: &Metrics, store: &dyn Store, github: Option<&GithubClient>) {
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
