//! Prometheus metrics, served by `GET /metrics`.
//!
//! Each `AppState` owns its registry instead of a process-global recorder: `ccm serve` has one
//! app, and tests, which run many apps in one process, read exact values from their own.
//! Counters and histograms are recorded as things happen; gauges that mirror the database or the
//! GitHub client are refreshed when `/metrics` is scraped (see `scrape`).

pub mod pipelines;
pub mod scrape;

use crate::domain::status::{Conclusion, RunStatus};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::metrics::{Counter, Histogram, Recorder, SharedString, Unit, counter, gauge, histogram, with_local_recorder};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

use crate::store::{DeliveryOutcome, Effect};

/// Upper bounds of the latency histograms' buckets, in seconds.
const LATENCY_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Upper bounds of the batch-size histogram's buckets (deliveries per transaction).
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// How often histogram samples are folded into their buckets when nobody scrapes.
const UPKEEP: Duration = Duration::from_secs(5);

enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Every metric ccm exposes, with its help text (the README lists the same).
const CATALOG: &[(&str, Kind, &str)] = &[
    ("ccm_build_info", Kind::Gauge, "Always 1; the version label names the running ccm"),
    ("ccm_http_requests_total", Kind::Counter, "HTTP requests answered, by method, route pattern and status"),
    ("ccm_http_request_duration_seconds", Kind::Histogram, "Time to answer HTTP requests, by method and route"),
    (
        "ccm_webhook_deliveries_total",
        Kind::Counter,
        "Signed webhook deliveries accepted, by event and outcome (processed, ignored, failed, parked, pending, \
         duplicate)",
    ),
    (
        "ccm_webhook_rejected_total",
        Kind::Counter,
        "Webhook deliveries refused, by reason (invalid_signature, bad_request, payload_too_large, unavailable)",
    ),
    (
        "ccm_webhook_processing_seconds",
        Kind::Histogram,
        "Time from a delivery's arrival until it is stored and its effects applied, by event",
    ),
    (
        "ccm_webhook_batch_deliveries",
        Kind::Histogram,
        "Deliveries stored together in one transaction (group commit), per batch",
    ),
    ("ccm_webhook_batch_seconds", Kind::Histogram, "Time to store and apply one batch of deliveries, commit included"),
    ("ccm_webhook_retries_total", Kind::Counter, "Stored deliveries processed again in the background, by outcome"),
    (
        "ccm_webhook_backlog",
        Kind::Gauge,
        "Stored deliveries not processed: pending (not yet), failed (awaiting a retry), parked (given up)",
    ),
    ("ccm_runs_completed_total", Kind::Counter, "Workflow runs seen completing through webhooks, by conclusion"),
    ("ccm_runs_active", Kind::Gauge, "Stored workflow runs not completed, by status"),
    ("ccm_pipelines", Kind::Gauge, "Pipelines by status (active, inactive)"),
    (
        "ccm_outbox_jobs",
        Kind::Gauge,
        "Outbound (GitHub) jobs in the durable queue, by status (pending, running, failed)",
    ),
    ("ccm_github_api_calls_total", Kind::Counter, "Calls made to GitHub's API, by HTTP status (error: no response)"),
    ("ccm_github_rate_limit_remaining", Kind::Gauge, "Requests left in GitHub's rate-limit window, as last reported"),
    ("ccm_database_up", Kind::Gauge, "1 when the database answered the last scrape's queries, else 0"),
    ("ccm_backup_last_timestamp_seconds", Kind::Gauge, "When the last scheduled SQLite backup was taken (Unix time)"),
    ("ccm_backup_last_size_bytes", Kind::Gauge, "The size of the last scheduled SQLite backup"),
    ("ccm_backup_failures_total", Kind::Counter, "Scheduled SQLite backups that failed"),
    (
        "ccm_pruned_rows_total",
        Kind::Counter,
        "Rows deleted by retention, by kind (delivery_bodies emptied, deliveries, executions, jobs, outbox_jobs, audit)",
    ),
    ("ccm_prune_failures_total", Kind::Counter, "Retention sweeps that stopped on an error"),
    ("ccm_prune_last_timestamp_seconds", Kind::Gauge, "When the last retention sweep finished (Unix time)"),
    (
        "ccm_http_refused_total",
        Kind::Counter,
        "Requests refused by an allow-list (CCM_API_ALLOW, CCM_WEBHOOK_ALLOW), by list (api, webhook)",
    ),
];

/// A registry and the handle that renders it. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
    series: Arc<Series>,
}

/// The handles of the series recorded on every request, registered once per label set: the
/// `metrics` macros allocate, hash and look up their key on each call. Every label is bounded
/// (route patterns, methods, statuses, known events and outcomes).
#[derive(Default)]
struct Series {
    /// By route pattern, then method and status.
    requests: Mutex<HashMap<String, RouteSeries>>,
    /// By event and outcome.
    deliveries: Mutex<HashMap<(&'static str, &'static str), CountAndTime>>,
}

/// A counter and the histogram of the same events' durations.
type CountAndTime = (Counter, Histogram);

/// One route's series, by method and status.
type RouteSeries = HashMap<(&'static str, u16), CountAndTime>;

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .expect("the buckets are not empty")
            .set_buckets_for_metric(Matcher::Full("ccm_webhook_batch_deliveries".into()), BATCH_BUCKETS)
            .expect("the buckets are not empty")
            .build_recorder();
        for (name, kind, help) in CATALOG {
            let seconds = name.ends_with("_seconds");
            let (name, help) = ((*name).into(), SharedString::const_str(help));
            match kind {
                Kind::Counter => recorder.describe_counter(name, None, help),
                Kind::Gauge => recorder.describe_gauge(name, None, help),
                Kind::Histogram if seconds => recorder.describe_histogram(name, Some(Unit::Seconds), help),
                Kind::Histogram => recorder.describe_histogram(name, Some(Unit::Count), help),
            }
        }
        let metrics = Metrics { handle: recorder.handle(), recorder: Arc::new(recorder), series: Arc::default() };
        metrics.with(|| gauge!("ccm_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0));
        metrics
    }

    /// Folds histogram samples into buckets periodically, so memory stays bounded without scrapes.
    /// Must run inside the async runtime.
    pub fn start_upkeep(&self) {
        let handle = self.handle.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(UPKEEP);
            loop {
                interval.tick().await;
                handle.run_upkeep();
            }
        });
    }

    /// Runs `f` with this registry as the recorder of the `metrics` macros (on this thread only,
    /// for the duration of the call: `f` must not await).
    fn with<T>(&self, f: impl FnOnce() -> T) -> T {
        with_local_recorder(self.recorder.as_ref() as &dyn Recorder, f)
    }

    /// The exposition text (Prometheus format 0.0.4).
    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// One HTTP request answered. `route` is the matched pattern (never the raw path).
    pub fn http_request(&self, method: &'static str, route: &str, status: u16, elapsed: Duration) {
        let mut requests = self.series.requests.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let by_route = match requests.get_mut(route) {
            Some(by_route) => by_route,
            None => requests.entry(route.to_string()).or_default(),
        };
        let (count, duration) = by_route.entry((method, status)).or_insert_with(|| {
            let route = route.to_string();
            self.with(|| {
                (
                    counter!("ccm_http_requests_total", "method" => method, "route" => route.clone(),
                        "status" => status.to_string()),
                    histogram!("ccm_http_request_duration_seconds", "method" => method, "route" => route),
                )
            })
        });
        count.increment(1);
        duration.record(elapsed.as_secs_f64());
    }

    /// A signed delivery accepted; `outcome` is its stored status, or `duplicate`.
    pub fn delivery(&self, event: &str, outcome: &'static str, elapsed: Option<Duration>) {
        let event = event_label(event);
        let mut deliveries = self.series.deliveries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (count, processing) = deliveries.entry((event, outcome)).or_insert_with(|| {
            self.with(|| {
                (
                    counter!("ccm_webhook_deliveries_total", "event" => event, "outcome" => outcome),
                    histogram!("ccm_webhook_processing_seconds", "event" => event),
                )
            })
        });
        count.increment(1);
        if let Some(elapsed) = elapsed {
            processing.record(elapsed.as_secs_f64());
        }
    }

    /// One batch of deliveries stored in one transaction.
    pub fn delivery_batch(&self, deliveries: usize, elapsed: Duration) {
        self.with(|| {
            histogram!("ccm_webhook_batch_deliveries").record(deliveries as f64);
            histogram!("ccm_webhook_batch_seconds").record(elapsed.as_secs_f64());
        });
    }

    /// A delivery refused before it was stored; `reason` is the error's code.
    pub fn delivery_rejected(&self, reason: &'static str) {
        self.with(|| counter!("ccm_webhook_rejected_total", "reason" => reason).increment(1));
    }

    /// A request refused by an allow-list; `list` is `api` or `webhook`.
    pub fn address_refused(&self, list: &'static str) {
        self.with(|| counter!("ccm_http_refused_total", "list" => list).increment(1));
    }

    /// A stored delivery processed again by the retry worker.
    pub fn delivery_retried(&self, outcome: &str) {
        self.with(|| counter!("ccm_webhook_retries_total", "outcome" => outcome.to_string()).increment(1));
    }

    /// A scheduled backup written and checked.
    pub fn backup_taken(&self, at: chrono::DateTime<chrono::Utc>, bytes: u64) {
        self.with(|| {
            gauge!("ccm_backup_last_timestamp_seconds").set(at.timestamp() as f64);
            gauge!("ccm_backup_last_size_bytes").set(bytes as f64);
        });
    }

    /// Rows pruned by retention; `kind` is a `PruneKind` name or `jobs`.
    pub fn rows_pruned(&self, kind: &'static str, rows: u64) {
        self.with(|| counter!("ccm_pruned_rows_total", "kind" => kind).increment(rows));
    }

    /// A retention sweep finished (`ok`) or stopped on an error.
    pub fn prune_swept(&self, at: chrono::DateTime<chrono::Utc>, ok: bool) {
        self.with(|| {
            if ok {
                gauge!("ccm_prune_last_timestamp_seconds").set(at.timestamp() as f64);
            } else {
                counter!("ccm_prune_failures_total").increment(1);
            }
        });
    }

    /// A scheduled backup that could not be written or failed its check.
    pub fn backup_failed(&self) {
        self.with(|| counter!("ccm_backup_failures_total").increment(1));
    }

    /// Counts the runs that these processed deliveries completed.
    pub fn runs_changed(&self, outcomes: &[DeliveryOutcome]) {
        self.with(|| {
            for effect in outcomes.iter().flat_map(|o| &o.changed) {
                if let Effect::Execution(run) = effect
                    && run.status == RunStatus::Completed
                {
                    let conclusion = run.conclusion.as_ref().map_or("none", Conclusion::as_str).to_string();
                    counter!("ccm_runs_completed_total", "conclusion" => conclusion).increment(1);
                }
            }
        });
    }

    /// Sets a gauge (scrape-time values).
    pub(crate) fn set_gauge(&self, name: &'static str, labels: &[(&'static str, String)], value: f64) {
        self.with(|| gauge!(name, labels).set(value));
    }

    /// Sets a counter to a total kept elsewhere (the GitHub client's call counts).
    pub(crate) fn set_counter(&self, name: &'static str, labels: &[(&'static str, String)], total: u64) {
        self.with(|| counter!(name, labels).absolute(total));
    }
}

/// The events ccm reads; the rest are counted as `other`. The signature covers the body, not
/// the `X-GitHub-Event` header, so the header's value cannot be a label as it is.
const EVENTS: &[&str] = &[
    "workflow_run",
    "workflow_job",
    "installation",
    "installation_repositories",
    "ping",
    "issues",
    "pull_request",
    "push",
];

fn event_label(event: &str) -> &'static str {
    EVENTS.iter().find(|e| **e == event).copied().unwrap_or("other")
}

/// The label for a request method: the standard ones, else `OTHER` (methods are free text).
pub fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}
