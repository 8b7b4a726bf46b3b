//! Writing tasks to their GitHub issues (outbox jobs) and reading issues for explicit syncs.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::client::{As, GhError, Method};
use super::{Github, encode_path};
use crate::domain::clock;
use crate::domain::tasks::{IssueState, normalize_labels};
use crate::store::IssueLink;

fn store_err(err: crate::store::StoreError) -> GhError {
    GhError::Unavailable(format!("database: {err}"))
}

async fn auth(gh: &Github, repo: &str) -> Result<As, GhError> {
    gh.client.repo_auth(gh.store.as_ref(), repo).await?.ok_or_else(|| GhError::Refused {
        status: 404,
        message: format!("Repository not found or App not installed: {repo}"),
    })
}

fn updated_at(body: &Value) -> DateTime<Utc> {
    body.get("updated_at")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.to_utc())
        .unwrap_or_else(clock::now)
}

fn issue_path(repo: &str, number: i64) -> String {
    format!("/repos/{}/issues/{number}", encode_path(repo))
}

/// Reads an issue; `None` when GitHub does not have it.
pub async fn read_issue(gh: &Github, repo: &str, number: i64) -> Result<Option<Value>, GhError> {
    let who = auth(gh, repo).await?;
    let reply = gh.client.call(who, Method::Get, &issue_path(repo, number), None).await?;
    if reply.status == 404 || reply.status == 410 {
        return Ok(None);
    }
    Ok(Some(reply.success(&format!("reading issue {number} of {repo}"))?.body))
}

/// Creates the task's issue (with the repository's default labels and the priority label) and
/// links it.
pub async fn create_issue(gh: &Github, task_id: i64, repo: &str) -> Result<Value, GhError> {
    let Some(task) = gh.store.get_task(task_id).await.map_err(store_err)? else {
        return Ok(json!({"skipped": "task not found"}));
    };
    if let (Some(number), Some(linked)) = (task.issue_number, task.repository.as_deref())
        && !task.issue_deleted
    {
        // Created by an earlier attempt of this job (or another call): nothing more to do.
        return Ok(json!({"issue_number": number, "url": task.issue_url, "repository": linked, "action": "updated"}));
    }
    let settings = gh.store.sync_settings(repo).await.map_err(store_err)?.effective();
    let mut labels = task.labels.0.clone();
    labels.extend(settings.default_labels.iter().cloned());
    let labels = normalize_labels(&labels);
    let who = auth(gh, repo).await?;
    let body = json!({"title": task.title, "body": task.description, "labels": labels});
    let reply = gh
        .client
        .call(who, Method::Post, &format!("/repos/{}/issues", encode_path(repo)), Some(&body))
        .await?
        .success(&format!("creating an issue in {repo}"))?;
    let number = reply
        .body
        .get("number")
        .and_then(Value::as_i64)
        .ok_or_else(|| GhError::Refused { status: reply.status, message: "GitHub's new issue has no number".into() })?;
    let url = reply.body.get("html_url").and_then(Value::as_str).map(str::to_string);
    let mut at = updated_at(&reply.body);
    let mut state = "open";
    if task.status == crate::domain::status::TaskStatus::Done {
        let closed = gh
            .client
            .call(who, Method::Patch, &issue_path(repo, number), Some(&json!({"state": "closed"})))
            .await?
            .success(&format!("closing issue {number} of {repo}"))?;
        at = updated_at(&closed.body);
        state = "closed";
    }
    let link = IssueLink {
        repository: repo.to_string(),
        number,
        node_id: reply.body.get("node_id").and_then(Value::as_str).map(str::to_string),
        url: url.clone(),
    };
    let issue = IssueState::new(&task.title, &task.description, state, &labels);
    gh.store.link_issue(task_id, &link, &issue, at).await.map_err(store_err)?;
    Ok(json!({"issue_number": number, "url": url, "repository": repo, "action": "created"}))
}

/// Writes the task's title, description, status (as the issue state) and labels (with its
/// priority label) to its issue, in one call.
pub async fn update_issue(gh: &Github, task_id: i64) -> Result<Value, GhError> {
    let Some(task) = gh.store.get_task(task_id).await.map_err(store_err)? else {
        return Ok(json!({"skipped": "task not found"}));
    };
    let (Some(repo), Some(number)) = (task.repository.clone(), task.issue_number) else {
        return Ok(json!({"skipped": "task has no issue"}));
    };
    if task.issue_deleted {
        return Ok(json!({"skipped": "the issue was deleted"}));
    }
    // The task as it is now (not as it was when the job was queued): later edits, and GitHub
    // changes merged since, are written together.
    let issue = task.issue_state();
    if task.synced.as_ref().is_some_and(|s| s.0 == issue) {
        return Ok(json!({"issue_number": number, "unchanged": true}));
    }
    let who = auth(gh, &repo).await?;
    let body = json!({"title": issue.title, "body": issue.body, "state": issue.state, "labels": issue.labels});
    let reply = gh.client.call(who, Method::Patch, &issue_path(&repo, number), Some(&body)).await?;
    if reply.status == 404 || reply.status == 410 {
        return Ok(json!({"skipped": "the issue is gone", "status": reply.status}));
    }
    let reply = reply.success(&format!("updating issue {number} of {repo}"))?;
    gh.store.record_issue_write(task_id, task.version, &issue, updated_at(&reply.body)).await.map_err(store_err)?;
    Ok(json!({"issue_number": number, "updated": true}))
}
