//! What the task store takes and gives besides tasks: filters, issue links and changes, pull
//! requests, pushes and per-repository sync settings.

use chrono::{DateTime, Utc};

use crate::domain::tasks::IssueState;

#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub status: Option<crate::domain::status::TaskStatus>,
    pub priority: Option<crate::domain::status::TaskPriority>,
    pub repository: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// Where an issue lives.
#[derive(Debug, Clone, PartialEq)]
pub struct IssueLink {
    pub repository: String,
    pub number: i64,
    pub node_id: Option<String>,
    pub url: Option<String>,
}

/// An `issues` event (or an issue read through the API), ready to apply.
#[derive(Debug, Clone, PartialEq)]
pub struct IssueChange {
    /// The event's action (`opened`, `edited`, ...), or `sync` for an explicit sync call.
    pub action: String,
    pub link: IssueLink,
    pub issue: IssueState,
    /// The issue's `updated_at` on GitHub.
    pub updated_at: DateTime<Utc>,
    pub sender: Option<String>,
    /// The sender is a GitHub App's bot (`type: Bot`, login `<slug>[bot]`), such as ccm's own.
    pub sender_is_bot: bool,
    /// `transferred`: where the issue went.
    pub transferred_to: Option<IssueLink>,
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
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow)]
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
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct Push {
    pub id: i64,
    pub repository: String,
    #[serde(rename = "ref")]
    #[sqlx(rename = "ref")]
    pub git_ref: String,
    pub before_sha: String,
    pub after_sha: String,
    pub pusher: Option<String>,
    pub commits_count: i64,
    pub received_at: DateTime<Utc>,
}

/// Per-repository sync settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SyncSettings {
    /// Issues opened become tasks, issue events update linked tasks, and task edits are written
    /// back to their issues.
    pub auto_sync: bool,
    /// Labels every issue ccm creates from a task gets.
    pub default_labels: Vec<String>,
}

impl Default for SyncSettings {
    /// The documented default of a repository without settings.
    fn default() -> Self {
        SyncSettings { auto_sync: true, default_labels: Vec::new() }
    }
}
