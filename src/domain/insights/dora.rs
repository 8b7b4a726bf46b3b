//! Deployments per environment, the DORA four: deployment frequency, lead time for changes,
//! change failure rate and time to restore.
//!
//! - A deployment succeeded when any of its statuses is `success` (GitHub later marks it
//!   `inactive` when a newer one replaces it), at its first `success`; it failed when it never
//!   succeeded and a status is `failure` or `error`.
//! - Deployment frequency counts every successful deployment, rollbacks and re-deployments
//!   included: each is a release to the environment.
//! - Lead time is a change's: only the first successful deployment of a sha to the environment
//!   counts (a rollback to an older sha, or a re-deployment, ships no change). It runs to that
//!   success from the oldest commit of the push to the default branch that made the sha its head;
//!   without such a push (a deployment of a branch, a push before ccm), from the start of the
//!   workflow run that made the deployment (the run GitHub links, else the earliest run of the
//!   sha among the report's runs); a change with neither is counted in `unmeasured`.
//! - Deploy duration: from a deployment's creation to its success, every successful one.
//! - Change failure rate: failed deployments and successful ones later rolled back (see
//!   `deployments::rollbacks`), out of those that finished.
//! - Time to restore: from a failure to the next success in the environment; from a rolled-back
//!   deployment's success to the success of the one that rolled it back.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::figures::{percent, percentile, round2};
use super::samples::RunSample;
use super::window::Window;
use crate::domain::deployments::{Deployment, DeploymentStatus, FirstCommit, judged, rollbacks};
use crate::domain::status::DeploymentState;

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DeploymentFrequency {
    /// Successful deployments per day over the report's days (two decimals).
    pub per_day: f64,
    pub per_week: f64,
}

/// Lead time for changes: from a sha's first commit (else the start of the run that made its
/// deployment) to its first successful deployment to the environment.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LeadTime {
    pub p50_seconds: Option<i64>,
    pub p95_seconds: Option<i64>,
    /// Changes measured.
    pub samples: i64,
    /// Of those, the ones measured from the oldest commit of their push; the others from the
    /// start of their run.
    pub from_first_commit: i64,
    /// Changes with neither a push nor a run known to measure from (deployed by hand from a
    /// branch, or pushed and run before the report's days).
    pub unmeasured: i64,
    /// Successful deployments of a sha the environment already had (rollbacks, re-deployments):
    /// no change, so no lead time.
    pub redeployments: i64,
}

/// From a deployment's creation to its success.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DeployDuration {
    pub p50_seconds: Option<i64>,
    pub p95_seconds: Option<i64>,
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
    pub deploy_duration: DeployDuration,
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
/// `deployments` may reach before the window (what a rollback returns to, the shas an
/// environment already had); `statuses` are theirs; `runs` are the pipeline's runs the report
/// read; `first_commits` where the deployed shas' changes began.
pub fn dora(
    window: &Window,
    deployments: &[Deployment],
    statuses: &[DeploymentStatus],
    runs: &[RunSample],
    first_commits: &[FirstCommit],
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
    let rolled = rollbacks(&judged(deployments, statuses));
    let succeeded_at: HashMap<i64, DateTime<Utc>> =
        deployments.iter().filter_map(|d| Some((d.id, outcome(d.id).succeeded_at?))).collect();
    let starts = ChangeStarts::new(runs, first_commits);

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
            let durations: Vec<i64> =
                successful.iter().map(|d| (succeeded_at[&d.id] - d.created_at).num_seconds().max(0)).collect();
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
                lead_time: lead_time(&all, &successful, &succeeded_at, &starts),
                deploy_duration: DeployDuration {
                    p50_seconds: percentile(&durations, 50),
                    p95_seconds: percentile(&durations, 95),
                    samples: durations.len() as i64,
                },
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

/// Where a change began: each deployed sha's first commit, and where each run attempt, each run
/// and each sha's runs started, from a report's runs.
struct ChangeStarts<'a> {
    first_commits: HashMap<&'a str, DateTime<Utc>>,
    attempts: HashMap<(i64, i64), DateTime<Utc>>,
    /// Each run's first attempt (its number and start).
    first_attempts: HashMap<i64, (i64, DateTime<Utc>)>,
    /// Each sha's earliest run (by start, then id).
    by_sha: HashMap<&'a str, (DateTime<Utc>, i64)>,
}

impl<'a> ChangeStarts<'a> {
    fn new(runs: &'a [RunSample], first_commits: &'a [FirstCommit]) -> Self {
        let mut starts = ChangeStarts {
            first_commits: HashMap::new(),
            attempts: HashMap::new(),
            first_attempts: HashMap::new(),
            by_sha: HashMap::new(),
        };
        for c in first_commits {
            let at = starts.first_commits.entry(c.sha.as_str()).or_insert(c.at);
            *at = (*at).min(c.at);
        }
        for r in runs {
            starts.attempts.entry((r.run_id, r.run_attempt)).or_insert(r.started_at);
            let first = starts.first_attempts.entry(r.run_id).or_insert((r.run_attempt, r.started_at));
            if r.run_attempt < first.0 {
                *first = (r.run_attempt, r.started_at);
            }
            if let Some(sha) = r.head_sha.as_deref() {
                let earliest = starts.by_sha.entry(sha).or_insert((r.started_at, r.run_id));
                *earliest = (*earliest).min((r.started_at, r.run_id));
            }
        }
        starts
    }

    /// Where `d`'s change began, and whether that is its first commit: the first commit of its
    /// sha, else the start of the run that made it.
    fn of(&self, d: &Deployment) -> Option<(DateTime<Utc>, bool)> {
        match self.first_commits.get(d.sha.as_str()) {
            Some(at) => Some((*at, true)),
            None => self.run_start(d).map(|at| (at, false)),
        }
    }

    /// The start of the run that made `d`: the linked attempt (else that run's first attempt),
    /// else the earliest run of its sha.
    fn run_start(&self, d: &Deployment) -> Option<DateTime<Utc>> {
        let linked = d.run_id.and_then(|id| {
            let attempt = d.run_attempt.unwrap_or(1);
            self.attempts.get(&(id, attempt)).or_else(|| self.first_attempts.get(&id).map(|(_, at)| at)).copied()
        });
        linked.or_else(|| self.by_sha.get(d.sha.as_str()).map(|(at, _)| *at))
    }
}

/// The lead time of the changes among `successful`: each sha's first successful deployment in
/// the environment (`all` of its deployments, oldest first).
fn lead_time(
    all: &[&Deployment],
    successful: &[&Deployment],
    succeeded_at: &HashMap<i64, DateTime<Utc>>,
    starts: &ChangeStarts,
) -> LeadTime {
    // Each sha's first successful deployment here: by success, then creation.
    let mut first_of_sha: HashMap<&str, (DateTime<Utc>, DateTime<Utc>, i64)> = HashMap::new();
    for d in all {
        if let Some(at) = succeeded_at.get(&d.id) {
            let first = first_of_sha.entry(d.sha.as_str()).or_insert((*at, d.created_at, d.id));
            *first = (*first).min((*at, d.created_at, d.id));
        }
    }
    let changes: HashSet<i64> = first_of_sha.values().map(|(_, _, id)| *id).collect();
    let (changes, redeployments): (Vec<&Deployment>, Vec<&Deployment>) =
        successful.iter().copied().partition(|d| changes.contains(&d.id));
    let measured: Vec<(i64, bool)> = changes
        .iter()
        .filter_map(|d| {
            let (start, from_commit) = starts.of(d)?;
            Some(((succeeded_at[&d.id] - start).num_seconds().max(0), from_commit))
        })
        .collect();
    let seconds: Vec<i64> = measured.iter().map(|(s, _)| *s).collect();
    LeadTime {
        p50_seconds: percentile(&seconds, 50),
        p95_seconds: percentile(&seconds, 95),
        samples: measured.len() as i64,
        from_first_commit: measured.iter().filter(|(_, from_commit)| *from_commit).count() as i64,
        unmeasured: (changes.len() - measured.len()) as i64,
        redeployments: redeployments.len() as i64,
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
        let figures = dora(&window, &deployments, &statuses, &runs, &[]);
        assert_eq!(figures.len(), 2);
        let production = &figures[0];
        assert_eq!(production.environment, "production");
        // In the window: 2 (succeeded, then rolled back by 4), 3 (failed), 4 (succeeded).
        assert_eq!(
            (production.deployments, production.successful, production.failed, production.rolled_back),
            (3, 2, 1, 1)
        );
        assert_eq!(production.deployment_frequency, DeploymentFrequency { per_day: 0.29, per_week: 2.0 });
        // Only 2 is a change: 4 goes back to sha10, which 1 shipped before the window. 2: run of
        // bbb started 11:00, success 11:20 -> 1200 s.
        assert_eq!(
            production.lead_time,
            LeadTime {
                p50_seconds: Some(1200),
                p95_seconds: Some(1200),
                samples: 1,
                from_first_commit: 0,
                unmeasured: 0,
                redeployments: 1
            }
        );
        // Created to success: 2 in 600 s, 4 in 300 s.
        assert_eq!(
            production.deploy_duration,
            DeployDuration { p50_seconds: Some(300), p95_seconds: Some(600), samples: 2 }
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
            LeadTime {
                p50_seconds: None,
                p95_seconds: None,
                samples: 0,
                from_first_commit: 0,
                unmeasured: 0,
                redeployments: 0
            }
        );
        assert_eq!(staging.deploy_duration, DeployDuration { p50_seconds: None, p95_seconds: None, samples: 0 });
    }

    #[test]
    fn lead_time_counts_each_change_once() {
        use DeploymentState::*;
        let window = Window::ending_at(at("2026-03-14T12:00:00Z"), 7);
        // Run 20 (sha20) started on the 10th at 10:00; sha30 has no run.
        let runs = vec![run(20, 1, "2026-03-10T10:00:00Z", 0, 300, "success")];
        let deployments = vec![
            // sha20's first deployment fails; the second ships the change; the third ships it again.
            deployment(1, "production", "sha20", "2026-03-10T10:10:00Z", Some(20)),
            deployment(2, "production", "sha20", "2026-03-10T11:00:00Z", Some(20)),
            deployment(3, "production", "sha20", "2026-03-12T09:00:00Z", None),
            // Deployed by hand, no run known.
            deployment(4, "production", "sha30", "2026-03-13T09:00:00Z", None),
        ];
        let statuses = vec![
            status(11, 1, Failure, "2026-03-10T10:15:00Z"),
            status(21, 2, Success, "2026-03-10T11:30:00Z"),
            status(31, 3, Success, "2026-03-12T09:02:00Z"),
            status(41, 4, Success, "2026-03-13T09:01:00Z"),
        ];
        let production = &dora(&window, &deployments, &statuses, &runs, &[])[0];
        // 2: run 20 started 10:00, success 11:30 -> 5400 s. 3 re-ships sha20; 4 has no run.
        assert_eq!(
            production.lead_time,
            LeadTime {
                p50_seconds: Some(5400),
                p95_seconds: Some(5400),
                samples: 1,
                from_first_commit: 0,
                unmeasured: 1,
                redeployments: 1
            }
        );
        // With the pushes: sha20's oldest commit at 09:40 (two pushes made it the head; the
        // oldest counts), sha30's at 08:00 on the 13th.
        let first_commits = [
            FirstCommit { sha: "sha20".into(), at: at("2026-03-10T09:50:00Z") },
            FirstCommit { sha: "sha20".into(), at: at("2026-03-10T09:40:00Z") },
            FirstCommit { sha: "sha30".into(), at: at("2026-03-13T08:00:00Z") },
        ];
        let production = &dora(&window, &deployments, &statuses, &runs, &first_commits)[0];
        // 2: 09:40 to 11:30 -> 6600 s; 4: 08:00 to 09:01 -> 3660 s.
        assert_eq!(
            production.lead_time,
            LeadTime {
                p50_seconds: Some(3660),
                p95_seconds: Some(6600),
                samples: 2,
                from_first_commit: 2,
                unmeasured: 0,
                redeployments: 1
            }
        );
        // Every success is a deployment: 2, 3 and 4.
        assert_eq!(production.successful, 3);
        assert_eq!(
            production.deploy_duration,
            DeployDuration { p50_seconds: Some(120), p95_seconds: Some(1800), samples: 3 }
        );
        // The failure at 10:15 was restored by 2 at 11:30.
        assert_eq!(production.time_to_restore, TimeToRestore { p50_seconds: Some(4500), samples: 1, unrestored: 0 });
    }
}
