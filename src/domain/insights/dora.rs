//! Deployments per environment, the DORA four: deployment frequency, lead time for changes,
//! change failure rate and time to restore.
//!
//! - A deployment succeeded when any of its statuses is `success` (GitHub later marks it
//!   `inactive` when a newer one replaces it), at its first `success`; it failed when it never
//!   succeeded and a status is `failure` or `error`.
//! - Lead time: ccm does not store commit times, so it runs from the start of the workflow run
//!   that made the deployment (the run GitHub links, else the earliest run of the deployed sha)
//!   to its success; without any such run in the report's days, from the deployment's creation.
//! - Change failure rate: failed deployments and successful ones later rolled back (see
//!   `deployments::rollbacks`), out of those that finished.
//! - Time to restore: from a failure to the next success in the environment; from a rolled-back
//!   deployment's success to the success of the one that rolled it back.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::figures::{percent, percentile, round2};
use super::samples::RunSample;
use super::window::Window;
use crate::domain::deployments::{Deployment, DeploymentStatus, rollbacks};
use crate::domain::status::DeploymentState;

/// What lead time was measured from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeadTimeBasis {
    /// The start of the workflow run that made the deployment.
    RunStart,
    /// The deployment's creation (no run of its sha among the report's runs).
    DeploymentCreated,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DeploymentFrequency {
    /// Successful deployments per day over the report's days (two decimals).
    pub per_day: f64,
    pub per_week: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LeadTime {
    pub basis: LeadTimeBasis,
    pub p50_seconds: Option<i64>,
    pub p95_seconds: Option<i64>,
    /// Successful deployments measured.
    pub samples: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TimeToRestore {
    pub p50_seconds: Option<i64>,
    pub samples: i64,
    /// Failures with no success since.
    pub unrestored: i64,
}

/// One environment's deployments created in the report's days.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct EnvironmentDora {
    pub environment: String,
    pub deployments: i64,
    pub successful: i64,
    pub failed: i64,
    /// Successful deployments a later one rolled back.
    pub rolled_back: i64,
    pub deployment_frequency: DeploymentFrequency,
    pub lead_time: LeadTime,
    /// Percent, one decimal; null when none finished.
    pub change_failure_rate: Option<f64>,
    pub time_to_restore: TimeToRestore,
}

/// How a deployment ended, from its statuses.
#[derive(Debug, Clone, Copy, Default)]
struct Outcome {
    succeeded_at: Option<DateTime<Utc>>,
    failed_at: Option<DateTime<Utc>>,
}

impl Outcome {
    fn failed(&self) -> bool {
        self.succeeded_at.is_none() && self.failed_at.is_some()
    }
}

/// The DORA figures of each environment with deployments created in `window`, by name.
/// `deployments` may reach before the window (what a rollback returns to); `statuses` are theirs;
/// `runs` are the pipeline's runs the report read.
pub fn dora(
    window: &Window,
    deployments: &[Deployment],
    statuses: &[DeploymentStatus],
    runs: &[RunSample],
) -> Vec<EnvironmentDora> {
    let mut outcomes: HashMap<i64, Outcome> = HashMap::new();
    for s in statuses {
        let o = outcomes.entry(s.deployment_id).or_default();
        let first = |at: &mut Option<DateTime<Utc>>| *at = Some(at.map_or(s.created_at, |a| a.min(s.created_at)));
        match s.state {
            DeploymentState::Success => first(&mut o.succeeded_at),
            DeploymentState::Failure | DeploymentState::Error => first(&mut o.failed_at),
            _ => {}
        }
    }
    let outcome = |id: i64| outcomes.get(&id).copied().unwrap_or_default();
    // Rollbacks judge a deployment by whether it ever succeeded, not by its latest state.
    let judged: Vec<Deployment> = deployments
        .iter()
        .map(|d| {
            let o = outcome(d.id);
            let state = if o.succeeded_at.is_some() {
                Some(DeploymentState::Success)
            } else if o.failed() {
                Some(DeploymentState::Failure)
            } else {
                d.state.clone()
            };
            Deployment { state, ..d.clone() }
        })
        .collect();
    let rolled = rollbacks(&judged);
    let succeeded_at: HashMap<i64, DateTime<Utc>> =
        deployments.iter().filter_map(|d| Some((d.id, outcome(d.id).succeeded_at?))).collect();

    let mut by_environment: BTreeMap<&str, Vec<&Deployment>> = BTreeMap::new();
    for d in deployments {
        by_environment.entry(d.environment.as_str()).or_default().push(d);
    }
    by_environment
        .into_iter()
        .filter_map(|(environment, mut all)| {
            all.sort_by_key(|d| (d.created_at, d.id));
            let recent: Vec<&Deployment> = all.iter().copied().filter(|d| window.contains(d.created_at)).collect();
            if recent.is_empty() {
                return None;
            }
            let successful: Vec<&Deployment> =
                recent.iter().copied().filter(|d| outcome(d.id).succeeded_at.is_some()).collect();
            let failed: Vec<&Deployment> = recent.iter().copied().filter(|d| outcome(d.id).failed()).collect();
            let rolled_back: Vec<&Deployment> =
                successful.iter().copied().filter(|d| rolled.contains_key(&d.id)).collect();

            let mut successes: Vec<DateTime<Utc>> =
                all.iter().filter_map(|n| succeeded_at.get(&n.id).copied()).collect();
            successes.sort();
            let mut restores = Vec::new();
            let mut unrestored = 0;
            for d in &failed {
                let failed_at = outcome(d.id).failed_at.expect("a failed deployment has its failure");
                // The first success after the failure.
                match successes.get(successes.partition_point(|at| *at <= failed_at)) {
                    Some(at) => restores.push((*at - failed_at).num_seconds()),
                    None => unrestored += 1,
                }
            }
            for d in &rolled_back {
                let by = rolled.get(&d.id).and_then(|by| succeeded_at.get(by));
                if let (Some(back), Some(shipped)) = (by, succeeded_at.get(&d.id)) {
                    restores.push((*back - *shipped).num_seconds().max(0));
                }
            }

            let finished = (successful.len() + failed.len()) as i64;
            let days = f64::from(window.days.max(1));
            Some(EnvironmentDora {
                environment: environment.to_string(),
                deployments: recent.len() as i64,
                successful: successful.len() as i64,
                failed: failed.len() as i64,
                rolled_back: rolled_back.len() as i64,
                deployment_frequency: DeploymentFrequency {
                    per_day: round2(successful.len() as f64 / days),
                    per_week: round2(successful.len() as f64 * 7.0 / days),
                },
                lead_time: lead_time(&successful, &succeeded_at, runs),
                change_failure_rate: percent((failed.len() + rolled_back.len()) as i64, finished),
                time_to_restore: TimeToRestore {
                    p50_seconds: percentile(&restores, 50),
                    samples: restores.len() as i64,
                    unrestored,
                },
            })
        })
        .collect()
}

/// From the start of the run that made each deployment (else, when none of them has one, from
/// its creation) to its success.
fn lead_time(successful: &[&Deployment], succeeded_at: &HashMap<i64, DateTime<Utc>>, runs: &[RunSample]) -> LeadTime {
    // Each run attempt's start; each run's first attempt; each sha's earliest run (by start, then id).
    let mut attempts: HashMap<(i64, i64), DateTime<Utc>> = HashMap::new();
    let mut first_attempts: HashMap<i64, (i64, DateTime<Utc>)> = HashMap::new();
    let mut by_sha: HashMap<&str, (DateTime<Utc>, i64)> = HashMap::new();
    for r in runs {
        attempts.entry((r.run_id, r.run_attempt)).or_insert(r.started_at);
        let first = first_attempts.entry(r.run_id).or_insert((r.run_attempt, r.started_at));
        if r.run_attempt < first.0 {
            *first = (r.run_attempt, r.started_at);
        }
        if let Some(sha) = r.head_sha.as_deref() {
            let earliest = by_sha.entry(sha).or_insert((r.started_at, r.run_id));
            *earliest = (*earliest).min((r.started_at, r.run_id));
        }
    }
    let run_start = |d: &Deployment| -> Option<DateTime<Utc>> {
        let linked = d.run_id.and_then(|id| {
            let attempt = d.run_attempt.unwrap_or(1);
            attempts.get(&(id, attempt)).or_else(|| first_attempts.get(&id).map(|(_, at)| at)).copied()
        });
        linked.or_else(|| by_sha.get(d.sha.as_str()).map(|(at, _)| *at))
    };
    let measured: Vec<i64> =
        successful.iter().filter_map(|d| Some((succeeded_at[&d.id] - run_start(d)?).num_seconds().max(0))).collect();
    let (basis, samples) = if measured.is_empty() {
        let from_creation: Vec<i64> =
            successful.iter().map(|d| (succeeded_at[&d.id] - d.created_at).num_seconds().max(0)).collect();
        (LeadTimeBasis::DeploymentCreated, from_creation)
    } else {
        (LeadTimeBasis::RunStart, measured)
    };
    LeadTime {
        basis,
        p50_seconds: percentile(&samples, 50),
        p95_seconds: percentile(&samples, 95),
        samples: samples.len() as i64,
    }
}

#[cfg(test)]
mod tests {
    use super::super::samples::tests::{at, run};
    use super::*;

    fn deployment(id: i64, environment: &str, sha: &str, created: &str, run_id: Option<i64>) -> Deployment {
        Deployment {
            id,
            repository: "octo/app".into(),
            environment: environment.into(),
            sha: sha.into(),
            git_ref: None,
            task: None,
            creator: None,
            description: None,
            run_id,
            run_attempt: run_id.map(|_| 1),
            created_at: at(created),
            state: None,
            state_at: None,
        }
    }

    fn status(id: i64, deployment_id: i64, state: DeploymentState, created: &str) -> DeploymentStatus {
        DeploymentStatus { id, deployment_id, state, description: None, url: None, created_at: at(created) }
    }

    #[test]
    fn the_four_figures_of_an_environment() {
        use DeploymentState::*;
        let window = Window::ending_at(at("2026-03-14T12:00:00Z"), 7);
        // Run 10 (sha aaa) started 09:50; run 11 (sha bbb) started 11:00.
        let runs = vec![
            run(10, 1, "2026-03-10T09:50:00Z", 0, 300, "success"),
            RunSample { head_sha: Some("bbb".into()), ..run(11, 1, "2026-03-11T11:00:00Z", 0, 300, "success") },
        ];
        let deployments = vec![
            // Before the window: what the rollback returns to.
            deployment(1, "production", "sha10", "2026-03-01T10:00:00Z", None),
            deployment(2, "production", "bbb", "2026-03-11T11:10:00Z", None),
            deployment(3, "production", "ccc", "2026-03-12T10:00:00Z", None),
            deployment(4, "production", "sha10", "2026-03-12T11:00:00Z", Some(10)),
            deployment(5, "staging", "ddd", "2026-03-13T10:00:00Z", None),
        ];
        let statuses = vec![
            status(11, 1, Success, "2026-03-01T10:05:00Z"),
            status(21, 2, InProgress, "2026-03-11T11:11:00Z"),
            status(22, 2, Success, "2026-03-11T11:20:00Z"),
            status(23, 2, Inactive, "2026-03-12T11:05:00Z"),
            status(31, 3, Failure, "2026-03-12T10:10:00Z"),
            status(41, 4, Success, "2026-03-12T11:05:00Z"),
            status(51, 5, Error, "2026-03-13T10:01:00Z"),
        ];
        let figures = dora(&window, &deployments, &statuses, &runs);
        assert_eq!(figures.len(), 2);
        let production = &figures[0];
        assert_eq!(production.environment, "production");
        // In the window: 2 (succeeded, then rolled back by 4), 3 (failed), 4 (succeeded).
        assert_eq!(
            (production.deployments, production.successful, production.failed, production.rolled_back),
            (3, 2, 1, 1)
        );
        assert_eq!(production.deployment_frequency, DeploymentFrequency { per_day: 0.29, per_week: 2.0 });
        // 2: run of bbb started 11:00, success 11:20 -> 1200 s; 4: run 10 started 09:50 on the
        // 10th, success on the 12th at 11:05 -> 2 days 1 h 15 min = 177300 s.
        assert_eq!(
            production.lead_time,
            LeadTime {
                basis: LeadTimeBasis::RunStart,
                p50_seconds: Some(1200),
                p95_seconds: Some(177_300),
                samples: 2
            }
        );
        // (1 failed + 1 rolled back) of 3 finished.
        assert_eq!(production.change_failure_rate, Some(66.7));
        // 3 failed at 10:10, 4 succeeded at 11:05: 3300 s; 2 shipped at 11:20 on the 11th,
        // rolled back at 11:05 on the 12th: 85500 s.
        assert_eq!(production.time_to_restore, TimeToRestore { p50_seconds: Some(3300), samples: 2, unrestored: 0 });

        let staging = &figures[1];
        assert_eq!((staging.deployments, staging.successful, staging.failed), (1, 0, 1));
        assert_eq!(staging.change_failure_rate, Some(100.0));
        assert_eq!(staging.time_to_restore, TimeToRestore { p50_seconds: None, samples: 0, unrestored: 1 });
        assert_eq!(
            staging.lead_time,
            LeadTime { basis: LeadTimeBasis::DeploymentCreated, p50_seconds: None, p95_seconds: None, samples: 0 }
        );
    }
}
