//! The kinds of outbox jobs and what each one does. A new kind is a constant, an arm in `run`
//! (and, if it must clean up when given up, in `given_up`).

use chrono::Utc;
use serde_json::{Value, json};

use super::client::{As, GhError, Method};
use super::{Github, encode_path, workflow_id};
use crate::domain::clock;
use crate::store::OutboxJob;

/// `{"repo", "run_id"}`: `POST /repos/{repo}/actions/runs/{run_id}/cancel`.
pub const CANCEL_RUN: &str = "cancel_run";
/// `{"repo", "workflow_file", "ref", "inputs"}`: workflow_dispatch.
pub const DISPATCH_WORKFLOW: &str = "dispatch_workflow";
/// `{"repo", "run_id"}`: `POST /repos/{repo}/actions/runs/{run_id}/rerun`.
pub const RERUN_RUN: &str = "rerun_run";
/// `{"delivery_id", "guid"}`: `POST /app/hook/deliveries/{id}/attempts`.
pub const REDELIVER: &str = "redeliver";
/// `{"pipeline_id"}`: reads the workflow's recent runs into the executions.
pub const BACKFILL: &str = "backfill";
/// `{}`: pages through the App's deliveries and queues redeliveries of the missed ones.
pub const RECOVER_DELIVERIES: &str = "recover_deliveries";
/// `{}`: re-reads runs that stayed queued or in progress without an event for too long.
pub const CORRECT_STUCK_RUNS: &str = "correct_stuck_runs";

fn field<'a>(payload: &'a Value, key: &str) -> Result<&'a Value, GhError> {
    payload.get(key).filter(|v| !v.is_null()).ok_or_else(|| GhError::InvalidJob(format!("job payload has no '{key}'")))
}

fn string(payload: &Value, key: &str) -> Result<String, GhError> {
    field(payload, key)?
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| GhError::InvalidJob(format!("job payload '{key}' is not a string")))
}

fn int(payload: &Value, key: &str) -> Result<i64, GhError> {
    field(payload, key)?.as_i64().ok_or_else(|| GhError::InvalidJob(format!("job payload '{key}' is not a number")))
}

fn store_err(err: crate::store::StoreError) -> GhError {
    // A database hiccup: retry the job later.
    GhError::Unavailable(format!("database: {err}"))
}

/// Whom to call a repository's endpoints as; an uninstalled App is a permanent refusal.
async fn repo_auth(gh: &Github, repo: &str) -> Result<As, GhError> {
    gh.client.repo_auth(gh.store.as_ref(), repo).await?.ok_or_else(|| GhError::Refused {
        status: 404,
        message: format!("Repository not found or App not installed: {repo}"),
    })
}

/// Runs a job; its `Ok` value is stored as the job's result.
pub async fn run(gh: &Github, job: &OutboxJob) -> Result<Value, GhError> {
    let p = &job.payload.0;
    match job.kind.as_str() {
        CANCEL_RUN => {
            let (repo, run_id) = (string(p, "repo")?, int(p, "run_id")?);
            let who = repo_auth(gh, &repo).await?;
            let reply =
                gh.client.call(who, Method::Post, &format!("/repos/{repo}/actions/runs/{run_id}/cancel"), None).await?;
            if reply.status == 409 {
                // "Cannot cancel a workflow run that is completed": nothing left to do.
                return Ok(json!({"cancelled": false, "already_finished": true}));
            }
            reply.success(&format!("cancelling run {run_id} of {repo}"))?;
            Ok(json!({"cancelled": true}))
        }
        DISPATCH_WORKFLOW => {
            let (repo, workflow_file, git_ref) = (string(p, "repo")?, string(p, "workflow_file")?, string(p, "ref")?);
            let mut body = json!({"ref": git_ref});
            if let Some(inputs) = p.get("inputs").filter(|v| v.as_object().is_some_and(|o| !o.is_empty())) {
                body["inputs"] = inputs.clone();
            }
            let who = repo_auth(gh, &repo).await?;
            let path = format!("/repos/{repo}/actions/workflows/{}/dispatches", workflow_id(&workflow_file));
            gh.client
                .call(who, Method::Post, &path, Some(&body))
                .await?
                .success(&format!("dispatching {workflow_file} on {repo}"))?;
            Ok(json!({"dispatched": true}))
        }
        RERUN_RUN => {
            let (repo, run_id) = (string(p, "repo")?, int(p, "run_id")?);
            let who = repo_auth(gh, &repo).await?;
            gh.client
                .call(who, Method::Post, &format!("/repos/{repo}/actions/runs/{run_id}/rerun"), None)
                .await?
                .success(&format!("re-running run {run_id} of {repo}"))?;
            Ok(json!({"rerun_requested": true}))
        }
        REDELIVER => {
            let delivery_id = int(p, "delivery_id")?;
            gh.client
                .call(As::App, Method::Post, &format!("/app/hook/deliveries/{delivery_id}/attempts"), None)
                .await?
                .success(&format!("redelivering delivery {delivery_id}"))?;
            Ok(json!({"redelivery_requested": true}))
        }
        BACKFILL => backfill(gh, &string(p, "pipeline_id")?).await,
        RECOVER_DELIVERIES => super::recovery::recover_deliveries(gh).await,
        CORRECT_STUCK_RUNS => super::recovery::correct_stuck_runs(gh).await,
        super::tasks::CREATE_ISSUE => super::tasks::create_issue(gh, int(p, "task_id")?, &string(p, "repo")?).await,
        super::tasks::UPDATE_ISSUE => super::tasks::update_issue(gh, int(p, "task_id")?).await,
        other => Err(GhError::InvalidJob(format!("unknown outbox job kind '{other}'"))),
    }
}

/// Called once when a job is given up, before it is marked failed.
pub async fn given_up(gh: &Github, job: &OutboxJob, error: &str) {
    if job.kind == BACKFILL
        && let Some(pipeline_id) = job.payload.0.get("pipeline_id").and_then(Value::as_str)
        && let Err(err) = gh.store.finish_backfill(pipeline_id, "failed", 0, Some(error)).await
    {
        tracing::error!(error = %err, "recording a failed backfill");
    }
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
    gh.store.finish_backfill(pipeline_id, "done", seen, None).await.map_err(store_err)?;
    tracing::info!(pipeline_id, runs = seen, stored, pages, "backfill done");
    Ok(json!({"runs_seen": seen, "runs_stored": stored, "pages": pages, "since": clock::format(&since)}))
}
