//! Quality: flaky jobs (the same job on the same commit both failed and passed: across attempts
//! of a run, or across runs of the same sha), the failure rate of each job, and the steps that
//! fail most, with their messages.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::figures::{minutes, percent};
use super::samples::{JobSample, RunSample};

/// How many failing steps a report lists.
pub const FAILING_STEPS: usize = 10;

/// One job name on one commit: how often it passed and failed, and the seconds its failures ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitOutcomes {
    pub job: String,
    pub passed: i64,
    pub failed: i64,
    pub failed_seconds: i64,
}

impl CommitOutcomes {
    /// It both failed and passed on the same commit: the code did not decide, the job did.
    pub fn flaky(&self) -> bool {
        self.passed > 0 && self.failed > 0
    }
}

/// A job that both failed and passed on the same commit.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FlakyJob {
    pub name: String,
    /// Commits (head shas) on which it both failed and passed.
    pub flaky_commits: i64,
    /// Its failures on those commits (the attempts that had to be run again).
    pub failed_attempts: i64,
    pub passed_attempts: i64,
    /// The time its failures on those commits ran, in minutes (one decimal): work thrown away.
    pub minutes_lost: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct JobFailureRate {
    pub name: String,
    /// Completed runs of the job (skipped ones left out).
    pub runs: i64,
    pub failures: i64,
    /// Percent, one decimal.
    pub failure_rate: f64,
}

/// A step that failed, by job, with the latest message.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FailingStep {
    pub job: String,
    /// Null when the job's steps did not say.
    pub step: Option<String>,
    pub failures: i64,
    /// The message of its latest failure that has one.
    pub last_error_message: Option<String>,
    pub last_failed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Quality {
    /// Most flaky commits first.
    pub flaky_jobs: Vec<FlakyJob>,
    /// Every job of the report's runs, most failures first.
    pub job_failure_rates: Vec<JobFailureRate>,
    /// Most frequent first (at most 10).
    pub failing_steps: Vec<FailingStep>,
}

/// The quality part of a report over `runs` (those of its days) and their `jobs`.
pub fn quality(runs: &[&RunSample], jobs: &[JobSample]) -> Quality {
    let sha: HashMap<(i64, i64), &str> =
        runs.iter().filter_map(|r| Some(((r.run_id, r.run_attempt), r.head_sha.as_deref()?))).collect();
    let attempts: HashSet<(i64, i64)> = runs.iter().map(|r| (r.run_id, r.run_attempt)).collect();
    let jobs: Vec<&JobSample> = jobs.iter().filter(|j| attempts.contains(&j.attempt())).collect();
    let mut commits: BTreeMap<(&str, &str), CommitOutcomes> = BTreeMap::new();
    for job in &jobs {
        let Some(sha) = sha.get(&job.attempt()) else { continue };
        let entry = commits.entry((job.name.as_str(), *sha)).or_insert_with(|| CommitOutcomes {
            job: job.name.clone(),
            passed: 0,
            failed: 0,
            failed_seconds: 0,
        });
        if job.passed() {
            entry.passed += 1;
        } else if job.failed() {
            entry.failed += 1;
            entry.failed_seconds += job.seconds().unwrap_or(0);
        }
    }
    Quality {
        flaky_jobs: flaky_jobs(commits.values()),
        job_failure_rates: failure_rates(&jobs),
        failing_steps: failing_steps(&jobs),
    }
}

/// The flaky jobs among these commits' outcomes, by job name: most flaky commits first, then most
/// minutes lost.
pub fn flaky_jobs<'a>(outcomes: impl IntoIterator<Item = &'a CommitOutcomes>) -> Vec<FlakyJob> {
    let mut by_job: BTreeMap<&str, (i64, i64, i64, i64)> = BTreeMap::new();
    for o in outcomes.into_iter().filter(|o| o.flaky()) {
        let e = by_job.entry(o.job.as_str()).or_default();
        *e = (e.0 + 1, e.1 + o.failed, e.2 + o.passed, e.3 + o.failed_seconds);
    }
    let mut flaky: Vec<FlakyJob> = by_job
        .into_iter()
        .map(|(name, (commits, failed, passed, seconds))| FlakyJob {
            name: name.to_string(),
            flaky_commits: commits,
            failed_attempts: failed,
            passed_attempts: passed,
            minutes_lost: minutes(seconds),
        })
        .collect();
    flaky.sort_by(|a, b| {
        b.flaky_commits.cmp(&a.flaky_commits).then(b.minutes_lost.total_cmp(&a.minutes_lost)).then(a.name.cmp(&b.name))
    });
    flaky
}

fn failure_rates(jobs: &[&JobSample]) -> Vec<JobFailureRate> {
    let mut by_job: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for job in jobs.iter().filter(|j| j.counted()) {
        let e = by_job.entry(job.name.as_str()).or_default();
        *e = (e.0 + 1, e.1 + i64::from(job.failed()));
    }
    let mut rates: Vec<JobFailureRate> = by_job
        .into_iter()
        .map(|(name, (runs, failures))| JobFailureRate {
            name: name.to_string(),
            runs,
            failures,
            failure_rate: percent(failures, runs).unwrap_or(0.0),
        })
        .collect();
    rates.sort_by(|a, b| {
        b.failures.cmp(&a.failures).then(b.failure_rate.total_cmp(&a.failure_rate)).then(a.name.cmp(&b.name))
    });
    rates
}

fn failing_steps(jobs: &[&JobSample]) -> Vec<FailingStep> {
    let mut by_step: BTreeMap<(&str, Option<&str>), FailingStep> = BTreeMap::new();
    let mut failed: Vec<&&JobSample> = jobs.iter().filter(|j| j.failed()).collect();
    // Oldest first, so that the last message kept is the latest one.
    failed.sort_by_key(|j| (j.completed_at, j.run_id, j.run_attempt));
    for job in failed {
        let entry = by_step.entry((job.name.as_str(), job.failed_step.as_deref())).or_insert_with(|| FailingStep {
            job: job.name.clone(),
            step: job.failed_step.clone(),
            failures: 0,
            last_error_message: None,
            last_failed_at: None,
        });
        entry.failures += 1;
        entry.last_failed_at = job.completed_at.or(entry.last_failed_at);
        if job.error_message.is_some() {
            entry.last_error_message = job.error_message.clone();
        }
    }
    let mut steps: Vec<FailingStep> = by_step.into_values().collect();
    steps.sort_by(|a, b| b.failures.cmp(&a.failures).then(b.last_failed_at.cmp(&a.last_failed_at)));
    steps.truncate(FAILING_STEPS);
    steps
}

#[cfg(test)]
mod tests {
    use super::super::samples::tests::{job, run};
    use super::*;

    #[test]
    fn a_job_that_failed_then_passed_on_a_rerun_is_flaky() {
        let first = run(1, 1, "2026-03-13T10:00:00Z", 0, 300, "failure");
        let rerun = run(1, 2, "2026-03-13T10:00:00Z", 0, 280, "success");
        // Another run of another commit where e2e failed for real (it never passed there).
        let other = run(2, 1, "2026-03-13T12:00:00Z", 0, 200, "failure");
        let jobs = vec![
            job(&first, "build", 0, 60, "success"),
            JobSample {
                failed_step: Some("Run e2e".into()),
                error_message: Some("timeout".into()),
                ..job(&first, "e2e", 60, 240, "failure")
            },
            job(&rerun, "build", 0, 60, "success"),
            job(&rerun, "e2e", 60, 220, "success"),
            JobSample {
                failed_step: Some("Run e2e".into()),
                error_message: Some("assert".into()),
                ..job(&other, "e2e", 0, 120, "failure")
            },
        ];
        let runs = [&first, &rerun, &other];
        let q = quality(&runs, &jobs);
        assert_eq!(
            q.flaky_jobs,
            vec![FlakyJob {
                name: "e2e".into(),
                flaky_commits: 1,
                failed_attempts: 1,
                passed_attempts: 1,
                minutes_lost: 4.0
            }]
        );
        assert_eq!(
            q.job_failure_rates,
            vec![
                JobFailureRate { name: "e2e".into(), runs: 3, failures: 2, failure_rate: 66.7 },
                JobFailureRate { name: "build".into(), runs: 2, failures: 0, failure_rate: 0.0 },
            ]
        );
        assert_eq!(q.failing_steps.len(), 1);
        let step = &q.failing_steps[0];
        assert_eq!((step.job.as_str(), step.step.as_deref(), step.failures), ("e2e", Some("Run e2e"), 2));
        assert_eq!(step.last_error_message.as_deref(), Some("assert"), "the latest failure's message");
    }

    #[test]
    fn flaky_jobs_rank_by_commits_then_minutes() {
        let outcome = |job: &str, passed, failed, failed_seconds| CommitOutcomes {
            job: job.into(),
            passed,
            failed,
            failed_seconds,
        };
        let list = [outcome("a", 1, 1, 60), outcome("b", 1, 2, 600), outcome("a", 2, 1, 30), outcome("c", 0, 3, 900)];
        let flaky = flaky_jobs(&list);
        assert_eq!(
            flaky.iter().map(|f| (f.name.as_str(), f.flaky_commits, f.failed_attempts)).collect::<Vec<_>>(),
            [("a", 2, 2), ("b", 1, 2)]
        );
        assert_eq!((flaky[0].minutes_lost, flaky[1].minutes_lost), (1.5, 10.0));
    }
}
