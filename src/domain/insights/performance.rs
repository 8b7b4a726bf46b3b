//! Performance: runs, success rate, durations and queue time per day; the slowest jobs; the
//! trend of the last 7 days against the 7 before.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::figures::{percent, percentile, round1};
use super::samples::{JobSample, RunSample, first_job_starts};
use super::window::Window;

/// How many of the slowest jobs a report lists.
pub const SLOWEST_JOBS: usize = 10;

/// One UTC day: the runs created that day.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DayFigures {
    #[schema(value_type = String, format = Date, example = "2026-03-14")]
    pub date: NaiveDate,
    /// Completed runs (attempts), skipped ones left out.
    pub runs: i64,
    pub successes: i64,
    /// Percent, one decimal; null without runs.
    pub success_rate: Option<f64>,
    pub p50_duration_seconds: Option<i64>,
    pub p95_duration_seconds: Option<i64>,
    /// From a run's creation (a re-run's start) to its first job's start.
    pub p95_queue_seconds: Option<i64>,
}

/// A job, by name, over the report's runs.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SlowJob {
    pub name: String,
    /// Completed runs of the job (skipped ones left out).
    pub runs: i64,
    pub p50_seconds: i64,
    pub p95_seconds: i64,
    /// Its p50 against the runs' p50 duration, in percent (one decimal).
    pub share_of_run_percent: Option<f64>,
}

/// Which way a figure went, the last 7 days against the 7 before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Up,
    Down,
    /// Within 1 point (success rate) or 5 % (runs, duration) of before.
    Flat,
    /// One of the periods has no runs.
    Unknown,
}

/// One trend period's figures.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TrendPeriod {
    #[schema(value_type = String, format = Date)]
    pub from: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub to: NaiveDate,
    pub runs: i64,
    pub successes: i64,
    pub failures: i64,
    pub success_rate: Option<f64>,
    pub p50_duration_seconds: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Trend {
    pub last_7_days: TrendPeriod,
    pub previous_7_days: TrendPeriod,
    pub runs: Direction,
    pub success_rate: Direction,
    pub p50_duration: Direction,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Performance {
    /// Every day of the report, oldest first; a day without runs has zeros and nulls.
    pub daily: Vec<DayFigures>,
    /// Over the whole report.
    pub runs: i64,
    pub success_rate: Option<f64>,
    pub p50_duration_seconds: Option<i64>,
    pub p95_duration_seconds: Option<i64>,
    pub p95_queue_seconds: Option<i64>,
    /// By p50, slowest first (at most 10).
    pub slowest_jobs: Vec<SlowJob>,
    pub trend: Trend,
}

/// The performance part of a report over `runs` (any day; those outside `window` are read for the
/// trend only) and their `jobs`.
pub fn performance(window: &Window, runs: &[RunSample], jobs: &[JobSample]) -> Performance {
    let first_jobs = first_job_starts(jobs);
    let queue = |r: &RunSample| r.queue_seconds(first_jobs.get(&(r.run_id, r.run_attempt)).copied());
    let in_window: Vec<&RunSample> = runs.iter().filter(|r| window.contains(r.created_at)).collect();
    let mut by_day: BTreeMap<NaiveDate, Vec<&RunSample>> = window.each_day().map(|d| (d, Vec::new())).collect();
    for run in &in_window {
        by_day.entry(run.day()).or_default().push(run);
    }
    let daily = by_day
        .into_iter()
        .map(|(date, runs)| {
            let f = RunFigures::of(runs.iter().copied(), &queue);
            DayFigures {
                date,
                runs: f.runs,
                successes: f.successes,
                success_rate: percent(f.successes, f.runs),
                p50_duration_seconds: percentile(&f.durations, 50),
                p95_duration_seconds: percentile(&f.durations, 95),
                p95_queue_seconds: percentile(&f.queues, 95),
            }
        })
        .collect();
    let all = RunFigures::of(in_window.iter().copied(), &queue);
    let run_p50 = percentile(&all.durations, 50);
    Performance {
        daily,
        runs: all.runs,
        success_rate: percent(all.successes, all.runs),
        p50_duration_seconds: run_p50,
        p95_duration_seconds: percentile(&all.durations, 95),
        p95_queue_seconds: percentile(&all.queues, 95),
        slowest_jobs: slowest_jobs(&in_window, jobs, run_p50),
        trend: trend(window, runs),
    }
}

/// The figures of some runs.
struct RunFigures {
    runs: i64,
    successes: i64,
    failures: i64,
    durations: Vec<i64>,
    queues: Vec<i64>,
}

impl RunFigures {
    fn of<'a>(runs: impl Iterator<Item = &'a RunSample>, queue: &dyn Fn(&RunSample) -> Option<i64>) -> Self {
        let mut f = RunFigures { runs: 0, successes: 0, failures: 0, durations: Vec::new(), queues: Vec::new() };
        for run in runs {
            f.queues.extend(queue(run));
            if !run.counted() {
                continue;
            }
            f.runs += 1;
            f.successes += i64::from(run.succeeded());
            f.failures += i64::from(run.failed());
            f.durations.extend(run.duration_seconds);
        }
        f
    }
}

/// Jobs by name over the jobs of `runs`, slowest p50 first.
fn slowest_jobs(runs: &[&RunSample], jobs: &[JobSample], run_p50: Option<i64>) -> Vec<SlowJob> {
    let attempts: std::collections::HashSet<(i64, i64)> = runs.iter().map(|r| (r.run_id, r.run_attempt)).collect();
    let mut by_name: HashMap<&str, Vec<i64>> = HashMap::new();
    for job in jobs.iter().filter(|j| j.counted() && attempts.contains(&j.attempt())) {
        if let Some(seconds) = job.seconds() {
            by_name.entry(job.name.as_str()).or_default().push(seconds);
        }
    }
    let mut slow: Vec<SlowJob> = by_name
        .into_iter()
        .map(|(name, seconds)| {
            let p50 = percentile(&seconds, 50).unwrap_or(0);
            SlowJob {
                name: name.to_string(),
                runs: seconds.len() as i64,
                p50_seconds: p50,
                p95_seconds: percentile(&seconds, 95).unwrap_or(0),
                share_of_run_percent: run_p50.filter(|r| *r > 0).map(|r| round1(p50 as f64 * 100.0 / r as f64)),
            }
        })
        .collect();
    slow.sort_by(|a, b| {
        b.p50_seconds.cmp(&a.p50_seconds).then(b.p95_seconds.cmp(&a.p95_seconds)).then(a.name.cmp(&b.name))
    });
    slow.truncate(SLOWEST_JOBS);
    slow
}

fn trend(window: &Window, runs: &[RunSample]) -> Trend {
    let [last, previous] = window.trend_periods().map(|period| {
        let f = RunFigures::of(runs.iter().filter(|r| period.contains(r.created_at)), &|_| None);
        TrendPeriod {
            from: period.first_day,
            to: period.last_day,
            runs: f.runs,
            successes: f.successes,
            failures: f.failures,
            success_rate: percent(f.successes, f.runs),
            p50_duration_seconds: percentile(&f.durations, 50),
        }
    });
    let relative = |now: f64, before: f64| {
        if before == 0.0 && now == 0.0 {
            Direction::Flat
        } else if before == 0.0 {
            Direction::Up
        } else {
            direction((now - before) / before * 100.0, 5.0)
        }
    };
    let runs = if last.runs == 0 && previous.runs == 0 {
        Direction::Unknown
    } else {
        relative(last.runs as f64, previous.runs as f64)
    };
    let success_rate = match (last.success_rate, previous.success_rate) {
        (Some(now), Some(before)) => direction(now - before, 1.0),
        _ => Direction::Unknown,
    };
    let p50_duration = match (last.p50_duration_seconds, previous.p50_duration_seconds) {
        (Some(now), Some(before)) => relative(now as f64, before as f64),
        _ => Direction::Unknown,
    };
    Trend { last_7_days: last, previous_7_days: previous, runs, success_rate, p50_duration }
}

/// Up or down when `change` is at least `flat` away from 0.
fn direction(change: f64, flat: f64) -> Direction {
    if change >= flat {
        Direction::Up
    } else if change <= -flat {
        Direction::Down
    } else {
        Direction::Flat
    }
}

/// The UTC hours (0 to 23) of creation of the runs whose queue time reached `at_least` seconds,
/// with their queue times.
pub fn long_queues(
    runs: &[RunSample],
    jobs: &[JobSample],
    window: &Window,
    at_least: i64,
) -> Vec<(DateTime<Utc>, i64)> {
    let first_jobs = first_job_starts(jobs);
    runs.iter()
        .filter(|r| window.contains(r.created_at))
        .filter_map(|r| {
            let from = if r.run_attempt <= 1 { r.created_at } else { r.started_at };
            r.queue_seconds(first_jobs.get(&(r.run_id, r.run_attempt)).copied()).map(|q| (from, q))
        })
        .filter(|(_, q)| *q >= at_least)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::samples::tests::{at, job, run};
    use super::*;

    fn window() -> Window {
        Window::ending_at(at("2026-03-14T12:00:00Z"), 14)
    }

    #[test]
    fn days_count_the_runs_created_on_them() {
        let runs = vec![
            run(1, 1, "2026-03-13T10:00:00Z", 10, 100, "success"),
            run(2, 1, "2026-03-13T11:00:00Z", 30, 300, "failure"),
            // Created before midnight, finished after: the 13th's.
            run(3, 1, "2026-03-13T23:50:00Z", 20, 1200, "success"),
            run(4, 1, "2026-03-13T12:00:00Z", 0, 5, "skipped"),
            run(5, 1, "2026-03-11T09:00:00Z", 60, 200, "success"),
            // Before the window: read for the trend only.
            run(6, 1, "2026-02-27T09:00:00Z", 0, 50, "success"),
        ];
        let p = performance(&window(), &runs, &[]);
        assert_eq!(p.daily.len(), 14);
        let day = |d: &str| p.daily.iter().find(|f| f.date.to_string() == d).unwrap().clone();
        let thirteenth = day("2026-03-13");
        assert_eq!((thirteenth.runs, thirteenth.successes, thirteenth.success_rate), (3, 2, Some(66.7)));
        assert_eq!((thirteenth.p50_duration_seconds, thirteenth.p95_duration_seconds), (Some(300), Some(1200)));
        // Queue times 10, 30, 20 (the skipped run never left the queue as counted).
        assert_eq!(thirteenth.p95_queue_seconds, Some(30));
        let fourteenth = day("2026-03-14");
        assert_eq!(
            (fourteenth.runs, fourteenth.successes, fourteenth.success_rate, fourteenth.p50_duration_seconds),
            (0, 0, None, None)
        );
        assert_eq!((p.runs, p.success_rate, p.p50_duration_seconds), (4, Some(75.0), Some(200)));
    }

    #[test]
    fn slowest_jobs_and_their_share_of_the_run() {
        let a = run(1, 1, "2026-03-13T10:00:00Z", 0, 100, "success");
        let b = run(2, 1, "2026-03-13T11:00:00Z", 0, 200, "success");
        let jobs = vec![
            job(&a, "build", 0, 60, "success"),
            job(&b, "build", 0, 120, "success"),
            job(&a, "lint", 0, 10, "success"),
            job(&b, "lint", 0, 20, "skipped"),
        ];
        let p = performance(&window(), &[a, b], &jobs);
        // Runs' p50: 100 s. build: 60, 120 -> p50 60, p95 120, 60 %.
        assert_eq!(
            p.slowest_jobs,
            vec![
                SlowJob {
                    name: "build".into(),
                    runs: 2,
                    p50_seconds: 60,
                    p95_seconds: 120,
                    share_of_run_percent: Some(60.0)
                },
                SlowJob {
                    name: "lint".into(),
                    runs: 1,
                    p50_seconds: 10,
                    p95_seconds: 10,
                    share_of_run_percent: Some(10.0)
                },
            ]
        );
    }

    #[test]
    fn the_trend_compares_two_weeks() {
        let runs = vec![
            // Last 7 days (8th to 14th): 2 runs, 1 success, 300 and 500 s.
            run(1, 1, "2026-03-08T00:00:00Z", 0, 300, "success"),
            run(2, 1, "2026-03-12T10:00:00Z", 0, 500, "failure"),
            // The 7 before (1st to 7th): 2 runs, both successes, 100 and 200 s.
            run(3, 1, "2026-03-01T00:00:00Z", 0, 100, "success"),
            run(4, 1, "2026-03-07T23:59:59Z", 0, 200, "success"),
        ];
        let t = performance(&Window::ending_at(at("2026-03-14T12:00:00Z"), 3), &runs, &[]).trend;
        assert_eq!(
            (t.last_7_days.runs, t.last_7_days.success_rate, t.last_7_days.p50_duration_seconds),
            (2, Some(50.0), Some(300))
        );
        assert_eq!(
            (t.previous_7_days.runs, t.previous_7_days.success_rate, t.previous_7_days.p50_duration_seconds),
            (2, Some(100.0), Some(100))
        );
        assert_eq!((t.runs, t.success_rate, t.p50_duration), (Direction::Flat, Direction::Down, Direction::Up));
        let empty = performance(&window(), &[], &[]).trend;
        assert_eq!(
            (empty.runs, empty.success_rate, empty.p50_duration),
            (Direction::Unknown, Direction::Unknown, Direction::Unknown)
        );
    }
}
