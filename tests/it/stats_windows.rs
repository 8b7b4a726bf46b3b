//! A pipeline's stats windows, computed from hourly roll-ups plus the runs of the partial hours at
//! their edges: checked against hand-computed figures at the edges themselves, and against a
//! plain count over the runs at many instants, on both databases.

use crate::helpers::*;
use chrono::{DateTime, Duration, TimeZone, Utc};

use ccm::store::{ExecutionRecord, ExecutionScope, StatsSnapshot};

on_both_databases!(
    windows_count_exactly_at_their_edges,
    windows_match_a_plain_count_at_any_instant,
    roll_ups_follow_runs_that_change,
    many_pipelines_stats_at_once_match_one_by_one,
);

const REPO: &str = "octo/app";

fn scope(branches: &[&str]) -> ExecutionScope {
    ExecutionScope {
        repository: "Octo/App".into(),
        workflow_path: ".github/workflows/deploy.yml".into(),
        branches: branches.iter().map(|b| b.to_string()).collect(),
    }
}

/// 14:30:15.250 UTC: both windows' edges fall inside an hour.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 14, 30, 15).unwrap() + Duration::milliseconds(250)
}

/// The runs of `windows_count_exactly_at_their_edges`: (run id, branch, age, conclusion, seconds).
fn edge_runs() -> Vec<(i64, &'static str, Duration, Option<&'static str>, i64)> {
    let day = Duration::hours(24);
    let second = Duration::seconds(1);
    vec![
        (1, "main", day, Some("success"), 100),          // exactly 24 h: 24 h window
        (2, "main", day + second, Some("failure"), 200), // just outside: baseline
        (3, "main", Duration::hours(23), Some("success"), 300), // 24 h, a whole hour
        (4, "main", Duration::hours(2), Some("failure"), 400), // 24 h
        (5, "main", Duration::minutes(10), Some("skipped"), 60), // never counted
        (6, "main", Duration::minutes(5), None, 0),      // running: active
        (7, "main", Duration::days(3), Some("success"), 500), // baseline, a whole hour
        (8, "main", day + Duration::days(7), Some("success"), 600), // exactly 8 days: baseline
        (9, "main", day + Duration::days(7) + second, Some("success"), 700), // too old
        (10, "main", day + Duration::days(7) - Duration::minutes(10), Some("success"), 800), // baseline's first, partial hour
        (11, "main", day + Duration::minutes(10), Some("failure"), 900), // baseline's last, partial hour
        (12, "feature", Duration::hours(1), Some("failure"), 50),        // another branch
    ]
}

async fn store_runs(db: &TestDb, now: DateTime<Utc>, runs: &[(i64, &str, Duration, Option<&str>, i64)]) {
    for &(id, branch, ago, conclusion, seconds) in runs {
        db.store.upsert_execution(&run(id, REPO, branch, now, ago, conclusion, seconds)).await.unwrap();
    }
}

fn assert_close(actual: Option<f64>, expected: Option<f64>, what: &str) {
    match (actual, expected) {
        (Some(a), Some(e)) => assert!((a - e).abs() < 1e-9, "{what}: {a} != {e}"),
        _ => assert_eq!(actual, expected, "{what}"),
    }
}

async fn windows_count_exactly_at_their_edges(backend: Backend) {
    let db = TestDb::new(backend).await;
    store_runs(&db, now(), &edge_runs()).await;

    let all = db.store.stats_snapshot(&scope(&[]), now()).await.unwrap();
    // 24 h: runs 1, 3, 4 and 12 (100 + 300 + 400 + 50 seconds), 1 and 3 succeeded.
    assert_eq!((all.runs_24h, all.successes_24h), (4, 2));
    assert_close(all.avg_duration_24h, Some(212.5), "24 h average");
    // Baseline: runs 2, 7, 8, 10 and 11 (200 + 500 + 600 + 800 + 900 seconds).
    assert_close(all.avg_duration_baseline, Some(600.0), "baseline average");
    assert_eq!((all.active_runs, all.queued_runs), (1, 0));

    let main = db.store.stats_snapshot(&scope(&["main"]), now()).await.unwrap();
    assert_eq!((main.runs_24h, main.successes_24h), (3, 2));
    assert_close(main.avg_duration_24h, Some(800.0 / 3.0), "24 h average on main");
    assert_close(main.avg_duration_baseline, Some(600.0), "baseline average on main");

    let feature = db.store.stats_snapshot(&scope(&["feature"]), now()).await.unwrap();
    assert_eq!((feature.runs_24h, feature.successes_24h), (1, 0));
    assert_close(feature.avg_duration_baseline, None, "no baseline on feature");

    // An hour later, runs 1 and 11 have left their windows and run 9 is long gone.
    let later = db.store.stats_snapshot(&scope(&[]), now() + Duration::hours(1)).await.unwrap();
    assert_eq!((later.runs_24h, later.successes_24h), (3, 1));
    assert_close(later.avg_duration_24h, Some(750.0 / 3.0), "24 h average an hour later");
    // The baseline an hour later: runs 1, 2, 7 and 11 (100 + 200 + 500 + 900 seconds); 8 and 10
    // are now older than 8 days.
    assert_close(later.avg_duration_baseline, Some(1700.0 / 4.0), "baseline an hour later");
}

/// What the stats must say at `at`, counted run by run.
fn plain_count(runs: &[ExecutionRecord], branches: &[&str], at: DateTime<Utc>) -> (i64, i64, Option<f64>, Option<f64>) {
    let day_ago = at - Duration::hours(24);
    let baseline_from = day_ago - Duration::days(7);
    let counted: Vec<&ExecutionRecord> = runs
        .iter()
        .filter(|r| r.status.as_str() == "completed" && r.conclusion.as_ref().map(|c| c.as_str()) != Some("skipped"))
        .filter(|r| branches.is_empty() || branches.contains(&r.branch.as_deref().unwrap_or("")))
        .collect();
    let average = |runs: &[&&ExecutionRecord]| {
        let durations: Vec<i64> = runs.iter().filter_map(|r| r.duration_seconds()).collect();
        (!durations.is_empty()).then(|| durations.iter().sum::<i64>() as f64 / durations.len() as f64)
    };
    let day: Vec<&&ExecutionRecord> = counted.iter().filter(|r| r.started_at >= day_ago).collect();
    let baseline: Vec<&&ExecutionRecord> =
        counted.iter().filter(|r| r.started_at >= baseline_from && r.started_at < day_ago).collect();
    let successes = day.iter().filter(|r| r.conclusion.as_ref().map(|c| c.as_str()) == Some("success")).count() as i64;
    (day.len() as i64, successes, average(&day), average(&baseline))
}

fn figures(s: &StatsSnapshot) -> (i64, i64, Option<f64>, Option<f64>) {
    (s.runs_24h, s.successes_24h, s.avg_duration_24h, s.avg_duration_baseline)
}

async fn windows_match_a_plain_count_at_any_instant(backend: Backend) {
    let db = TestDb::new(backend).await;
    // A run every 47 minutes for 10 days, on two branches, with every kind of outcome.
    let conclusions = [Some("success"), Some("failure"), Some("success"), Some("skipped"), Some("cancelled"), None];
    let mut runs = Vec::new();
    for i in 0..(10 * 24 * 60 / 47) {
        let branch = if i % 3 == 0 { "release" } else { "main" };
        let record = run(
            1000 + i,
            REPO,
            branch,
            now(),
            Duration::minutes(47 * i) + Duration::seconds(i * 7 % 60),
            conclusions[i as usize % 6],
            30 + i,
        );
        db.store.upsert_execution(&record).await.unwrap();
        runs.push(record);
    }
    // Instants on whole hours, just before and after them, and in between, over nine days.
    let mut checked = 0;
    let mut at = now() - Duration::days(1);
    while at < now() + Duration::days(8) {
        for instant in [at, at - Duration::microseconds(1), at + Duration::seconds(1)] {
            for branches in [&[][..], &["main"][..]] {
                let snapshot = db.store.stats_snapshot(&scope(branches), instant).await.unwrap();
                let (runs_24h, successes, day_avg, base_avg) = figures(&snapshot);
                let expected = plain_count(&runs, branches, instant);
                assert_eq!((runs_24h, successes), (expected.0, expected.1), "at {instant} on {branches:?}");
                assert_close(day_avg, expected.2, &format!("24 h average at {instant} on {branches:?}"));
                assert_close(base_avg, expected.3, &format!("baseline average at {instant} on {branches:?}"));
                checked += 1;
            }
        }
        at += Duration::minutes(131);
    }
    assert!(checked > 500, "{checked} instants checked");
}

async fn roll_ups_follow_runs_that_change(backend: Backend) {
    let db = TestDb::new(backend).await;
    let at = now();
    // Queued at 09:10, then started (a new hour, 11:20) and completed: it counts once, in the
    // hour it started.
    let mut queued = run(50, REPO, "main", at, Duration::hours(5) + Duration::minutes(20), None, 0);
    queued.status = "queued".into();
    db.store.upsert_execution(&queued).await.unwrap();
    let before = db.store.stats_snapshot(&scope(&[]), at).await.unwrap();
    assert_eq!((before.runs_24h, before.queued_runs), (0, 1));

    let started = run(50, REPO, "main", at, Duration::hours(3) + Duration::minutes(10), None, 0);
    db.store.upsert_execution(&started).await.unwrap();
    let completed = run(50, REPO, "main", at, Duration::hours(3) + Duration::minutes(10), Some("success"), 240);
    db.store.upsert_execution(&completed).await.unwrap();
    // A late, older state changes nothing.
    db.store.upsert_execution(&started).await.unwrap();
    let after = db.store.stats_snapshot(&scope(&[]), at).await.unwrap();
    assert_eq!((after.runs_24h, after.successes_24h, after.active_runs, after.queued_runs), (1, 1, 0, 0));
    assert_close(after.avg_duration_24h, Some(240.0), "the completed run's duration");
    assert_eq!(after, db.store.stats_snapshot(&scope(&["main"]), at).await.unwrap());

    // A re-run attempt is a run of its own, in the hour it started.
    let mut attempt = run(50, REPO, "main", at, Duration::minutes(30), Some("failure"), 60);
    attempt.run_attempt = 2;
    db.store.upsert_execution(&attempt).await.unwrap();
    let rerun = db.store.stats_snapshot(&scope(&[]), at).await.unwrap();
    assert_eq!((rerun.runs_24h, rerun.successes_24h), (2, 1));
    assert_close(rerun.avg_duration_24h, Some(150.0), "both attempts");
}

async fn many_pipelines_stats_at_once_match_one_by_one(backend: Backend) {
    let db = TestDb::new(backend).await;
    store_runs(&db, now(), &edge_runs()).await;
    // Another repository with a run of its own, and one with none at all.
    db.store
        .upsert_execution(&run(99, "octo/other", "main", now(), Duration::hours(2), Some("failure"), 70))
        .await
        .unwrap();
    let other = ExecutionScope { repository: "octo/other".into(), ..scope(&[]) };
    let empty = ExecutionScope { repository: "octo/nothing".into(), ..scope(&[]) };
    let scopes = vec![scope(&[]), other, scope(&["feature"]), empty, scope(&["main"]), scope(&[])];

    let at_once = db.store.stats_snapshots(&scopes, now()).await.unwrap();
    assert_eq!(at_once.len(), scopes.len());
    for (scope, snapshot) in scopes.iter().zip(&at_once) {
        assert_eq!(snapshot, &db.store.stats_snapshot(scope, now()).await.unwrap(), "{scope:?}");
    }
    // Each is its own pipeline's: the figures differ where the runs do.
    assert_eq!(at_once.iter().map(|s| s.runs_24h).collect::<Vec<_>>(), vec![4, 1, 1, 0, 3, 4]);
    assert_eq!(at_once[1].last_run.as_ref().map(|r| r.run_id), Some(99));
    assert!(at_once[3].last_run.is_none());
    assert!(db.store.stats_snapshots(&[], now()).await.unwrap().is_empty());
}
