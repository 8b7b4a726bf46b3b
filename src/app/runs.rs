//! Acting on a pipeline's workflow through GitHub: trigger (a workflow dispatch), rollback
//! (a re-run of the last successful run, marking the run it replaces), and cancel, re-run or
//! re-run the failed jobs of one of its runs. Each queues its outbox job
//! and writes its audit entry (and the rollback's mark) in one transaction; the caller answers
//! with the job. With an `Idempotency-Key`, the response is recorded in that transaction too, and
//! the same key within 24 hours answers it again instead of acting twice.

use serde_json::{Map, Value, json};

use crate::domain::clock;
use crate::domain::idempotency::{self, Prior};
use crate::domain::outbox::OutboxTask;
use crate::domain::pipeline::Pipeline;
use crate::domain::runs::Execution;
use crate::domain::status::{Conclusion, RunStatus};
use crate::github::{GhError, Github};
use crate::store::{ActionQueued, NewAction, NewAudit, NewOutboxJob, RollbackMark, Store, StoreError};

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
    #[error("Execution not found in pipeline {pipeline_id}: run {run_id} attempt {attempt}")]
    ExecutionNotFound { pipeline_id: String, run_id: i64, attempt: i64 },
    /// The run is not in a state GitHub would accept the action in.
    #[error("{message}")]
    RunRefused { pipeline_id: String, message: String },
    #[error("{0}")]
    InvalidKey(String),
    #[error("Idempotency-Key was used in the last 24 hours with another request")]
    KeyReused,
    #[error(transparent)]
    Github(#[from] GhError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The status an action that queued its job answers with.
pub const QUEUED: u16 = 202;

/// A request's `Idempotency-Key` and what identifies the request under it.
#[derive(Debug, Clone, PartialEq)]
pub struct Idempotency {
    pub key: String,
    pub fingerprint: String,
}

impl Idempotency {
    /// From the header's value, if the request sent one: `operation` on `target` asking `request`
    /// (as the handler parsed it).
    pub fn of(
        header: Option<&str>,
        operation: &str,
        target: &str,
        request: &Value,
    ) -> Result<Option<Self>, ActionError> {
        let Some(raw) = header else { return Ok(None) };
        let key = idempotency::parse_key(raw).map_err(ActionError::InvalidKey)?;
        Ok(Some(Idempotency { key, fingerprint: idempotency::fingerprint(operation, target, request) }))
    }
}

/// What an action answers: its status and body, and whether this is the first response again.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub replayed: bool,
}

/// The answer a request's key already has (the first response of the same request), if any; a
/// key used with another request is refused.
pub async fn prior_answer(store: &dyn Store, idempotency: Option<&Idempotency>) -> Result<Option<Answer>, ActionError> {
    let Some(idempotency) = idempotency else { return Ok(None) };
    let stored = store.idempotent_answer(&idempotency.key).await?;
    match idempotency::prior(stored, &idempotency.fingerprint, clock::now()) {
        Prior::Fresh => Ok(None),
        Prior::Replay(answer) => Ok(Some(Answer { status: answer.status, body: answer.body, replayed: true })),
        Prior::Mismatch => Err(ActionError::KeyReused),
    }
}

/// Queues an action (job, audit entry, mark and key in one transaction) and wakes the outbox.
async fn queue(
    gh: &Github,
    action: &NewAction<'_>,
    idempotency: Option<&Idempotency>,
    respond: &crate::store::Respond<'_>,
) -> Result<Answer, ActionError> {
    match gh.store.queue_action(action, QUEUED, respond).await? {
        ActionQueued::Queued { job_id, body } => {
            gh.client.wake.notify_one();
            tracing::info!(job_id, action = %action.audit.action, pipeline_id = ?action.audit.pipeline_id, "queued");
            Ok(Answer { status: QUEUED, body, replayed: false })
        }
        // The same key came twice at once, and the other request was recorded first.
        ActionQueued::KeyTaken => prior_answer(gh.store.as_ref(), idempotency)
            .await?
            .ok_or_else(|| ActionError::Store(StoreError::Conflict("Idempotency-Key recorded meanwhile".into()))),
    }
}

fn new_job(gh: &Github, task: OutboxTask, dedupe_key: Option<String>) -> NewOutboxJob {
    NewOutboxJob { task, dedupe_key, max_attempts: gh.client.config.max_attempts as i64, run_at: clock::now() }
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

/// Queues the dispatch of the pipeline's workflow on `git_ref`, audited; answers `respond`'s
/// body for the job.
pub async fn trigger(
    gh: &Github,
    actor: &str,
    pipeline: &Pipeline,
    git_ref: &str,
    inputs: &Map<String, Value>,
    idempotency: Option<&Idempotency>,
    respond: &crate::store::Respond<'_>,
) -> Result<Answer, ActionError> {
    let task = OutboxTask::DispatchWorkflow {
        repo: pipeline.repository.clone(),
        workflow_file: pipeline.workflow_file.clone(),
        git_ref: git_ref.to_string(),
        inputs: inputs.clone(),
    };
    let action = NewAction {
        job: new_job(gh, task, None),
        audit: NewAudit {
            actor: actor.into(),
            action: "pipeline.triggered".into(),
            pipeline_id: Some(pipeline.id.clone()),
            details: json!({"ref": git_ref, "inputs": inputs}),
        },
        rollback: None,
        idempotency: idempotency.map(|i| (i.key.as_str(), i.fingerprint.as_str())),
    };
    queue(gh, &action, idempotency, respond).await
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

/// Queues the re-run of the pipeline's last successful run and marks the run it replaces,
/// audited; answers `respond`'s body for what was queued.
pub async fn rollback(
    gh: &Github,
    actor: &str,
    pipeline: &Pipeline,
    reason: &str,
    idempotency: Option<&Idempotency>,
    respond: &(dyn Fn(&RolledBack) -> Value + Send + Sync),
) -> Result<Answer, ActionError> {
    let store = gh.store.as_ref();
    let scope = pipeline.execution_scope();
    let target = store
        .last_successful_execution(&scope)
        .await?
        .ok_or_else(|| ActionError::NoSuccessfulRun(Box::new(pipeline.clone())))?;
    let replaced = replaced_run(store.latest_execution(&scope).await?, &target);
    let task = OutboxTask::RerunRun { repo: pipeline.repository.clone(), run_id: target.run_id };
    let action = NewAction {
        job: new_job(gh, task, Some(format!("rerun:{}", target.run_id))),
        audit: NewAudit {
            actor: actor.into(),
            action: "pipeline.rollback".into(),
            pipeline_id: Some(pipeline.id.clone()),
            details: json!({
                "reason": reason,
                "previous_execution_id": target.id,
                "previous_run_id": target.run_id,
                "rolled_back_execution_id": replaced.as_ref().map(|e| e.id),
            }),
        },
        rollback: replaced.as_ref().map(|r| RollbackMark {
            execution_id: r.id,
            reason,
            previous_execution_id: target.id,
        }),
        idempotency: idempotency.map(|i| (i.key.as_str(), i.fingerprint.as_str())),
    };
    let respond = |job_id| respond(&RolledBack { job_id, target: target.clone(), replaced: replaced.clone() });
    queue(gh, &action, idempotency, &respond).await
}

/// What can be done to one run of a pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunAction {
    Cancel,
    Rerun,
    RerunFailedJobs,
}

impl RunAction {
    /// The audit log's name for it.
    pub fn audit_action(self) -> &'static str {
        match self {
            RunAction::Cancel => "execution.cancel",
            RunAction::Rerun => "execution.rerun",
            RunAction::RerunFailedJobs => "execution.rerun_failed_jobs",
        }
    }

    /// What it is called in a sentence.
    pub fn describe(self) -> &'static str {
        match self {
            RunAction::Cancel => "Cancellation",
            RunAction::Rerun => "Re-run",
            RunAction::RerunFailedJobs => "Re-run of the failed jobs",
        }
    }

    fn task(self, repo: &str, run_id: i64) -> OutboxTask {
        let repo = repo.to_string();
        match self {
            RunAction::Cancel => OutboxTask::CancelRun { repo, run_id },
            RunAction::Rerun => OutboxTask::RerunRun { repo, run_id },
            RunAction::RerunFailedJobs => OutboxTask::RerunFailedJobs { repo, run_id },
        }
    }

    /// One job per run and action at a time (a rollback's re-run shares the re-run's).
    fn dedupe_key(self, run_id: i64) -> String {
        match self {
            RunAction::Cancel => format!("cancel:{run_id}"),
            RunAction::Rerun => format!("rerun:{run_id}"),
            RunAction::RerunFailedJobs => format!("rerun-failed:{run_id}"),
        }
    }

    /// Why GitHub would refuse this action on `run` as ccm last saw it, if it would: only a run
    /// not yet completed can be cancelled, only a completed one re-run, and only one that failed
    /// (or was cancelled or timed out) has failed jobs to re-run.
    pub fn refusal(self, run: &Execution) -> Option<String> {
        let which = format!("Run {} attempt {}", run.run_id, run.run_attempt);
        let completed = run.status == RunStatus::Completed;
        match self {
            RunAction::Cancel if completed => Some(format!("{which} is already completed: nothing to cancel")),
            RunAction::Rerun | RunAction::RerunFailedJobs if !completed => {
                Some(format!("{which} is still {}: cancel it or wait for it to complete", run.status))
            }
            RunAction::RerunFailedJobs => match &run.conclusion {
                Some(
                    Conclusion::Failure | Conclusion::TimedOut | Conclusion::Cancelled | Conclusion::StartupFailure,
                ) => None,
                other => Some(format!(
                    "{which} has no failed jobs to re-run (it ended {})",
                    other.as_ref().map(|c| c.to_string()).unwrap_or_else(|| "without a conclusion".into())
                )),
            },
            _ => None,
        }
    }
}

/// The pipeline's run `run_id` attempt `attempt`, as the pipeline's executions list has it.
pub async fn pipeline_run(
    store: &dyn Store,
    pipeline: &Pipeline,
    run_id: i64,
    attempt: i64,
) -> Result<Execution, ActionError> {
    store
        .get_execution(run_id, attempt)
        .await?
        .filter(|e| pipeline.execution_scope().contains(e))
        .ok_or_else(|| ActionError::ExecutionNotFound { pipeline_id: pipeline.id.clone(), run_id, attempt })
}

/// Queues `action` on the pipeline's `run`, audited; answers `respond`'s body for the job.
pub async fn act_on_run(
    gh: &Github,
    actor: &str,
    pipeline: &Pipeline,
    run: &Execution,
    action: RunAction,
    idempotency: Option<&Idempotency>,
    respond: &crate::store::Respond<'_>,
) -> Result<Answer, ActionError> {
    if let Some(message) = action.refusal(run) {
        return Err(ActionError::RunRefused { pipeline_id: pipeline.id.clone(), message });
    }
    let queued = NewAction {
        job: new_job(gh, action.task(&pipeline.repository, run.run_id), Some(action.dedupe_key(run.run_id))),
        audit: NewAudit {
            actor: actor.into(),
            action: action.audit_action().into(),
            pipeline_id: Some(pipeline.id.clone()),
            details: json!({"run_id": run.run_id, "run_attempt": run.run_attempt, "execution_id": run.id}),
        },
        rollback: None,
        idempotency: idempotency.map(|i| (i.key.as_str(), i.fingerprint.as_str())),
    };
    queue(gh, &queued, idempotency, respond).await
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn an_idempotency_key_is_checked_and_names_its_request() {
        assert_eq!(Idempotency::of(None, "trigger", "pipe_1", &json!({})).unwrap(), None);
        let a = Idempotency::of(Some("key-1"), "trigger", "pipe_1", &json!({"ref": "main"})).unwrap().unwrap();
        let b = Idempotency::of(Some("key-1"), "trigger", "pipe_1", &json!({"ref": "dev"})).unwrap().unwrap();
        assert_eq!(a.key, "key-1");
        assert_ne!(a.fingerprint, b.fingerprint);
        assert!(matches!(
            Idempotency::of(Some("two words"), "trigger", "p", &json!({})),
            Err(ActionError::InvalidKey(_))
        ));
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

    #[test]
    fn a_run_action_is_refused_where_github_would_refuse_it() {
        let mut done = run(1, 5);
        done.conclusion = Some(Conclusion::Failure);
        let mut running = run(2, 5);
        (running.status, running.conclusion) = (RunStatus::InProgress, None);
        assert_eq!(RunAction::Cancel.refusal(&running), None);
        assert_eq!(
            RunAction::Cancel.refusal(&done).unwrap(),
            "Run 101 attempt 1 is already completed: nothing to cancel"
        );
        assert_eq!(RunAction::Rerun.refusal(&done), None);
        assert_eq!(RunAction::RerunFailedJobs.refusal(&done), None);
        assert_eq!(
            RunAction::Rerun.refusal(&running).unwrap(),
            "Run 102 attempt 1 is still in_progress: cancel it or wait for it to complete"
        );
        assert!(RunAction::RerunFailedJobs.refusal(&running).is_some());
        for ended in [Conclusion::TimedOut, Conclusion::Cancelled, Conclusion::StartupFailure] {
            done.conclusion = Some(ended);
            assert_eq!(RunAction::RerunFailedJobs.refusal(&done), None);
        }
        done.conclusion = Some(Conclusion::Success);
        assert_eq!(
            RunAction::RerunFailedJobs.refusal(&done).unwrap(),
            "Run 101 attempt 1 has no failed jobs to re-run (it ended success)"
        );
        assert_eq!(RunAction::Rerun.refusal(&done), None, "a successful run may be re-run");
    }
}
