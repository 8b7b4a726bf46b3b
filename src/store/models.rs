use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

/// One page of a listing and the total number of rows that match its filter.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Pipeline {
    pub id: String,
    pub repository: String,
    pub workflow_file: String,
    pub status: String,
    pub config: Json<Value>,
    pub linked_domain: Option<String>,
    pub linked_app: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deactivated_at: Option<DateTime<Utc>>,
}

impl Pipeline {
    pub fn is_active(&self) -> bool {
        self.status == "active"
    }

    /// The branches the pipeline's stats are restricted to (`config.trigger_branches`); empty
    /// means every branch.
    pub fn trigger_branches(&self) -> Vec<String> {
        self.config
            .get("trigger_branches")
            .and_then(Value::as_array)
            .map(|branches| branches.iter().filter_map(|b| b.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }

    pub fn execution_scope(&self) -> ExecutionScope {
        ExecutionScope {
            repository: self.repository.clone(),
            workflow_path: self.workflow_file.clone(),
            branches: self.trigger_branches(),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct PipelineFilter {
    pub status: Option<String>,
    pub repository: Option<String>,
    pub limit: i64,
    pub offset: i64,
    /// Keyset paging: only pipelines listed after this one (its creation time and id).
    pub after: Option<(DateTime<Utc>, String)>,
}

/// Which executions belong to a pipeline: its repository (case-insensitive), its workflow file,
/// and, when non-empty, only these branches.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionScope {
    pub repository: String,
    pub workflow_path: String,
    pub branches: Vec<String>,
}

/// A workflow run attempt as reported by GitHub, ready to be stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ExecutionRecord {
    pub run_id: i64,
    pub run_attempt: i64,
    pub repository: String,
    pub workflow_path: String,
    pub workflow_name: Option<String>,
    pub status: String,
    pub conclusion: Option<String>,
    pub branch: Option<String>,
    pub head_sha: Option<String>,
    pub event: Option<String>,
    pub run_number: Option<i64>,
    pub actor: Option<String>,
    pub html_url: Option<String>,
    /// When GitHub created the run (the first attempt).
    pub created_at: DateTime<Utc>,
    /// When this attempt started (GitHub's `run_started_at`, which resets on a re-run).
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

impl ExecutionRecord {
    /// Seconds from the run's start (or creation) to its completion.
    pub fn duration_seconds(&self) -> Option<i64> {
        let completed = self.completed_at?;
        Some((completed - self.started_at).num_seconds().max(0))
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Execution {
    pub id: i64,
    pub run_id: i64,
    pub run_attempt: i64,
    pub repository: String,
    pub workflow_path: String,
    pub workflow_name: Option<String>,
    pub status: String,
    pub conclusion: Option<String>,
    pub branch: Option<String>,
    pub head_sha: Option<String>,
    pub event: Option<String>,
    pub run_number: Option<i64>,
    pub actor: Option<String>,
    pub html_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<i64>,
    /// A rollback replaced this run by an earlier successful one.
    pub rolled_back: bool,
    pub rollback_reason: Option<String>,
    /// The execution the rollback re-ran.
    pub rollback_previous_execution_id: Option<i64>,
}

/// A job of a workflow run attempt (`workflow_job` events).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct JobRecord {
    pub job_id: i64,
    pub run_id: i64,
    pub run_attempt: i64,
    pub repository: String,
    pub name: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub runner_name: Option<String>,
    pub html_url: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    /// When the job last changed (its completion, start or creation): orders events of one rank.
    pub updated_at: DateTime<Utc>,
    pub steps: Value,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Job {
    pub job_id: i64,
    pub run_id: i64,
    pub run_attempt: i64,
    pub name: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub runner_name: Option<String>,
    pub html_url: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    /// The job's steps as GitHub reported them.
    #[schema(value_type = Vec<Object>)]
    pub steps: Json<Value>,
}

/// A change a webhook delivery makes, applied inside the transaction that stores it.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Execution(ExecutionRecord),
    Job(JobRecord),
    Installation(super::InstallationChange),
    /// An `issues` event: the linked task follows.
    Issue(super::IssueChange),
    /// A `pull_request` event: stored, linked to the tasks it closes.
    PullRequest(super::PullRequestRecord),
    /// A push to a repository's default branch.
    Push(super::PushRecord),
}

/// Raw figures for one pipeline's stats, computed by the database in one round trip.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatsSnapshot {
    /// Completed, non-skipped runs created in the last 24 hours.
    pub runs_24h: i64,
    pub successes_24h: i64,
    pub avg_duration_24h: Option<f64>,
    /// Average duration of completed runs created in the 7 days before the last 24 hours.
    pub avg_duration_baseline: Option<f64>,
    /// The last (up to) 10 completed, non-skipped runs: how many, and how many succeeded.
    pub recent_runs: i64,
    pub recent_successes: i64,
    /// Conclusion of the most recent completed, non-skipped run.
    pub last_conclusion: Option<String>,
    pub active_runs: i64,
    pub queued_runs: i64,
    /// The most recent run, in any state.
    pub last_run: Option<Execution>,
    /// Jobs of the most recent run: how many are known, how many completed, and the name of the
    /// first one running now.
    pub jobs_total: i64,
    pub jobs_completed: i64,
    pub current_job: Option<String>,
    /// When the last delivery for the repository was received.
    pub last_delivery_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewAudit {
    pub actor: String,
    pub action: String,
    pub pipeline_id: Option<String>,
    pub details: Value,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct AuditRecord {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub pipeline_id: Option<String>,
    pub details: Json<Value>,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub pipeline_id: Option<String>,
    pub action: Option<String>,
    pub limit: i64,
    pub offset: i64,
}
