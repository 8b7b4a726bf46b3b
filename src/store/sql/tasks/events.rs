//! GitHub's side of tasks, applied inside the transaction of the delivery that brings it: issue
//! changes (decided by `domain::issue_sync`, written here), pull requests and pushes.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{
    GITHUB_ACTOR, IssueApplied, IssueChange, PullRequestRecord, PushRecord, audit, find_task, record_visibility,
    repository_sync, settings_of,
};
use crate::domain::clock;
use crate::domain::issue_sync::{IssueDecision, IssueUpdate, decide};
use crate::domain::status::{TaskPriority, TaskStatus};
use crate::domain::tasks::{Task, acting_refs, status_move_for_pull_request};
use crate::store::sql::db::{On, query};
use crate::store::sql::pipelines::insert_audit;
use crate::store::{StoreResult, classify};

/// Applies an issue change (see `TaskStore::apply_issue`) on an open transaction.
pub(crate) async fn apply_issue_change(on: &mut On<'_>, c: &IssueChange, explicit: bool) -> StoreResult<IssueApplied> {
    let task = find_task(&mut *on, &c.link.repository, c.link.number).await?;
    record_visibility(&mut *on, &c.link.repository, c.private).await?;
    let settings = repository_sync(on, &c.link.repository, c.private).await?.effective();
    let task_id = task.as_ref().map(|t| t.id);
    let unchanged = IssueApplied { task_id, created: false, changed: false };
    let changed = IssueApplied { task_id, created: false, changed: true };
    let source = if explicit { "sync" } else { "webhook" };
    let now = clock::now();
    match (decide(task.as_ref(), c, &settings, explicit), task) {
        (IssueDecision::Unchanged, _) => Ok(unchanged),
        (IssueDecision::Echo, _) => {
            tracing::debug!(task_id, "issue event from a bot echoes ccm's own write; ignored");
            Ok(unchanged)
        }
        (IssueDecision::Create { status, priority }, _) => {
            let id = insert_from_issue(on, c, status, priority).await?;
            let details = json!({
                "task_id": id, "repository": c.link.repository, "issue_number": c.link.number,
                "source": source, "sender": c.sender,
            });
            insert_audit(on, &audit(GITHUB_ACTOR, "task.created_from_issue", details)).await?;
            Ok(IssueApplied { task_id: Some(id), created: true, changed: true })
        }
        (_, None) => Ok(unchanged),
        (IssueDecision::MarkDeleted, Some(task)) => {
            query("UPDATE tasks SET issue_deleted = TRUE, updated_at = $2, version = version + 1 WHERE id = $1")
                .bind(task.id)
                .bind(now)
                .execute(&mut *on)
                .await?;
            let details = json!({
                "task_id": task.id, "repository": c.link.repository, "issue_number": c.link.number,
                "sender": c.sender,
            });
            insert_audit(on, &audit(GITHUB_ACTOR, "task.issue_deleted", details)).await?;
            Ok(changed)
        }
        (IssueDecision::Transfer(to), Some(task)) => {
            query(
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
            .execute(&mut *on)
            .await
            .map_err(classify)?;
            let details = json!({
                "task_id": task.id,
                "from": {"repository": c.link.repository, "issue_number": c.link.number},
                "to": {"repository": to.repository, "issue_number": to.number},
            });
            insert_audit(on, &audit(GITHUB_ACTOR, "task.issue_transferred", details)).await?;
            Ok(changed)
        }
        (IssueDecision::Stale, Some(task)) => {
            let details = json!({
                "task_id": task.id, "winner": "ccm", "reason": "the issue change is older than the last one applied",
                "github": c.issue, "github_changed_at": clock::format(&c.updated_at),
                "ccm": task.issue_state(),
            });
            insert_audit(on, &audit(GITHUB_ACTOR, "task.sync_conflict", details)).await?;
            Ok(unchanged)
        }
        (IssueDecision::Update(update), Some(task)) => {
            update_from_issue(on, &task, c, &update, now).await?;
            if !update.conflicts.is_empty() {
                let details = json!({"task_id": task.id, "action": c.action, "conflicts": update.conflicts});
                insert_audit(&mut *on, &audit(GITHUB_ACTOR, "task.sync_conflict", details)).await?;
            }
            if update.changed {
                let details = json!({
                    "task_id": task.id, "action": c.action, "source": source, "sender": c.sender,
                    "before": update.before, "after": update.after, "status": update.status,
                    "priority": update.priority,
                });
                insert_audit(on, &audit(GITHUB_ACTOR, "task.updated_from_issue", details)).await?;
            }
            Ok(IssueApplied { task_id, created: false, changed: update.changed })
        }
    }
}

async fn insert_from_issue(
    on: &mut On<'_>,
    c: &IssueChange,
    status: TaskStatus,
    priority: TaskPriority,
) -> StoreResult<i64> {
    let i = &c.issue;
    let (id,): (i64,) = query(
        "INSERT INTO tasks (title, description, status, priority, labels, origin, repository, repo_key, \
           issue_number, issue_node_id, issue_url, synced, synced_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'github', $6, $7, $8, $9, $10, $11, $12, $13, $13) RETURNING id",
    )
    .bind(&i.title)
    .bind(&i.body)
    .bind(status.as_str())
    .bind(priority.as_str())
    .bind_json(&i.labels)
    .bind(&c.link.repository)
    .bind(c.link.repository.to_lowercase())
    .bind(c.link.number)
    .bind(&c.link.node_id)
    .bind(&c.link.url)
    .bind_json(i)
    .bind(c.updated_at)
    .bind(clock::now())
    .fetch_one(on)
    .await
    .map_err(classify)?;
    Ok(id)
}

/// Writes the task's fields after the issue change `c` merged into them.
async fn update_from_issue(
    on: &mut On<'_>,
    task: &Task,
    c: &IssueChange,
    update: &IssueUpdate,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let r = &update.after;
    query(
        "UPDATE tasks SET title = $2, description = $3, status = $4, priority = $5, labels = $6, synced = $7, \
           synced_at = $8, local_changed_at = $9, issue_node_id = COALESCE($10, issue_node_id), \
           issue_url = COALESCE($11, issue_url), updated_at = $12, version = version + 1 WHERE id = $1",
    )
    .bind(task.id)
    .bind(&r.title)
    .bind(&r.body)
    .bind(update.status.as_str())
    .bind(update.priority.as_str())
    .bind_json(&r.labels)
    .bind_json(&c.issue)
    .bind(update.synced_at)
    .bind(update.local_changed_at)
    .bind(&c.link.node_id)
    .bind(&c.link.url)
    .bind(now)
    .execute(on)
    .await?;
    Ok(())
}

/// Stores a pull request, links it to the tasks it closes and moves their status.
pub(crate) async fn apply_pull_request(on: &mut On<'_>, pr: &PullRequestRecord) -> StoreResult<bool> {
    let repo_key = pr.repository.to_lowercase();
    let stored: Option<(i64,)> = query(
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
    .fetch_optional(&mut *on)
    .await?;
    if stored.is_none() {
        // An older event than the one stored: nothing moves backwards.
        return Ok(false);
    }
    record_visibility(&mut *on, &pr.repository, pr.private).await?;
    // Only references to the pull request's own repository, or to those its settings list.
    let closes_issues_in = settings_of(&mut *on, &pr.repository).await?.map(|s| s.closes_issues_in);
    for r in acting_refs(&pr.repository, &pr.closes, closes_issues_in.as_deref().unwrap_or_default()) {
        if let Some(task) = find_task(&mut *on, &r.repository, r.number).await? {
            query(
                "INSERT INTO task_pull_requests (task_id, repo_key, number) VALUES ($1, $2, $3) \
                 ON CONFLICT (task_id, repo_key, number) DO NOTHING",
            )
            .bind(task.id)
            .bind(&repo_key)
            .bind(pr.number)
            .execute(&mut *on)
            .await?;
        }
    }
    let Some((from, to)) = status_move_for_pull_request(pr.merged, &pr.action, pr.draft, &pr.state) else {
        return Ok(true);
    };
    let ids: Vec<(i64, TaskStatus)> = query(
        "SELECT t.id, t.status FROM tasks t JOIN task_pull_requests l ON l.task_id = t.id \
         WHERE l.repo_key = $1 AND l.number = $2 ORDER BY t.id",
    )
    .bind(&repo_key)
    .bind(pr.number)
    .fetch_all(&mut *on)
    .await?;
    let now = clock::now();
    for (id, status) in ids.into_iter().filter(|(_, s)| from.contains(s)) {
        query("UPDATE tasks SET status = $2, updated_at = $3, version = version + 1 WHERE id = $1")
            .bind(id)
            .bind(to.as_str())
            .bind(now)
            .execute(&mut *on)
            .await?;
        let details = json!({
            "task_id": id, "repository": pr.repository, "pull_request": pr.number, "action": pr.action,
            "from": status, "to": to,
        });
        insert_audit(&mut *on, &audit(GITHUB_ACTOR, "task.status_from_pull_request", details)).await?;
    }
    Ok(true)
}

pub(crate) async fn record_push(on: impl Into<On<'_>>, p: &PushRecord) -> StoreResult<bool> {
    let inserted: Option<(i64,)> = query(
        "INSERT INTO pushes (repo_key, repository, ref, before_sha, after_sha, pusher, commits_count, first_commit_at, \
           received_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (repo_key, ref, after_sha) DO NOTHING RETURNING id",
    )
    .bind(p.repository.to_lowercase())
    .bind(&p.repository)
    .bind(&p.git_ref)
    .bind(&p.before)
    .bind(&p.after)
    .bind(&p.pusher)
    .bind(p.commits_count)
    .bind(p.first_commit_at)
    .bind(clock::now())
    .fetch_optional(on)
    .await?;
    Ok(inserted.is_some())
}
