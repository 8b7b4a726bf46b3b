//! What each kind of outbox job does. A new kind is a variant of `OutboxTask` (in
//! `domain::outbox`), an arm in `run` and, if it must clean up when given up, in `given_up`.

use crate::domain::status::BackfillStatus;
use chrono::Utc;
use serde_json::{Map, Value, json};

use super::client::{As, GhError, Method};
use super::{Github, encode_path, workflow_id};
use crate::domain::clock;
use crate::domain::outbox::OutboxTask;

fn store_err(err: crate::store::StoreError) -> GhError {
    // A database hiccup: retry the job later.
    GhError::Unavailable(format!("database: {err}"))
}

/// Whom to call a repository's endpoints as; an uninstalled App is a permanent refusal.
pub(super) async fn repo_auth(gh: &Github, repo: &str) -> Result<As, GhError> {
    gh.client.repo_auth(gh.store.as_ref(), repo).await?.ok_or_else(|| GhError::Refused {
        status: 404,
        message: format!("Repository not found or App not installed: {repo}"),
    })
}

/// Runs a job's task; its `Ok` value is stored as the job's result.
pub async fn run(gh: &Github, task: &OutboxTask) -> Result<Value, GhError> {
    match task {
        OutboxTask::CancelRun { repo, run_id } => cancel_run(gh, repo, *run_id).await,
        OutboxTask::DispatchWorkflow { repo, workflow_file, git_ref, inputs } => {
            dispatch_workflow(gh, repo, workflow_file, git_ref, inputs).await
        }
        OutboxTask::RerunRun { repo, run_id } => {
            let who = repo_auth(gh, repo).await?;
            gh.client
                .call(who, Method::Post, &format!("/repos/{repo}/actions/runs/{run_id}/rerun"), None)
                .await?
                .success(&format!("re-running run {run_id} of {repo}"))?;
            Ok(json!({"rerun_requested": true}))
        }
        OutboxTask::RerunFailedJobs { repo, run_id } => {
            let who = repo_auth(gh, repo).await?;
            gh.client
                .call(who, Method::Post, &format!("/repos/{repo}/actions/runs/{run_id}/rerun-failed-jobs"), None)
                .await?
                .success(&format!("re-running the failed jobs of run {run_id} of {repo}"))?;
            Ok(json!({"rerun_failed_jobs_requested": true}))
        }
        OutboxTask::FetchJobLog { repo, job_id } => super::logs::fetch_job_log(gh, repo, *job_id).await,
        OutboxTask::ListRunJobs { repo, run_id, run_attempt } => {
            super::logs::list_run_jobs(gh, repo, *run_id, *run_attempt).await
        }
        OutboxTask::Redeliver { delivery_id, .. } => {
            gh.client
                .call(As::App, Method::Post, &format!("/app/hook/deliveries/{delivery_id}/attempts"), None)
                .await?
                .success(&format!("redelivering delivery {delivery_id}"))?;
            Ok(json!({"redelivery_requested": true}))
        }
        OutboxTask::Backfill { pipeline_id } => backfill(gh, pipeline_id).await,
        OutboxTask::RecoverDeliveries {} => super::recovery::recover_deliveries(gh).await,
        OutboxTask::CorrectStuckRuns {} => super::recovery::correct_stuck_runs(gh).await,
        OutboxTask::CreateTaskIssue { task_id, repo } => super::tasks::create_issue(gh, *task_id, repo).await,
        OutboxTask::UpdateTaskIssue { task_id } => super::tasks::update_issue(gh, *task_id).await,
    }
}

/// Called once when a job is given up, before it is marked failed.
pub async fn given_up(gh: &Github, task: &OutboxTask, error: &str) {
    if let OutboxTask::FetchJobLog { repo, job_id } = task {
        return super::logs::given_up(gh, repo, *job_id, error).await;
    }
    if let OutboxTask::Backfill { pipeline_id } = task
        && let Err(err) = gh.store.finish_backfill(pipeline_id, BackfillStatus::Failed, 0, Some(error)).await
    {
        tracing::error!(error = %err, "recording a failed backfill");
    }
}

async fn cancel_run(gh: &Github, repo: &str, run_id: i64) -> Result<Value, GhError> {
    let who = repo_auth(gh, repo).await?;
    let reply = gh.client.call(who, Method::Post, &format!("/repos/{repo}/actions/runs/{run_id}/cancel"), None).await?;
    if reply.status == 409 {
        // "Cannot cancel a workflow run that is completed": nothing left to do.
        return Ok(json!({"cancelled": false, "already_finished": true}));
    }
    reply.success(&format!("cancelling run {run_id} of {repo}"))?;
    Ok(json!({"cancelled": true}))
}

async fn dispatch_workflow(
    gh: &Github,
    repo: &str,
    workflow_file: &str,
    git_ref: &str,
    inputs: &Map<String, Value>,
) -> Result<Value, GhError> {
    let mut body = json!({"ref": git_ref});
    if !inputs.is_empty() {
        body["inputs"] = Value::Object(inputs.clone());
    }
    let who = repo_auth(gh, repo).await?;
    let path = format!("/repos/{repo}/actions/workflows/{}/dispatches", workflow_id(workflow_file));
    gh.client
        .call(who, Method::Post, &path, Some(&body))
        .await?
        .success(&format!("dispatching {workflow_file} on {repo}"))?;
    Ok(json!({"dispatched": true}))
}

/// Reads the pipeline workflow's runs of the last `GITHUB_BACKFILL_HOURS` (at most
/// `GITHUB_BACKFILL_MAX_PAGES` pages of 100) into the executions. Runs only move forward, so
/// webhooks that arrive meanwhile are never overwritten by older data.
async fn backfill(gh: &Github, pipeline_id: &str) -> Result<Value, GhError> {
    let Some(pipeline) = gh.store.get_pipeline(pipeline_id).await.map_err(store_err)? else {
        return Ok(json!({"skipped": "pipeline not found"}));
    };
    let config = &gh.client.config;
    let since = Utc::now() - chrono::Duration::hours(config.backfill_hours);
    let since_text = since.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let repo = pipeline.repository.clone();
    let who = repo_auth(gh, &repo).await?;
    let mut path = Some(format!(
        "/repos/{repo}/actions/workflows/{}/runs?per_page=100&created={}",
        workflow_id(&pipeline.workflow_file),
        encode_path(&format!(">={since_text}"))
    ));
    let (mut pages, mut seen, mut stored) = (0u32, 0i64, 0i64);
    while let Some(current) = path.take() {
        if pages >= config.backfill_max_pages {
            break;
        }
        pages += 1;
        let reply = gh.client.call(who, Method::Get, &current, None).await?;
        if reply.status == 404 {
            // The workflow has no runs yet (or is not registered): nothing to fill in.
            break;
        }
        let reply = reply.success(&format!("listing the runs of {} in {repo}", pipeline.workflow_file))?;
        let runs = reply.body.get("workflow_runs").and_then(Value::as_array).cloned().unwrap_or_default();
        let mut older = false;
        for run in &runs {
            let Some(record) = super::runs::execution_from_run(&repo, run) else { continue };
            seen += 1;
            if record.created_at < since {
                older = true;
            }
            if gh.store.upsert_execution(&record).await.map_err(store_err)? {
                stored += 1;
            }
        }
        if !older && !runs.is_empty() {
            path = reply.next;
        }
    }
    gh.store.finish_backfill(pipeline_id, BackfillStatus::Done, seen, None).await.map_err(store_err)?;
    tracing::info!(pipeline_id, runs = seen, stored, pages, "backfill done");
    Ok(json!({"runs_seen": seen, "runs_stored": stored, "pages": pages, "since": clock::format(&since)}))
}
