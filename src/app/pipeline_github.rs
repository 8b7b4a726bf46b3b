//! What the pipeline use cases ask of GitHub: provisioning's verification and backfill,
//! teardown's cancels. `gh` is `None` when no GitHub App (or token) is configured.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::outbox::OutboxTask;
use crate::domain::pipeline::ProvisionRequest;
use crate::domain::status::BackfillStatus;
use crate::github::verify::{Verification, verify_repository};
use crate::github::{GhError, Github, outbox};
use crate::store::{Pipeline, Store};

/// Why GitHub refused a repository and workflow file.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("Repository not found or App not installed: {0}")]
    NotInstalled(String),
    #[error("Workflow file not found in {repo}: {workflow_file}")]
    MissingWorkflow { repo: String, workflow_file: String },
    #[error(transparent)]
    Github(#[from] GhError),
}

/// Checks the repository and workflow file with GitHub. `Ok(false)`: no App (or GHT) is
/// configured, so nothing was checked.
pub async fn verify(gh: Option<&Github>, req: &ProvisionRequest) -> Result<bool, VerifyError> {
    let Some(gh) = gh else {
        return Ok(false);
    };
    match verify_repository(gh, &req.repo, &req.workflow_file).await? {
        Verification::Verified => Ok(true),
        Verification::NotInstalled => Err(VerifyError::NotInstalled(req.repo.clone())),
        Verification::MissingWorkflow => {
            Err(VerifyError::MissingWorkflow { repo: req.repo.clone(), workflow_file: req.workflow_file.clone() })
        }
    }
}

/// What provisioning asks of GitHub after the save: the backfill of a verified repository, or
/// why it was not verified.
pub async fn after_provision(
    gh: Option<&Github>,
    pipeline: &Pipeline,
    verified: bool,
) -> Result<BackfillStarted, &'static str> {
    match gh {
        Some(gh) if verified => Ok(start_backfill(gh, pipeline).await),
        _ => Err("Repository not verified and history not backfilled: the GitHub App is not configured \
                  (set GITHUB_APP_ID and GITHUB_PRIVATE_KEY, run `ccm app register`, or set GHT)"),
    }
}

/// The backfill of a verified repository's recent runs (with a GitHub App).
#[derive(Debug, Serialize, ToSchema)]
pub struct BackfillStarted {
    /// running, or failed when it could not be queued
    pub status: BackfillStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
}

/// Queues the backfill of a pipeline's recent runs; what to answer about it.
pub async fn start_backfill(gh: &Github, pipeline: &Pipeline) -> BackfillStarted {
    let started = async {
        gh.store.start_backfill(&pipeline.id).await?;
        let task = OutboxTask::Backfill { pipeline_id: pipeline.id.clone() };
        outbox::enqueue(gh, task, Some(format!("backfill:{}", pipeline.id))).await
    };
    match started.await {
        Ok(job_id) => BackfillStarted { status: BackfillStatus::Running, job_id: Some(job_id), error: None },
        Err(err) => {
            tracing::error!(pipeline_id = %pipeline.id, error = %err, "could not start the backfill");
            BackfillStarted {
                status: BackfillStatus::Failed,
                job_id: None,
                error: Some("the backfill could not be queued"),
            }
        }
    }
}

/// What a teardown did about the pipeline's open runs.
pub struct RunCancels {
    /// Cancels queued.
    pub requested: i64,
    /// The cancels' outbox jobs, when GitHub is configured and the runs could be listed.
    pub jobs: Option<Vec<i64>>,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

/// Queues the cancel of every queued or in-progress run of a pipeline. Never fails: what went
/// wrong is reported in the result.
pub async fn cancel_open_runs(store: &dyn Store, gh: Option<&Github>, pipeline: &Pipeline) -> RunCancels {
    let open = match store.open_executions(&pipeline.execution_scope()).await {
        Ok(open) => open,
        Err(err) => {
            tracing::error!(pipeline_id = %pipeline.id, error = %err, "listing open runs for teardown failed");
            let error = Some("Could not list the pipeline's open runs".to_string());
            return RunCancels { requested: 0, jobs: None, error };
        }
    };
    let mut run_ids: Vec<i64> = open.iter().map(|e| e.run_id).collect();
    run_ids.sort_unstable();
    run_ids.dedup();
    let Some(gh) = gh else {
        let error = (!run_ids.is_empty())
            .then(|| format!("{} open run(s) were not cancelled: the GitHub App is not configured", run_ids.len()));
        return RunCancels { requested: 0, jobs: None, error };
    };
    let (mut jobs_queued, mut failed) = (Vec::new(), 0);
    for run_id in &run_ids {
        let task = OutboxTask::CancelRun { repo: pipeline.repository.clone(), run_id: *run_id };
        match outbox::enqueue(gh, task, Some(format!("cancel:{run_id}"))).await {
            Ok(id) => jobs_queued.push(id),
            Err(err) => {
                failed += 1;
                tracing::error!(pipeline_id = %pipeline.id, run_id, error = %err, "queueing a cancel failed");
            }
        }
    }
    RunCancels {
        requested: jobs_queued.len() as i64,
        jobs: Some(jobs_queued),
        error: (failed > 0).then(|| format!("{failed} cancel(s) could not be queued")),
    }
}
