//! The few fields ccm reads from GitHub's payloads. Everything else in a payload is ignored
//! here (and kept in the stored body).

use crate::domain::status::{Conclusion, RunStatus};
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// Fields most events share; used to file a delivery before it is processed. The events ccm acts
/// on carry these fields themselves, so their bodies are parsed once; the others (and a body
/// that does not parse as its event) are read for the envelope alone.
#[derive(Debug, Default, Deserialize)]
pub struct Envelope {
    pub action: Option<String>,
    pub installation: Option<Id>,
    pub repository: Option<Repository>,
    pub hook_id: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct Id {
    pub id: i64,
}

#[derive(Debug, Deserialize)]
pub struct Repository {
    pub full_name: String,
    /// Whether the repository is private (GitHub always says; absent from hand-made payloads).
    #[serde(default)]
    pub private: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct Login {
    pub login: String,
}

impl Envelope {
    /// The envelope of an event ccm parsed whole.
    pub fn of(action: Option<&str>, installation: Option<&Id>, repository: Option<&Repository>) -> Self {
        Envelope {
            action: action.map(str::to_string),
            installation: installation.map(|i| Id { id: i.id }),
            repository: repository.map(|r| Repository { full_name: r.full_name.clone(), private: r.private }),
            hook_id: None,
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct WorkflowRunEvent {
    pub action: Option<String>,
    pub installation: Option<Id>,
    pub workflow_run: WorkflowRun,
    pub repository: Repository,
    /// Older payloads give the workflow's file only here, not in `workflow_run.path`.
    pub workflow: Option<WorkflowFile>,
}

#[derive(Debug, Deserialize)]
pub struct WorkflowFile {
    pub path: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct WorkflowRun {
    pub id: i64,
    #[serde(default = "first_attempt")]
    pub run_attempt: i64,
    pub name: Option<String>,
    pub path: Option<String>,
    pub head_branch: Option<String>,
    pub head_sha: Option<String>,
    pub event: Option<String>,
    pub status: RunStatus,
    pub conclusion: Option<Conclusion>,
    pub run_number: Option<i64>,
    pub html_url: Option<String>,
    pub actor: Option<Login>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub run_started_at: Option<DateTime<Utc>>,
}

fn first_attempt() -> i64 {
    1
}

#[derive(Debug, Deserialize)]
pub struct WorkflowJobEvent {
    pub action: Option<String>,
    pub installation: Option<Id>,
    pub workflow_job: WorkflowJob,
    pub repository: Repository,
}

#[derive(Debug, Deserialize)]
pub struct WorkflowJob {
    pub id: i64,
    pub run_id: i64,
    #[serde(default = "first_attempt")]
    pub run_attempt: i64,
    pub name: String,
    pub status: RunStatus,
    pub conclusion: Option<Conclusion>,
    pub runner_name: Option<String>,
    pub html_url: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub steps: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub struct InstallationEvent {
    pub action: String,
    pub installation: Installation,
    pub repositories: Option<Vec<Repository>>,
    /// Absent from installation events; kept for the envelope when present.
    pub repository: Option<Repository>,
}

#[derive(Debug, Deserialize)]
pub struct Installation {
    pub id: i64,
    pub account: Option<Login>,
}

#[derive(Debug, Deserialize)]
pub struct InstallationRepositoriesEvent {
    pub action: String,
    pub installation: Installation,
    pub repository: Option<Repository>,
    #[serde(default)]
    pub repositories_added: Vec<Repository>,
    #[serde(default)]
    pub repositories_removed: Vec<Repository>,
}

/// A user or bot: `type` is `Bot` for GitHub Apps' bots (`<slug>[bot]`).
#[derive(Debug, Deserialize)]
pub struct Sender {
    pub login: String,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

impl Sender {
    pub fn is_bot(&self) -> bool {
        self.kind.as_deref() == Some("Bot") && self.login.ends_with("[bot]")
    }
}

#[derive(Debug, Deserialize)]
pub struct Label {
    pub name: String,
}

/// An issue, as events and the REST API give it.
#[derive(Debug, Deserialize)]
pub struct Issue {
    pub number: i64,
    pub node_id: Option<String>,
    pub html_url: Option<String>,
    pub title: String,
    pub body: Option<String>,
    /// Absent from some events (`pinned`, `unpinned`).
    pub state: Option<String>,
    #[serde(default)]
    pub labels: Vec<Label>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize)]
pub struct IssuesEvent {
    pub action: String,
    pub installation: Option<Id>,
    pub issue: Issue,
    pub repository: Repository,
    pub sender: Option<Sender>,
    pub changes: Option<IssueChanges>,
}

#[derive(Debug, Deserialize)]
pub struct IssueChanges {
    pub new_issue: Option<Issue>,
    pub new_repository: Option<Repository>,
}

#[derive(Debug, Deserialize)]
pub struct PullRequestEvent {
    pub action: String,
    pub installation: Option<Id>,
    pub pull_request: PullRequestPayload,
    pub repository: Repository,
}

#[derive(Debug, Deserialize)]
pub struct PullRequestPayload {
    pub number: i64,
    pub title: String,
    pub body: Option<String>,
    pub state: String,
    #[serde(default)]
    pub draft: bool,
    #[serde(default)]
    pub merged: Option<bool>,
    pub merged_at: Option<DateTime<Utc>>,
    pub head: PullRequestHead,
    pub user: Option<Login>,
    pub html_url: Option<String>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize)]
pub struct PullRequestHead {
    pub sha: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct PushEvent {
    pub installation: Option<Id>,
    #[serde(rename = "ref")]
    pub git_ref: String,
    #[serde(default)]
    pub before: String,
    #[serde(default)]
    pub after: String,
    pub repository: PushRepository,
    pub pusher: Option<Pusher>,
    #[serde(default)]
    pub commits: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub struct PushRepository {
    pub full_name: String,
    pub default_branch: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Pusher {
    pub name: Option<String>,
}

/// `deployment` and `deployment_status` events.
#[derive(Debug, Deserialize)]
pub struct DeploymentEvent {
    pub action: Option<String>,
    pub installation: Option<Id>,
    pub deployment: DeploymentPayload,
    pub deployment_status: Option<DeploymentStatusPayload>,
    pub workflow_run: Option<RunRef>,
    pub repository: Repository,
}

#[derive(Debug, Deserialize)]
pub struct DeploymentPayload {
    pub id: i64,
    pub sha: String,
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    pub task: Option<String>,
    pub environment: String,
    pub description: Option<String>,
    pub creator: Option<Login>,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
pub struct DeploymentStatusPayload {
    pub id: i64,
    pub state: String,
    pub description: Option<String>,
    pub target_url: Option<String>,
    pub log_url: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The workflow run an event names (its id and attempt).
#[derive(Debug, Deserialize)]
pub struct RunRef {
    pub id: i64,
    pub run_attempt: Option<i64>,
}
