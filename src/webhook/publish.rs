//! Turns what deliveries changed into live events: the execution or job, and the new stats of
//! each pipeline it belongs to.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;
use tokio::sync::mpsc;

use crate::domain::{clock, stats};
use crate::live::Live;
use crate::store::{DeliveryOutcome, Effect, Pipeline, Store};

/// Where batch writers send their outcomes. Live updates are best effort: when the publisher
/// falls far behind, outcomes are dropped (they are stored; only the push is lost).
#[derive(Clone)]
pub struct Changes(mpsc::Sender<Vec<DeliveryOutcome>>);

impl Changes {
    pub fn start(store: Arc<dyn Store>, live: Arc<Live>) -> Self {
        let (sender, receiver) = mpsc::channel(4096);
        tokio::spawn(publish(receiver, store, live));
        Changes(sender)
    }

    pub fn send(&self, outcomes: Vec<DeliveryOutcome>) {
        if self.0.try_send(outcomes).is_err() {
            tracing::warn!("live updates are falling behind; some were dropped");
        }
    }
}

async fn publish(mut receiver: mpsc::Receiver<Vec<DeliveryOutcome>>, store: Arc<dyn Store>, live: Arc<Live>) {
    while let Some(mut outcomes) = receiver.recv().await {
        // Whatever else arrived meanwhile is published together, each pipeline's stats once.
        while let Ok(more) = receiver.try_recv() {
            outcomes.extend(more);
        }
        if let Err(err) = publish_outcomes(&outcomes, store.as_ref(), &live).await {
            tracing::warn!(error = %err, "live update failed");
        }
    }
}

async fn publish_outcomes(outcomes: &[DeliveryOutcome], store: &dyn Store, live: &Live) -> anyhow::Result<()> {
    let mut touched: BTreeMap<String, Pipeline> = BTreeMap::new();
    for outcome in outcomes {
        live.publish(
            "delivery",
            None,
            json!({"guid": outcome.guid, "status": outcome.status, "duplicate": outcome.duplicate}),
        );
        for effect in &outcome.changed {
            match effect {
                Effect::Execution(e) => {
                    if let Some(p) = pipeline_of(store, &e.repository, &e.workflow_path, e.branch.as_deref()).await? {
                        live.publish("execution", Some(p.id.clone()), json!({"pipeline_id": p.id, "execution": e}));
                        touched.insert(p.id.clone(), p);
                    }
                }
                Effect::Job(j) => {
                    let Some(run) = store.get_execution(j.run_id, j.run_attempt).await? else { continue };
                    if let Some(p) =
                        pipeline_of(store, &run.repository, &run.workflow_path, run.branch.as_deref()).await?
                    {
                        live.publish("job", Some(p.id.clone()), json!({"pipeline_id": p.id, "job": j}));
                        touched.insert(p.id.clone(), p);
                    }
                }
                Effect::Installation(_) => {}
            }
        }
    }
    if !live.has_subscribers() {
        return Ok(());
    }
    for (id, pipeline) in touched {
        let snapshot = store.stats_snapshot(&pipeline.execution_scope(), clock::now()).await?;
        live.publish("stats", Some(id), stats::stats_body(&pipeline, &snapshot));
    }
    Ok(())
}

/// The pipeline a run belongs to, if one is provisioned for its workflow and branch.
async fn pipeline_of(
    store: &dyn Store,
    repository: &str,
    workflow_path: &str,
    branch: Option<&str>,
) -> anyhow::Result<Option<Pipeline>> {
    let Some(pipeline) = store.find_pipeline(repository, workflow_path).await? else { return Ok(None) };
    let branches = pipeline.trigger_branches();
    let in_scope = branches.is_empty() || branch.is_some_and(|b| branches.iter().any(|t| t == b));
    Ok(in_scope.then_some(pipeline))
}
