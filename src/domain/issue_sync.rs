//! How an issue change reaches the task linked to its issue: whether a task is created, marked,
//! moved or merged, which fields win, and how its status and priority follow. The store reads the
//! task and the repository's settings, decides here (`decide`), and writes what the decision says,
//! inside the transaction of the delivery that brought the change.

use chrono::{DateTime, Utc};

use super::status::{TaskPriority, TaskStatus};
use super::tasks::{Conflict, IssueState, Task, merge, priority_from_labels, status_for_state};

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
    /// Whether the repository is private, as the event says (`repository.private`); `None` for
    /// an issue read through the API.
    pub private: Option<bool>,
}

/// Per-repository sync settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SyncSettings {
    /// Issues opened become tasks, issue events update linked tasks, and task edits are written
    /// back to their issues.
    pub auto_sync: bool,
    /// Labels every issue ccm creates from a task gets.
    pub default_labels: Vec<String>,
    /// Other repositories whose issues this repository's pull requests may close
    /// (`fixes owner/repo#N` moves their tasks). Empty: only the repository's own issues.
    #[serde(default)]
    pub closes_issues_in: Vec<String>,
}

/// Most repositories one repository's `closes_issues_in` lists.
pub const MAX_CLOSES_ISSUES_IN: usize = 50;

/// `closes_issues_in` as given to the API: each `owner/name`, at most `MAX_CLOSES_ISSUES_IN`,
/// duplicates (case-insensitive) and the repository itself (whose issues close anyway) dropped.
pub fn closes_issues_in(repository: &str, given: &[String]) -> Result<Vec<String>, String> {
    if given.len() > MAX_CLOSES_ISSUES_IN {
        return Err(format!("closes_issues_in lists at most {MAX_CLOSES_ISSUES_IN} repositories"));
    }
    let mut out: Vec<String> = Vec::new();
    for repo in given.iter().map(|r| r.trim()) {
        super::pipeline::validate_repo(repo).map_err(|e| format!("closes_issues_in: {e}"))?;
        if !repo.eq_ignore_ascii_case(repository) && !out.iter().any(|r| r.eq_ignore_ascii_case(repo)) {
            out.push(repo.to_string());
        }
    }
    Ok(out)
}

impl SyncSettings {
    /// The documented default of a repository without settings: issue sync on for a private
    /// repository, off for a public one, where anyone with a GitHub account can open issues (and
    /// would create tasks). ccm learns a repository's visibility from its webhooks
    /// (`repository.private`); one it has not seen yet counts as private, as it syncs only
    /// through what its operators ask (the explicit sync calls, task edits) until a webhook
    /// says which it is.
    pub fn default_for(private: Option<bool>) -> Self {
        SyncSettings { auto_sync: private != Some(false), default_labels: Vec::new(), closes_issues_in: Vec::new() }
    }
}

/// What ccm knows of a repository's sync: the settings stored for it, if any, and its visibility,
/// if seen.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RepositorySync {
    pub stored: Option<SyncSettings>,
    pub private: Option<bool>,
}

impl RepositorySync {
    /// The settings that apply: the stored ones (an explicit setting wins, whatever the
    /// visibility), else the default for the repository's visibility.
    pub fn effective(&self) -> SyncSettings {
        self.stored.clone().unwrap_or_else(|| SyncSettings::default_for(self.private))
    }
}

/// What an issue change does to the task linked to its issue.
#[derive(Debug, Clone, PartialEq)]
pub enum IssueDecision<'c> {
    /// Nothing to write.
    Unchanged,
    /// An event from a bot echoing ccm's own write: nothing to write.
    Echo,
    /// A task is created from the issue, with the status and priority the issue says.
    Create { status: TaskStatus, priority: TaskPriority },
    /// The issue was deleted: the task stays, marked.
    MarkDeleted,
    /// The issue moved to another repository: the task's link follows.
    Transfer(&'c IssueLink),
    /// Older than what ccm already knows of the issue (out of order, or overwritten since by
    /// ccm's later write): the later change has won already; recorded as a conflict ccm won.
    Stale,
    /// The issue's fields merged into the task's.
    Update(Box<IssueUpdate>),
}

/// A task's fields after an issue change is merged into them.
#[derive(Debug, Clone, PartialEq)]
pub struct IssueUpdate {
    /// The task's issue-side fields before the change.
    pub before: IssueState,
    /// And after.
    pub after: IssueState,
    pub status: TaskStatus,
    pub priority: TaskPriority,
    /// When the task's pending local change was made: kept while it still differs from GitHub
    /// (its write is queued), cleared otherwise.
    pub local_changed_at: Option<DateTime<Utc>>,
    /// The latest GitHub change applied.
    pub synced_at: DateTime<Utc>,
    /// Whether the task changed (what it shows, or its status).
    pub changed: bool,
    /// Fields both sides changed to different values, and who won each.
    pub conflicts: Vec<Conflict>,
}

/// What `change` does to `task` (the task linked to the change's issue, if any), given the
/// repository's `settings`. `explicit`: an explicit sync call, which creates the task whatever
/// the action and `auto_sync`, and applies a change older than the last one applied.
pub fn decide<'c>(
    task: Option<&Task>,
    change: &'c IssueChange,
    settings: &SyncSettings,
    explicit: bool,
) -> IssueDecision<'c> {
    let Some(task) = task else {
        let gone = change.action == "deleted" || change.action == "transferred";
        if gone || !(explicit || (settings.auto_sync && change.action == "opened")) {
            return IssueDecision::Unchanged;
        }
        let issue = &change.issue;
        return IssueDecision::Create {
            status: status_for_state(&issue.state),
            priority: priority_from_labels(&issue.labels),
        };
    };
    if !explicit && !settings.auto_sync {
        return IssueDecision::Unchanged;
    }
    match change.action.as_str() {
        "deleted" if task.issue_deleted => return IssueDecision::Unchanged,
        "deleted" => return IssueDecision::MarkDeleted,
        "transferred" => {
            return change.transferred_to.as_ref().map_or(IssueDecision::Unchanged, IssueDecision::Transfer);
        }
        _ => {}
    }
    let synced = task.synced.as_ref().map(|s| &s.0);
    // ccm's own write coming back, or what ccm already holds: nothing to do.
    if synced == Some(&change.issue) {
        return IssueDecision::Unchanged;
    }
    if change.sender_is_bot && task.pushed_at.is_some_and(|p| change.updated_at <= p) {
        return IssueDecision::Echo;
    }
    if !explicit && task.synced_at.is_some_and(|s| change.updated_at < s) {
        return IssueDecision::Stale;
    }
    let before = task.issue_state();
    let local_at = task.local_changed_at.unwrap_or(task.updated_at);
    let merged = merge(&before, synced, &change.issue, local_at, change.updated_at);
    let after = merged.result;
    let status = if after.state == before.state { task.status } else { status_for_state(&after.state) };
    let priority = if after.labels == before.labels { task.priority } else { priority_from_labels(&after.labels) };
    let local_changed_at = if after != change.issue { task.local_changed_at } else { None };
    let synced_at = task.synced_at.map_or(change.updated_at, |s| s.max(change.updated_at));
    let changed = after != before || status != task.status;
    IssueDecision::Update(Box::new(IssueUpdate {
        before,
        after,
        status,
        priority,
        local_changed_at,
        synced_at,
        changed,
        conflicts: merged.conflicts,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use sqlx::types::Json;

    fn labels(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn link(repository: &str, number: i64) -> IssueLink {
        IssueLink { repository: repository.into(), number, node_id: None, url: None }
    }

    fn change(action: &str, issue: IssueState, updated_at: DateTime<Utc>) -> IssueChange {
        IssueChange {
            action: action.into(),
            link: link("octo/research", 3),
            issue,
            updated_at,
            sender: Some("someone".into()),
            sender_is_bot: false,
            transferred_to: None,
            private: Some(true),
        }
    }

    /// A task linked to issue 3, in sync with `synced` as of `at`.
    fn task(synced: &IssueState, at: DateTime<Utc>) -> Task {
        Task {
            id: 7,
            title: synced.title.clone(),
            description: synced.body.clone(),
            status: status_for_state(&synced.state),
            priority: priority_from_labels(&synced.labels),
            labels: Json(synced.labels.clone()),
            origin: "github".into(),
            repository: Some("octo/research".into()),
            issue_number: Some(3),
            issue_node_id: None,
            issue_url: None,
            issue_deleted: false,
            synced: Some(Json(synced.clone())),
            synced_at: Some(at),
            pushed_at: None,
            local_changed_at: None,
            version: 1,
            created_at: at,
            updated_at: at,
        }
    }

    fn on() -> SyncSettings {
        SyncSettings::default_for(Some(true))
    }

    #[test]
    fn sync_defaults_to_on_for_private_repositories_only_and_a_stored_setting_wins() {
        let default = |private| RepositorySync { stored: None, private }.effective().auto_sync;
        assert!(default(Some(true)), "private: on");
        assert!(!default(Some(false)), "public: off");
        assert!(default(None), "not seen yet: as private (no webhook has come from it)");
        let stored = |auto_sync, private| {
            let settings = SyncSettings { auto_sync, ..SyncSettings::default_for(None) };
            RepositorySync { stored: Some(settings), private }.effective().auto_sync
        };
        assert!(stored(true, Some(false)), "turned on for a public repository");
        assert!(!stored(false, Some(true)), "turned off for a private one");
        let public_opened = change("opened", IssueState::new("Spam", "", "open", &[]), Utc::now());
        let settings = RepositorySync { stored: None, private: Some(false) }.effective();
        assert_eq!(decide(None, &public_opened, &settings, false), IssueDecision::Unchanged);
        assert!(matches!(decide(None, &public_opened, &settings, true), IssueDecision::Create { .. }), "explicit");
    }

    fn off() -> SyncSettings {
        SyncSettings { auto_sync: false, default_labels: Vec::new(), closes_issues_in: Vec::new() }
    }

    #[test]
    fn closes_issues_in_is_checked_and_normalized() {
        let given = labels(&[" octo/other ", "Octo/Other", "octo/research", "acme/lib"]);
        assert_eq!(closes_issues_in("octo/research", &given).unwrap(), labels(&["octo/other", "acme/lib"]));
        assert!(closes_issues_in("o/r", &labels(&["not a repo"])).unwrap_err().starts_with("closes_issues_in: "));
        let many: Vec<String> = (0..=MAX_CLOSES_ISSUES_IN).map(|i| format!("o/r{i}")).collect();
        assert!(closes_issues_in("o/r", &many).is_err());
        assert_eq!(closes_issues_in("o/r", &[]).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn an_issue_without_a_task_becomes_one_when_opened_with_auto_sync_or_synced_explicitly() {
        let at = Utc::now();
        let issue = IssueState::new("Flaky", "", "closed", &labels(&["urgent"]));
        let create = IssueDecision::Create { status: TaskStatus::Done, priority: TaskPriority::High };
        assert_eq!(decide(None, &change("opened", issue.clone(), at), &on(), false), create);
        assert_eq!(decide(None, &change("opened", issue.clone(), at), &off(), false), IssueDecision::Unchanged);
        assert_eq!(decide(None, &change("edited", issue.clone(), at), &on(), false), IssueDecision::Unchanged);
        assert_eq!(decide(None, &change("edited", issue.clone(), at), &off(), true), create, "an explicit sync");
        for gone in ["deleted", "transferred"] {
            assert_eq!(decide(None, &change(gone, issue.clone(), at), &on(), true), IssueDecision::Unchanged, "{gone}");
        }
    }

    #[test]
    fn without_auto_sync_only_an_explicit_sync_changes_a_linked_task() {
        let at = Utc::now();
        let synced = IssueState::new("A", "", "open", &[]);
        let edited = change("edited", IssueState::new("B", "", "open", &[]), at + Duration::minutes(1));
        assert_eq!(decide(Some(&task(&synced, at)), &edited, &off(), false), IssueDecision::Unchanged);
        assert!(matches!(decide(Some(&task(&synced, at)), &edited, &off(), true), IssueDecision::Update(_)));
    }

    #[test]
    fn a_deleted_issue_marks_its_task_once_and_a_transfer_moves_the_link() {
        let at = Utc::now();
        let synced = IssueState::new("A", "", "open", &[]);
        let mut linked = task(&synced, at);
        let deleted = change("deleted", synced.clone(), at);
        assert_eq!(decide(Some(&linked), &deleted, &on(), false), IssueDecision::MarkDeleted);
        linked.issue_deleted = true;
        assert_eq!(decide(Some(&linked), &deleted, &on(), false), IssueDecision::Unchanged);
        let mut transferred = change("transferred", synced.clone(), at);
        assert_eq!(decide(Some(&linked), &transferred, &on(), false), IssueDecision::Unchanged, "nowhere said");
        transferred.transferred_to = Some(link("octo/other", 9));
        let to = link("octo/other", 9);
        assert_eq!(decide(Some(&linked), &transferred, &on(), false), IssueDecision::Transfer(&to));
    }

    #[test]
    fn echoes_and_stale_changes_write_nothing() {
        let at = Utc::now();
        let synced = IssueState::new("A", "", "open", &[]);
        let mut linked = task(&synced, at);
        assert_eq!(
            decide(Some(&linked), &change("edited", synced.clone(), at), &on(), false),
            IssueDecision::Unchanged
        );
        linked.pushed_at = Some(at);
        let mut by_bot = change("edited", IssueState::new("B", "", "open", &[]), at);
        by_bot.sender_is_bot = true;
        assert_eq!(decide(Some(&linked), &by_bot, &on(), false), IssueDecision::Echo);
        let older = change("edited", IssueState::new("B", "", "open", &[]), at - Duration::minutes(1));
        assert_eq!(decide(Some(&linked), &older, &on(), false), IssueDecision::Stale);
        assert!(matches!(decide(Some(&linked), &older, &on(), true), IssueDecision::Update(_)), "explicit");
    }

    #[test]
    fn a_merge_moves_status_and_priority_with_the_issue_and_keeps_a_pending_local_change() {
        let at = Utc::now();
        let synced = IssueState::new("A", "", "open", &labels(&["bug"]));
        let mut linked = task(&synced, at);
        linked.status = TaskStatus::InProgress;
        let relabelled = change("labeled", IssueState::new("A", "", "open", &labels(&["bug", "urgent"])), at);
        let IssueDecision::Update(update) = decide(Some(&linked), &relabelled, &on(), false) else { panic!() };
        assert_eq!((update.status, update.priority), (TaskStatus::InProgress, TaskPriority::High), "still open");
        assert!(update.changed && update.conflicts.is_empty());
        assert_eq!((update.local_changed_at, update.synced_at), (None, at));
        let closed = change("closed", IssueState::new("A", "", "closed", &labels(&["bug"])), at);
        let IssueDecision::Update(update) = decide(Some(&linked), &closed, &on(), false) else { panic!() };
        assert_eq!((update.status, update.priority), (TaskStatus::Done, TaskPriority::Medium));
        // ccm retitled the task after GitHub's change: its title wins and stays pending.
        linked.title = "Mine".into();
        linked.local_changed_at = Some(at + Duration::minutes(5));
        let retitled = change("edited", IssueState::new("Theirs", "", "open", &labels(&["bug"])), at);
        let IssueDecision::Update(update) = decide(Some(&linked), &retitled, &on(), false) else { panic!() };
        assert_eq!(update.after.title, "Mine");
        assert_eq!(update.local_changed_at, linked.local_changed_at);
        assert_eq!((update.conflicts.len(), update.conflicts[0].winner), (1, "ccm"));
        assert!(!update.changed, "the task shows what it showed");
    }
}
