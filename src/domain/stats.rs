//! Pipeline stats and the health score, computed from a `StatsSnapshot`.
//!
//! Health score (0-100) = round(0.6 * S + 0.3 * L + 0.1 * D), where
//! - S, reliability: the success rate of completed runs of the last 24 hours; with none in that
//!   window, of the last 10 completed runs; with none at all, 100.
//! - L, latest outcome: 100 if the most recent completed run succeeded (or there is none), else 0.
//! - D, speed: compares the average duration of the last 24 hours with that of the 7 days before:
//!   100 when no slower (or either is unknown), falling linearly to 0 at twice as slow.
//!
//! Skipped runs never count; cancelled, timed-out and failed runs count as not successful.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::clock::serde_secs;

use super::pipeline::Pipeline;
use super::runs::Execution;
use super::status::{Conclusion, PipelineStatus, RunStatus};

/// Raw figures for one pipeline's stats, computed by the database in one round trip.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatsSnapshot {
    /// Completed, non-skipped runs created in the last 24 hours.
    pub runs_24h: i64,
    pub successes_24h: i64,
    pub avg_duration_24h: Option<f64>,
    /// Average duration of completed runs created in the 7 days before the last 24 hours.
    pub avg_duration_baseline: Option<f64>,
    /// The last (up to) 10 completed, non-skipped runs: how many, and how many succeeded.
    pub recent_runs: i64,
    pub recent_successes: i64,
    /// Conclusion of the most recent completed, non-skipped run.
    pub last_conclusion: Option<Conclusion>,
    pub active_runs: i64,
    pub queued_runs: i64,
    /// The most recent run, in any state.
    pub last_run: Option<Execution>,
    /// Jobs of the most recent run: how many are known, how many completed, and the name of the
    /// first one running now.
    pub jobs_total: i64,
    pub jobs_completed: i64,
    pub current_job: Option<String>,
    /// When the last delivery for the repository was received.
    pub last_delivery_at: Option<DateTime<Utc>>,
}

/// The `stats` object of `GET /api/pipelines/{id}/stats` and of live `stats` events.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Stats {
    pub pipeline_id: String,
    #[schema(value_type = String)]
    pub status: PipelineStatus,
    pub repository: String,
    pub workflow_file: String,
    pub trigger_branches: Vec<String>,
    pub last_run: Option<LastRun>,
    pub metrics_24h: Metrics24h,
    /// 0 to 100 (see the README).
    pub health_score: u8,
    pub active_runs: i64,
    pub queue_length: i64,
    /// The job running now in the latest run.
    pub current_stage: Option<String>,
    pub progress_percentage: u8,
    #[serde(with = "serde_secs::option")]
    #[schema(value_type = Option<String>)]
    pub last_delivery_at: Option<DateTime<Utc>>,
    // Read apart from the snapshot, by the API only: live events leave it out.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = bool, required = true)]
    pub backfill_in_progress: Option<bool>,
    /// Issue 16: the pipeline's open (firing or acknowledged) alerts, newest first. Read apart
    /// from the snapshot, by the API only (live `stats` events leave it out).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Vec<super::alerts::Alert>)]
    pub alerts: Option<Vec<super::alerts::Alert>>,
}

impl Stats {
    pub fn new(pipeline: &Pipeline, s: &StatsSnapshot) -> Self {
        Stats {
            pipeline_id: pipeline.id.clone(),
            status: pipeline.status,
            repository: pipeline.repository.clone(),
            workflow_file: pipeline.workflow_file.clone(),
            trigger_branches: pipeline.trigger_branches(),
            last_run: s.last_run.as_ref().map(LastRun::from),
            metrics_24h: metrics_24h(s),
            health_score: health_score(s),
            active_runs: s.active_runs,
            queue_length: s.queued_runs,
            current_stage: s.current_job.clone(),
            progress_percentage: progress_percentage(s),
            last_delivery_at: s.last_delivery_at,
            backfill_in_progress: None,
            alerts: None,
        }
    }

    pub fn with_backfill(self, in_progress: bool) -> Self {
        Stats { backfill_in_progress: Some(in_progress), ..self }
    }
}

/// Completed jobs of the latest run out of those known, in percent (0 when none are known, 100
/// once the run itself has completed).
pub fn progress_percentage(s: &StatsSnapshot) -> u8 {
    if s.last_run.as_ref().is_some_and(|r| r.status == RunStatus::Completed) {
        return 100;
    }
    if s.jobs_total == 0 {
        return 0;
    }
    ((s.jobs_completed * 100) / s.jobs_total).clamp(0, 100) as u8
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LastRun {
    #[serde(with = "serde_secs")]
    pub timestamp: chrono::DateTime<chrono::Utc>,
    /// The conclusion of a completed run (`success`, `failure`, ...), else its state
    /// (`queued`, `in_progress`, ...).
    pub status: String,
    pub duration_seconds: Option<i64>,
    pub branch: Option<String>,
    pub run_id: i64,
    pub run_attempt: i64,
    pub run_number: Option<i64>,
    pub commit_sha: Option<String>,
    pub event: Option<String>,
    pub actor: Option<String>,
    pub url: Option<String>,
    /// For a failed run, in `GET /api/pipelines/{id}/stats`: its first failed job and why
    /// (absent from live `stats` events, which are not read from the jobs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<super::job_logs::FailureReason>,
}

impl From<&Execution> for LastRun {
    fn from(e: &Execution) -> Self {
        LastRun {
            timestamp: e.started_at,
            status: match (&e.status, &e.conclusion) {
                (RunStatus::Completed, Some(conclusion)) => conclusion.as_str().to_string(),
                _ => e.status.as_str().to_string(),
            },
            duration_seconds: e.duration_seconds,
            branch: e.branch.clone(),
            run_id: e.run_id,
            run_attempt: e.run_attempt,
            run_number: e.run_number,
            commit_sha: e.head_sha.clone(),
            event: e.event.clone(),
            actor: e.actor.clone(),
            url: e.html_url.clone(),
            failure: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Metrics24h {
    pub run_count: i64,
    pub success_count: i64,
    /// Percent, one decimal; 0.0 with no runs.
    pub success_rate: f64,
    /// Whole seconds; 0 with no runs.
    pub avg_duration_seconds: i64,
}

pub fn metrics_24h(s: &StatsSnapshot) -> Metrics24h {
    Metrics24h {
        run_count: s.runs_24h,
        success_count: s.successes_24h,
        success_rate: percent(s.successes_24h, s.runs_24h).map(|p| (p * 10.0).round() / 10.0).unwrap_or(0.0),
        avg_duration_seconds: s.avg_duration_24h.map(|d| d.round() as i64).unwrap_or(0),
    }
}

fn percent(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 * 100.0 / whole as f64)
}

/// The health score defined at the top of this module.
pub fn health_score(s: &StatsSnapshot) -> u8 {
    let reliability =
        percent(s.successes_24h, s.runs_24h).or_else(|| percent(s.recent_successes, s.recent_runs)).unwrap_or(100.0);
    let latest = match s.last_conclusion {
        None | Some(Conclusion::Success) => 100.0,
        Some(_) => 0.0,
    };
    let speed = match (s.avg_duration_24h, s.avg_duration_baseline) {
        (Some(recent), Some(baseline)) if baseline > 0.0 => {
            let ratio = recent / baseline;
            (100.0 * (2.0 - ratio)).clamp(0.0, 100.0)
        }
        _ => 100.0,
    };
    (0.6 * reliability + 0.3 * latest + 0.1 * speed).round().clamp(0.0, 100.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(runs: i64, successes: i64) -> StatsSnapshot {
        StatsSnapshot { runs_24h: runs, successes_24h: successes, ..Default::default() }
    }

    #[test]
    fn no_runs_is_healthy_and_zero() {
        let s = StatsSnapshot::default();
        assert_eq!(health_score(&s), 100);
        assert_eq!(
            metrics_24h(&s),
            Metrics24h { run_count: 0, success_count: 0, success_rate: 0.0, avg_duration_seconds: 0 }
        );
    }

    #[test]
    fn weights_reliability_latest_and_speed() {
        // 8 of 10 succeeded, the latest failed, 1.5x slower than the week before:
        // 0.6 * 80 + 0.3 * 0 + 0.1 * 50 = 53.
        let s = StatsSnapshot {
            last_conclusion: Some(Conclusion::Failure),
            avg_duration_24h: Some(300.0),
            avg_duration_baseline: Some(200.0),
            ..snapshot(10, 8)
        };
        assert_eq!(health_score(&s), 53);
        // All good and faster than the baseline: 100.
        let s = StatsSnapshot {
            last_conclusion: Some(Conclusion::Success),
            avg_duration_24h: Some(100.0),
            avg_duration_baseline: Some(200.0),
            ..snapshot(3, 3)
        };
        assert_eq!(health_score(&s), 100);
        // Three times slower: speed is 0, 90 remains.
        let s = StatsSnapshot { avg_duration_24h: Some(600.0), avg_duration_baseline: Some(200.0), ..snapshot(3, 3) };
        assert_eq!(health_score(&s), 90);
    }

    #[test]
    fn falls_back_to_the_last_ten_runs() {
        let s = StatsSnapshot {
            recent_runs: 10,
            recent_successes: 5,
            last_conclusion: Some(Conclusion::Success),
            ..Default::default()
        };
        // 0.6 * 50 + 30 + 10 = 70.
        assert_eq!(health_score(&s), 70);
    }

    #[test]
    fn rounds_rate_and_duration() {
        let s = StatsSnapshot { avg_duration_24h: Some(186.6), ..snapshot(3, 2) };
        let m = metrics_24h(&s);
        assert_eq!(m.success_rate, 66.7);
        assert_eq!(m.avg_duration_seconds, 187);
    }
}
