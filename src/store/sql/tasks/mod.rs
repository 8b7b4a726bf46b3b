//! Research tasks and their GitHub side: linked issues, pull requests, per-repository sync
//! settings and pushes to default branches.
//!
//! Issue and pull request events are applied inside the delivery's transaction (`events.rs`):
//! what an issue change does to its task is decided by `domain::issue_sync`, against the task's
//! `synced` state (the issue as ccm last knew GitHub to hold it).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::AssertSqlSafe;

use super::db::{On, Query, query};
use super::filters::Filters;
use super::pipelines::insert_audit;
use crate::domain::clock;
use crate::domain::tasks::IssueState;
pub use crate::domain::tasks::{NewTask, Task};
use crate::store::rows::{ReadRow, column_names, qualified_names};
use crate::store::{Execution, NewAudit, Page, SqlStore, StoreResult, classify};

mod events;
mod records;

pub(crate) use events::{apply_issue_change, apply_pull_request, record_push};

pub use records::{
    IssueApplied, IssueChange, IssueLink, PullRequest, PullRequestRecord, Push, PushRecord, RepositorySync,
    SyncSettings, TaskFilter,
};
#[async_trait]
pub trait TaskStore {
    async fn create_task(&self, task: &NewTask, actor: &str) -> StoreResult<Task>;

    async fn get_task(&self, id: i64) -> StoreResult<Option<Task>>;

    async fn list_tasks(&self, filter: &TaskFilter) -> StoreResult<Page<Task>>;

    /// Writes the task's title, description, status, priority, labels and `local_changed_at`
    /// (and its audit entry) if the stored row still has `task.version`; `None` when another
    /// writer got there first.
    async fn save_task(&self, task: &Task, audit: &NewAudit) -> StoreResult<Option<Task>>;

    async fn delete_task(&self, id: i64, audit: &NewAudit) -> StoreResult<bool>;

    /// The task linked to an issue (repository case-insensitive).
    async fn task_for_issue(&self, repository: &str, number: i64) -> StoreResult<Option<Task>>;

    /// Applies an issue change in its own transaction. `explicit`: an explicit sync call, which
    /// creates the task whatever the action and the repository's `auto_sync`.
    async fn apply_issue(&self, change: &IssueChange, explicit: bool) -> StoreResult<IssueApplied>;

    /// Links a task to the issue ccm created for it; `issue` is what ccm wrote.
    async fn link_issue(
        &self,
        task_id: i64,
        link: &IssueLink,
        issue: &IssueState,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// Records that ccm wrote `issue` to the task's issue (GitHub's `updated_at` is `at`); the
    /// pending local change is cleared if the task is still at `version`.
    async fn record_issue_write(
        &self,
        task_id: i64,
        version: i64,
        issue: &IssueState,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// The repository's stored sync settings, if any, and its visibility, if a webhook said it.
    async fn sync_settings(&self, repository: &str) -> StoreResult<RepositorySync>;

    async fn put_sync_settings(&self, repository: &str, settings: &SyncSettings, audit: &NewAudit) -> StoreResult<()>;

    async fn task_pull_requests(&self, task_id: i64) -> StoreResult<Vec<PullRequest>>;

    /// Executions of a repository's commit, newest first.
    async fn executions_for_commit(&self, repository: &str, sha: &str) -> StoreResult<Vec<Execution>>;

    /// Pushes to a repository's default branch, newest first.
    async fn list_pushes(&self, repository: &str, limit: i64) -> StoreResult<Vec<Push>>;
}

/// The actor of changes that come from GitHub events.
const GITHUB_ACTOR: &str = "github";

pub(crate) fn audit(actor: &str, action: &str, details: Value) -> NewAudit {
    NewAudit { actor: actor.to_string(), action: action.to_string(), pipeline_id: None, details }
}

/// `SELECT` of a task's columns from `rest` (`FROM ...`).
fn select_tasks(rest: &str) -> Query<'static> {
    query(AssertSqlSafe(format!("SELECT {} {rest}", column_names(Task::COLUMNS))))
}

/// The task linked to an issue (repository case-insensitive).
async fn find_task(on: impl Into<On<'_>>, repository: &str, number: i64) -> StoreResult<Option<Task>> {
    Ok(select_tasks("FROM tasks WHERE repo_key = $1 AND issue_number = $2")
        .bind(repository.to_lowercase())
        .bind(number)
        .fetch_optional(on)
        .await?)
}

async fn settings_of(on: impl Into<On<'_>>, repository: &str) -> StoreResult<Option<SyncSettings>> {
    let sql = format!("SELECT {} FROM sync_settings WHERE repo_key = $1", column_names(SyncSettings::COLUMNS));
    Ok(query(AssertSqlSafe(sql)).bind(repository.to_lowercase()).fetch_optional(on).await?)
}

/// Whether the repository is private, as its last issue or pull request webhook said.
async fn visibility_of(on: impl Into<On<'_>>, repository: &str) -> StoreResult<Option<bool>> {
    let row: Option<(bool,)> = query("SELECT private FROM repository_visibility WHERE repo_key = $1")
        .bind(repository.to_lowercase())
        .fetch_optional(on)
        .await?;
    Ok(row.map(|(private,)| private))
}

/// Records what a webhook said of a repository's visibility (when it said anything).
async fn record_visibility(on: impl Into<On<'_>>, repository: &str, private: Option<bool>) -> StoreResult<()> {
    let Some(private) = private else { return Ok(()) };
    query(
        "INSERT INTO repository_visibility (repo_key, repository, private, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (repo_key) DO UPDATE SET repository = excluded.repository, private = excluded.private, \
           updated_at = excluded.updated_at \
         WHERE repository_visibility.private <> excluded.private",
    )
    .bind(repository.to_lowercase())
    .bind(repository)
    .bind(private)
    .bind(clock::now())
    .execute(on)
    .await?;
    Ok(())
}

/// A repository's stored settings and visibility; `private`: what the event at hand says of it
/// (newer than anything recorded).
async fn repository_sync(on: &mut On<'_>, repository: &str, private: Option<bool>) -> StoreResult<RepositorySync> {
    let stored = settings_of(&mut *on, repository).await?;
    let private = match private {
        Some(private) => Some(private),
        None => visibility_of(on, repository).await?,
    };
    Ok(RepositorySync { stored, private })
}

#[async_trait]
impl TaskStore for SqlStore {
    async fn create_task(&self, t: &NewTask, actor: &str) -> StoreResult<Task> {
        let mut tx = self.db.begin().await?;
        let sql = format!(
            "INSERT INTO tasks (title, description, status, priority, labels, origin, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING {}",
            column_names(Task::COLUMNS)
        );
        let task: Task = query(AssertSqlSafe(sql))
            .bind(&t.title)
            .bind(&t.description)
            .bind(t.status.as_str())
            .bind(t.priority.as_str())
            .bind_json(&t.labels)
            .bind(&t.origin)
            .bind(clock::now())
            .fetch_one(&mut tx)
            .await?;
        let details = json!({"task_id": task.id, "title": task.title});
        insert_audit(&mut tx, &audit(actor, "task.created", details)).await?;
        tx.commit().await?;
        Ok(task)
    }

    async fn get_task(&self, id: i64) -> StoreResult<Option<Task>> {
        Ok(select_tasks("FROM tasks WHERE id = $1").bind(id).fetch_optional(&self.db).await?)
    }

    async fn list_tasks(&self, f: &TaskFilter) -> StoreResult<Page<Task>> {
        let repo_key = f.repository.as_ref().map(|r| r.to_lowercase());
        let filters = Filters::new(&[
            ("status", f.status.map(|s| s.as_str())),
            ("priority", f.priority.map(|p| p.as_str())),
            ("repo_key", repo_key.as_deref()),
        ]);
        filters.page(&self.db, "tasks", "id DESC", f.limit, f.offset).await
    }

    async fn save_task(&self, t: &Task, a: &NewAudit) -> StoreResult<Option<Task>> {
        let mut tx = self.db.begin().await?;
        let sql = format!(
            "UPDATE tasks SET title = $3, description = $4, status = $5, priority = $6, labels = $7, \
               local_changed_at = $8, updated_at = $9, version = version + 1 \
             WHERE id = $1 AND version = $2 RETURNING {}",
            column_names(Task::COLUMNS)
        );
        let saved: Option<Task> = query(AssertSqlSafe(sql))
            .bind(t.id)
            .bind(t.version)
            .bind(&t.title)
            .bind(&t.description)
            .bind(t.status.as_str())
            .bind(t.priority.as_str())
            .bind_json(&t.labels.0)
            .bind(t.local_changed_at)
            .bind(t.updated_at)
            .fetch_optional(&mut tx)
            .await?;
        if saved.is_some() {
            insert_audit(&mut tx, a).await?;
        }
        tx.commit().await?;
        Ok(saved)
    }

    async fn delete_task(&self, id: i64, a: &NewAudit) -> StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        let deleted = query("DELETE FROM tasks WHERE id = $1").bind(id).execute(&mut tx).await? > 0;
        if deleted {
            insert_audit(&mut tx, a).await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }

    async fn task_for_issue(&self, repository: &str, number: i64) -> StoreResult<Option<Task>> {
        find_task(&self.db, repository, number).await
    }

    async fn apply_issue(&self, change: &IssueChange, explicit: bool) -> StoreResult<IssueApplied> {
        let mut tx = self.db.begin().await?;
        let applied = apply_issue_change(&mut tx.on(), change, explicit).await?;
        tx.commit().await?;
        Ok(applied)
    }

    async fn link_issue(
        &self,
        task_id: i64,
        link: &IssueLink,
        issue: &IssueState,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        query(
            "UPDATE tasks SET repository = $2, repo_key = $3, issue_number = $4, issue_node_id = $5, issue_url = $6, \
               labels = $9, synced = $7, synced_at = $8, pushed_at = $8, issue_deleted = FALSE, version = version + 1 \
             WHERE id = $1",
        )
        .bind(task_id)
        .bind(&link.repository)
        .bind(link.repository.to_lowercase())
        .bind(link.number)
        .bind(&link.node_id)
        .bind(&link.url)
        .bind_json(issue)
        .bind(at)
        .bind_json(&issue.labels)
        .execute(&mut tx)
        .await
        .map_err(classify)?;
        let details = json!({
            "task_id": task_id, "repository": link.repository, "issue_number": link.number, "url": link.url,
        });
        insert_audit(&mut tx, &audit("ccm", "task.issue_created", details)).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn record_issue_write(
        &self,
        task_id: i64,
        version: i64,
        issue: &IssueState,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        query(
            "UPDATE tasks SET synced = $3, synced_at = $4, pushed_at = $4, \
               local_changed_at = CASE WHEN version = $2 THEN NULL ELSE local_changed_at END WHERE id = $1",
        )
        .bind(task_id)
        .bind(version)
        .bind_json(issue)
        .bind(at)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    async fn sync_settings(&self, repository: &str) -> StoreResult<RepositorySync> {
        repository_sync(&mut On::from(&self.db), repository, None).await
    }

    async fn put_sync_settings(&self, repository: &str, s: &SyncSettings, a: &NewAudit) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        query(
            "INSERT INTO sync_settings (repo_key, repository, auto_sync, default_labels, updated_at, closes_issues_in) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (repo_key) DO UPDATE SET repository = excluded.repository, auto_sync = excluded.auto_sync, \
               default_labels = excluded.default_labels, updated_at = excluded.updated_at, \
               closes_issues_in = excluded.closes_issues_in",
        )
        .bind(repository.to_lowercase())
        .bind(repository)
        .bind(s.auto_sync)
        .bind_json(&s.default_labels)
        .bind(clock::now())
        .bind_json(&s.closes_issues_in)
        .execute(&mut tx)
        .await?;
        insert_audit(&mut tx, a).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn task_pull_requests(&self, task_id: i64) -> StoreResult<Vec<PullRequest>> {
        let sql = format!(
            "SELECT {} FROM pull_requests p JOIN task_pull_requests l ON l.repo_key = p.repo_key AND l.number = p.number \
             WHERE l.task_id = $1 ORDER BY p.number",
            qualified_names("p", PullRequest::COLUMNS)
        );
        Ok(query(AssertSqlSafe(sql)).bind(task_id).fetch_all(&self.db).await?)
    }

    async fn executions_for_commit(&self, repository: &str, sha: &str) -> StoreResult<Vec<Execution>> {
        let sql = format!(
            "SELECT {} FROM executions WHERE repo_key = $1 AND head_sha = $2 ORDER BY created_at DESC, id DESC LIMIT 50",
            column_names(Execution::COLUMNS)
        );
        Ok(query(AssertSqlSafe(sql)).bind(repository.to_lowercase()).bind(sha).fetch_all(&self.db).await?)
    }

    async fn list_pushes(&self, repository: &str, limit: i64) -> StoreResult<Vec<Push>> {
        let sql =
            format!("SELECT {} FROM pushes WHERE repo_key = $1 ORDER BY id DESC LIMIT $2", column_names(Push::COLUMNS));
        Ok(query(AssertSqlSafe(sql)).bind(repository.to_lowercase()).bind(limit).fetch_all(&self.db).await?)
    }
}
