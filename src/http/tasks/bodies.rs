//! The research tasks' response bodies.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::clock::serde_secs;
use crate::domain::status::{TaskPriority, TaskStatus};
use crate::store::{Execution, PullRequest, Task};

#[derive(Serialize, ToSchema)]
#[schema(as = Task)]
pub struct TaskView<'a> {
    pub id: i64,
    pub title: &'a str,
    pub description: &'a str,
    /// todo, in_progress, done, ...
    #[schema(value_type = String)]
    pub status: TaskStatus,
    /// high, medium or low
    #[schema(value_type = String)]
    pub priority: TaskPriority,
    pub labels: &'a [String],
    /// api, or the issue it came from
    pub origin: &'a str,
    pub issue: Option<TaskIssue<'a>>,
    pub sync: TaskSync,
    pub version: i64,
    #[serde(with = "serde_secs")]
    #[schema(value_type = String)]
    pub created_at: DateTime<Utc>,
    #[serde(with = "serde_secs")]
    #[schema(value_type = String)]
    pub updated_at: DateTime<Utc>,
}

impl<'a> TaskView<'a> {
    pub fn new(t: &'a Task) -> Self {
        TaskView {
            id: t.id,
            title: &t.title,
            description: &t.description,
            status: t.status,
            priority: t.priority,
            labels: &t.labels.0,
            origin: &t.origin,
            issue: TaskIssue::of(t),
            sync: TaskSync { pending: t.local_changed_at.is_some(), issue_updated_at: t.synced_at },
            version: t.version,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// The GitHub issue a task is linked to.
#[derive(Serialize, ToSchema)]
pub struct TaskIssue<'a> {
    pub repository: &'a str,
    pub number: i64,
    pub node_id: Option<&'a str>,
    pub url: Option<&'a str>,
    /// The issue was deleted on GitHub.
    pub deleted: bool,
}

impl<'a> TaskIssue<'a> {
    fn of(t: &'a Task) -> Option<Self> {
        let (Some(repository), Some(number)) = (&t.repository, t.issue_number) else {
            return None;
        };
        Some(TaskIssue {
            repository,
            number,
            node_id: t.issue_node_id.as_deref(),
            url: t.issue_url.as_deref(),
            deleted: t.issue_deleted,
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct TaskSync {
    /// A change made here is still to be written to the issue.
    pub pending: bool,
    #[serde(with = "serde_secs::option")]
    #[schema(value_type = Option<String>)]
    pub issue_updated_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct TaskList<'a> {
    pub success: bool,
    pub tasks: Vec<TaskView<'a>>,
    pub count: i64,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Serialize, ToSchema)]
pub struct TaskResponse<'a> {
    pub success: bool,
    pub task: TaskView<'a>,
}

/// A pull request that closes the task's issue, with the runs of its head commit.
#[derive(Serialize, ToSchema)]
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
    #[serde(with = "serde_secs")]
    #[schema(value_type = String)]
    pub updated_at: DateTime<Utc>,
    pub executions: Vec<Execution>,
}

impl TaskPullRequest {
    pub fn new(pr: PullRequest, executions: Vec<Execution>) -> Self {
        TaskPullRequest {
            repository: pr.repository,
            number: pr.number,
            title: pr.title,
            state: pr.state,
            draft: pr.draft,
            merged: pr.merged,
            head_sha: pr.head_sha,
            author: pr.author,
            url: pr.url,
            updated_at: pr.updated_at,
            executions,
        }
    }
}

/// A task with the pull requests that close its issue.
#[derive(Serialize, ToSchema)]
pub struct TaskWithPullRequests<'a> {
    #[serde(flatten)]
    pub task: TaskView<'a>,
    pub pull_requests: Vec<TaskPullRequest>,
}

#[derive(Serialize, ToSchema)]
pub struct TaskDetails<'a> {
    pub success: bool,
    pub task: TaskWithPullRequests<'a>,
}

/// Whether the change was queued for the linked issue.
#[derive(Serialize, ToSchema)]
pub struct IssueSync {
    pub queued: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

#[derive(Serialize, ToSchema)]
pub struct TaskUpdated<'a> {
    pub success: bool,
    pub task: TaskView<'a>,
    /// null when no issue write was needed.
    pub issue_sync: Option<IssueSync>,
}

#[derive(Serialize, ToSchema)]
pub struct TaskDeleted {
    pub success: bool,
    /// The id of the deleted task.
    pub deleted: i64,
}
