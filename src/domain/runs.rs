//! Workflow runs and their jobs: as GitHub reports them (records) and as stored (entities).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

use super::status::{Conclusion, RunStatus};

/// A workflow run attempt as reported by GitHub, ready to be stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ExecutionRecord {
    pub run_id: i64,
    pub run_attempt: i64,
    pub repository: String,
    pub workflow_path: String,
    pub workflow_name: Option<String>,
    pub status: RunStatus,
    pub conclusion: Option<Conclusion>,
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

#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Execution {
    pub id: i64,
    pub run_id: i64,
    pub run_attempt: i64,
    pub repository: String,
    pub workflow_path: String,
    pub workflow_name: Option<String>,
    pub status: RunStatus,
    pub conclusion: Option<Conclusion>,
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
    pub status: RunStatus,
    pub conclusion: Option<Conclusion>,
    pub runner_name: Option<String>,
    pub html_url: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    /// When the job last changed (its completion, start or creation): orders events of one rank.
    pub updated_at: DateTime<Utc>,
    pub steps: Value,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Job {
    pub job_id: i64,
    pub run_id: i64,
    pub run_attempt: i64,
    pub name: String,
    pub status: RunStatus,
    pub conclusion: Option<Conclusion>,
    pub runner_name: Option<String>,
    pub html_url: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    /// The job's steps as GitHub reported them.
    #[schema(value_type = Vec<Object>)]
    pub steps: Json<Value>,
}
