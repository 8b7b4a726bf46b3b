//! Research tasks and their GitHub issues: the mappings (labels -> priority, state <-> status),
//! the issue references in pull requests, and the field-by-field merge of an issue change into a
//! task (echoes change nothing; when both sides changed a field, the later change wins).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;

use super::status::{TaskPriority, TaskStatus};

/// `priority: high`, `critical` or `urgent` -> high; `priority: low` -> low; otherwise medium
/// (labels compared case-insensitively, surrounding spaces ignored).
pub fn priority_from_labels(labels: &[String]) -> TaskPriority {
    let norm: Vec<String> = labels.iter().map(|l| l.trim().to_lowercase()).collect();
    if norm.iter().any(|l| l == "priority: high" || l == "critical" || l == "urgent") {
        TaskPriority::High
    } else if norm.iter().any(|l| l == "priority: low") {
        TaskPriority::Low
    } else {
        TaskPriority::Medium
    }
}

fn is_priority_label(label: &str) -> bool {
    let l = label.trim().to_lowercase();
    l.starts_with("priority:") || l == "critical" || l == "urgent"
}

/// The labels with the priority labels replaced so that they say `priority` (unchanged when
/// they already do): `priority: high`, none for medium, `priority: low`.
pub fn labels_with_priority(labels: &[String], priority: TaskPriority) -> Vec<String> {
    if priority_from_labels(labels) == priority {
        return labels.to_vec();
    }
    let mut out: Vec<String> = labels.iter().filter(|l| !is_priority_label(l)).cloned().collect();
    match priority {
        TaskPriority::High => out.push("priority: high".into()),
        TaskPriority::Low => out.push("priority: low".into()),
        TaskPriority::Medium => {}
    }
    out
}

/// open -> todo, closed -> done.
pub fn status_for_state(state: &str) -> TaskStatus {
    if state == "closed" { TaskStatus::Done } else { TaskStatus::Todo }
}

/// done -> closed; todo and in_progress -> open.
pub fn state_for_status(status: TaskStatus) -> &'static str {
    if status == TaskStatus::Done { "closed" } else { "open" }
}

/// How a pull request that closes a task's issue moves the task: from which statuses, to which.
/// Merged: todo or in progress -> done. Opened (or reopened, or ready for review), open and not a
/// draft: todo -> in progress. Anything else moves nothing.
pub fn status_move_for_pull_request(
    merged: bool,
    action: &str,
    draft: bool,
    state: &str,
) -> Option<(&'static [TaskStatus], TaskStatus)> {
    if merged {
        Some((&[TaskStatus::Todo, TaskStatus::InProgress], TaskStatus::Done))
    } else if matches!(action, "opened" | "ready_for_review" | "reopened") && !draft && state == "open" {
        Some((&[TaskStatus::Todo], TaskStatus::InProgress))
    } else {
        None
    }
}

/// Labels in a canonical order, without duplicates.
pub fn normalize_labels(labels: &[String]) -> Vec<String> {
    let mut out: Vec<String> = labels.iter().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect();
    out.sort();
    out.dedup();
    out
}

/// What GitHub holds of an issue that a task mirrors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueState {
    pub title: String,
    pub body: String,
    /// open | closed
    pub state: String,
    /// Normalized (sorted, deduplicated).
    pub labels: Vec<String>,
}

impl IssueState {
    pub fn new(title: &str, body: &str, state: &str, labels: &[String]) -> Self {
        IssueState {
            title: title.to_string(),
            body: body.to_string(),
            state: state.to_string(),
            labels: normalize_labels(labels),
        }
    }

    /// The issue a task's fields describe.
    pub fn of_task(title: &str, description: &str, status: TaskStatus, labels: &[String]) -> Self {
        Self::new(title, description, state_for_status(status), labels)
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Task {
    pub id: i64,
    pub title: String,
    pub description: String,
    pub status: TaskStatus,
    pub priority: TaskPriority,
    pub labels: Json<Vec<String>>,
    pub origin: String,
    pub repository: Option<String>,
    pub issue_number: Option<i64>,
    pub issue_node_id: Option<String>,
    pub issue_url: Option<String>,
    pub issue_deleted: bool,
    pub synced: Option<Json<IssueState>>,
    pub synced_at: Option<DateTime<Utc>>,
    pub pushed_at: Option<DateTime<Utc>>,
    pub local_changed_at: Option<DateTime<Utc>>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Task {
    /// The issue this task's fields describe.
    pub fn issue_state(&self) -> IssueState {
        IssueState::of_task(&self.title, &self.description, self.status, &self.labels.0)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    pub title: String,
    pub description: String,
    pub status: TaskStatus,
    pub priority: TaskPriority,
    pub labels: Vec<String>,
    pub origin: String,
}

/// A field both sides changed to different values, and who won.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conflict {
    pub field: &'static str,
    pub ccm: serde_json::Value,
    pub github: serde_json::Value,
    pub ccm_changed_at: String,
    pub github_changed_at: String,
    /// ccm | github
    pub winner: &'static str,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Merge {
    /// The task's issue-side fields after the merge.
    pub result: IssueState,
    pub conflicts: Vec<Conflict>,
}

/// Merges an issue change (`incoming`, made on GitHub at `github_at`) into a task whose fields
/// say `task` (last changed locally at `local_at`), given what ccm last knew GitHub to hold
/// (`synced`). A field GitHub did not change keeps the task's value; a field only GitHub changed
/// takes GitHub's; a field both changed to different values goes to the later change.
pub fn merge(
    task: &IssueState,
    synced: Option<&IssueState>,
    incoming: &IssueState,
    local_at: DateTime<Utc>,
    github_at: DateTime<Utc>,
) -> Merge {
    let mut conflicts = Vec::new();
    let mut pick = |field: &'static str, t: serde_json::Value, s: Option<serde_json::Value>, i: serde_json::Value| {
        let github_changed = s.as_ref() != Some(&i);
        let local_changed = s.as_ref().is_some_and(|s| *s != t);
        if !github_changed || t == i {
            return t;
        }
        if !local_changed {
            return i;
        }
        let winner = if local_at > github_at { "ccm" } else { "github" };
        conflicts.push(Conflict {
            field,
            ccm: t.clone(),
            github: i.clone(),
            ccm_changed_at: crate::domain::clock::format(&local_at),
            github_changed_at: crate::domain::clock::format(&github_at),
            winner,
        });
        if winner == "ccm" { t } else { i }
    };
    let v = |x: &str| serde_json::Value::from(x);
    let labels = |l: &[String]| serde_json::Value::from(l.to_vec());
    let title = pick("title", v(&task.title), synced.map(|s| v(&s.title)), v(&incoming.title));
    let body = pick("body", v(&task.body), synced.map(|s| v(&s.body)), v(&incoming.body));
    let state = pick("state", v(&task.state), synced.map(|s| v(&s.state)), v(&incoming.state));
    let label_list = pick("labels", labels(&task.labels), synced.map(|s| labels(&s.labels)), labels(&incoming.labels));
    let as_str = |x: serde_json::Value| x.as_str().unwrap_or_default().to_string();
    let result = IssueState {
        title: as_str(title),
        body: as_str(body),
        state: as_str(state),
        labels: serde_json::from_value(label_list).unwrap_or_default(),
    };
    Merge { result, conflicts }
}

/// An issue a pull request says it closes: `#N` (its own repository) or `owner/repo#N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueRef {
    pub repository: String,
    pub number: i64,
}

const KEYWORDS: &[&str] = &["close", "closes", "closed", "fix", "fixes", "fixed", "resolve", "resolves", "resolved"];

/// The issues a pull request's title or body closes (`closes #N`, `fixes owner/repo#N`, ...),
/// in order of appearance, without duplicates.
pub fn closing_refs(repository: &str, texts: &[&str]) -> Vec<IssueRef> {
    let mut refs = Vec::new();
    for text in texts {
        let tokens: Vec<&str> = text.split_whitespace().collect();
        for pair in tokens.windows(2) {
            let keyword = pair[0].trim_end_matches(':').to_lowercase();
            if !KEYWORDS.contains(&keyword.as_str()) {
                continue;
            }
            let target = pair[1].trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
            let Some((repo, number)) = target.split_once('#') else { continue };
            let Ok(number) = number.parse::<i64>() else { continue };
            let repo = if repo.is_empty() {
                repository.to_string()
            } else if repo.split('/').count() == 2 && !repo.starts_with('/') && !repo.ends_with('/') {
                repo.to_string()
            } else {
                continue;
            };
            let r = IssueRef { repository: repo, number };
            if number > 0
                && !refs
                    .iter()
                    .any(|x: &IssueRef| x.repository.eq_ignore_ascii_case(&r.repository) && x.number == r.number)
            {
                refs.push(r);
            }
        }
    }
    refs
}

/// The references of a pull request of `repository` that act (link and move tasks): those to its
/// own issues, and to the issues of the repositories its sync settings list in
/// `closes_issues_in`. Any other reference is ignored: whoever opens a pull request writes its
/// text, and `fixes other-org/other-repo#N` must not move (and, merged, close) another
/// repository's tasks.
pub fn acting_refs(repository: &str, refs: &[IssueRef], closes_issues_in: &[String]) -> Vec<IssueRef> {
    let allowed = |repo: &str| {
        repo.eq_ignore_ascii_case(repository) || closes_issues_in.iter().any(|r| r.eq_ignore_ascii_case(repo))
    };
    refs.iter().filter(|r| allowed(&r.repository)).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_references_to_the_repository_or_those_it_lists_act() {
        let refs =
            closing_refs("octo/app", &["Fixes #1, fixes Octo/App#2, fixes other-org/other-repo#3, closes octo/lib#4"]);
        let numbers = |refs: Vec<IssueRef>| refs.into_iter().map(|r| r.number).collect::<Vec<_>>();
        assert_eq!(numbers(acting_refs("octo/app", &refs, &[])), vec![1, 2]);
        assert_eq!(numbers(acting_refs("octo/app", &refs, &["OCTO/lib".to_string()])), vec![1, 2, 4]);
        assert_eq!(numbers(acting_refs("Octo/App", &refs, &[])), vec![1, 2], "case-insensitive");
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn pull_requests_move_tasks_forward_only() {
        let merged = status_move_for_pull_request(true, "closed", false, "closed").unwrap();
        assert_eq!(merged, (&[TaskStatus::Todo, TaskStatus::InProgress][..], TaskStatus::Done));
        let opened = status_move_for_pull_request(false, "opened", false, "open").unwrap();
        assert_eq!(opened, (&[TaskStatus::Todo][..], TaskStatus::InProgress));
        assert!(status_move_for_pull_request(false, "ready_for_review", false, "open").is_some());
        assert_eq!(status_move_for_pull_request(false, "opened", true, "open"), None, "a draft moves nothing");
        assert_eq!(status_move_for_pull_request(false, "closed", false, "closed"), None, "closed unmerged");
        assert_eq!(status_move_for_pull_request(false, "edited", false, "open"), None);
    }

    #[test]
    fn priority_follows_the_seed_table() {
        assert_eq!(priority_from_labels(&s(&["bug", "priority: high"])), TaskPriority::High);
        assert_eq!(priority_from_labels(&s(&["Critical"])), TaskPriority::High);
        assert_eq!(priority_from_labels(&s(&["urgent"])), TaskPriority::High);
        assert_eq!(priority_from_labels(&s(&["priority: low"])), TaskPriority::Low);
        assert_eq!(priority_from_labels(&s(&["bug", "enhancement"])), TaskPriority::Medium);
        assert_eq!(priority_from_labels(&[]), TaskPriority::Medium);
        assert_eq!(labels_with_priority(&s(&["bug", "urgent"]), TaskPriority::Low), s(&["bug", "priority: low"]));
        assert_eq!(labels_with_priority(&s(&["bug", "urgent"]), TaskPriority::High), s(&["bug", "urgent"]));
        assert_eq!(labels_with_priority(&s(&["priority: low"]), TaskPriority::Medium), s(&[]));
        assert_eq!((status_for_state("open"), status_for_state("closed")), (TaskStatus::Todo, TaskStatus::Done));
        assert_eq!((state_for_status(TaskStatus::InProgress), state_for_status(TaskStatus::Done)), ("open", "closed"));
    }

    #[test]
    fn closing_references_are_found() {
        let refs =
            closing_refs("o/r", &["Fixes #12", "This closes other/repo#3, resolves: #12 and fixes #x; closed #7."]);
        assert_eq!(
            refs,
            vec![
                IssueRef { repository: "o/r".into(), number: 12 },
                IssueRef { repository: "other/repo".into(), number: 3 },
                IssueRef { repository: "o/r".into(), number: 7 },
            ]
        );
        assert!(closing_refs("o/r", &["see #4", "closes"]).is_empty());
    }

    #[test]
    fn merge_takes_github_changes_and_resolves_conflicts_by_time() {
        let t0 = chrono::Utc::now();
        let early = t0 - chrono::Duration::minutes(5);
        let late = t0 + chrono::Duration::minutes(5);
        let synced = IssueState::new("A", "body", "open", &s(&["bug"]));
        // Only GitHub changed the title: taken.
        let task = synced.clone();
        let incoming = IssueState::new("B", "body", "open", &s(&["bug"]));
        let m = merge(&task, Some(&synced), &incoming, t0, late);
        assert_eq!((m.result.title.as_str(), m.conflicts.len()), ("B", 0));
        // ccm changed the body, GitHub the title: both kept.
        let task = IssueState::new("A", "mine", "open", &s(&["bug"]));
        let m = merge(&task, Some(&synced), &incoming, t0, early);
        assert_eq!((m.result.title.as_str(), m.result.body.as_str(), m.conflicts.len()), ("B", "mine", 0));
        // Both changed the title: the later wins, and the conflict is reported.
        let task = IssueState::new("C", "body", "open", &s(&["bug"]));
        let m = merge(&task, Some(&synced), &incoming, t0, early);
        assert_eq!(m.result.title, "C");
        assert_eq!(m.conflicts[0].winner, "ccm");
        let m = merge(&task, Some(&synced), &incoming, t0, late);
        assert_eq!(m.result.title, "B");
        assert_eq!(m.conflicts[0].winner, "github");
        // An echo (incoming == synced) changes nothing.
        let m = merge(&task, Some(&synced), &synced, t0, late);
        assert_eq!((m.result, m.conflicts.len()), (task, 0));
    }
}
