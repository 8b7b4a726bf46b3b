//! Sync between tasks and GitHub issues: per-repository settings, the explicit sync calls
//! (`POST /api/sync/issue-to-task`, `POST /api/sync/task-to-issue`, request and response shapes
//! as CommandCenter's), and a pipeline's pushes to its repository's default branch.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::body::JsonObject;
use super::error::ErrorBody;
use super::routes::{Routes, resource};
use super::tasks::TaskView;
use super::{Actor, ApiError, AppState};
use crate::domain::clock::serde_secs;
use crate::domain::outbox::OutboxTask;
use crate::domain::status::OutboxJobStatus;
use crate::domain::tokens::Scope;
use crate::github::{outbox, tasks as gh_tasks};
use crate::store::tasks::audit;
use crate::store::{OutboxJob, Push, RepositorySync};

/// How long the explicit sync calls wait for their outbox job before answering `queued`.
const WAIT_FOR_JOB: Duration = Duration::from_secs(20);

pub fn routes(routes: &mut Routes) {
    routes
        .add(resource("/sync/repositories/{owner}/{repo}").get(get_settings).put(put_settings).needs(Scope::Admin))
        .add(resource("/sync/issue-to-task").post(issue_to_task))
        .add(resource("/sync/task-to-issue").post(task_to_issue))
        // CommandCenter's paths (see `aliases`).
        .add(resource("/v1/integrations/{id}/github/sync/issue-to-task").post(issue_to_task))
        .add(resource("/v1/integrations/{id}/github/sync/task-to-issue").post(task_to_issue))
        .add(resource("/pipelines/{id}/pushes").get(pushes));
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(get_settings, put_settings, issue_to_task, task_to_issue, pushes))]
pub(super) struct Api;

/// `owner/name`, checked as provisioning checks a repository.
fn repo_name(owner: &str, name: &str) -> Result<String, ApiError> {
    let repository = format!("{owner}/{name}");
    crate::domain::pipeline::validate_repo(&repository)
        .map_err(|_| ApiError::BadRequest(format!("Invalid repository '{repository}'")))?;
    Ok(repository)
}

#[derive(Serialize, ToSchema)]
#[schema(as = SyncSettings)]
struct SettingsReply {
    success: bool,
    repository: String,
    auto_sync: bool,
    default_labels: Vec<String>,
    /// Other repositories whose issues this repository's pull requests may close (`fixes
    /// owner/repo#N`); empty: only its own.
    closes_issues_in: Vec<String>,
    /// No settings stored: these are the defaults (sync on for a private repository, off for a
    /// public one).
    default: bool,
    /// Whether the repository is private, as its last webhook said (null: none seen yet, counted
    /// as private).
    private: Option<bool>,
}

impl SettingsReply {
    fn new(repository: String, sync: &RepositorySync) -> Self {
        let s = sync.effective();
        SettingsReply {
            success: true,
            repository,
            auto_sync: s.auto_sync,
            default_labels: s.default_labels,
            closes_issues_in: s.closes_issues_in,
            default: sync.stored.is_none(),
            private: sync.private,
        }
    }
}

#[utoipa::path(get, path = "/api/sync/repositories/{owner}/{repo}", operation_id = "get_sync_settings", tag = "tasks",
    params(
        ("owner" = String, Path, description = "The repository owner", pattern = r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}$"),
        ("repo" = String, Path, description = "The repository name", max_length = 100,
            pattern = r"^[A-Za-z0-9._-]*[A-Za-z0-9_-][A-Za-z0-9._-]*$"),
    ),
    responses(
        (status = 200, description = "The repository's sync settings", body = SettingsReply),
        (status = 400, description = "Invalid repository name", body = ErrorBody),
    ))]
async fn get_settings(
    state: web::Data<AppState>,
    _actor: Actor,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let repository = repo_name(&path.0, &path.1)?;
    let sync = state.store.sync_settings(&repository).await?;
    Ok(HttpResponse::Ok().json(SettingsReply::new(repository, &sync)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = SyncSettingsChange)]
#[serde(deny_unknown_fields)]
struct SettingsBody {
    auto_sync: Option<bool>,
    default_labels: Option<Vec<String>>,
    /// Other repositories (owner/name, at most 50) whose issues this repository's pull requests
    /// may close; `[]`: only its own (the default).
    closes_issues_in: Option<Vec<String>>,
}

#[utoipa::path(put, path = "/api/sync/repositories/{owner}/{repo}", operation_id = "put_sync_settings", tag = "tasks",
    params(
        ("owner" = String, Path, description = "The repository owner", pattern = r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}$"),
        ("repo" = String, Path, description = "The repository name", max_length = 100,
            pattern = r"^[A-Za-z0-9._-]*[A-Za-z0-9_-][A-Za-z0-9._-]*$"),
    ),
    request_body = SettingsBody,
    responses(
        (status = 200, description = "The settings now stored", body = SettingsReply),
        (status = 400, description = "Invalid repository name or fields", body = ErrorBody),
    ))]
async fn put_settings(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<(String, String)>,
    body: JsonObject<SettingsBody>,
) -> Result<HttpResponse, ApiError> {
    let repository = repo_name(&path.0, &path.1)?;
    let sync = state.store.sync_settings(&repository).await?;
    let mut settings = sync.effective();
    if let Some(a) = body.auto_sync {
        settings.auto_sync = a;
    }
    if let Some(labels) = &body.default_labels {
        if labels.iter().any(|l| l.trim().is_empty() || l.chars().count() > 50) {
            return Err(ApiError::BadRequest("default_labels must be non-empty names of at most 50 characters".into()));
        }
        settings.default_labels = crate::domain::tasks::normalize_labels(labels);
    }
    if let Some(repositories) = &body.closes_issues_in {
        settings.closes_issues_in =
            crate::domain::issue_sync::closes_issues_in(&repository, repositories).map_err(ApiError::BadRequest)?;
    }
    let details = json!({
        "repository": repository, "auto_sync": settings.auto_sync, "default_labels": settings.default_labels,
        "closes_issues_in": settings.closes_issues_in,
    });
    state.store.put_sync_settings(&repository, &settings, &audit(&actor.0, "sync.settings_updated", details)).await?;
    let sync = RepositorySync { stored: Some(settings), ..sync };
    Ok(HttpResponse::Ok().json(SettingsReply::new(repository, &sync)))
}

#[derive(Serialize, ToSchema)]
struct IssueSynced<'a> {
    task_id: i64,
    issue_number: i64,
    url: Option<String>,
    /// created or updated
    action: &'static str,
    task: Option<TaskView<'a>>,
}

#[derive(Serialize, ToSchema)]
struct IssueWritten {
    issue_number: Option<i64>,
    url: Option<String>,
    /// created, updated, or queued (202: GitHub had not answered within 20 s)
    action: String,
    /// With `queued`: the outbox job.
    #[serde(skip_serializing_if = "Option::is_none")]
    job_id: Option<i64>,
}

/// A repository as CommandCenter names it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RepositoryRef {
    #[schema(pattern = r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}$", example = "octo-org")]
    owner: String,
    #[schema(pattern = r"^[A-Za-z0-9._-]*[A-Za-z0-9_-][A-Za-z0-9._-]*$", max_length = 100, example = "research")]
    name: String,
}

// Unknown fields are refused: CommandCenter's callers send exactly these.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = IssueToTaskRequest)]
#[serde(deny_unknown_fields)]
struct IssueToTask {
    #[schema(minimum = 1, example = 123)]
    issue_number: i64,
    repository: RepositoryRef,
}

/// Reads the issue through the API and creates or updates its task.
#[utoipa::path(post, path = "/api/sync/issue-to-task", operation_id = "sync_issue_to_task", tag = "tasks",
    request_body = IssueToTask,
    responses(
        (status = 200, description = "The issue's task, created or updated", body = IssueSynced),
        (status = 400, description = "Invalid fields, or the number is a pull request's", body = ErrorBody),
        (status = 404, description = "No such issue", body = ErrorBody),
        (status = 502, description = "GitHub failed", body = ErrorBody),
        (status = 503, description = "No GitHub App configured (`github_not_configured`)", body = ErrorBody),
    ))]
async fn issue_to_task(
    state: web::Data<AppState>,
    _actor: Actor,
    body: JsonObject<IssueToTask>,
) -> Result<HttpResponse, ApiError> {
    let repository = repo_name(&body.repository.owner, &body.repository.name)?;
    if body.issue_number <= 0 {
        return Err(ApiError::BadRequest("issue_number must be a positive number".into()));
    }
    let gh = state.github()?;
    let issue = gh_tasks::read_issue(&gh, &repository, body.issue_number)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("Issue not found: {repository}#{}", body.issue_number)))?;
    if issue.get("pull_request").is_some() {
        return Err(ApiError::BadRequest(format!("{repository}#{} is a pull request", body.issue_number)));
    }
    let parsed: crate::webhook::events::Issue = serde_json::from_value(issue)
        .map_err(|e| ApiError::Github(format!("GitHub's issue could not be read: {e}")))?;
    let change = crate::webhook::plan::issue_from("sync", &repository, &parsed);
    let applied = state.store.apply_issue(&change, true).await?;
    let task_id = applied.task_id.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("issue sync made no task")))?;
    let task = state.store.get_task(task_id).await?;
    Ok(HttpResponse::Ok().json(IssueSynced {
        task_id,
        issue_number: body.issue_number,
        url: parsed.html_url,
        action: if applied.created { "created" } else { "updated" },
        task: task.as_ref().map(TaskView::new),
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = TaskToIssueRequest)]
#[serde(deny_unknown_fields)]
struct TaskToIssue {
    #[schema(minimum = 1, example = 456)]
    task_id: i64,
    repository: RepositoryRef,
}

async fn wait_for(state: &AppState, job_id: i64) -> Result<Option<OutboxJob>, ApiError> {
    let deadline = tokio::time::Instant::now() + WAIT_FOR_JOB;
    loop {
        if let Some(job) = state.store.get_job(job_id).await?
            && job.status.is_finished()
        {
            return Ok(Some(job));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Creates the task's issue (or updates the issue it already has), through the outbox, and
/// answers `{"issue_number", "url", "action"}` once GitHub has.
#[utoipa::path(post, path = "/api/sync/task-to-issue", operation_id = "sync_task_to_issue", tag = "tasks",
    request_body = TaskToIssue,
    responses(
        (status = 200, description = "The issue, created or updated", body = IssueWritten),
        (status = 202, description = "Queued: GitHub had not answered within 20 s", body = IssueWritten),
        (status = 400, description = "Invalid fields", body = ErrorBody),
        (status = 404, description = "No such task", body = ErrorBody),
        (status = 409, description = "The task is linked to another repository's issue", body = ErrorBody),
        (status = 502, description = "GitHub refused", body = ErrorBody),
        (status = 503, description = "No GitHub App configured (`github_not_configured`)", body = ErrorBody),
    ))]
async fn task_to_issue(
    state: web::Data<AppState>,
    _actor: Actor,
    body: JsonObject<TaskToIssue>,
) -> Result<HttpResponse, ApiError> {
    let repository = repo_name(&body.repository.owner, &body.repository.name)?;
    let task = state
        .store
        .get_task(body.task_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("Task not found: {}", body.task_id)))?;
    let gh = state.github()?;
    let linked = task.issue_number.is_some() && !task.issue_deleted;
    let (issue_write, action) = match &task.repository {
        Some(repo) if linked && !repo.eq_ignore_ascii_case(&repository) => {
            return Err(ApiError::Conflict {
                message: format!("Task {} is linked to an issue of {repo}", task.id),
                pipeline_id: None,
            });
        }
        _ if linked => (OutboxTask::UpdateTaskIssue { task_id: task.id }, "updated"),
        _ => (OutboxTask::CreateTaskIssue { task_id: task.id, repo: repository }, "created"),
    };
    let dedupe = (action == "created").then(|| format!("task-issue:{}", task.id));
    let job_id = outbox::enqueue(&gh, issue_write, dedupe).await?;
    let Some(job) = wait_for(&state, job_id).await? else {
        return Ok(HttpResponse::Accepted().json(IssueWritten {
            issue_number: task.issue_number,
            url: task.issue_url,
            action: "queued".into(),
            job_id: Some(job_id),
        }));
    };
    if job.status == OutboxJobStatus::Failed {
        return Err(ApiError::Github(format!(
            "GitHub refused the issue {}: {}",
            if action == "created" { "creation" } else { "update" },
            job.last_error.unwrap_or_default()
        )));
    }
    let task = state.store.get_task(task.id).await?.unwrap_or(task);
    let result = job.result.map(|r| r.0).unwrap_or(Value::Null);
    let action = result.get("action").and_then(Value::as_str).unwrap_or(action).to_string();
    Ok(HttpResponse::Ok().json(IssueWritten {
        issue_number: task.issue_number,
        url: task.issue_url,
        action,
        job_id: None,
    }))
}

#[derive(Serialize, ToSchema)]
#[schema(as = Push)]
struct PushView<'a> {
    #[serde(rename = "ref")]
    git_ref: &'a str,
    before: &'a str,
    after: &'a str,
    pusher: Option<&'a str>,
    commits_count: i64,
    /// When the oldest of the pushed commits was made (null when the push carried none).
    #[serde(with = "serde_secs::option")]
    #[schema(value_type = Option<String>)]
    first_commit_at: Option<DateTime<Utc>>,
    #[serde(with = "serde_secs")]
    #[schema(value_type = String)]
    received_at: DateTime<Utc>,
}

impl<'a> From<&'a Push> for PushView<'a> {
    fn from(p: &'a Push) -> Self {
        PushView {
            git_ref: &p.git_ref,
            before: &p.before_sha,
            after: &p.after_sha,
            pusher: p.pusher.as_deref(),
            commits_count: p.commits_count,
            first_commit_at: p.first_commit_at,
            received_at: p.received_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
struct Pushes<'a> {
    success: bool,
    repository: &'a str,
    /// Newest first.
    pushes: Vec<PushView<'a>>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct PushesQuery {
    /// 1 to 1000; default 20
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// Pushes to the default branch of a pipeline's repository, newest first.
#[utoipa::path(get, path = "/api/pipelines/{id}/pushes", operation_id = "list_pipeline_pushes", tag = "pipelines",
    params(("id" = String, Path, description = "The pipeline id (pipe_ and 12 hex digits)", pattern = "^pipe_[0-9a-f]{12}$"), PushesQuery),
    responses(
        (status = 200, description = "Pushes to the default branch of the pipeline's repository", body = Pushes),
        (status = 400, description = "Invalid limit", body = ErrorBody),
        (status = 404, description = "No such pipeline", body = ErrorBody),
    ))]
async fn pushes(
    state: web::Data<AppState>,
    _actor: Actor,
    id: web::Path<String>,
    q: web::Query<PushesQuery>,
) -> Result<HttpResponse, ApiError> {
    let (limit, _) = super::paging::resolve(q.limit, None, 20)?;
    let pipeline =
        state.store.get_pipeline(&id).await?.ok_or_else(|| ApiError::NotFound(format!("Pipeline not found: {id}")))?;
    let pushes = state.store.list_pushes(&pipeline.repository, limit).await?;
    let pushes = pushes.iter().map(PushView::from).collect();
    Ok(HttpResponse::Ok().json(Pushes { success: true, repository: &pipeline.repository, pushes }))
}
