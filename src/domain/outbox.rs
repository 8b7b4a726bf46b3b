//! What an outbox job does: one variant per kind, with its payload. A job is stored as its kind
//! (`outbox_jobs.kind`) and its payload (`outbox_jobs.payload`, a JSON object); the kind strings
//! and payload field names are those of the rows already in users' databases, so they must not
//! change.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload", rename_all = "snake_case")]
pub enum OutboxTask {
    /// `POST /repos/{repo}/actions/runs/{run_id}/cancel`.
    CancelRun { repo: String, run_id: i64 },
    /// workflow_dispatch of `workflow_file` on `ref`, with its inputs (none when empty).
    DispatchWorkflow {
        repo: String,
        workflow_file: String,
        #[serde(rename = "ref")]
        git_ref: String,
        #[serde(default)]
        inputs: Map<String, Value>,
    },
    /// `POST /repos/{repo}/actions/runs/{run_id}/rerun`.
    RerunRun { repo: String, run_id: i64 },
    /// `POST /repos/{repo}/actions/runs/{run_id}/rerun-failed-jobs`.
    RerunFailedJobs { repo: String, run_id: i64 },
    /// Fetches and stores a completed job's log (and, for a failed job, what explains it).
    FetchJobLog { repo: String, job_id: i64 },
    /// Reads a completed run attempt's jobs from the REST API (no workflow_job event came).
    ListRunJobs { repo: String, run_id: i64, run_attempt: i64 },
    /// `POST /app/hook/deliveries/{delivery_id}/attempts`; `guid` names the missed delivery.
    Redeliver { delivery_id: i64, guid: String },
    /// Reads the pipeline workflow's recent runs into the executions.
    Backfill { pipeline_id: String },
    /// Pages through the App's deliveries and queues redeliveries of the missed ones.
    RecoverDeliveries {},
    /// Re-reads runs that stayed queued or in progress without an event for too long.
    CorrectStuckRuns {},
    /// Creates the task's issue in `repo` (with the repository's default labels) and links it.
    CreateTaskIssue { task_id: i64, repo: String },
    /// Writes the task as it is now to its issue, in one call.
    UpdateTaskIssue { task_id: i64 },
}

/// A stored job this version cannot run: an unknown kind, or a payload that does not fit its
/// kind. The worker fails such a job with this as its error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("outbox job of kind '{kind}' cannot be run: {reason}")]
pub struct InvalidTask {
    pub kind: String,
    pub reason: String,
}

impl OutboxTask {
    /// The `kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            OutboxTask::CancelRun { .. } => "cancel_run",
            OutboxTask::DispatchWorkflow { .. } => "dispatch_workflow",
            OutboxTask::RerunRun { .. } => "rerun_run",
            OutboxTask::RerunFailedJobs { .. } => "rerun_failed_jobs",
            OutboxTask::FetchJobLog { .. } => "fetch_job_log",
            OutboxTask::ListRunJobs { .. } => "list_run_jobs",
            OutboxTask::Redeliver { .. } => "redeliver",
            OutboxTask::Backfill { .. } => "backfill",
            OutboxTask::RecoverDeliveries {} => "recover_deliveries",
            OutboxTask::CorrectStuckRuns {} => "correct_stuck_runs",
            OutboxTask::CreateTaskIssue { .. } => "create_task_issue",
            OutboxTask::UpdateTaskIssue { .. } => "update_task_issue",
        }
    }

    /// The `payload` column: the variant's fields as a JSON object.
    pub fn payload(&self) -> Value {
        let mut tagged = serde_json::to_value(self).expect("a task is plain data");
        tagged.get_mut("payload").map(Value::take).unwrap_or_else(|| json!({}))
    }

    /// The task a stored `kind` and `payload` describe.
    pub fn decode(kind: &str, payload: Value) -> Result<Self, InvalidTask> {
        serde_json::from_value(json!({"kind": kind, "payload": payload}))
            .map_err(|err| InvalidTask { kind: kind.to_string(), reason: err.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_kind() -> Vec<OutboxTask> {
        let inputs: Map<String, Value> =
            [("env".to_string(), json!("prod")), ("dry".to_string(), json!(true))].into_iter().collect();
        vec![
            OutboxTask::CancelRun { repo: "octo/app".into(), run_id: 42 },
            OutboxTask::DispatchWorkflow {
                repo: "octo/app".into(),
                workflow_file: ".github/workflows/deploy.yml".into(),
                git_ref: "main".into(),
                inputs,
            },
            OutboxTask::RerunRun { repo: "octo/app".into(), run_id: 7 },
            OutboxTask::Redeliver { delivery_id: 9, guid: "g-1".into() },
            OutboxTask::Backfill { pipeline_id: "pipe_3f9a0c1b2d4e".into() },
            OutboxTask::RecoverDeliveries {},
            OutboxTask::CorrectStuckRuns {},
            OutboxTask::CreateTaskIssue { task_id: 3, repo: "octo/research".into() },
            OutboxTask::UpdateTaskIssue { task_id: 3 },
            // Kinds added since: after the earlier versions' rows (`decodes_the_stored_rows…`).
            OutboxTask::RerunFailedJobs { repo: "octo/app".into(), run_id: 7 },
            OutboxTask::FetchJobLog { repo: "octo/app".into(), job_id: 11 },
            OutboxTask::ListRunJobs { repo: "octo/app".into(), run_id: 7, run_attempt: 2 },
        ]
    }

    #[test]
    fn every_kind_round_trips_through_its_columns() {
        for task in every_kind() {
            let tagged = serde_json::to_value(&task).unwrap();
            assert_eq!(tagged["kind"], task.kind(), "kind() must match the serialized kind");
            assert!(task.payload().is_object(), "{task:?}");
            assert_eq!(OutboxTask::decode(task.kind(), task.payload()), Ok(task));
        }
    }

    /// The rows written before the enum existed, as their producers wrote them.
    #[test]
    fn decodes_the_stored_rows_of_earlier_versions() {
        let stored = [
            ("cancel_run", json!({"repo": "octo/app", "run_id": 42})),
            (
                "dispatch_workflow",
                json!({"repo": "octo/app", "workflow_file": ".github/workflows/deploy.yml", "ref": "main",
                       "inputs": {"env": "prod", "dry": true}}),
            ),
            ("rerun_run", json!({"repo": "octo/app", "run_id": 7})),
            ("redeliver", json!({"delivery_id": 9, "guid": "g-1"})),
            ("backfill", json!({"pipeline_id": "pipe_3f9a0c1b2d4e"})),
            ("recover_deliveries", json!({})),
            ("correct_stuck_runs", json!({})),
            ("create_task_issue", json!({"task_id": 3, "repo": "octo/research"})),
            ("update_task_issue", json!({"task_id": 3})),
        ];
        for ((kind, payload), expected) in stored.into_iter().zip(every_kind()) {
            let task = OutboxTask::decode(kind, payload.clone()).unwrap();
            assert_eq!(task, expected);
            // And written back exactly as it was.
            assert_eq!((task.kind(), task.payload()), (kind, payload));
        }
    }

    #[test]
    fn a_dispatch_without_inputs_has_none() {
        let payload = json!({"repo": "o/r", "workflow_file": "ci.yml", "ref": "main"});
        let Ok(OutboxTask::DispatchWorkflow { inputs, .. }) = OutboxTask::decode("dispatch_workflow", payload) else {
            panic!("not decoded");
        };
        assert!(inputs.is_empty());
    }

    #[test]
    fn unknown_kinds_and_malformed_payloads_are_invalid_not_fatal() {
        let unknown = OutboxTask::decode("send_email", json!({})).unwrap_err();
        assert_eq!(unknown.kind, "send_email");
        assert!(
            unknown.to_string().contains("kind 'send_email'") && unknown.reason.contains("send_email"),
            "{unknown}"
        );

        let missing = OutboxTask::decode("cancel_run", json!({"repo": "octo/app"})).unwrap_err();
        assert!(missing.reason.contains("run_id"), "{missing}");
        let mistyped = OutboxTask::decode("cancel_run", json!({"repo": "octo/app", "run_id": "42"})).unwrap_err();
        assert!(mistyped.reason.contains("string"), "{mistyped}");
        assert!(OutboxTask::decode("backfill", Value::Null).is_err());
    }
}
