//! Changing a research task: what a change does to it, whether its issue is to follow, and the
//! optimistic save that applies the change again when a webhook changed the task meanwhile.

use serde_json::json;

use crate::domain::clock;
use crate::domain::status::{TaskPriority, TaskStatus};
use crate::domain::tasks::{Task, labels_with_priority, priority_from_labels};
use crate::store::tasks::audit;
use crate::store::{Store, StoreError};

/// What a caller asks to change (validated: the title is trimmed and of a valid length).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskChange {
    pub title: Option<String>,
    pub description: Option<String>,
    pub status: Option<TaskStatus>,
    pub priority: Option<TaskPriority>,
    pub labels: Option<Vec<String>>,
}

/// The task with `change` applied. New labels set the priority they name; a priority given
/// rewrites the priority labels to say it (and wins over the labels').
pub fn apply(task: &Task, change: &TaskChange) -> Task {
    let mut task = task.clone();
    if let Some(title) = &change.title {
        task.title = title.clone();
    }
    if let Some(description) = &change.description {
        task.description = description.clone();
    }
    if let Some(status) = change.status {
        task.status = status;
    }
    if let Some(labels) = &change.labels {
        task.labels.0 = labels.clone();
        task.priority = priority_from_labels(labels);
    }
    if let Some(priority) = change.priority {
        task.labels.0 = labels_with_priority(&task.labels.0, priority);
        task.priority = priority;
    }
    task
}

/// Whether a change from `before` to `after` is written to the task's issue: the task is linked
/// to one that still exists, its repository syncs automatically, and what the issue shows
/// (title, body, state, labels) changed.
pub fn writes_issue(before: &Task, after: &Task, auto_sync: bool) -> bool {
    let linked = after.issue_number.is_some() && !after.issue_deleted;
    linked && auto_sync && after.issue_state() != before.issue_state()
}

#[derive(Debug)]
pub enum Updated {
    /// The change changed nothing: nothing was written.
    Unchanged(Task),
    /// Saved; `write_issue`: the issue is to follow (see `writes_issue`).
    Saved { task: Task, write_issue: bool },
}

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("Task not found: {0}")]
    NotFound(i64),
    #[error("The task kept changing; try again")]
    KeptChanging,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How many times a change is applied to a re-read task before giving up.
const ATTEMPTS: usize = 5;

/// Applies `change` to task `id` as `actor`, with an audit entry of the fields before and after.
pub async fn update(store: &dyn Store, actor: &str, id: i64, change: &TaskChange) -> Result<Updated, UpdateError> {
    for _ in 0..ATTEMPTS {
        let before = store.get_task(id).await?.ok_or(UpdateError::NotFound(id))?;
        let mut task = apply(&before, change);
        if task == before {
            return Ok(Updated::Unchanged(task));
        }
        let auto_sync = match &task.repository {
            Some(repo) if task.issue_number.is_some() && !task.issue_deleted => {
                store.sync_settings(repo).await?.effective().auto_sync
            }
            _ => false,
        };
        let write_issue = writes_issue(&before, &task, auto_sync);
        let now = clock::now();
        if write_issue {
            task.local_changed_at = Some(now);
        }
        task.updated_at = now;
        let details = json!({
            "task_id": task.id,
            "before": {"title": before.title, "description": before.description, "status": before.status,
                       "priority": before.priority, "labels": before.labels.0},
            "after": {"title": task.title, "description": task.description, "status": task.status,
                      "priority": task.priority, "labels": task.labels.0},
        });
        if let Some(saved) = store.save_task(&task, &audit(actor, "task.updated", details)).await? {
            return Ok(Updated::Saved { task: saved, write_issue });
        }
    }
    Err(UpdateError::KeptChanging)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::types::Json;

    fn task(labels: &[&str]) -> Task {
        let at = clock::now();
        Task {
            id: 7,
            title: "Measure".into(),
            description: "".into(),
            status: TaskStatus::Todo,
            priority: priority_from_labels(&labels.iter().map(|l| l.to_string()).collect::<Vec<_>>()),
            labels: Json(labels.iter().map(|l| l.to_string()).collect()),
            origin: "api".into(),
            repository: Some("octo/research".into()),
            issue_number: Some(3),
            issue_node_id: None,
            issue_url: None,
            issue_deleted: false,
            synced: None,
            synced_at: None,
            pushed_at: None,
            local_changed_at: None,
            version: 1,
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn labels_set_the_priority_and_a_given_priority_rewrites_the_labels() {
        let before = task(&["bug"]);
        let relabelled = apply(&before, &TaskChange { labels: Some(vec!["urgent".into()]), ..Default::default() });
        assert_eq!(relabelled.priority, TaskPriority::High);
        let both = TaskChange {
            labels: Some(vec!["urgent".into(), "bug".into()]),
            priority: Some(TaskPriority::Low),
            ..Default::default()
        };
        let changed = apply(&before, &both);
        assert_eq!(
            (changed.priority, changed.labels.0.clone()),
            (TaskPriority::Low, vec!["bug".into(), "priority: low".into()])
        );
        assert_eq!(apply(&before, &TaskChange::default()), before, "an empty change changes nothing");
    }

    #[test]
    fn only_what_the_issue_shows_is_written_back() {
        let before = task(&[]);
        let retitled = apply(&before, &TaskChange { title: Some("Measure twice".into()), ..Default::default() });
        assert!(writes_issue(&before, &retitled, true));
        assert!(!writes_issue(&before, &retitled, false), "auto-sync off");
        let mut unlinked = retitled.clone();
        unlinked.issue_number = None;
        assert!(!writes_issue(&before, &unlinked, true), "no issue");
        let mut deleted = retitled.clone();
        deleted.issue_deleted = true;
        assert!(!writes_issue(&before, &deleted, true), "its issue was deleted");
        let started = apply(&before, &TaskChange { status: Some(TaskStatus::InProgress), ..Default::default() });
        assert!(!writes_issue(&before, &started, true), "in progress is still an open issue");
        let done = apply(&before, &TaskChange { status: Some(TaskStatus::Done), ..Default::default() });
        assert!(writes_issue(&before, &done, true), "done closes the issue");
        let reprioritised = apply(&before, &TaskChange { priority: Some(TaskPriority::High), ..Default::default() });
        assert!(writes_issue(&before, &reprioritised, true), "the priority is a label");
    }
}
