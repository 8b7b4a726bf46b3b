//! Deployments (GitHub's `deployment` and `deployment_status` events): one per environment and
//! sha, with its states over time, and whether a later deployment rolled it back.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::status::DeploymentState;

/// A deployment as an event reports it (`deployment`, or the one a `deployment_status` is of).
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentRecord {
    pub id: i64,
    pub repository: String,
    pub environment: String,
    pub sha: String,
    pub git_ref: Option<String>,
    pub task: Option<String>,
    pub creator: Option<String>,
    pub description: Option<String>,
    /// The workflow run that made it, when GitHub links it.
    pub run_id: Option<i64>,
    pub run_attempt: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Where a deployed sha's change began: the oldest commit of a push to the default branch that
/// made `sha` its head.
#[derive(Debug, Clone, PartialEq)]
pub struct FirstCommit {
    pub sha: String,
    pub at: DateTime<Utc>,
}

/// One state a deployment went through.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct DeploymentStatus {
    pub id: i64,
    pub deployment_id: i64,
    pub state: DeploymentState,
    pub description: Option<String>,
    /// Where to see it (the status's `log_url`, else its `target_url`).
    pub url: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A stored deployment, its latest state, and (filled by `rollbacks`) what rolled it back.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Deployment {
    pub id: i64,
    pub repository: String,
    pub environment: String,
    pub sha: String,
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    pub task: Option<String>,
    pub creator: Option<String>,
    pub description: Option<String>,
    pub run_id: Option<i64>,
    pub run_attempt: Option<i64>,
    pub created_at: DateTime<Utc>,
    /// The latest state, null before the first status.
    pub state: Option<DeploymentState>,
    pub state_at: Option<DateTime<Utc>>,
}

/// The deployments as rollbacks judge them: by whether they ever succeeded, not by their latest
/// state (GitHub marks a deployment `inactive` once a newer one replaces it). One with a
/// `success` among `statuses` is `success`; one that never succeeded but has a `failure` or
/// `error` is `failure`; the others keep their latest state.
pub fn judged(deployments: &[Deployment], statuses: &[DeploymentStatus]) -> Vec<Deployment> {
    let mut ever: HashMap<i64, DeploymentState> = HashMap::new();
    for s in statuses {
        match s.state {
            DeploymentState::Success => {
                ever.insert(s.deployment_id, DeploymentState::Success);
            }
            DeploymentState::Failure | DeploymentState::Error => {
                ever.entry(s.deployment_id).or_insert(DeploymentState::Failure);
            }
            _ => {}
        }
    }
    deployments
        .iter()
        .map(|d| Deployment { state: ever.get(&d.id).cloned().or_else(|| d.state.clone()), ..d.clone() })
        .collect()
}

/// For each deployment of one environment that a later one rolled back, the one that did: a
/// later successful deployment of a sha that an earlier successful deployment had already
/// shipped (going back to it), rolls back the deployments of other shas between the two.
pub fn rollbacks(deployments: &[Deployment]) -> HashMap<i64, i64> {
    let mut by_environment: HashMap<&str, Vec<&Deployment>> = HashMap::new();
    for d in deployments {
        by_environment.entry(d.environment.as_str()).or_default().push(d);
    }
    let mut rolled_back = HashMap::new();
    for mut list in by_environment.into_values() {
        list.sort_by_key(|d| (d.created_at, d.id));
        let succeeded = |d: &&Deployment| d.state == Some(DeploymentState::Success);
        // Where each sha last succeeded so far (an index into `list`).
        let mut last_success: HashMap<&str, usize> = HashMap::new();
        for (at, later) in list.iter().enumerate().filter(|(_, d)| succeeded(d)) {
            // The last earlier successful deployment of the same sha: what `later` returns to.
            if let Some(&back) = last_success.get(later.sha.as_str()) {
                for between in &list[back + 1..at] {
                    if between.sha != later.sha {
                        rolled_back.entry(between.id).or_insert(later.id);
                    }
                }
            }
            last_success.insert(later.sha.as_str(), at);
        }
    }
    rolled_back
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(id: i64, environment: &str, sha: &str, minute: i64, state: DeploymentState) -> Deployment {
        let at =
            DateTime::parse_from_rfc3339("2026-01-05T10:00:00Z").unwrap().to_utc() + chrono::Duration::minutes(minute);
        Deployment {
            id,
            repository: "octo/app".into(),
            environment: environment.into(),
            sha: sha.into(),
            git_ref: None,
            task: None,
            creator: None,
            description: None,
            run_id: None,
            run_attempt: None,
            created_at: at,
            state: Some(state),
            state_at: Some(at),
        }
    }

    #[test]
    fn going_back_to_an_earlier_sha_rolls_back_what_came_between() {
        use DeploymentState::*;
        let list = [
            deployment(1, "production", "aaa", 0, Success),
            deployment(2, "production", "bbb", 10, Success),
            deployment(3, "production", "ccc", 20, Failure),
            deployment(4, "staging", "ddd", 25, Success),
            deployment(5, "production", "aaa", 30, Success),
            deployment(6, "production", "eee", 40, Success),
        ];
        let rolled = rollbacks(&list);
        assert_eq!(rolled.get(&2), Some(&5), "bbb shipped, then aaa again");
        assert_eq!(rolled.get(&3), Some(&5), "the failed ccc is replaced too");
        assert_eq!(rolled.len(), 2, "{rolled:?}: another environment and a new sha roll nothing back");
    }

    #[test]
    fn a_failed_return_rolls_nothing_back() {
        use DeploymentState::*;
        let list = [
            deployment(1, "production", "aaa", 0, Success),
            deployment(2, "production", "bbb", 10, Success),
            deployment(3, "production", "aaa", 20, Failure),
        ];
        assert!(rollbacks(&list).is_empty());
        // A redeploy of the same sha is not a rollback of itself.
        let again = [deployment(1, "production", "aaa", 0, Success), deployment(2, "production", "aaa", 5, Success)];
        assert!(rollbacks(&again).is_empty());
    }

    #[test]
    fn a_deployment_replaced_since_is_judged_by_its_success() {
        use DeploymentState::*;
        // GitHub marked 1 and 2 inactive as newer ones replaced them; 3 returns to aaa.
        let list = [
            deployment(1, "production", "aaa", 0, Inactive),
            deployment(2, "production", "bbb", 10, Inactive),
            deployment(3, "production", "aaa", 20, Success),
            deployment(4, "production", "ccc", 30, Error),
        ];
        let status = |id, deployment_id, state| DeploymentStatus {
            id,
            deployment_id,
            state,
            description: None,
            url: None,
            created_at: list[0].created_at,
        };
        let statuses = [
            status(1, 1, Success),
            status(2, 1, Inactive),
            status(3, 2, Success),
            status(4, 2, Inactive),
            status(5, 4, Error),
        ];
        assert!(rollbacks(&list).is_empty(), "by their latest states nothing shipped before 3");
        let judged = judged(&list, &statuses);
        let states: Vec<_> = judged.iter().map(|d| d.state.clone()).collect();
        assert_eq!(states, [Some(Success), Some(Success), Some(Success), Some(Failure)]);
        assert_eq!(rollbacks(&judged), HashMap::from([(2, 3)]));
    }
}
