//! What a delivery changes, decided from its event name and body alone (no I/O), so it can be
//! worked out on the request's thread and applied inside the batch transaction.

use chrono::{DateTime, Utc};

use crate::domain::status::{DeploymentState, RunStatus};
use crate::domain::tasks::{IssueState, closing_refs};
use crate::store::{
    DeploymentRecord, DeploymentStatus, Effect, ExecutionRecord, InstallationChange, IssueChange, IssueLink, JobRecord,
    Processing, PullRequestRecord, PushRecord,
};

use super::events::*;

/// The outcome of reading a delivery.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Apply these effects; the delivery is then `processed`.
    Apply(Vec<Effect>),
    /// An event ccm does not act on; stored and marked `ignored`.
    Ignore,
}

/// Events stored that need nothing done.
const KEPT: &[&str] = &["ping"];

/// A delivery's body read once: the fields that file it, and what it changes.
pub struct Reading {
    pub envelope: Envelope,
    pub processing: Processing,
}

/// Reads a delivery's body once into its envelope and its plan. A body that does not parse as its
/// event is a failure to record, filed by whatever envelope it has.
pub fn read(event: &str, body: &[u8]) -> Reading {
    match parse(event, body) {
        Ok((envelope, plan)) => Reading { envelope, processing: plan.into() },
        Err(error) => {
            Reading { envelope: serde_json::from_slice(body).unwrap_or_default(), processing: Processing::Fail(error) }
        }
    }
}

pub fn plan(event: &str, body: &[u8]) -> Result<Plan, String> {
    parse(event, body).map(|(_, plan)| plan)
}

/// The plan as the store takes it: an unreadable body becomes a failure to record.
pub fn processing(event: &str, body: &[u8]) -> Processing {
    match plan(event, body) {
        Ok(plan) => plan.into(),
        Err(error) => Processing::Fail(error),
    }
}

impl From<Plan> for Processing {
    fn from(plan: Plan) -> Self {
        match plan {
            Plan::Apply(effects) => Processing::Apply(effects),
            Plan::Ignore => Processing::Ignore,
        }
    }
}

fn parse(event: &str, body: &[u8]) -> Result<(Envelope, Plan), String> {
    let parse_error = |e: serde_json::Error| format!("{event} payload not understood: {e}");
    let apply = |envelope, effects| Ok((envelope, Plan::Apply(effects)));
    match event {
        "workflow_run" => {
            let mut e: WorkflowRunEvent = serde_json::from_slice(body).map_err(parse_error)?;
            let mut envelope = Envelope::of(None, e.installation.as_ref(), Some(&e.repository));
            envelope.action = e.action.take();
            apply(envelope, vec![Effect::Execution(execution(e)?)])
        }
        "workflow_job" => {
            let mut e: WorkflowJobEvent = serde_json::from_slice(body).map_err(parse_error)?;
            let mut envelope = Envelope::of(None, e.installation.as_ref(), Some(&e.repository));
            envelope.action = e.action.take();
            apply(envelope, vec![Effect::Job(job(e))])
        }
        "installation" => {
            let e: InstallationEvent = serde_json::from_slice(body).map_err(parse_error)?;
            let id = Id { id: e.installation.id };
            let envelope = Envelope::of(Some(&e.action), Some(&id), e.repository.as_ref());
            apply(envelope, installation(e).into_iter().map(Effect::Installation).collect())
        }
        "installation_repositories" => {
            let e: InstallationRepositoriesEvent = serde_json::from_slice(body).map_err(parse_error)?;
            let id = Id { id: e.installation.id };
            let envelope = Envelope::of(Some(&e.action), Some(&id), e.repository.as_ref());
            apply(envelope, vec![Effect::Installation(installation_repositories(e))])
        }
        "issues" => {
            let e: IssuesEvent = serde_json::from_slice(body).map_err(parse_error)?;
            let envelope = Envelope::of(Some(&e.action), e.installation.as_ref(), Some(&e.repository));
            if e.issue.state.is_none() {
                // An event without the issue's state (pinned, unpinned) says nothing to sync.
                return apply(envelope, Vec::new());
            }
            apply(envelope, vec![Effect::Issue(issue_change(e))])
        }
        "pull_request" => {
            let e: PullRequestEvent = serde_json::from_slice(body).map_err(parse_error)?;
            let envelope = Envelope::of(Some(&e.action), e.installation.as_ref(), Some(&e.repository));
            apply(envelope, vec![Effect::PullRequest(pull_request(e))])
        }
        "push" => {
            let e: PushEvent = serde_json::from_slice(body).map_err(parse_error)?;
            let repository = Repository { full_name: e.repository.full_name.clone(), private: None };
            let envelope = Envelope::of(None, e.installation.as_ref(), Some(&repository));
            // Only pushes to the default branch are recorded; others are stored, nothing done.
            apply(envelope, push(e).map(Effect::Push).into_iter().collect())
        }
        "deployment" | "deployment_status" => {
            let e: DeploymentEvent = serde_json::from_slice(body).map_err(parse_error)?;
            let envelope = Envelope::of(e.action.as_deref(), e.installation.as_ref(), Some(&e.repository));
            let (deployment, status) = deployment(e);
            apply(envelope, vec![Effect::Deployment(Box::new(deployment), status)])
        }
        e => {
            let envelope = serde_json::from_slice(body).unwrap_or_default();
            Ok((envelope, if KEPT.contains(&e) { Plan::Apply(Vec::new()) } else { Plan::Ignore }))
        }
    }
}

/// `.github/workflows/x.yml@refs/heads/main` (reusable or dynamic workflows) -> the file path.
fn workflow_path(mut path: String) -> String {
    if let Some(at) = path.find('@') {
        path.truncate(at);
    }
    path
}

fn execution(e: WorkflowRunEvent) -> Result<ExecutionRecord, String> {
    let run = e.workflow_run;
    let path = run
        .path
        .or_else(|| e.workflow.and_then(|w| w.path))
        .ok_or("workflow_run payload names no workflow file (neither workflow_run.path nor workflow.path)")?;
    let completed = run.status == RunStatus::Completed;
    Ok(ExecutionRecord {
        run_id: run.id,
        run_attempt: run.run_attempt,
        repository: e.repository.full_name,
        workflow_path: workflow_path(path),
        workflow_name: run.name.filter(|n| !n.is_empty()),
        conclusion: if completed { run.conclusion } else { None },
        status: run.status,
        branch: run.head_branch,
        head_sha: run.head_sha,
        event: run.event,
        run_number: run.run_number,
        actor: run.actor.map(|a| a.login),
        html_url: run.html_url,
        created_at: run.created_at,
        started_at: run.run_started_at.unwrap_or(run.created_at),
        updated_at: run.updated_at,
        completed_at: completed.then_some(run.updated_at),
    })
}

fn job(e: WorkflowJobEvent) -> JobRecord {
    let job = e.workflow_job;
    let updated_at = job.completed_at.or(job.started_at).or(job.created_at).unwrap_or_else(crate::domain::clock::now);
    JobRecord {
        job_id: job.id,
        run_id: job.run_id,
        run_attempt: job.run_attempt,
        repository: e.repository.full_name,
        name: job.name,
        conclusion: if job.status == RunStatus::Completed { job.conclusion } else { None },
        status: job.status,
        runner_name: job.runner_name.filter(|r| !r.is_empty()),
        html_url: job.html_url,
        started_at: job.started_at,
        completed_at: job.completed_at,
        updated_at,
        steps: serde_json::Value::Array(job.steps),
    }
}

fn deployment(e: DeploymentEvent) -> (DeploymentRecord, Option<DeploymentStatus>) {
    let d = e.deployment;
    let status = e.deployment_status.map(|s| DeploymentStatus {
        id: s.id,
        deployment_id: d.id,
        state: DeploymentState::parse(&s.state),
        description: s.description,
        url: s.log_url.or(s.target_url),
        created_at: s.created_at,
    });
    let record = DeploymentRecord {
        id: d.id,
        repository: e.repository.full_name,
        environment: d.environment,
        sha: d.sha,
        git_ref: d.git_ref,
        task: d.task,
        creator: d.creator.map(|c| c.login),
        description: d.description,
        run_id: e.workflow_run.as_ref().map(|r| r.id),
        run_attempt: e.workflow_run.as_ref().map(|r| r.run_attempt.unwrap_or(1)),
        created_at: d.created_at,
        updated_at: d.updated_at.unwrap_or(d.created_at),
    };
    (record, status)
}

fn issue_link(repository: &str, issue: &Issue) -> IssueLink {
    IssueLink {
        repository: repository.to_string(),
        number: issue.number,
        node_id: issue.node_id.clone(),
        url: issue.html_url.clone(),
    }
}

/// An issue (from an event or the REST API) as a change to apply.
pub fn issue_from(action: &str, repository: &str, issue: &Issue) -> IssueChange {
    let labels: Vec<String> = issue.labels.iter().map(|l| l.name.clone()).collect();
    IssueChange {
        action: action.to_string(),
        link: issue_link(repository, issue),
        issue: IssueState::new(
            &issue.title,
            issue.body.as_deref().unwrap_or(""),
            issue.state.as_deref().unwrap_or("open"),
            &labels,
        ),
        updated_at: issue.updated_at,
        sender: None,
        sender_is_bot: false,
        transferred_to: None,
        private: None,
    }
}

fn issue_change(e: IssuesEvent) -> IssueChange {
    let mut change = issue_from(&e.action, &e.repository.full_name, &e.issue);
    change.sender_is_bot = e.sender.as_ref().is_some_and(Sender::is_bot);
    change.sender = e.sender.map(|s| s.login);
    change.private = e.repository.private;
    if let Some(changes) = e.changes
        && let (Some(issue), Some(repo)) = (changes.new_issue, changes.new_repository)
    {
        change.transferred_to = Some(issue_link(&repo.full_name, &issue));
    }
    change
}

fn pull_request(e: PullRequestEvent) -> PullRequestRecord {
    let pr = e.pull_request;
    let repository = e.repository.full_name;
    let closes = closing_refs(&repository, &[&pr.title, pr.body.as_deref().unwrap_or("")]);
    PullRequestRecord {
        action: e.action,
        number: pr.number,
        title: pr.title,
        state: pr.state,
        draft: pr.draft,
        merged: pr.merged.unwrap_or(false) || pr.merged_at.is_some(),
        head_sha: pr.head.sha,
        author: pr.user.map(|u| u.login),
        url: pr.html_url,
        updated_at: pr.updated_at,
        closes,
        repository,
        private: e.repository.private,
    }
}

fn push(e: PushEvent) -> Option<PushRecord> {
    let default = e.repository.default_branch?;
    if e.git_ref != format!("refs/heads/{default}") {
        return None;
    }
    Some(PushRecord {
        repository: e.repository.full_name,
        git_ref: e.git_ref,
        before: e.before,
        after: e.after,
        pusher: e.pusher.and_then(|p| p.name),
        commits_count: e.commits.len() as i64,
        first_commit_at: first_commit_at(&e.commits),
    })
}

/// The oldest `timestamp` among a push's commits (GitHub writes them with the committer's
/// offset, `2026-01-05T11:00:00+01:00`); those without one, or unreadable, are passed over.
fn first_commit_at(commits: &[serde_json::Value]) -> Option<DateTime<Utc>> {
    commits
        .iter()
        .filter_map(|c| DateTime::parse_from_rfc3339(c.get("timestamp")?.as_str()?).ok())
        .map(|at| at.to_utc())
        .min()
}

fn installation(e: InstallationEvent) -> Option<InstallationChange> {
    let id = e.installation.id;
    let account = e.installation.account.map(|a| a.login);
    match e.action.as_str() {
        "created" | "new_permissions_accepted" => Some(InstallationChange::Upsert {
            id,
            account,
            repositories: e.repositories.map(|r| r.into_iter().map(|r| r.full_name).collect()),
        }),
        "deleted" => Some(InstallationChange::Deleted { id }),
        "suspend" => Some(InstallationChange::Suspended { id, suspended: true }),
        "unsuspend" => Some(InstallationChange::Suspended { id, suspended: false }),
        _ => None,
    }
}

fn installation_repositories(e: InstallationRepositoriesEvent) -> InstallationChange {
    let id = e.installation.id;
    let names = |repos: Vec<Repository>| repos.into_iter().map(|r| r.full_name).collect();
    match e.action.as_str() {
        "removed" => InstallationChange::RepositoriesRemoved { id, repositories: names(e.repositories_removed) },
        _ => InstallationChange::RepositoriesAdded {
            id,
            account: e.installation.account.map(|a| a.login),
            repositories: names(e.repositories_added),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::status::Conclusion;
    use serde_json::json;

    fn run_body(status: &str, conclusion: Option<&str>) -> Vec<u8> {
        json!({
            "action": "x",
            "workflow_run": {
                "id": 5, "run_attempt": 2, "name": "CI", "path": ".github/workflows/ci.yml@refs/heads/main",
                "head_branch": "main", "head_sha": "abc", "event": "push", "status": status,
                "conclusion": conclusion, "run_number": 9, "html_url": "u", "actor": {"login": "me"},
                "created_at": "2026-01-05T10:00:00Z", "updated_at": "2026-01-05T10:03:12Z",
                "run_started_at": "2026-01-05T10:00:05Z"
            },
            "repository": {"full_name": "Octo/App"}
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn workflow_run_becomes_an_execution() {
        let Plan::Apply(effects) = plan("workflow_run", &run_body("completed", Some("success"))).unwrap() else {
            panic!("not applied")
        };
        let Effect::Execution(e) = &effects[0] else { panic!("not an execution") };
        assert_eq!((e.run_id, e.run_attempt), (5, 2));
        assert_eq!(e.workflow_path, ".github/workflows/ci.yml");
        assert_eq!(e.repository, "Octo/App");
        assert_eq!(e.conclusion, Some(Conclusion::Success));
        assert_eq!(e.duration_seconds(), Some(187));
        // A conclusion on a run that is not completed is not believed.
        let Plan::Apply(effects) = plan("workflow_run", &run_body("in_progress", Some("success"))).unwrap() else {
            panic!()
        };
        let Effect::Execution(e) = &effects[0] else { panic!() };
        assert_eq!((e.conclusion.clone(), e.completed_at), (None, None));
    }

    #[test]
    fn unknown_events_are_ignored_and_bad_shapes_are_errors() {
        assert_eq!(plan("star", b"{}").unwrap(), Plan::Ignore);
        assert_eq!(plan("ping", b"{}").unwrap(), Plan::Apply(vec![]));
        assert!(plan("push", b"{}").is_err());
        let err = plan("workflow_run", br#"{"workflow_run": {}}"#).unwrap_err();
        assert!(err.starts_with("workflow_run payload not understood"), "{err}");
        assert!(plan("workflow_job", b"not json").is_err());
    }

    #[test]
    fn issues_pull_requests_and_pushes_are_planned() {
        let issue = json!({"number": 4, "title": "T", "body": null, "state": "open", "labels": [{"name": "urgent"}],
                           "updated_at": "2026-01-05T10:00:00Z"});
        let body = json!({"action": "opened", "issue": issue, "repository": {"full_name": "o/r"},
                          "sender": {"login": "ccm[bot]", "type": "Bot"}});
        let Plan::Apply(effects) = plan("issues", body.to_string().as_bytes()).unwrap() else { panic!() };
        let Effect::Issue(c) = &effects[0] else { panic!("not an issue") };
        assert_eq!((c.link.number, c.issue.body.as_str(), c.sender_is_bot), (4, "", true));
        let pinned = json!({"action": "pinned", "issue": {"number": 4, "title": "T", "updated_at": "2026-01-05T10:00:00Z"},
                            "repository": {"full_name": "o/r"}});
        assert_eq!(plan("issues", pinned.to_string().as_bytes()).unwrap(), Plan::Apply(vec![]));
        let pr = json!({"action": "opened", "repository": {"full_name": "o/r"}, "pull_request": {
            "number": 9, "title": "Fixes #4", "body": null, "state": "open", "head": {"sha": "abc"},
            "updated_at": "2026-01-05T10:00:00Z"}});
        let Plan::Apply(effects) = plan("pull_request", pr.to_string().as_bytes()).unwrap() else { panic!() };
        let Effect::PullRequest(p) = &effects[0] else { panic!("not a pull request") };
        assert_eq!((p.closes.len(), p.merged, p.head_sha.as_deref()), (1, false, Some("abc")));
        let push = |r: &str| {
            json!({"ref": r, "before": "a", "after": "b", "repository": {"full_name": "o/r", "default_branch": "main"},
                   "commits": [{"id": "c2", "timestamp": "2026-01-05T11:00:00+01:00"},
                               {"id": "c1", "timestamp": "2026-01-05T10:30:00+01:00"},
                               {"id": "c3", "timestamp": "not a time"}, {"id": "c4"}]})
            .to_string()
        };
        let Plan::Apply(effects) = plan("push", push("refs/heads/main").as_bytes()).unwrap() else { panic!() };
        let Effect::Push(p) = &effects[0] else { panic!("not a push") };
        assert_eq!(p.after, "b");
        assert_eq!(p.commits_count, 4);
        let oldest = DateTime::parse_from_rfc3339("2026-01-05T09:30:00Z").unwrap().to_utc();
        assert_eq!(p.first_commit_at, Some(oldest), "the oldest readable timestamp, in UTC");
        assert_eq!(plan("push", push("refs/heads/dev").as_bytes()).unwrap(), Plan::Apply(vec![]));
    }
}
