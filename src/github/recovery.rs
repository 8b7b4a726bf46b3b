//! Missed-delivery recovery and stuck-run correction, and the background tasks that schedule
//! them and run the outbox.
//!
//! GitHub does not retry a failed webhook delivery; it keeps deliveries for 3 days, during which
//! the App may ask for a redelivery. At start and every `GITHUB_RECOVERY_INTERVAL`, ccm pages
//! through `GET /app/hook/deliveries` (newest first) back to where the previous scan stopped,
//! finds the GUIDs none of whose attempts succeeded and that the `deliveries` table does not
//! hold, and queues `POST /app/hook/deliveries/{id}/attempts` for each.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::client::{As, GhError, Method};
use super::{Github, outbox};
use crate::domain::clock;
use crate::domain::outbox::OutboxTask;

/// The newest delivery time the last complete scan saw.
pub const CURSOR_KEY: &str = "deliveries_checked_through";
/// GitHub keeps deliveries for 3 days; redeliveries are asked a little inside that window.
const WINDOW: Duration = Duration::minutes(3 * 24 * 60 - 10);
/// Re-scan this far behind the cursor (deliveries are listed by time, so a little overlap
/// costs nothing and covers clock skew).
const OVERLAP: Duration = Duration::minutes(10);
/// Most pages of 100 deliveries one scan reads.
const MAX_PAGES: usize = 100;
/// Most runs one stuck-run scan re-reads.
const STUCK_BATCH: i64 = 50;

fn store_err(err: crate::store::StoreError) -> GhError {
    GhError::Unavailable(format!("database: {err}"))
}

struct Seen {
    succeeded: bool,
    /// The newest failed attempt: (delivery id, time).
    latest_failed: Option<(i64, DateTime<Utc>)>,
}

pub async fn recover_deliveries(gh: &Github) -> Result<Value, GhError> {
    if !gh.client.is_app() {
        return Ok(json!({"skipped": "missed-delivery recovery needs a GitHub App (not GHT)"}));
    }
    let now = clock::now();
    let window_start = now - WINDOW;
    let cursor = gh
        .store
        .get_state(CURSOR_KEY)
        .await
        .map_err(store_err)?
        .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
        .map(|t| t.with_timezone(&Utc));
    let stop_before = cursor.map_or(window_start, |c| (c - OVERLAP).max(window_start));

    let mut by_guid: HashMap<String, Seen> = HashMap::new();
    let mut newest: Option<DateTime<Utc>> = None;
    let mut path = Some("/app/hook/deliveries?per_page=100".to_string());
    let (mut pages, mut scanned) = (0usize, 0usize);
    while let Some(current) = path.take() {
        if pages >= MAX_PAGES {
            break;
        }
        pages += 1;
        let reply =
            gh.client.call(As::App, Method::Get, &current, None).await?.success("listing the App's deliveries")?;
        let deliveries = reply.body.as_array().cloned().unwrap_or_default();
        let mut reached_end = deliveries.is_empty();
        for d in &deliveries {
            let (Some(id), Some(guid), Some(at)) = (
                d.get("id").and_then(Value::as_i64),
                d.get("guid").and_then(Value::as_str),
                d.get("delivered_at")
                    .and_then(Value::as_str)
                    .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                    .map(|t| t.with_timezone(&Utc)),
            ) else {
                continue;
            };
            if at < stop_before {
                reached_end = true;
                continue;
            }
            scanned += 1;
            newest = Some(newest.map_or(at, |n| n.max(at)));
            let ok = d.get("status_code").and_then(Value::as_i64).is_some_and(|c| (200..300).contains(&c));
            let seen = by_guid.entry(guid.to_string()).or_insert(Seen { succeeded: false, latest_failed: None });
            if ok {
                seen.succeeded = true;
            } else if seen.latest_failed.is_none_or(|(_, t)| at > t) {
                seen.latest_failed = Some((id, at));
            }
        }
        if !reached_end {
            path = reply.next;
        }
    }

    let failed: Vec<(String, i64)> = by_guid
        .into_iter()
        .filter(|(_, s)| !s.succeeded)
        .filter_map(|(guid, s)| s.latest_failed.filter(|(_, at)| *at >= window_start).map(|(id, _)| (guid, id)))
        .collect();
    let guids: Vec<String> = failed.iter().map(|(g, _)| g.clone()).collect();
    let known = gh.store.known_delivery_guids(&guids).await.map_err(store_err)?;
    let mut queued = Vec::new();
    for (guid, delivery_id) in failed.into_iter().filter(|(g, _)| !known.contains(g)) {
        let task = OutboxTask::Redeliver { delivery_id, guid: guid.clone() };
        outbox::enqueue(gh, task, Some(format!("redeliver:{delivery_id}"))).await.map_err(store_err)?;
        tracing::info!(%guid, delivery_id, "missed delivery: redelivery queued");
        queued.push(guid);
    }
    if let Some(newest) = newest {
        gh.store.set_state(CURSOR_KEY, &newest.to_rfc3339()).await.map_err(store_err)?;
    }
    queued.sort();
    Ok(json!({"pages": pages, "deliveries_scanned": scanned, "redeliveries_queued": queued}))
}

/// Re-reads, from the REST API, runs that stayed queued or in progress with no event for longer
/// than `GITHUB_STUCK_RUN_AFTER`, and stores what GitHub says (runs only move forward).
pub async fn correct_stuck_runs(gh: &Github) -> Result<Value, GhError> {
    let now = clock::now();
    let after = Duration::from_std(gh.client.config.stuck_run_after).unwrap_or(Duration::hours(1));
    let stuck = gh.store.stuck_executions(now - after, now - after, STUCK_BATCH).await.map_err(store_err)?;
    let (mut checked, mut corrected) = (0, 0);
    for run in stuck {
        let Some(who) = gh.client.repo_auth(gh.store.as_ref(), &run.repository).await? else {
            gh.store.mark_run_checked(run.run_id, run.run_attempt).await.map_err(store_err)?;
            continue;
        };
        let path = format!("/repos/{}/actions/runs/{}/attempts/{}", run.repository, run.run_id, run.run_attempt);
        let reply = gh.client.call(who, Method::Get, &path, None).await?;
        checked += 1;
        if reply.is_success()
            && let Some(record) = super::runs::execution_from_run(&run.repository, &reply.body)
            && gh.store.upsert_execution(&record).await.map_err(store_err)?
        {
            corrected += 1;
            tracing::info!(run_id = run.run_id, attempt = run.run_attempt, status = %record.status, "stuck run corrected");
        }
        gh.store.mark_run_checked(run.run_id, run.run_attempt).await.map_err(store_err)?;
    }
    Ok(json!({"checked": checked, "corrected": corrected}))
}

/// Queues a recovery scan and a stuck-run scan (each at most once at a time).
pub async fn schedule_scans(gh: &Github) {
    if gh.client.is_app()
        && let Err(err) = enqueue_scan(gh, OutboxTask::RecoverDeliveries {}).await
    {
        tracing::error!(error = %err, "queueing the missed-delivery scan failed");
    }
    if let Err(err) = enqueue_scan(gh, OutboxTask::CorrectStuckRuns {}).await {
        tracing::error!(error = %err, "queueing the stuck-run scan failed");
    }
}

/// Queues a scan unless one is pending or running (its kind is its dedupe key).
async fn enqueue_scan(gh: &Github, scan: OutboxTask) -> crate::store::StoreResult<i64> {
    let dedupe_key = scan.kind().to_string();
    outbox::enqueue(gh, scan, Some(dedupe_key)).await
}

/// The GitHub background tasks; `stop` ends them.
pub struct Workers {
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Starts the outbox worker and, with `scans`, the scheduler of the periodic scans (which
    /// queues the first ones at once).
    pub fn spawn(gh: Github, scans: bool) -> Self {
        let (shutdown, rx) = watch::channel(false);
        let mut tasks = vec![tokio::spawn(outbox::run_worker(gh.clone(), rx.clone()))];
        if scans {
            let mut rx = rx;
            tasks.push(tokio::spawn(async move {
                let interval = gh.client.config.recovery_interval;
                loop {
                    schedule_scans(&gh).await;
                    tokio::select! {
                        _ = tokio::time::sleep(interval) => {}
                        _ = rx.changed() => break,
                    }
                    if *rx.borrow() {
                        break;
                    }
                }
            }));
        }
        Workers { shutdown, tasks }
    }

    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}
