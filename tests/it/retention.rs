//! Retention (issue 18): old completed runs are pruned exactly past CCM_RETAIN_RUNS, the runs the
//! stats show (the ten newest of a branch) stay, and neither the stats nor the hourly roll-ups
//! change, on both databases.

use crate::helpers::*;
use chrono::{Duration, Utc};

use ccm::domain::retention::{PruneKind, RetentionPolicy};
use ccm::store::{ExecutionScope, Store};

on_both_databases!(runs_older_than_the_setting_go_and_stats_stay, bodies_then_deliveries_go_past_their_settings,);

const REPO: &str = "octo/app";

fn scope(branches: &[&str]) -> ExecutionScope {
    ExecutionScope {
        repository: REPO.into(),
        workflow_path: WORKFLOW.into(),
        branches: branches.iter().map(|b| b.to_string()).collect(),
    }
}

/// The roll-ups' totals and the number of runs stored.
async fn totals(db: &TestDb) -> (i64, i64) {
    let sums = "SELECT CAST(COALESCE(SUM(runs), 0) AS BIGINT) FROM execution_hours";
    let runs = "SELECT CAST(COUNT(*) AS BIGINT) FROM executions";
    let url = &db.url;
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let a: i64 = sqlx::query_scalar(sums).fetch_one(&pool).await.unwrap();
        let b: i64 = sqlx::query_scalar(runs).fetch_one(&pool).await.unwrap();
        (a, b)
    } else {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let a: i64 = sqlx::query_scalar(sums).fetch_one(&pool).await.unwrap();
        let b: i64 = sqlx::query_scalar(runs).fetch_one(&pool).await.unwrap();
        (a, b)
    }
}

async fn runs_older_than_the_setting_go_and_stats_stay(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store: &dyn Store = db.store.as_ref();
    let now = ccm::domain::clock::now();
    // main: twelve runs past the 30 days, one just inside, twelve recent; lonely: one old run,
    // its branch's newest, which stays.
    for i in 0..12 {
        let old = run(1 + i, REPO, "main", now, Duration::days(31 + i), Some("success"), 60);
        store.upsert_execution(&old).await.unwrap();
        let recent = run(101 + i, REPO, "main", now, Duration::hours(1 + i), Some("failure"), 30);
        store.upsert_execution(&recent).await.unwrap();
    }
    let inside = run(50, REPO, "main", now, Duration::days(30) - Duration::minutes(5), Some("success"), 60);
    store.upsert_execution(&inside).await.unwrap();
    store.upsert_execution(&run(60, REPO, "lonely", now, Duration::days(40), Some("success"), 60)).await.unwrap();

    let policy =
        RetentionPolicy { runs: Some(std::time::Duration::from_secs(30 * 86_400)), ..RetentionPolicy::KEEP_ALL };
    let scopes = [scope(&[]), scope(&["main"]), scope(&["lonely"])];
    let mut before = Vec::new();
    for s in &scopes {
        before.push(store.stats_snapshot(s, Utc::now()).await.unwrap());
    }
    let (hours_before, runs_before) = totals(&db).await;
    assert_eq!(runs_before, 26);

    let would = ccm::retention::dry_run(store, &policy, now).await.unwrap();
    assert_eq!(would.len(), 1);
    assert_eq!((would[0].kind, would[0].pruned.rows), (PruneKind::Runs, 12));

    let pruned = ccm::retention::sweep(store, &policy, now, None, Some("test")).await.unwrap();
    assert_eq!(pruned[0].pruned.rows, 12);
    for id in 1..=12 {
        assert!(store.get_execution(id, 1).await.unwrap().is_none(), "run {id} is older than 30 days");
    }
    for id in [50, 60, 101, 112] {
        assert!(store.get_execution(id, 1).await.unwrap().is_some(), "run {id} stays");
    }
    let (hours_after, runs_after) = totals(&db).await;
    assert_eq!(runs_after, 14);
    assert_eq!(hours_after, hours_before, "the roll-ups keep the pruned runs");
    for (s, was) in scopes.iter().zip(&before) {
        let now_stats = store.stats_snapshot(s, Utc::now()).await.unwrap();
        assert_eq!(&now_stats, was, "stats of {:?}", s.branches);
    }
    // A second sweep finds nothing.
    assert_eq!(ccm::retention::dry_run(store, &policy, now).await.unwrap()[0].pruned.rows, 0);
}

#[tokio::test]
async fn ccm_prune_reports_each_kind_and_names_a_bad_setting() {
    use crate::helpers::ccm_cli::Ccm;
    let tmp = tempfile::tempdir().unwrap();
    let ccm = || Ccm::new("http://127.0.0.1:1", None).env("CCM_DATA_DIR", tmp.path().display().to_string());
    let dry = ccm().env("CCM_RETAIN_AUDIT", "off").run(&["prune", "--dry-run"]).await;
    dry.assert_code(0);
    for kind in ["delivery_bodies", "deliveries", "executions", "outbox_jobs"] {
        assert!(dry.stdout.contains(&format!("would prune         0 {kind}")), "{dry:?}");
    }
    assert!(!dry.stdout.contains("audit"), "CCM_RETAIN_AUDIT=off: {dry:?}");
    let pruned = ccm().run(&["prune"]).await;
    pruned.assert_code(0);
    assert!(pruned.stdout.contains("pruned         0 audit"), "{pruned:?}");
    let bad = ccm().env("CCM_RETAIN_BODIES", "often").run(&["prune", "--dry-run"]).await;
    bad.assert_code(2);
    assert!(bad.stderr.contains("CCM_RETAIN_BODIES"), "{bad:?}");
}

async fn bodies_then_deliveries_go_past_their_settings(backend: Backend) {
    let app = TestApp::start(backend).await;
    let now = ccm::domain::clock::now();
    for guid in ["old-1", "old-2"] {
        let body = format!(r#"{{"zen":"Keep it logically awesome.","hook_id":7,"guid":"{guid}"}}"#);
        assert_eq!(app.deliver("ping", guid, body.as_bytes()).await.status, 200);
    }
    let store = app.store();
    let days = |d: u64| Some(std::time::Duration::from_secs(d * 86_400));
    let policy = RetentionPolicy { bodies: days(14), deliveries: days(90), ..RetentionPolicy::KEEP_ALL };
    // Just inside both settings, nothing goes.
    let inside = ccm::retention::dry_run(store, &policy, now + Duration::days(14)).await.unwrap();
    assert!(inside.iter().all(|k| k.pruned.rows == 0), "{inside:?}");
    // Past the bodies' setting, the bodies go and the rows stay.
    let later = now + Duration::days(15);
    let pruned = ccm::retention::sweep(store, &policy, later, None, None).await.unwrap();
    assert_eq!(pruned.iter().map(|k| k.pruned.rows).collect::<Vec<_>>(), [2, 0]);
    let shown = app.get("/api/deliveries/old-1").await;
    assert_eq!(shown.status, 200, "{:?}", shown.body);
    assert!(shown.body.to_string().contains("CCM_RETAIN_BODIES"), "{:?}", shown.body);
    // Past the deliveries' setting, the rows go.
    let pruned = ccm::retention::sweep(store, &policy, now + Duration::days(91), None, None).await.unwrap();
    assert_eq!(pruned.iter().map(|k| k.pruned.rows).collect::<Vec<_>>(), [0, 2]);
    assert_eq!(app.get("/api/deliveries/old-1").await.status, 404);
}
