//! Acting on a pipeline's workflow through GitHub: trigger (a workflow dispatch) and rollback
//! (a re-run of the last successful run, marking the run it replaces). Both are queued in the
//! outbox and audited; the caller answers with the job.

use serde_json::{Map, Value, json};

use crate::domain::outbox::OutboxTask;
use crate::domain::pipeline::Pipeline;
use crate::domain::runs::Execution;
use crate::github::{GhError, Github, outbox};
use crate::store::{NewAudit, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("Pipeline not found: {0}")]
    NotFound(String),
    #[error("Pipeline {} is inactive: provision it again to {action} it", .pipeline.id)]
    Inactive { pipeline: Box<Pipeline>, action: &'static str },
    #[error("Missing required fields: ref (the pipeline has no trigger_branches to default to)")]
    NoRefToDefaultTo,
    #[error("No successful run of {} to roll back to", .0.workflow_file)]
    NoSuccessfulRun(Box<Pipeline>),
    #[error(transparent)]
    Github(#[from] GhError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The pipeline `id`, which must be active to `action` it.
pub async fn active_pipeline(store: &dyn Store, id: &str, action: &'static str) -> Result<Pipeline, ActionError> {
    let pipeline = store.get_pipeline(id).await?.ok_or_else(|| ActionError::NotFound(id.into()))?;
    if !pipeline.is_active() {
        return Err(ActionError::Inactive { pipeline: Box::new(pipeline), action });
    }
    Ok(pipeline)
}

/// The ref a trigger dispatches: the one asked for, else the first of the pipeline's trigger
/// branches.
pub fn dispatch_ref(asked: Option<String>, pipeline: &Pipeline) -> Result<String, ActionError> {
    asked.or_else(|| pipeline.trigger_branches().into_iter().next()).ok_or(ActionError::NoRefToDefaultTo)
}

/// Queues the dispatch of the pipeline's workflow on `git_ref`; returns the outbox job.
pub async fn trigger(
    gh: &Github,
    actor: &str,
    pipeline: &Pipeline,
    git_ref: &str,
    inputs: &Map<String, Value>,
) -> Result<i64, ActionError> {
    let task = OutboxTask::DispatchWorkflow {
        repo: pipeline.repository.clone(),
        workflow_file: pipeline.workflow_file.clone(),
        git_ref: git_ref.to_string(),
        inputs: inputs.clone(),
    };
    let job_id = outbox::enqueue(gh, task, None).await?;
    gh.store
        .add_audit(&NewAudit {
            actor: actor.into(),
            action: "pipeline.triggered".into(),
            pipeline_id: Some(pipeline.id.clone()),
            details: json!({"ref": git_ref, "inputs": inputs, "job_id": job_id}),
        })
        .await?;
    tracing::info!(pipeline_id = %pipeline.id, git_ref, job_id, "workflow dispatch queued");
    Ok(job_id)
}

/// The run a rollback to `target` replaces: the latest run, unless it is the target itself or
/// started before it.
pub fn replaced_run(latest: Option<Execution>, target: &Execution) -> Option<Execution> {
    latest.filter(|latest| latest.run_id != target.run_id && latest.started_at >= target.started_at)
}

/// What a rollback queued.
#[derive(Debug)]
pub struct RolledBack {
    pub job_id: i64,
    /// The successful run re-run.
    pub target: Execution,
    /// The run marked as rolled back, if a later one exists.
    pub replaced: Option<Execution>,
}

/// Queues the re-run of the pipeline's last successful run and marks the run it replaces.
pub async fn rollback(gh: &Github, actor: &str, pipeline: &Pipeline, reason: &str) -> Result<RolledBack, ActionError> {
    let store = gh.store.as_ref();
    let scope = pipeline.execution_scope();
    let target = store
        .last_successful_execution(&scope)
        .await?
        .ok_or_else(|| ActionError::NoSuccessfulRun(Box::new(pipeline.clone())))?;
    let replaced = replaced_run(store.latest_execution(&scope).await?, &target);
    let task = OutboxTask::RerunRun { repo: pipeline.repository.clone(), run_id: target.run_id };
    let job_id = outbox::enqueue(gh, task, Some(format!("rerun:{}", target.run_id))).await?;
    if let Some(replaced) = &replaced {
        store.mark_rolled_back(replaced.id, reason, target.id).await?;
    }
    store
        .add_audit(&NewAudit {
            actor: actor.into(),
            action: "pipeline.rollback".into(),
            pipeline_id: Some(pipeline.id.clone()),
            details: json!({
                "reason": reason,
                "previous_execution_id": target.id,
                "previous_run_id": target.run_id,
                "rolled_back_execution_id": replaced.as_ref().map(|e| e.id),
                "job_id": job_id,
            }),
        })
        .await?;
    tracing::info!(pipeline_id = %pipeline.id, run_id = target.run_id, job_id, "rollback queued");
    Ok(RolledBack { job_id, target, replaced })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::status::{Conclusion, RunStatus};

    fn run(id: i64, minutes_ago: i64) -> Execution {
        let at = crate::domain::clock::now() - chrono::Duration::minutes(minutes_ago);
        Execution {
            id,
            run_id: 100 + id,
            run_attempt: 1,
            repository: "octo/shop".into(),
            workflow_path: ".github/workflows/deploy.yml".into(),
            workflow_name: None,
            status: RunStatus::Completed,
            conclusion: Some(Conclusion::Success),
            branch: Some("main".into()),
            head_sha: None,
            event: None,
            run_number: None,
            actor: None,
            html_url: None,
            created_at: at,
            started_at: at,
            updated_at: at,
            completed_at: Some(at),
            duration_seconds: Some(0),
            rolled_back: false,
            rollback_reason: None,
            rollback_previous_execution_id: None,
        }
    }

    #[test]
    fn a_rollback_replaces_only_a_later_run() {
        let target = run(1, 30);
        assert_eq!(replaced_run(Some(run(2, 10)), &target).map(|e| e.id), Some(2));
        assert_eq!(replaced_run(Some(target.clone()), &target), None, "the target is the latest run");
        assert_eq!(replaced_run(Some(run(3, 60)), &target), None, "started before the target");
        assert_eq!(replaced_run(None, &target), None);
    }

    #[test]
    fn a_trigger_defaults_to_the_first_trigger_branch() {
        let mut pipeline = crate::app::pipelines::new_pipeline(
            &crate::domain::pipeline::parse_provision(&json!({
                "repo": "octo/shop", "workflow_file": ".github/workflows/deploy.yml",
                "config": {"trigger_branches": ["release", "main"]},
            }))
            .unwrap(),
            "pipe_00000000000c".into(),
            crate::domain::clock::now(),
        );
        assert_eq!(dispatch_ref(None, &pipeline).unwrap(), "release");
        assert_eq!(dispatch_ref(Some("v2".into()), &pipeline).unwrap(), "v2");
        pipeline.config.0 = json!({});
        assert!(matches!(dispatch_ref(None, &pipeline), Err(ActionError::NoRefToDefaultTo)));
    }
}
