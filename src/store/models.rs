use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

pub use crate::domain::deployments::{Deployment, DeploymentRecord, DeploymentStatus};
pub use crate::domain::pipeline::{ExecutionScope, Pipeline};
pub use crate::domain::runs::{Execution, ExecutionRecord, Job, JobRecord};
pub use crate::domain::stats::StatsSnapshot;

/// One page of a listing and the total number of rows that match its filter.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
}

#[derive(Debug, Clone, Default)]
pub struct PipelineFilter {
    pub status: Option<crate::domain::status::PipelineStatus>,
    pub repository: Option<String>,
    pub limit: i64,
    pub offset: i64,
    /// Keyset paging: only pipelines listed after this one (its creation time and id).
    pub after: Option<(DateTime<Utc>, String)>,
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
    /// A `deployment` event, or the deployment a `deployment_status` is of, with that status.
    Deployment(Box<DeploymentRecord>, Option<DeploymentStatus>),
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
