//! Provisioning's check of a repository: the App is installed on it and the workflow file
//! exists. These calls are read-only and their answer is needed by the request now, so they are
//! made inline (not queued), through the same client, concurrency cap and health accounting as
//! every other call.

use super::client::{GhError, Method};
use super::{Github, encode_path};

#[derive(Debug, Clone, PartialEq)]
pub enum Verification {
    Verified,
    /// The repository does not exist or the App is not installed on it.
    NotInstalled,
    /// The repository is reachable but has no such workflow file.
    MissingWorkflow,
}

pub async fn verify_repository(gh: &Github, repo: &str, workflow_file: &str) -> Result<Verification, GhError> {
    let Some(who) = gh.client.repo_auth(gh.store.as_ref(), repo).await? else {
        return Ok(Verification::NotInstalled);
    };
    let contents = format!("/repos/{repo}/contents/{}", encode_path(workflow_file));
    let reply = gh.client.call(who, Method::Get, &contents, None).await?;
    if reply.is_success() {
        return Ok(Verification::Verified);
    }
    if reply.status != 404 {
        reply.success(&format!("reading {workflow_file} in {repo}"))?;
    }
    // 404: either the file is missing or the repository is not reachable; tell them apart.
    let repository = gh.client.call(who, Method::Get, &format!("/repos/{repo}"), None).await?;
    if repository.status == 404 {
        return Ok(Verification::NotInstalled);
    }
    repository.success(&format!("reading {repo}"))?;
    Ok(Verification::MissingWorkflow)
}
