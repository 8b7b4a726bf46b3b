//! Missed-delivery recovery and stuck-run correction, and the background tasks that schedule
//! them and run the outbox.
//!
//! GitHub does not retry a failed webhook delivery; it keeps deliveries for 3 days, during which
//! the App may ask for a redelivery. At start and every `GITHUB_RECOVERY_INTERVAL`, ccm pages
//! through `GET /app/hook/deliveries` (newest first) back to where the previous scan stopped,
//! finds the GUIDs none of whose attempts succeeded and that the `deliveries` table does not
//! hold, and queues `POST /app/hook/deliveries/{id}/attempts` for each.
//!
//! A scan reads at most `recovery_max_pages` pages. When it runs out of pages before reaching
//! the previous scan's newest delivery (a long outage), the stretch it did not read is kept as a
//! gap (the page to read next, and where to stop): the next scans read the new deliveries first,
//! then resume each gap where the last one stopped, until it is read or leaves GitHub's window.
//! A GUID is redelivered at most `MAX_REDELIVERIES` times: one that keeps failing (ccm refuses
//! it each time) is then left alone.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::client::{As, GhError, Method};
use super::{Github, outbox};
use crate::domain::clock;
use crate::domain::outbox::OutboxTask;
use crate::store::{NewOutboxJob, Redelivery};

/// The newest delivery time the scans have read down to the previous cursor from.
pub const CURSOR_KEY: &str = "deliveries_checked_through";
/// The stretches of the delivery log a scan ran out of pages for (a JSON list of `Gap`s).
pub const GAPS_KEY: &str = "deliveries_scan_gaps";
/// Redeliveries asked of one GUID at most.
pub const MAX_REDELIVERIES: i64 = 3;
/// GitHub keeps deliveries for 3 days; redeliveries are asked a little inside that window.
const WINDOW: Duration = Duration::minutes(3 * 24 * 60 - 10);
/// Re-scan this far behind the cursor (deliveries are listed by time, so a little overlap
/// costs nothing and covers clock skew).
const OVERLAP: Duration = Duration::minutes(10);
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

/// A stretch of the delivery log a scan did not reach: the next scans read it from `next`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    /// The page to read next (GitHub's `next` link: a cursor into the log).
    pub next: String,
    /// Where the stretch ends: the deliveries older than this were read before it opened.
    pub stop_before: DateTime<Utc>,
    /// The oldest delivery read above it so far: once that is out of GitHub's window, so is the
    /// whole stretch.
    pub below: DateTime<Utc>,
}

/// What reading the log from one page down did.
#[derive(Default)]
struct Walk {
    pages: usize,
    scanned: usize,
    newest: Option<DateTime<Utc>>,
    oldest: Option<DateTime<Utc>>,
    /// The page it would have read next when the scan ran out of pages.
    rest: Option<String>,
}

/// Reads the delivery log from `path` down to `stop_before` (or its end), at most `budget`
/// pages, noting each GUID's attempts in `by_guid`.
async fn walk(
    gh: &Github,
    path: String,
    stop_before: DateTime<Utc>,
    budget: &mut usize,
    by_guid: &mut HashMap<String, Seen>,
) -> Result<Walk, GhError> {
    let mut walk = Walk::default();
    let mut path = Some(path);
    while let Some(current) = path.take() {
        if *budget == 0 {
            walk.rest = Some(current);
            break;
        }
        *budget -= 1;
        walk.pages += 1;
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
            walk.scanned += 1;
            walk.newest = Some(walk.newest.map_or(at, |n| n.max(at)));
            walk.oldest = Some(walk.oldest.map_or(at, |o| o.min(at)));
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
    Ok(walk)
}

async fn stored_gaps(gh: &Github) -> Result<Vec<Gap>, GhError> {
    let stored = gh.store.get_state(GAPS_KEY).await.map_err(store_err)?;
    Ok(stored.and_then(|text| serde_json::from_str(&text).ok()).unwrap_or_default())
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
    let mut budget = gh.client.config.recovery_max_pages.max(1);
    let mut by_guid: HashMap<String, Seen> = HashMap::new();

    // The new deliveries first, down to the previous scan's newest.
    let top = walk(gh, "/app/hook/deliveries?per_page=100".into(), stop_before, &mut budget, &mut by_guid).await?;
    let (mut pages, mut scanned) = (top.pages, top.scanned);
    // Then the stretches earlier scans did not reach, the oldest first (they leave GitHub's
    // window first), while pages are left.
    let mut gaps = Vec::new();
    for mut gap in stored_gaps(gh).await? {
        if gap.below < window_start {
            continue;
        }
        if budget == 0 {
            gaps.push(gap);
            continue;
        }
        match walk(gh, gap.next.clone(), gap.stop_before.max(window_start), &mut budget, &mut by_guid).await {
            Ok(read) => {
                (pages, scanned) = (pages + read.pages, scanned + read.scanned);
                if let Some(rest) = read.rest {
                    gap.next = rest;
                    gap.below = read.oldest.unwrap_or(gap.below);
                    gaps.push(gap);
                }
            }
            Err(err) if err.is_retryable() => {
                tracing::warn!(error = %err, "reading an earlier scan's gap failed; the next scan tries again");
                gaps.push(gap);
                budget = 0;
            }
            Err(err) => tracing::warn!(error = %err, "an earlier scan's gap cannot be read any more; dropped"),
        }
    }
    if let Some(next) = top.rest {
        tracing::warn!(pages, "missed-delivery scan ran out of pages; the next scan resumes where it stopped");
        gaps.push(Gap { next, stop_before, below: top.oldest.unwrap_or(now) });
    }

    let failed: Vec<(String, i64)> = by_guid
        .into_iter()
        .filter(|(_, s)| !s.succeeded)
        .filter_map(|(guid, s)| s.latest_failed.filter(|(_, at)| *at >= window_start).map(|(id, _)| (guid, id)))
        .collect();
    let guids: Vec<String> = failed.iter().map(|(g, _)| g.clone()).collect();
    let known = gh.store.known_delivery_guids(&guids).await.map_err(store_err)?;
    let (mut queued, mut given_up) = (Vec::new(), Vec::new());
    for (guid, delivery_id) in failed.into_iter().filter(|(g, _)| !known.contains(g)) {
        let job = NewOutboxJob {
            task: OutboxTask::Redeliver { delivery_id, guid: guid.clone() },
            dedupe_key: Some(format!("redeliver:{guid}")),
            max_attempts: gh.client.config.max_attempts as i64,
            run_at: now,
        };
        match gh.store.queue_redelivery(&guid, &job, MAX_REDELIVERIES).await.map_err(store_err)? {
            Redelivery::Queued { job_id, requests } => {
                tracing::info!(%guid, delivery_id, job_id, requests, "missed delivery: redelivery queued");
                queued.push(guid);
            }
            Redelivery::AlreadyQueued { .. } => {}
            Redelivery::GivenUp => {
                tracing::warn!(%guid, delivery_id, "delivery still failing after {MAX_REDELIVERIES} redeliveries; not asked again");
                given_up.push(guid);
            }
        }
    }
    if !queued.is_empty() {
        gh.client.wake.notify_one();
    }
    if let Some(newest) = top.newest {
        gh.store.set_state(CURSOR_KEY, &newest.to_rfc3339()).await.map_err(store_err)?;
    }
    let gaps_json = serde_json::to_string(&gaps).unwrap_or_else(|_| "[]".into());
    gh.store.set_state(GAPS_KEY, &gaps_json).await.map_err(store_err)?;
    gh.store.forget_redeliveries(window_start).await.map_err(store_err)?;
    queued.sort();
    given_up.sort();
    Ok(json!({
        "pages": pages, "deliveries_scanned": scanned, "redeliveries_queued": queued,
        "redeliveries_given_up": given_up, "gaps_left": gaps.len(),
    }))
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

    /// Also runs the job log sweep (`logs::spawn_sweeper`), stopped with the rest.
    pub fn with_log_sweep(mut self, gh: Github, announce: super::logs::Announce) -> Self {
        self.tasks.push(super::logs::spawn_sweeper(gh, announce, self.shutdown.subscribe()));
        self
    }

    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}
