//! The rows a report is computed from, as the store reads them: run attempts and their jobs.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::status::{Conclusion, RunStatus};

/// A run attempt of the pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSample {
    pub run_id: i64,
    pub run_attempt: i64,
    pub status: RunStatus,
    pub conclusion: Option<Conclusion>,
    pub head_sha: Option<String>,
    /// When GitHub created the run (the same for every attempt).
    pub created_at: DateTime<Utc>,
    /// When this attempt started.
    pub started_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<i64>,
}

impl RunSample {
    /// Completed and not skipped: what success rates and durations count (as the stats do).
    pub fn counted(&self) -> bool {
        self.status == RunStatus::Completed && self.conclusion != Some(Conclusion::Skipped)
    }

    pub fn succeeded(&self) -> bool {
        self.counted() && self.conclusion == Some(Conclusion::Success)
    }

    /// Failed (`failure`, `timed_out`, `startup_failure`; not cancelled).
    pub fn failed(&self) -> bool {
        self.counted() && self.conclusion.as_ref().is_some_and(Conclusion::is_failure)
    }

    /// The day it belongs to: the UTC day it was created.
    pub fn day(&self) -> NaiveDate {
        self.created_at.date_naive()
    }

    /// Running or completed (not skipped): it left the queue.
    pub fn started(&self) -> bool {
        self.status == RunStatus::InProgress || self.counted()
    }

    /// How long it waited for a runner: from its creation (a re-run attempt: from its start) to its
    /// first job's start, or to its own start when no job is known. `None` before it started.
    pub fn queue_seconds(&self, first_job_start: Option<DateTime<Utc>>) -> Option<i64> {
        if !self.started() {
            return None;
        }
        let from = if self.run_attempt <= 1 { self.created_at } else { self.started_at };
        let to = first_job_start.filter(|at| *at >= from).unwrap_or(self.started_at);
        Some((to - from).num_seconds().max(0))
    }
}

/// A job of a run attempt, and why it failed when it did.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSample {
    pub run_id: i64,
    pub run_attempt: i64,
    pub name: String,
    pub conclusion: Option<Conclusion>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    /// The first failed step (of a failed job).
    pub failed_step: Option<String>,
    /// The job's failure annotation or log lines (of a failed job, once its log is fetched).
    pub error_message: Option<String>,
}

impl JobSample {
    /// From its start to its completion.
    pub fn seconds(&self) -> Option<i64> {
        Some((self.completed_at? - self.started_at?).num_seconds().max(0))
    }

    pub fn passed(&self) -> bool {
        self.conclusion == Some(Conclusion::Success)
    }

    pub fn failed(&self) -> bool {
        self.conclusion.as_ref().is_some_and(Conclusion::is_failure)
    }

    /// Completed and not skipped.
    pub fn counted(&self) -> bool {
        self.conclusion.as_ref().is_some_and(|c| *c != Conclusion::Skipped)
    }

    pub fn attempt(&self) -> (i64, i64) {
        (self.run_id, self.run_attempt)
    }
}

/// The first start of any job of each run attempt.
pub fn first_job_starts(jobs: &[JobSample]) -> HashMap<(i64, i64), DateTime<Utc>> {
    let mut first: HashMap<(i64, i64), DateTime<Utc>> = HashMap::new();
    for job in jobs {
        if let Some(at) = job.started_at {
            first.entry(job.attempt()).and_modify(|f| *f = (*f).min(at)).or_insert(at);
        }
    }
    first
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    /// A completed attempt created at `created`, started `queued` seconds later, lasting `seconds`.
    pub fn run(id: i64, attempt: i64, created: &str, queued: i64, seconds: i64, conclusion: &str) -> RunSample {
        let created_at = at(created);
        let started_at = created_at + chrono::Duration::seconds(queued);
        RunSample {
            run_id: id,
            run_attempt: attempt,
            status: RunStatus::Completed,
            conclusion: Some(Conclusion::parse(conclusion)),
            head_sha: Some(format!("sha{id}")),
            created_at,
            started_at,
            completed_at: Some(started_at + chrono::Duration::seconds(seconds)),
            duration_seconds: Some(seconds),
        }
    }

    pub fn job(run: &RunSample, name: &str, offset: i64, seconds: i64, conclusion: &str) -> JobSample {
        let started = run.started_at + chrono::Duration::seconds(offset);
        JobSample {
            run_id: run.run_id,
            run_attempt: run.run_attempt,
            name: name.into(),
            conclusion: Some(Conclusion::parse(conclusion)),
            started_at: Some(started),
            completed_at: Some(started + chrono::Duration::seconds(seconds)),
            failed_step: None,
            error_message: None,
        }
    }

    #[test]
    fn queue_time_runs_from_creation_to_the_first_job() {
        let first = run(1, 1, "2026-03-01T10:00:00Z", 5, 60, "success");
        assert_eq!(first.queue_seconds(None), Some(5));
        assert_eq!(first.queue_seconds(Some(at("2026-03-01T10:02:00Z"))), Some(120));
        // A re-run waits from its own start, not from the run's creation days before.
        let mut rerun = run(1, 2, "2026-03-01T10:00:00Z", 0, 60, "success");
        rerun.started_at = at("2026-03-03T09:00:00Z");
        assert_eq!(rerun.queue_seconds(Some(at("2026-03-03T09:00:30Z"))), Some(30));
        let mut queued = first.clone();
        queued.status = RunStatus::Queued;
        assert_eq!(queued.queue_seconds(None), None);
    }
}
