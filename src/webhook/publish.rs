//! Turns what deliveries changed into live events: the execution or job, and the new stats of
//! each pipeline it belongs to. On PostgreSQL the changes are also announced to the other
//! replicas (see `fanout`), so an SSE client sees every delivery whichever replica received it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc;

use super::fanout::{self, Announcement, Key};
use crate::domain::{clock, stats};
use crate::live::Live;
use crate::store::{DeliveryOutcome, Effect, Pipeline, Store};

/// What the publisher is asked to publish.
pub enum Batch {
    /// Outcomes of deliveries processed by this replica.
    Local(Vec<DeliveryOutcome>),
    /// Changes another replica announced (re-read from the database).
    Remote(Announcement),
}

/// Where batch writers send their outcomes. Live updates are best effort: when the publisher
/// falls far behind, outcomes are dropped (they are stored; only the push is lost).
#[derive(Clone)]
pub struct Changes(mpsc::Sender<Batch>);

impl Changes {
    /// `alerts` is told after each batch is handled which pipelines it touched (issue 16: their
    /// alert rules are evaluated off the request path, after the batch's commit).
    pub fn start(store: Arc<dyn Store>, live: Arc<Live>, alerts: Arc<crate::notify::Wake>) -> Self {
        let (sender, receiver) = mpsc::channel(4096);
        let changes = Changes(sender);
        let origin = uuid::Uuid::new_v4().to_string();
        if let Some(channel) = store.replica_channel() {
            tokio::spawn(fanout::listen(channel, origin.clone(), changes.clone()));
        }
        tokio::spawn(publish(receiver, store, live, origin, alerts));
        changes
    }

    pub fn send(&self, outcomes: Vec<DeliveryOutcome>) {
        self.push(Batch::Local(outcomes));
    }

    pub(super) fn push(&self, batch: Batch) {
        if self.0.try_send(batch).is_err() {
            tracing::warn!("live updates are falling behind; some were dropped");
        }
    }
}

/// A change, with the run it belongs to, ready to publish.
struct Touch {
    kind: &'static str,
    repository: String,
    workflow_path: String,
    branch: Option<String>,
    /// The execution's or job's JSON.
    data: String,
}

/// A `delivery` event.
#[derive(Serialize)]
struct DeliveryEvent<'a> {
    guid: &'a str,
    status: &'a str,
    duplicate: bool,
}

fn json(value: &impl Serialize) -> String {
    serde_json::to_string(value).expect("live events serialize")
}

/// Pipelines by (repository, workflow), remembered briefly: a busy repository's deliveries would
/// otherwise cost a lookup each. A change to a pipeline shows in live events within `TTL`.
#[derive(Default)]
struct PipelineCache(std::collections::HashMap<(String, String), (Instant, Option<Pipeline>)>);

impl PipelineCache {
    const TTL: Duration = Duration::from_secs(2);

    async fn get(
        &mut self,
        store: &dyn Store,
        repository: &str,
        workflow_path: &str,
    ) -> anyhow::Result<Option<Pipeline>> {
        let key = (repository.to_lowercase(), workflow_path.to_string());
        if let Some((at, pipeline)) = self.0.get(&key)
            && at.elapsed() < Self::TTL
        {
            return Ok(pipeline.clone());
        }
        let pipeline = store.find_pipeline(repository, workflow_path).await?;
        if self.0.len() > 10_000 {
            self.0.clear();
        }
        self.0.insert(key, (Instant::now(), pipeline.clone()));
        Ok(pipeline)
    }
}

/// Where each run attempt belongs (repository, workflow, branch), learned from the runs this
/// replica published and remembered so that a job's change costs no lookup of its run: a run's
/// jobs change three times each, just after the run itself.
#[derive(Default)]
struct RunScopes(std::collections::HashMap<(i64, i64), (String, String, Option<String>)>);

impl RunScopes {
    const MAX: usize = 10_000;

    fn learn(&mut self, run_id: i64, attempt: i64, repository: &str, workflow_path: &str, branch: Option<&str>) {
        if self.0.len() >= Self::MAX && !self.0.contains_key(&(run_id, attempt)) {
            self.0.clear();
        }
        self.0.insert((run_id, attempt), (repository.into(), workflow_path.into(), branch.map(String::from)));
    }

    /// The run's scope, read from the store when not known yet (None when the run is not stored:
    /// its job arrived first).
    async fn get(
        &mut self,
        store: &dyn Store,
        run_id: i64,
        attempt: i64,
    ) -> anyhow::Result<Option<(String, String, Option<String>)>> {
        if let Some(scope) = self.0.get(&(run_id, attempt)) {
            return Ok(Some(scope.clone()));
        }
        let Some(run) = store.get_execution(run_id, attempt).await? else { return Ok(None) };
        self.learn(run_id, attempt, &run.repository, &run.workflow_path, run.branch.as_deref());
        Ok(Some((run.repository, run.workflow_path, run.branch)))
    }
}

async fn publish(
    mut receiver: mpsc::Receiver<Batch>,
    store: Arc<dyn Store>,
    live: Arc<Live>,
    origin: String,
    alerts: Arc<crate::notify::Wake>,
) {
    let mut cache = PipelineCache::default();
    let mut runs = RunScopes::default();
    let mut schedule = StatsSchedule::default();
    loop {
        let wake = schedule.next_due();
        tokio::select! {
            batch = receiver.recv() => {
                let Some(first) = batch else { return };
                // Whatever else arrived meanwhile is handled together.
                let mut batches = vec![first];
                while let Ok(more) = receiver.try_recv() {
                    batches.push(more);
                }
                let touched = handle(batches, &store, &live, &origin, &mut cache, &mut runs, &mut schedule).await;
                alerts.pipelines(touched);
            }
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(wake.unwrap_or_else(Instant::now))), if wake.is_some() => {}
        }
        if !live.has_subscribers() {
            schedule.clear();
            continue;
        }
        publish_stats(schedule.take_due(), store.as_ref(), &live, &mut schedule).await;
    }
}

async fn handle(
    batches: Vec<Batch>,
    store: &Arc<dyn Store>,
    live: &Live,
    origin: &str,
    cache: &mut PipelineCache,
    runs: &mut RunScopes,
    schedule: &mut StatsSchedule,
) -> Vec<String> {
    let (mut local, mut touches) = (Vec::new(), Vec::new());
    let store_ref = store.as_ref();
    for batch in batches {
        let result = match batch {
            Batch::Local(outcomes) => {
                local_touches(&outcomes, store_ref, live, runs, &mut touches).await.map(|_| local.extend(outcomes))
            }
            Batch::Remote(announcement) => remote_touches(&announcement, store_ref, live, &mut touches).await,
        };
        if let Err(err) = result {
            tracing::warn!(error = %err, "live update failed");
        }
    }
    let mut touched = Vec::new();
    if let Err(err) = publish_touches(touches, store_ref, live, cache, schedule, &mut touched).await {
        tracing::warn!(error = %err, "live update failed");
    }
    // Other replicas hear of these changes without this replica's own stats waiting for the
    // NOTIFY's round trip (their order does not matter: each names rows to read again).
    if !local.is_empty()
        && let Some(channel) = store.replica_channel()
    {
        let origin = origin.to_string();
        tokio::spawn(async move { fanout::announce(&channel, &origin, &local).await });
    }
    touched
}

/// When each touched pipeline's stats are published: at once when they were not published in
/// the last `INTERVAL`, else when it ends. A pipeline busy with many runs costs one stats query
/// per interval, not one per delivery, and its latest state always goes out.
#[derive(Default)]
struct StatsSchedule {
    due: BTreeMap<String, Pipeline>,
    published: std::collections::HashMap<String, Instant>,
}

impl StatsSchedule {
    const INTERVAL: Duration = Duration::from_millis(25);

    fn touch(&mut self, pipeline: Pipeline) {
        self.due.insert(pipeline.id.clone(), pipeline);
    }

    fn due_at(&self, id: &str) -> Option<Instant> {
        self.published.get(id).map(|at| *at + Self::INTERVAL)
    }

    /// The earliest time a touched pipeline's stats may be published.
    fn next_due(&self) -> Option<Instant> {
        let now = Instant::now();
        self.due.keys().map(|id| self.due_at(id).unwrap_or(now)).min()
    }

    fn take_due(&mut self) -> Vec<Pipeline> {
        let now = Instant::now();
        let ready: Vec<String> =
            self.due.keys().filter(|id| self.due_at(id).is_none_or(|at| at <= now)).cloned().collect();
        // Pipelines quiet for longer than the interval need no memory of their last publish.
        self.published.retain(|_, at| now.duration_since(*at) < Self::INTERVAL);
        ready.iter().filter_map(|id| self.due.remove(id)).collect()
    }

    fn published(&mut self, id: String) {
        self.published.insert(id, Instant::now());
    }

    fn clear(&mut self) {
        self.due.clear();
        self.published.clear();
    }
}

/// Most pipelines whose stats are read in one statement.
const STATS_CHUNK: usize = 64;

async fn publish_stats(pipelines: Vec<Pipeline>, store: &dyn Store, live: &Live, schedule: &mut StatsSchedule) {
    let now = clock::now();
    for chunk in pipelines.chunks(STATS_CHUNK) {
        let scopes: Vec<_> = chunk.iter().map(Pipeline::execution_scope).collect();
        match store.stats_snapshots(&scopes, now).await {
            Ok(snapshots) => {
                for (pipeline, snapshot) in chunk.iter().zip(snapshots) {
                    live.publish("stats", Some(pipeline.id.clone()), &stats::Stats::new(pipeline, &snapshot));
                    schedule.published(pipeline.id.clone());
                }
            }
            Err(err) => tracing::warn!(error = %err, pipelines = chunk.len(), "live stats failed"),
        }
    }
}

async fn local_touches(
    outcomes: &[DeliveryOutcome],
    store: &dyn Store,
    live: &Live,
    runs: &mut RunScopes,
    touches: &mut Vec<Touch>,
) -> anyhow::Result<()> {
    for outcome in outcomes {
        let (guid, status, duplicate) = (outcome.guid.as_str(), outcome.status.as_str(), outcome.duplicate);
        live.publish("delivery", None, &DeliveryEvent { guid, status, duplicate });
        for effect in &outcome.changed {
            match effect {
                Effect::Execution(e) => {
                    runs.learn(e.run_id, e.run_attempt, &e.repository, &e.workflow_path, e.branch.as_deref());
                    touches.push(Touch {
                        kind: "execution",
                        repository: e.repository.clone(),
                        workflow_path: e.workflow_path.clone(),
                        branch: e.branch.clone(),
                        data: json(e),
                    })
                }
                Effect::Job(j) => {
                    if let Some((repository, workflow_path, branch)) = runs.get(store, j.run_id, j.run_attempt).await? {
                        touches.push(Touch { kind: "job", repository, workflow_path, branch, data: json(j) });
                    }
                }
                Effect::Installation(_)
                | Effect::Issue(_)
                | Effect::PullRequest(_)
                | Effect::Push(_)
                | Effect::Deployment(..) => {}
            }
        }
    }
    Ok(())
}

async fn remote_touches(
    a: &Announcement,
    store: &dyn Store,
    live: &Live,
    touches: &mut Vec<Touch>,
) -> anyhow::Result<()> {
    for key in &a.changes {
        match key {
            Key::Delivery(guid, status, duplicate) => {
                live.publish("delivery", None, &DeliveryEvent { guid, status: status.as_str(), duplicate: *duplicate });
            }
            Key::Execution(run_id, attempt) => {
                if let Some(e) = store.get_execution(*run_id, *attempt).await? {
                    touches.push(Touch {
                        kind: "execution",
                        repository: e.repository.clone(),
                        workflow_path: e.workflow_path.clone(),
                        branch: e.branch.clone(),
                        data: json(&e),
                    });
                }
            }
            Key::Job(job_id) => {
                let Some(job) = store.get_workflow_job(*job_id).await? else { continue };
                if let Some(run) = store.get_execution(job.run_id, job.run_attempt).await? {
                    touches.push(Touch {
                        kind: "job",
                        repository: run.repository,
                        workflow_path: run.workflow_path,
                        branch: run.branch,
                        data: json(&job),
                    });
                }
            }
        }
    }
    Ok(())
}

async fn publish_touches(
    touches: Vec<Touch>,
    store: &dyn Store,
    live: &Live,
    cache: &mut PipelineCache,
    schedule: &mut StatsSchedule,
    touched: &mut Vec<String>,
) -> anyhow::Result<()> {
    for touch in touches {
        // Runs of branches outside the pipeline's trigger branches are not its runs.
        let Some(p) = cache.get(store, &touch.repository, &touch.workflow_path).await? else { continue };
        let branches = p.trigger_branches();
        let branch = touch.branch.as_deref();
        if !(branches.is_empty() || branch.is_some_and(|b| branches.iter().any(|t| t == b))) {
            continue;
        }
        // {"pipeline_id": ..., "execution" or "job": the JSON written when it was touched}
        let data = format!(r#"{{"pipeline_id":{},"{}":{}}}"#, json(&p.id), touch.kind, touch.data);
        live.publish_json(touch.kind, Some(p.id.clone()), data);
        touched.push(p.id.clone());
        schedule.touch(p);
    }
    Ok(())
}
