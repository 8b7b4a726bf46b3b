//! Shapes of the research tasks and issue sync bodies.
#![allow(dead_code)] // Types that only describe JSON built elsewhere.

use utoipa::ToSchema;

use crate::store::Execution;

/// The GitHub issue a task is linked to.
#[derive(ToSchema)]
pub struct TaskIssue {
    pub repository: String,
    pub number: i64,
    pub node_id: Option<String>,
    pub url: Option<String>,
    /// The issue was deleted on GitHub.
    pub deleted: bool,
}

#[derive(ToSchema)]
pub struct TaskSync {
    /// A change made here is still to be written to the issue.
    pub pending: bool,
    pub issue_updated_at: Option<String>,
}

#[derive(ToSchema)]
pub struct Task {
    pub id: i64,
    pub title: String,
    pub description: String,
    /// todo, in_progress, done, ...
    pub status: String,
    /// high, medium or low
    pub priority: String,
    pub labels: Vec<String>,
    /// api, or the issue it came from
    pub origin: String,
    pub issue: Option<TaskIssue>,
    pub sync: TaskSync,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(ToSchema)]
pub struct TaskList {
    pub success: bool,
    pub tasks: Vec<Task>,
    pub count: i64,
    pub limit: i64,
    pub offset: i64,
}

#[derive(ToSchema)]
pub struct TaskResponse {
    pub success: bool,
    pub task: Task,
}

/// A pull request that closes the task's issue, with the runs of its head commit.
#[derive(ToSchema)]
pub struct TaskPullRequest {
    pub repository: String,
    pub number: i64,
    pub title: String,
    pub state: String,
    pub draft: bool,
    pub merged: bool,
    pub head_sha: Option<String>,
    pub author: Option<String>,
    pub url: Option<String>,
    pub updated_at: String,
    pub executions: Vec<Execution>,
}

#[derive(ToSchema)]
pub struct TaskWithPullRequests {
    pub id: i64,
    pub title: String,
    pub description: String,
    pub status: String,
    pub priority: String,
    pub labels: Vec<String>,
    pub origin: String,
    pub issue: Option<TaskIssue>,
    pub sync: TaskSync,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
    pub pull_requests: Vec<TaskPullRequest>,
}

#[derive(ToSchema)]
pub struct TaskDetails {
    pub success: bool,
    pub task: TaskWithPullRequests,
}

/// Whether the change was queued for the linked issue.
#[derive(ToSchema)]
pub struct IssueSync {
    pub queued: bool,
    pub job_id: Option<i64>,
    pub reason: Option<String>,
}

#[derive(ToSchema)]
pub struct TaskUpdated {
    pub success: bool,
    pub task: Task,
    /// null when no issue write was needed.
    pub issue_sync: Option<IssueSync>,
}

#[derive(ToSchema)]
pub struct TaskDeleted {
    pub success: bool,
    /// The id of the deleted task.
    pub deleted: i64,
}

#[derive(ToSchema)]
pub struct SyncSettings {
    pub success: bool,
    pub repository: String,
    pub auto_sync: bool,
    pub default_labels: Vec<String>,
    /// No settings stored: these are the defaults.
    pub default: bool,
}

#[derive(ToSchema)]
pub struct IssueSynced {
    pub task_id: i64,
    pub issue_number: i64,
    pub url: Option<String>,
    /// created or updated
    pub action: String,
    pub task: Option<Task>,
}

#[derive(ToSchema)]
pub struct IssueWritten {
    pub issue_number: Option<i64>,
    pub url: Option<String>,
    /// created, updated, or queued (202: GitHub had not answered within 20 s)
    pub action: String,
    /// With `queued`: the outbox job.
    pub job_id: Option<i64>,
}
