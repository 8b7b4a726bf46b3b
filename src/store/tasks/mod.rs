//! Research tasks and their GitHub side: linked issues, pull requests, per-repository sync
//! settings and pushes to default branches.
//!
//! Issue and pull request events are applied inside the delivery's transaction
//! (`apply_issue_change`, `apply_pull_request`, `record_push`): loop suppression and conflict
//! resolution happen there, against the task's `synced` state (the issue as ccm last knew GitHub
//! to hold it).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Execution, NewAudit, Page, StoreResult};
use crate::domain::tasks::IssueState;
pub use crate::domain::tasks::{NewTask, Task};

mod records;

pub use records::{
    IssueApplied, IssueChange, IssueLink, PullRequest, PullRequestRecord, Push, PushRecord, SyncSettings, TaskFilter,
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

    async fn sync_settings(&self, repository: &str) -> StoreResult<Option<SyncSettings>>;

    async fn put_sync_settings(&self, repository: &str, settings: &SyncSettings, audit: &NewAudit) -> StoreResult<()>;

    async fn task_pull_requests(&self, task_id: i64) -> StoreResult<Vec<PullRequest>>;

    /// Executions of a repository's commit, newest first.
    async fn executions_for_commit(&self, repository: &str, sha: &str) -> StoreResult<Vec<Execution>>;

    /// Pushes to a repository's default branch, newest first.
    async fn list_pushes(&self, repository: &str, limit: i64) -> StoreResult<Vec<Push>>;
}

pub(crate) fn audit(actor: &str, action: &str, details: Value) -> NewAudit {
    NewAudit { actor: actor.to_string(), action: action.to_string(), pipeline_id: None, details }
}

macro_rules! task_sql {
    ($store:ident, $db:ty) => {
        use chrono::{DateTime, Utc};
        use serde_json::json;
        use sqlx::AssertSqlSafe;
        use sqlx::types::Json;
        use $crate::domain::tasks::{self as rules, IssueState};
        use $crate::store::rows::{column_names, ReadRow};
        use $crate::store::tasks::*;
        use $crate::store::*;

        type Conn = <$db as sqlx::Database>::Connection;

        /// The actor of changes that come from GitHub events.
        const GITHUB_ACTOR: &str = "github";

        pub(in crate::store) async fn insert_audit(conn: &mut Conn, a: &NewAudit) -> StoreResult<()> {
            sqlx::query("INSERT INTO audit_log (at, actor, action, pipeline_id, details) VALUES ($1, $2, $3, $4, $5)")
                .bind($crate::domain::clock::now())
                .bind(&a.actor)
                .bind(&a.action)
                .bind(&a.pipeline_id)
                .bind(Json(&a.details))
                .execute(&mut *conn)
                .await?;
            Ok(())
        }

        async fn find_task(conn: &mut Conn, repository: &str, number: i64) -> StoreResult<Option<Task>> {
            let task_columns = column_names(Task::COLUMNS);
            let sql = format!("SELECT {task_columns} FROM tasks WHERE repo_key = $1 AND issue_number = $2");
            Ok(sqlx::query_as(AssertSqlSafe(sql))
                .bind(repository.to_lowercase())
                .bind(number)
                .fetch_optional(&mut *conn)
                .await?)
        }

        async fn settings_of(conn: &mut Conn, repository: &str) -> StoreResult<Option<SyncSettings>> {
            let row: Option<(bool, Json<Vec<String>>)> =
                sqlx::query_as("SELECT auto_sync, default_labels FROM sync_settings WHERE repo_key = $1")
                    .bind(repository.to_lowercase())
                    .fetch_optional(&mut *conn)
                    .await?;
            Ok(row.map(|(auto_sync, labels)| SyncSettings { auto_sync, default_labels: labels.0 }))
        }

        async fn insert_from_issue(conn: &mut Conn, c: &IssueChange) -> StoreResult<i64> {
            let now = $crate::domain::clock::now();
            let i = &c.issue;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO tasks (title, description, status, priority, labels, origin, repository, repo_key, \
                   issue_number, issue_node_id, issue_url, synced, synced_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, 'github', $6, $7, $8, $9, $10, $11, $12, $13, $13) RETURNING id",
            )
            .bind(&i.title)
            .bind(&i.body)
            .bind(rules::status_for_state(&i.state))
            .bind(rules::priority_from_labels(&i.labels))
            .bind(Json(&i.labels))
            .bind(&c.link.repository)
            .bind(c.link.repository.to_lowercase())
            .bind(c.link.number)
            .bind(&c.link.node_id)
            .bind(&c.link.url)
            .bind(Json(i))
            .bind(c.updated_at)
            .bind(now)
            .fetch_one(&mut *conn)
            .await
            .map_err(classify)?;
            Ok(id)
        }

        /// Applies an issue change on an open transaction.
        pub(in crate::store) async fn apply_issue_change(
            conn: &mut Conn,
            c: &IssueChange,
            explicit: bool,
        ) -> StoreResult<IssueApplied> {
            let now = $crate::domain::clock::now();
            let task = find_task(conn, &c.link.repository, c.link.number).await?;
            let settings = settings_of(conn, &c.link.repository).await?.unwrap_or_default();
            let unchanged = |task: &Option<Task>| IssueApplied {
                task_id: task.as_ref().map(|t| t.id),
                created: false,
                changed: false,
            };
            let source = if explicit { "sync" } else { "webhook" };
            let Some(task) = task else {
                if c.action == "deleted" || c.action == "transferred" {
                    return Ok(unchanged(&None));
                }
                if !(explicit || (settings.auto_sync && c.action == "opened")) {
                    return Ok(unchanged(&None));
                }
                let id = insert_from_issue(conn, c).await?;
                insert_audit(
                    conn,
                    &audit(GITHUB_ACTOR, "task.created_from_issue", json!({
                        "task_id": id, "repository": c.link.repository, "issue_number": c.link.number,
                        "source": source, "sender": c.sender,
                    })),
                )
                .await?;
                return Ok(IssueApplied { task_id: Some(id), created: true, changed: true });
            };
            if !explicit && !settings.auto_sync {
                return Ok(unchanged(&Some(task)));
            }
            match c.action.as_str() {
                "deleted" => {
                    if task.issue_deleted {
                        return Ok(unchanged(&Some(task)));
                    }
                    sqlx::query("UPDATE tasks SET issue_deleted = TRUE, updated_at = $2, version = version + 1 WHERE id = $1")
                        .bind(task.id)
                        .bind(now)
                        .execute(&mut *conn)
                        .await?;
                    insert_audit(conn, &audit(GITHUB_ACTOR, "task.issue_deleted", json!({
                        "task_id": task.id, "repository": c.link.repository, "issue_number": c.link.number, "sender": c.sender,
                    })))
                    .await?;
                    return Ok(IssueApplied { task_id: Some(task.id), created: false, changed: true });
                }
                "transferred" => {
                    let Some(to) = &c.transferred_to else { return Ok(unchanged(&Some(task))) };
                    sqlx::query(
                        "UPDATE tasks SET repository = $2, repo_key = $3, issue_number = $4, issue_node_id = $5, \
                           issue_url = $6, updated_at = $7, version = version + 1 WHERE id = $1",
                    )
                    .bind(task.id)
                    .bind(&to.repository)
                    .bind(to.repository.to_lowercase())
                    .bind(to.number)
                    .bind(&to.node_id)
                    .bind(&to.url)
                    .bind(now)
                    .execute(&mut *conn)
                    .await
                    .map_err(classify)?;
                    insert_audit(conn, &audit(GITHUB_ACTOR, "task.issue_transferred", json!({
                        "task_id": task.id,
                        "from": {"repository": c.link.repository, "issue_number": c.link.number},
                        "to": {"repository": to.repository, "issue_number": to.number},
                    })))
                    .await?;
                    return Ok(IssueApplied { task_id: Some(task.id), created: false, changed: true });
                }
                _ => {}
            }
            let synced = task.synced.as_ref().map(|s| &s.0);
            // ccm's own write coming back, or what ccm already holds: nothing to do.
            if synced == Some(&c.issue) {
                return Ok(unchanged(&Some(task)));
            }
            if c.sender_is_bot && task.pushed_at.is_some_and(|p| c.updated_at <= p) {
                tracing::debug!(task_id = task.id, "issue event from a bot echoes ccm's own write; ignored");
                return Ok(unchanged(&Some(task)));
            }
            // Older than what ccm already knows of the issue (out of order, or overwritten since
            // by ccm's later write): the later change has won already.
            if !explicit && task.synced_at.is_some_and(|s| c.updated_at < s) {
                insert_audit(conn, &audit(GITHUB_ACTOR, "task.sync_conflict", json!({
                    "task_id": task.id, "winner": "ccm", "reason": "the issue change is older than the last one applied",
                    "github": c.issue, "github_changed_at": $crate::domain::clock::format(&c.updated_at),
                    "ccm": task.issue_state(),
                })))
                .await?;
                return Ok(unchanged(&Some(task)));
            }
            let current = task.issue_state();
            let local_at = task.local_changed_at.unwrap_or(task.updated_at);
            let merged = rules::merge(&current, synced, &c.issue, local_at, c.updated_at);
            let r = &merged.result;
            let status = if r.state == current.state { task.status } else { rules::status_for_state(&r.state) };
            let priority = if r.labels == current.labels { task.priority } else { rules::priority_from_labels(&r.labels) };
            // A local change still differs from GitHub: it stays pending (its write is queued).
            let pending = if *r != c.issue { task.local_changed_at } else { None };
            let synced_at = task.synced_at.map_or(c.updated_at, |s| s.max(c.updated_at));
            sqlx::query(
                "UPDATE tasks SET title = $2, description = $3, status = $4, priority = $5, labels = $6, synced = $7, \
                   synced_at = $8, local_changed_at = $9, issue_node_id = COALESCE($10, issue_node_id), \
                   issue_url = COALESCE($11, issue_url), updated_at = $12, version = version + 1 WHERE id = $1",
            )
            .bind(task.id)
            .bind(&r.title)
            .bind(&r.body)
            .bind(&status)
            .bind(&priority)
            .bind(Json(&r.labels))
            .bind(Json(&c.issue))
            .bind(synced_at)
            .bind(pending)
            .bind(&c.link.node_id)
            .bind(&c.link.url)
            .bind(now)
            .execute(&mut *conn)
            .await?;
            let changed = *r != current || status != task.status;
            if !merged.conflicts.is_empty() {
                insert_audit(conn, &audit(GITHUB_ACTOR, "task.sync_conflict", json!({
                    "task_id": task.id, "action": c.action, "conflicts": merged.conflicts,
                })))
                .await?;
            }
            if changed {
                insert_audit(conn, &audit(GITHUB_ACTOR, "task.updated_from_issue", json!({
                    "task_id": task.id, "action": c.action, "source": source, "sender": c.sender,
                    "before": current, "after": r, "status": status, "priority": priority,
                })))
                .await?;
            }
            Ok(IssueApplied { task_id: Some(task.id), created: false, changed })
        }

        /// Stores a pull request, links it to the tasks it closes and moves their status.
        pub(in crate::store) async fn apply_pull_request(conn: &mut Conn, pr: &PullRequestRecord) -> StoreResult<bool> {
            let repo_key = pr.repository.to_lowercase();
            let stored: Option<i64> = sqlx::query_scalar(
                "INSERT INTO pull_requests (repo_key, repository, number, title, state, draft, merged, head_sha, author, url, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                 ON CONFLICT (repo_key, number) DO UPDATE SET title = excluded.title, state = excluded.state, \
                   draft = excluded.draft, merged = excluded.merged, head_sha = excluded.head_sha, author = excluded.author, \
                   url = excluded.url, updated_at = excluded.updated_at \
                 WHERE excluded.updated_at >= pull_requests.updated_at RETURNING number",
            )
            .bind(&repo_key)
            .bind(&pr.repository)
            .bind(pr.number)
            .bind(&pr.title)
            .bind(&pr.state)
            .bind(pr.draft)
            .bind(pr.merged)
            .bind(&pr.head_sha)
            .bind(&pr.author)
            .bind(&pr.url)
            .bind(pr.updated_at)
            .fetch_optional(&mut *conn)
            .await?;
            if stored.is_none() {
                // An older event than the one stored: nothing moves backwards.
                return Ok(false);
            }
            for r in &pr.closes {
                if let Some(task) = find_task(conn, &r.repository, r.number).await? {
                    sqlx::query(
                        "INSERT INTO task_pull_requests (task_id, repo_key, number) VALUES ($1, $2, $3) \
                         ON CONFLICT (task_id, repo_key, number) DO NOTHING",
                    )
                    .bind(task.id)
                    .bind(&repo_key)
                    .bind(pr.number)
                    .execute(&mut *conn)
                    .await?;
                }
            }
            let Some((from, to)) = rules::status_move_for_pull_request(pr.merged, &pr.action, pr.draft, &pr.state) else {
                return Ok(true);
            };
            let ids: Vec<(i64, $crate::domain::status::TaskStatus)> = sqlx::query_as(
                "SELECT t.id, t.status FROM tasks t JOIN task_pull_requests l ON l.task_id = t.id \
                 WHERE l.repo_key = $1 AND l.number = $2 ORDER BY t.id",
            )
            .bind(&repo_key)
            .bind(pr.number)
            .fetch_all(&mut *conn)
            .await?;
            let now = $crate::domain::clock::now();
            for (id, status) in ids.into_iter().filter(|(_, s)| from.contains(s)) {
                sqlx::query("UPDATE tasks SET status = $2, updated_at = $3, version = version + 1 WHERE id = $1")
                    .bind(id)
                    .bind(to)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                insert_audit(conn, &audit(GITHUB_ACTOR, "task.status_from_pull_request", json!({
                    "task_id": id, "repository": pr.repository, "pull_request": pr.number, "action": pr.action,
                    "from": status, "to": to,
                })))
                .await?;
            }
            Ok(true)
        }

        pub(in crate::store) async fn record_push(conn: &mut Conn, p: &PushRecord) -> StoreResult<bool> {
            let inserted: Option<i64> = sqlx::query_scalar(
                "INSERT INTO pushes (repo_key, repository, ref, before_sha, after_sha, pusher, commits_count, received_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (repo_key, ref, after_sha) DO NOTHING RETURNING id",
            )
            .bind(p.repository.to_lowercase())
            .bind(&p.repository)
            .bind(&p.git_ref)
            .bind(&p.before)
            .bind(&p.after)
            .bind(&p.pusher)
            .bind(p.commits_count)
            .bind($crate::domain::clock::now())
            .fetch_optional(&mut *conn)
            .await?;
            Ok(inserted.is_some())
        }

        #[async_trait::async_trait]
        impl TaskStore for $store {
            async fn create_task(&self, t: &NewTask, actor: &str) -> StoreResult<Task> {
                let now = $crate::domain::clock::now();
                let mut tx = self.pool.begin().await?;
                let task_columns = column_names(Task::COLUMNS);
                let sql = format!(
                    "INSERT INTO tasks (title, description, status, priority, labels, origin, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING {task_columns}"
                );
                let task: Task = sqlx::query_as(AssertSqlSafe(sql))
                    .bind(&t.title)
                    .bind(&t.description)
                    .bind(&t.status)
                    .bind(&t.priority)
                    .bind(Json(&t.labels))
                    .bind(&t.origin)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                insert_audit(&mut tx, &audit(actor, "task.created", json!({"task_id": task.id, "title": task.title}))).await?;
                tx.commit().await?;
                Ok(task)
            }

            async fn get_task(&self, id: i64) -> StoreResult<Option<Task>> {
                let task_columns = column_names(Task::COLUMNS);
                let sql = format!("SELECT {task_columns} FROM tasks WHERE id = $1");
                Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_optional(&self.pool).await?)
            }

            async fn list_tasks(&self, f: &TaskFilter) -> StoreResult<Page<Task>> {
                let repo_key = f.repository.as_ref().map(|r| r.to_lowercase());
                let filters = $crate::store::filters::Filters::new(&[
                    ("status", f.status.map(|s| s.as_str())),
                    ("priority", f.priority.map(|p| p.as_str())),
                    ("repo_key", repo_key.as_deref()),
                ]);
                Ok($crate::store::filters::filtered_page!(
                    &self.pool,
                    "tasks",
                    column_names(Task::COLUMNS),
                    "id DESC",
                    filters,
                    f.limit,
                    f.offset,
                ))
            }

            async fn save_task(&self, t: &Task, a: &NewAudit) -> StoreResult<Option<Task>> {
                let mut tx = self.pool.begin().await?;
                let task_columns = column_names(Task::COLUMNS);
                let sql = format!(
                    "UPDATE tasks SET title = $3, description = $4, status = $5, priority = $6, labels = $7, \
                       local_changed_at = $8, updated_at = $9, version = version + 1 \
                     WHERE id = $1 AND version = $2 RETURNING {task_columns}"
                );
                let saved: Option<Task> = sqlx::query_as(AssertSqlSafe(sql))
                    .bind(t.id)
                    .bind(t.version)
                    .bind(&t.title)
                    .bind(&t.description)
                    .bind(&t.status)
                    .bind(&t.priority)
                    .bind(Json(&t.labels.0))
                    .bind(t.local_changed_at)
                    .bind(t.updated_at)
                    .fetch_optional(&mut *tx)
                    .await?;
                if saved.is_some() {
                    insert_audit(&mut tx, a).await?;
                }
                tx.commit().await?;
                Ok(saved)
            }

            async fn delete_task(&self, id: i64, a: &NewAudit) -> StoreResult<bool> {
                let mut tx = self.pool.begin().await?;
                let deleted = sqlx::query("DELETE FROM tasks WHERE id = $1").bind(id).execute(&mut *tx).await?.rows_affected() > 0;
                if deleted {
                    insert_audit(&mut tx, a).await?;
                }
                tx.commit().await?;
                Ok(deleted)
            }

            async fn task_for_issue(&self, repository: &str, number: i64) -> StoreResult<Option<Task>> {
                let mut conn = self.pool.acquire().await?;
                find_task(&mut conn, repository, number).await
            }

            async fn apply_issue(&self, change: &IssueChange, explicit: bool) -> StoreResult<IssueApplied> {
                let mut tx = self.pool.begin().await?;
                let applied = apply_issue_change(&mut tx, change, explicit).await?;
                tx.commit().await?;
                Ok(applied)
            }

            async fn link_issue(&self, task_id: i64, link: &IssueLink, issue: &IssueState, at: DateTime<Utc>) -> StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                sqlx::query(
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
                .bind(Json(issue))
                .bind(at)
                .bind(Json(&issue.labels))
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                insert_audit(&mut tx, &audit("ccm", "task.issue_created", json!({
                    "task_id": task_id, "repository": link.repository, "issue_number": link.number, "url": link.url,
                })))
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn record_issue_write(&self, task_id: i64, version: i64, issue: &IssueState, at: DateTime<Utc>) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE tasks SET synced = $3, synced_at = $4, pushed_at = $4, \
                       local_changed_at = CASE WHEN version = $2 THEN NULL ELSE local_changed_at END WHERE id = $1",
                )
                .bind(task_id)
                .bind(version)
                .bind(Json(issue))
                .bind(at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn sync_settings(&self, repository: &str) -> StoreResult<Option<SyncSettings>> {
                let mut conn = self.pool.acquire().await?;
                settings_of(&mut conn, repository).await
            }

            async fn put_sync_settings(&self, repository: &str, s: &SyncSettings, a: &NewAudit) -> StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                sqlx::query(
                    "INSERT INTO sync_settings (repo_key, repository, auto_sync, default_labels, updated_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (repo_key) DO UPDATE SET repository = excluded.repository, auto_sync = excluded.auto_sync, \
                       default_labels = excluded.default_labels, updated_at = excluded.updated_at",
                )
                .bind(repository.to_lowercase())
                .bind(repository)
                .bind(s.auto_sync)
                .bind(Json(&s.default_labels))
                .bind($crate::domain::clock::now())
                .execute(&mut *tx)
                .await?;
                insert_audit(&mut tx, a).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn task_pull_requests(&self, task_id: i64) -> StoreResult<Vec<PullRequest>> {
                Ok(sqlx::query_as(
                    "SELECT p.repository, p.number, p.title, p.state, p.draft, p.merged, p.head_sha, p.author, p.url, p.updated_at \
                     FROM pull_requests p JOIN task_pull_requests l ON l.repo_key = p.repo_key AND l.number = p.number \
                     WHERE l.task_id = $1 ORDER BY p.number",
                )
                .bind(task_id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn executions_for_commit(&self, repository: &str, sha: &str) -> StoreResult<Vec<Execution>> {
                let sql = format!(
                    "SELECT {} FROM executions WHERE repo_key = $1 AND head_sha = $2 ORDER BY created_at DESC, id DESC LIMIT 50",
                    column_names(Execution::COLUMNS)
                );
                Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(repository.to_lowercase()).bind(sha).fetch_all(&self.pool).await?)
            }

            async fn list_pushes(&self, repository: &str, limit: i64) -> StoreResult<Vec<Push>> {
                Ok(sqlx::query_as(
                    "SELECT id, repository, ref, before_sha, after_sha, pusher, commits_count, received_at FROM pushes \
                     WHERE repo_key = $1 ORDER BY id DESC LIMIT $2",
                )
                .bind(repository.to_lowercase())
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }
        }
    };
}

pub(crate) use task_sql;
