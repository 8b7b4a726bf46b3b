//! Recommendations: rules over a report's figures, each with its evidence and an estimate of the
//! minutes a week acting on it would give back.
//!
//! - `flaky_job`: a flaky job's thrown-away minutes, per week.
//! - `dominant_job`: a job taking at least half of the run's time at p50; making it twice as fast
//!   saves half its p50 on every run of a week.
//! - `queue_time`: the runs' p95 queue time is 2 minutes or more; the runs that waited that long,
//!   by the UTC hour they were created in (where runners are short), and their waiting per week.
//! - `falling_success_rate`: the last 7 days' success rate is 10 points or more below the 7
//!   before; the extra failures of the last week times the run's p50.

use std::collections::BTreeSet;

use chrono::{DateTime, Timelike, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::figures::{minutes, round1};
use super::performance::Performance;
use super::quality::Quality;
use super::window::Window;

/// A job at least this share of the run's p50 dominates it.
pub const DOMINANT_SHARE_PERCENT: f64 = 50.0;
/// A p95 queue time from this many seconds means runners are short.
pub const LONG_QUEUE_SECONDS: i64 = 120;
/// A fall of the success rate by this many points is worth a look.
pub const SUCCESS_RATE_FALL_POINTS: f64 = 10.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecommendationKind {
    FlakyJob,
    DominantJob,
    QueueTime,
    FallingSuccessRate,
}

/// The figures a recommendation rests on (those of its kind).
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct Evidence {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flaky_commits: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_runs: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minutes_lost: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_of_run_percent: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_p50_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p95_queue_seconds: Option<i64>,
    /// UTC hours (0 to 23) in which runs waited long.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saturated_hours_utc: Option<Vec<u32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_rate_before: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_rate_now: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Recommendation {
    pub kind: RecommendationKind,
    pub message: String,
    pub evidence: Evidence,
    /// One decimal.
    pub estimated_gain_minutes_per_week: f64,
}

/// The recommendations for a report's figures, the largest gain first. `long_queues` are the
/// runs that waited `LONG_QUEUE_SECONDS` or more (when they were created, how long).
pub fn recommendations(
    window: &Window,
    performance: &Performance,
    quality: &Quality,
    long_queues: &[(DateTime<Utc>, i64)],
) -> Vec<Recommendation> {
    let per_week = |value: f64| round1(value * 7.0 / f64::from(window.days.max(1)));
    let mut list = Vec::new();
    for flaky in &quality.flaky_jobs {
        let runs = quality.job_failure_rates.iter().find(|r| r.name == flaky.name).map_or(0, |r| r.runs);
        let gain = per_week(flaky.minutes_lost);
        list.push(Recommendation {
            kind: RecommendationKind::FlakyJob,
            message: format!(
                "job `{}` is flaky: it failed and then passed on the same commit {} time(s) in {} runs, \
                 about {gain} min/week of re-runs",
                flaky.name, flaky.flaky_commits, runs
            ),
            evidence: Evidence {
                job: Some(flaky.name.clone()),
                flaky_commits: Some(flaky.flaky_commits),
                job_runs: Some(runs),
                minutes_lost: Some(flaky.minutes_lost),
                ..Evidence::default()
            },
            estimated_gain_minutes_per_week: gain,
        });
    }
    for job in &performance.slowest_jobs {
        let Some(share) = job.share_of_run_percent.filter(|s| *s >= DOMINANT_SHARE_PERCENT) else { continue };
        let gain = per_week(minutes(job.p50_seconds) / 2.0 * performance.runs as f64);
        list.push(Recommendation {
            kind: RecommendationKind::DominantJob,
            message: format!(
                "job `{}` is {share} % of the run's time at p50 ({} s): halving it would save about {gain} min/week",
                job.name, job.p50_seconds
            ),
            evidence: Evidence {
                job: Some(job.name.clone()),
                job_runs: Some(job.runs),
                share_of_run_percent: Some(share),
                job_p50_seconds: Some(job.p50_seconds),
                ..Evidence::default()
            },
            estimated_gain_minutes_per_week: round1(gain),
        });
    }
    if let Some(p95) = performance.p95_queue_seconds.filter(|q| *q >= LONG_QUEUE_SECONDS) {
        let hours: BTreeSet<u32> = long_queues.iter().map(|(at, _)| at.hour()).collect();
        let waited: i64 = long_queues.iter().map(|(_, q)| q).sum();
        let gain = per_week(minutes(waited));
        list.push(Recommendation {
            kind: RecommendationKind::QueueTime,
            message: format!(
                "queue time p95 {}: runners are saturated at {} UTC, about {gain} min/week of waiting",
                duration_text(p95),
                hour_ranges(&hours)
            ),
            evidence: Evidence {
                p95_queue_seconds: Some(p95),
                saturated_hours_utc: Some(hours.into_iter().collect()),
                ..Evidence::default()
            },
            estimated_gain_minutes_per_week: gain,
        });
    }
    let trend = &performance.trend;
    if let (Some(before), Some(now)) = (trend.previous_7_days.success_rate, trend.last_7_days.success_rate)
        && before - now >= SUCCESS_RATE_FALL_POINTS
    {
        let extra = (trend.last_7_days.failures - trend.previous_7_days.failures).max(0);
        let gain = minutes(extra * trend.last_7_days.p50_duration_seconds.unwrap_or(0));
        list.push(Recommendation {
            kind: RecommendationKind::FallingSuccessRate,
            message: format!(
                "the success rate fell from {before} % to {now} % over the last 7 days ({extra} more failed runs, \
                 about {gain} min/week)"
            ),
            evidence: Evidence {
                success_rate_before: Some(before),
                success_rate_now: Some(now),
                ..Evidence::default()
            },
            estimated_gain_minutes_per_week: gain,
        });
    }
    list.sort_by(|a, b| b.estimated_gain_minutes_per_week.total_cmp(&a.estimated_gain_minutes_per_week));
    list
}

/// `4 min`, `1 min 30 s`, `45 s`.
fn duration_text(seconds: i64) -> String {
    match (seconds / 60, seconds % 60) {
        (0, s) => format!("{s} s"),
        (m, 0) => format!("{m} min"),
        (m, s) => format!("{m} min {s} s"),
    }
}

/// Hours as ranges: {14, 15, 20} is `14:00-16:00, 20:00-21:00`.
fn hour_ranges(hours: &BTreeSet<u32>) -> String {
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for &h in hours {
        match ranges.last_mut() {
            Some((_, end)) if *end == h => *end = h + 1,
            _ => ranges.push((h, h + 1)),
        }
    }
    ranges.iter().map(|(from, to)| format!("{from:02}:00-{to:02}:00")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::super::performance::performance;
    use super::super::quality::quality;
    use super::super::samples::tests::{at, job, run};
    use super::*;

    #[test]
    fn hours_read_as_ranges() {
        assert_eq!(hour_ranges(&[14, 15, 20].into_iter().collect()), "14:00-16:00, 20:00-21:00");
        assert_eq!(duration_text(240), "4 min");
        assert_eq!(duration_text(90), "1 min 30 s");
    }

    #[test]
    fn rules_fire_on_their_evidence() {
        let window = Window::ending_at(at("2026-03-14T20:00:00Z"), 7);
        // Two runs waiting 4 and 5 minutes at 14:xx and 15:xx, one at 09:00 waiting 10 s.
        let a = run(1, 1, "2026-03-13T14:10:00Z", 240, 600, "failure");
        let b = run(1, 2, "2026-03-13T14:10:00Z", 0, 600, "success");
        let c = run(2, 1, "2026-03-13T15:20:00Z", 300, 600, "success");
        let d = run(3, 1, "2026-03-13T09:00:00Z", 10, 600, "success");
        let mut b = b;
        b.started_at = at("2026-03-13T16:00:00Z");
        let runs = vec![a.clone(), b.clone(), c.clone(), d.clone()];
        let jobs = vec![
            job(&a, "e2e", 0, 420, "failure"),
            job(&b, "e2e", 0, 420, "success"),
            job(&c, "e2e", 0, 420, "success"),
            job(&d, "e2e", 0, 420, "success"),
        ];
        let p = performance(&window, &runs, &jobs);
        let in_window: Vec<&_> = runs.iter().collect();
        let q = quality(&in_window, &jobs);
        let long = super::super::performance::long_queues(&runs, &jobs, &window, LONG_QUEUE_SECONDS);
        let list = recommendations(&window, &p, &q, &long);
        let kinds: Vec<RecommendationKind> = list.iter().map(|r| r.kind).collect();
        // e2e: 420 of 600 s = 70 %: halving saves 3.5 min on each of 4 runs a week = 14.
        // queue: p95 300 s; 240 + 300 s waited = 9 min a week. flaky: 7 min thrown away = 7.
        assert_eq!(
            kinds,
            [RecommendationKind::DominantJob, RecommendationKind::QueueTime, RecommendationKind::FlakyJob]
        );
        assert_eq!(list.iter().map(|r| r.estimated_gain_minutes_per_week).collect::<Vec<_>>(), [14.0, 9.0, 7.0]);
        assert_eq!(list[1].evidence.saturated_hours_utc, Some(vec![14, 15]));
        assert!(
            list[1].message.contains("queue time p95 5 min: runners are saturated at 14:00-16:00 UTC"),
            "{}",
            list[1].message
        );
        assert!(list[2].message.starts_with("job `e2e` is flaky"), "{}", list[2].message);
    }
}
