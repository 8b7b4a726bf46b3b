//! ccm as a GitHub App: settings, the REST client, the durable outbound queue and its jobs,
//! provisioning checks, backfill, missed-delivery recovery, stuck-run correction and the
//! `ccm app register` manifest flow.

pub mod client;
pub mod config;
pub mod health;
pub mod jobs;
pub mod logs;
pub mod outbox;
pub mod recovery;
pub mod register;
pub mod runs;
pub mod tasks;
pub mod verify;

use std::sync::Arc;

pub use client::{As, GhError, GithubClient, Method, Reply};
pub use config::{Credentials, GithubConfig, GithubSettings};

use crate::store::Store;

/// What the GitHub side works with: the store and the client. Cheap to clone.
#[derive(Clone)]
pub struct Github {
    pub store: Arc<dyn Store>,
    pub client: Arc<GithubClient>,
}

/// Percent-encodes one path segment (or a path, keeping its `/`).
pub fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The file name of a workflow path (`.github/workflows/deploy.yml` -> `deploy.yml`), which the
/// Actions API accepts as the workflow's id.
pub fn workflow_id(workflow_file: &str) -> String {
    encode_path(workflow_file.rsplit('/').next().unwrap_or(workflow_file)).replace('/', "%2F")
}
