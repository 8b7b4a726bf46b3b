//! What the pipeline endpoints ask of GitHub: provisioning's verification and backfill,
//! teardown's cancels, the backfill flag of the stats.

use serde_json::{Map, Value, json};

use super::{ApiError, AppState};
use crate::domain::outbox::OutboxTask;
use crate::domain::pipeline::ProvisionRequest;
use crate::github::outbox;
use crate::github::verify::{Verification, verify_repository};
use crate::store::Pipeline;

/// Checks the repository and workflow file with GitHub. `Ok(false)`: no App (or GHT) is
/// configured, so nothing was checked.
pub async fn verify(state: &AppState, req: &ProvisionRequest) -> Result<bool, ApiError> {
    let Ok(gh) = state.github() else {
        return Ok(false);
    };
    match verify_repository(&gh, &req.repo, &req.workflow_file).await? {
        Verification::Verified => Ok(true),
        Verification::NotInstalled => {
            Err(ApiError::NotFound(format!("Repository not found or App not installed: {}", req.repo)))
        }
        Verification::MissingWorkflow => {
            Err(ApiError::BadRequest(format!("Workflow file not found in {}: {}", req.repo, req.workflow_file)))
        }
    }
}

/// The provision response's GitHub fields; starts the backfill of a verified repository.
pub async fn after_provision(state: &AppState, pipeline: &Pipeline, verified: bool) -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert("repository_verified".into(), Value::from(verified));
    let gh = match state.github() {
        Ok(gh) if verified => gh,
        _ => {
            fields.insert(
                "message".into(),
                Value::from(
                    "Repository not verified and history not backfilled: the GitHub App is not configured \
                     (set GITHUB_APP_ID and GITHUB_PRIVATE_KEY, run `ccm app register`, or set GHT)",
                ),
            );
            return fields;
        }
    };
    fields.insert("backfill".into(), start_backfill(&gh, pipeline).await);
    fields
}

/// Queues the backfill of a pipeline's recent runs; what to answer about it.
pub async fn start_backfill(gh: &crate::github::Github, pipeline: &Pipeline) -> Value {
    let started = async {
        gh.store.start_backfill(&pipeline.id).await?;
        let task = OutboxTask::Backfill { pipeline_id: pipeline.id.clone() };
        outbox::enqueue(gh, task, Some(format!("backfill:{}", pipeline.id))).await
    };
    match started.await {
        Ok(job_id) => json!({"status": "running", "job_id": job_id}),
        Err(err) => {
            tracing::error!(pipeline_id = %pipeline.id, error = %err, "could not start the backfill");
            json!({"status": "failed", "error": "the backfill could not be queued"})
        }
    }
}

/// Queues the cancel of every queued or in-progress run of a pipeline. Never fails: what went
/// wrong is reported in the fields.
pub async fn cancel_open_runs(state: &AppState, pipeline: &Pipeline) -> Map<String, Value> {
    let mut fields = Map::new();
    let open = match state.store.open_executions(&pipeline.execution_scope()).await {
        Ok(open) => open,
        Err(err) => {
            tracing::error!(pipeline_id = %pipeline.id, error = %err, "listing open runs for teardown failed");
            fields.insert("runs_cancel_requested".into(), Value::from(0));
            fields.insert("cancel_error".into(), Value::from("Could not list the pipeline's open runs"));
            return fields;
        }
    };
    let mut run_ids: Vec<i64> = open.iter().map(|e| e.run_id).collect();
    run_ids.sort_unstable();
    run_ids.dedup();
    let gh = match state.github() {
        Ok(gh) => gh,
        Err(_) => {
            fields.insert("runs_cancel_requested".into(), Value::from(0));
            let error = if run_ids.is_empty() {
                Value::Null
            } else {
                Value::from(format!(
                    "{} open run(s) were not cancelled: the GitHub App is not configured",
                    run_ids.len()
                ))
            };
            fields.insert("cancel_error".into(), error);
            return fields;
        }
    };
    let (mut jobs_queued, mut failed) = (Vec::new(), 0);
    for run_id in &run_ids {
        let task = OutboxTask::CancelRun { repo: pipeline.repository.clone(), run_id: *run_id };
        match outbox::enqueue(&gh, task, Some(format!("cancel:{run_id}"))).await {
            Ok(id) => jobs_queued.push(id),
            Err(err) => {
                failed += 1;
                tracing::error!(pipeline_id = %pipeline.id, run_id, error = %err, "queueing a cancel failed");
            }
        }
    }
    fields.insert("runs_cancel_requested".into(), Value::from(jobs_queued.len()));
    fields.insert("cancel_jobs".into(), Value::from(jobs_queued));
    fields.insert(
        "cancel_error".into(),
        if failed > 0 { Value::from(format!("{failed} cancel(s) could not be queued")) } else { Value::Null },
    );
    fields
}
