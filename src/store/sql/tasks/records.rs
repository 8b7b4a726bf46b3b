//! What the task store takes and gives besides tasks: filters, what applying an issue change did,
//! pull requests and pushes (issue links, changes and sync settings are the domain's).

use chrono::{DateTime, Utc};

pub use crate::domain::issue_sync::{IssueChange, IssueLink, RepositorySync, SyncSettings};

#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub status: Option<crate::domain::status::TaskStatus>,
    pub priority: Option<crate::domain::status::TaskPriority>,
    pub repository: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// What applying an issue change did.
#[derive(Debug, Clone, PartialEq)]
pub struct IssueApplied {
    pub task_id: Option<i64>,
    pub created: bool,
    pub changed: bool,
}

/// A `pull_request` event, ready to apply.
#[derive(Debug, Clone, PartialEq)]
pub struct PullRequestRecord {
    pub action: String,
    pub repository: String,
    pub number: i64,
    pub title: String,
    pub state: String,
    pub draft: bool,
    pub merged: bool,
    pub head_sha: Option<String>,
    pub author: Option<String>,
    pub url: Option<String>,
    pub updated_at: DateTime<Utc>,
    /// The issues its title or body closes.
    pub closes: Vec<crate::domain::tasks::IssueRef>,
    /// Whether the repository is private, as the event says.
    pub private: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PullRequest {
    pub repository: String,
    pub number: i64,
    pub title: String,
    pub state: String,
    pub draft: bool,
    pub merged: bool,
    pub head_sha: Option<String>,
    pub author: Option<String>,
    pub url: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// A push to a repository's default branch.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PushRecord {
    pub repository: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub before: String,
    pub after: String,
    pub pusher: Option<String>,
    pub commits_count: i64,
    /// When the oldest of its commits was made (their `timestamp`), when it carries any.
    pub first_commit_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Push {
    pub id: i64,
    pub repository: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub before_sha: String,
    pub after_sha: String,
    pub pusher: Option<String>,
    pub commits_count: i64,
    pub first_commit_at: Option<DateTime<Utc>>,
    pub received_at: DateTime<Utc>,
}
