//! The evaluator: the rules against the pipelines they cover, opening, refreshing and resolving
//! alerts (see `domain::alerts::evaluate` for each kind's condition). After a batch it looks only
//! at the pipelines the batch touched; every `CCM_ALERT_SWEEP` (and when rules or settings
//! change) at every active pipeline and at the global rules, for the kinds that fire with time
//! (a stuck run, a silent hook) and for what no batch touches (parked deliveries, GitHub).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Alerts;
use super::breaker::BreakerReport;
use crate::domain::alerts::{self, Alert, Firing, PipelineView, Rule, Verdict};
use crate::domain::clock;
use crate::domain::status::{AlertEvent, AlertKind, DeliveryStatus, PipelineStatus, RunStatus};
use crate::live::Live;
use crate::store::{NewAlert, Notify, Pipeline, PipelineFilter, Store};

/// Evaluations are at least this far apart: a busy ingest wakes the evaluator on every batch.
const COALESCE: Duration = Duration::from_millis(200);

/// Most pipelines whose stats are read in one statement.
const CHUNK: usize = 64;

/// A live `alert` event.
#[derive(Serialize)]
struct AlertEventBody<'a> {
    event: AlertEvent,
    alert: &'a Alert,
}

pub(super) async fn run(
    alerts: Alerts,
    store: Arc<dyn Store>,
    live: Arc<Live>,
    github: Option<Arc<crate::github::GithubClient>>,
) {
    let mut breaker = BreakerReport::new();
    let mut next_sweep = tokio::time::Instant::now();
    loop {
        let settings = alerts.settings();
        tokio::select! {
            _ = alerts.evaluate.notified() => {}
            _ = tokio::time::sleep_until(next_sweep) => {}
        }
        let touched = alerts.evaluate.take();
        let sweep = touched.everything || tokio::time::Instant::now() >= next_sweep;
        if sweep {
            next_sweep = tokio::time::Instant::now() + settings.sweep;
        }
        let only = (!sweep).then_some(&touched.pipelines);
        let paused_until = github.as_ref().and_then(|g| g.health.snapshot(clock::now()).paused_until);
        match evaluate_once(store.as_ref(), &live, &alerts, &mut breaker, paused_until, only).await {
            Ok(true) => alerts.send.notify_one(),
            Ok(false) => {}
            Err(err) => tracing::warn!(error = format!("{err:#}"), "alert evaluation failed"),
        }
        alerts.evaluations.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tokio::time::sleep(COALESCE).await;
    }
}

/// Every active pipeline.
async fn active_pipelines(store: &dyn Store) -> anyhow::Result<Vec<Pipeline>> {
    let mut all = Vec::new();
    let mut filter = PipelineFilter { status: Some(PipelineStatus::Active), limit: 500, ..Default::default() };
    loop {
        let page = store.list_pipelines(&filter).await?;
        let n = page.items.len() as i64;
        all.extend(page.items);
        if n < filter.limit {
            return Ok(all);
        }
        filter.offset += n;
    }
}

/// The active pipelines among `ids` (those a batch touched).
async fn active_among(store: &dyn Store, ids: &HashSet<String>) -> anyhow::Result<Vec<Pipeline>> {
    let mut pipelines = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(pipeline) = store.get_pipeline(id).await?
            && pipeline.status == PipelineStatus::Active
        {
            pipelines.push(pipeline);
        }
    }
    Ok(pipelines)
}

/// One evaluation: of every rule, or with `only`, of the per-pipeline rules for those pipelines;
/// whether a notification was queued (or may have been).
pub(super) async fn evaluate_once(
    store: &dyn Store,
    live: &Live,
    alerts: &Alerts,
    breaker: &mut BreakerReport,
    paused_until: Option<DateTime<Utc>>,
    only: Option<&HashSet<String>>,
) -> anyhow::Result<bool> {
    if only.is_some_and(HashSet::is_empty) {
        return Ok(false);
    }
    let rules = store.list_rules().await?;
    if rules.is_empty() {
        return Ok(false);
    }
    let settings = alerts.settings();
    let now = clock::now();
    let cooldown_since = now - chrono::Duration::from_std(settings.cooldown).unwrap_or_default();
    let open: HashMap<String, Alert> = store
        .open_alerts()
        .await?
        .into_iter()
        .map(|a| (alerts::open_key(a.rule_id, a.pipeline_id.as_deref()), a))
        .collect();
    let mut changed = false;
    let ctx = Ctx { store, live, open: &open, cooldown_since };

    let per_pipeline: Vec<&Rule> = rules.iter().filter(|r| !r.kind.is_global()).collect();
    if !per_pipeline.is_empty() {
        let pipelines = match only {
            Some(ids) => active_among(store, ids).await?,
            None => active_pipelines(store).await?,
        };
        for chunk in pipelines.chunks(CHUNK) {
            let scopes: Vec<_> = chunk.iter().map(Pipeline::execution_scope).collect();
            let snapshots = store.stats_snapshots(&scopes, now).await?;
            for ((pipeline, scope), snapshot) in chunk.iter().zip(&scopes).zip(&snapshots) {
                let covering: Vec<&Rule> = per_pipeline
                    .iter()
                    .copied()
                    .filter(|rule| rule.pipeline_id.as_deref().is_none_or(|id| id == pipeline.id))
                    .collect();
                // The latest run stands for the open ones unless an older one is open too.
                let older_open = snapshot.active_runs + snapshot.queued_runs > 1
                    || snapshot.last_run.as_ref().is_some_and(|r| r.status == RunStatus::Completed);
                let oldest_open = if older_open
                    && snapshot.active_runs + snapshot.queued_runs > 0
                    && covering.iter().any(|rule| rule.kind == AlertKind::RunStuck)
                {
                    store.oldest_open_run(scope).await?
                } else {
                    None
                };
                let view = PipelineView { pipeline, snapshot, oldest_open: oldest_open.as_ref() };
                for rule in covering {
                    changed |= ctx.apply_pipeline(rule, &view, now).await?;
                }
            }
        }
    }
    let global: Vec<&Rule> = rules.iter().filter(|r| r.kind.is_global()).collect();
    if !global.is_empty() && only.is_none() {
        let parked = store
            .gauge_counts()
            .await?
            .deliveries
            .iter()
            .filter(|(status, _)| status == DeliveryStatus::Parked.as_str())
            .map(|(_, n)| *n)
            .sum();
        let github_paused = if global.iter().any(|r| r.kind == AlertKind::GithubPaused) {
            breaker.paused_anywhere(store, paused_until, now, settings.sweep).await?
        } else {
            false
        };
        for rule in global {
            let verdict = alerts::evaluate_global(rule, parked, github_paused);
            changed |= ctx.apply(rule, None, verdict, false).await?;
        }
    }
    Ok(changed)
}

struct Ctx<'a> {
    store: &'a dyn Store,
    live: &'a Live,
    open: &'a HashMap<String, Alert>,
    cooldown_since: DateTime<Utc>,
}

impl Ctx<'_> {
    async fn apply_pipeline(&self, rule: &Rule, view: &PipelineView<'_>, now: DateTime<Utc>) -> anyhow::Result<bool> {
        let pipeline = view.pipeline;
        let is_open = self.open.contains_key(&alerts::open_key(rule.id, Some(&pipeline.id)));
        let verdict = alerts::evaluate(rule, view, now, is_open);
        let muted = !alerts::notifications_enabled(pipeline);
        self.apply(rule, Some(pipeline), verdict, muted).await
    }

    async fn apply(
        &self,
        rule: &Rule,
        pipeline: Option<&Pipeline>,
        verdict: Verdict,
        muted: bool,
    ) -> anyhow::Result<bool> {
        let pipeline_id = pipeline.map(|p| p.id.as_str());
        let open = self.open.get(&alerts::open_key(rule.id, pipeline_id));
        let notify = Notify { channels: &rule.spec.channels, muted, cooldown_since: self.cooldown_since };
        match (verdict, open) {
            (Verdict::Firing(firing), None) => {
                let new = NewAlert {
                    rule,
                    pipeline_id,
                    repository: pipeline.map(|p| p.repository.as_str()),
                    workflow_file: pipeline.map(|p| p.workflow_file.as_str()),
                    firing: &firing,
                };
                if let Some(alert) = self.store.open_alert(&new, notify).await? {
                    tracing::info!(alert_id = alert.id, rule_id = rule.id, kind = %rule.kind, summary = %alert.summary, "alert firing");
                    self.publish(AlertEvent::Firing, &alert);
                    return Ok(true);
                }
                Ok(false)
            }
            (Verdict::Firing(firing), Some(alert)) => {
                if differs(alert, &firing) {
                    self.store.refresh_alert(alert.id, &firing).await?;
                }
                Ok(false)
            }
            (Verdict::Clear, Some(alert)) => {
                if let Some(alert) = self.store.resolve_alert(alert.id, notify).await? {
                    tracing::info!(alert_id = alert.id, rule_id = rule.id, kind = %rule.kind, "alert resolved");
                    self.publish(AlertEvent::Resolved, &alert);
                    return Ok(true);
                }
                Ok(false)
            }
            (Verdict::Clear | Verdict::Unknown, None) | (Verdict::Unknown, Some(_)) => Ok(false),
        }
    }

    fn publish(&self, event: AlertEvent, alert: &Alert) {
        self.live.publish("alert", alert.pipeline_id.clone(), &AlertEventBody { event, alert });
    }
}

fn differs(alert: &Alert, firing: &Firing) -> bool {
    alert.summary != firing.summary || alert.run != firing.run || alert.details != firing.details
}
