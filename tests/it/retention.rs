//! Retention (issue 18): old completed runs are pruned exactly past CCM_RETAIN_RUNS, the runs the
//! stats show (the ten newest of a branch) stay, and neither the stats nor the hourly roll-ups
//! change, on both databases. Job logs, finished outbound jobs and alert notifications, and audit
//! records go exactly past their settings, unfinished ones stay; on PostgreSQL two replicas never
//! prune at once.

use crate::helpers::*;
use chrono::{Duration, Utc};

use ccm::domain::retention::{PruneKind, RetentionPolicy};
use ccm::store::{ExecutionScope, Store};

on_both_databases!(
    runs_older_than_the_setting_go_and_stats_stay,
    bodies_then_deliveries_go_past_their_settings,
    job_logs_and_notifications_go_past_their_settings,
    outbox_and_audit_go_exactly_past_their_settings,
);

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
    for kind in ["delivery_bodies", "deliveries", "executions", "job_logs", "outbox_jobs", "alert_notifications"] {
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

fn days(d: u64) -> Option<std::time::Duration> {
    Some(std::time::Duration::from_secs(d * 86_400))
}

/// A stored log of `job_id` (of run 70), fetched at `fetched_at`.
fn stored_log(job_id: i64, fetched_at: chrono::DateTime<Utc>) -> ccm::domain::job_logs::JobLog {
    let compressed = lz4_flex::compress_prepend_size(b"step one\nassertion failed\n");
    ccm::domain::job_logs::JobLog {
        summary: ccm::domain::job_logs::JobLogSummary {
            job_id,
            run_id: 70,
            run_attempt: 1,
            repository: REPO.into(),
            state: ccm::domain::status::JobLogState::Stored,
            reason: None,
            log_bytes: 26,
            kept_bytes: 26,
            stored_bytes: compressed.len() as i64,
            truncated: false,
            failed_step: Some("Run tests".into()),
            error_message: Some("assertion failed".into()),
            fetched_at,
        },
        compressed: Some(compressed),
    }
}

async fn job_logs_and_notifications_go_past_their_settings(backend: Backend) {
    let app = TestApp::start(backend).await;
    let id = app.provision(REPO, WORKFLOW, serde_json::json!({})).await;
    let now = ccm::domain::clock::now();
    let store = app.store();
    store.upsert_execution(&run(70, REPO, "main", now, Duration::hours(2), Some("failure"), 60)).await.unwrap();
    for (job_id, name) in [(701, "build"), (702, "test")] {
        let body = workflow_job(job_id, 70, REPO, name, "completed", Some("failure"), now - Duration::hours(2));
        assert_eq!(app.deliver("workflow_job", &format!("job-{job_id}"), &body).await.status, 200);
    }
    let cutoff = now - Duration::days(30);
    store.save_job_log(&stored_log(701, cutoff - Duration::seconds(1))).await.unwrap();
    store.save_job_log(&stored_log(702, cutoff)).await.unwrap();
    // Notifications: finished ones past the setting go, unfinished ones stay however old.
    for (k, status, at) in [
        (1, "sent", cutoff - Duration::seconds(1)),
        (2, "failed", cutoff - Duration::seconds(1)),
        (3, "sent", cutoff),
        (4, "pending", cutoff - Duration::days(9)),
        (5, "running", cutoff - Duration::days(9)),
    ] {
        let sql = format!(
            "INSERT INTO alert_notifications (alert_id, channel_id, event, delivery_id, payload, status, attempts, \
             next_attempt_at, created_at) VALUES (1, 1, 'firing', 'n-{k}', '{{}}', '{status}', 1, $1, $1)"
        );
        rows::set_time(&app.db, backend, &sql, at).await;
    }

    let policy = RetentionPolicy { job_logs: days(30), outbox: days(30), ..RetentionPolicy::KEEP_ALL };
    let would = ccm::retention::dry_run(store, &policy, now).await.unwrap();
    let counted: Vec<(PruneKind, u64)> = would.iter().map(|k| (k.kind, k.pruned.rows)).collect();
    assert_eq!(counted, [(PruneKind::JobLogs, 1), (PruneKind::Outbox, 0), (PruneKind::Notifications, 2)]);
    let text = ccm::retention::render(&would, true);
    assert!(text.contains("would prune         1 job_logs") && text.contains("CCM_RETAIN_JOB_LOGS"), "{text}");
    assert!(text.contains("2 alert_notifications"), "{text}");

    let pruned = ccm::retention::sweep(store, &policy, now, None, None).await.unwrap();
    assert_eq!(pruned.iter().map(|k| k.pruned.rows).collect::<Vec<_>>(), [1, 0, 2]);
    let gone = store.job_log(701).await.unwrap().expect("the record stays");
    assert_eq!(gone.summary.state, ccm::domain::status::JobLogState::Pruned);
    assert_eq!((gone.compressed, gone.summary.stored_bytes), (None, 0));
    assert_eq!(gone.summary.error_message.as_deref(), Some("assertion failed"), "the failure reason stays");
    assert!(store.job_log(702).await.unwrap().unwrap().compressed.is_some(), "exactly 30 days old: kept");

    let logs = |job: i64| format!("/api/pipelines/{id}/executions/70/1/jobs/{job}/logs");
    let answer = app.get(&logs(701)).await;
    assert_eq!(answer.status, 404, "{}", answer.body);
    assert!(answer.body.to_string().contains("older than CCM_RETAIN_JOB_LOGS"), "{}", answer.body);
    let kept = app.client.get(format!("{}{}", app.base, logs(702))).header("CCM-Token", TOKEN).send().await.unwrap();
    assert_eq!(kept.status(), 200);
    assert_eq!(kept.text().await.unwrap(), "step one\nassertion failed\n", "the log exactly 30 days old is kept");
    let jobs = app.get(&format!("/api/pipelines/{id}/executions/70/1/jobs")).await;
    assert!(jobs.body.to_string().contains(r#""log_state":"pruned""#), "{}", jobs.body);
    let left = rows::count(
        &app.db,
        backend,
        "SELECT COUNT(*) FROM alert_notifications WHERE delivery_id IN ('n-3', 'n-4', 'n-5')",
    )
    .await;
    assert_eq!((left, rows::count(&app.db, backend, "SELECT COUNT(*) FROM alert_notifications").await), (3, 3));
}

async fn outbox_and_audit_go_exactly_past_their_settings(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store: &dyn Store = db.store.as_ref();
    let now = ccm::domain::clock::now();
    let (outbox_cutoff, audit_cutoff) = (now - Duration::days(30), now - Duration::days(400));
    let second = Duration::seconds(1);
    // Finished jobs carry their finish time; pending and running ones none, and stay however old.
    for (name, status, at) in [
        ("done-old", "done", outbox_cutoff - second),
        ("failed-old", "failed", outbox_cutoff - second),
        ("done-at-limit", "done", outbox_cutoff),
        ("done-recent", "done", now - Duration::days(1)),
        ("pending-old", "pending", now - Duration::days(90)),
        ("running-old", "running", now - Duration::days(90)),
    ] {
        let finished = if matches!(status, "done" | "failed") { "$1" } else { "NULL" };
        let sql = format!(
            "INSERT INTO outbox_jobs (kind, payload, dedupe_key, status, max_attempts, next_attempt_at, created_at, \
             updated_at, finished_at) VALUES ('test', '{{}}', '{name}', '{status}', 3, $1, $1, $1, {finished})"
        );
        rows::set_time(&db, backend, &sql, at).await;
    }
    for (action, at) in [("old", audit_cutoff - second), ("at-limit", audit_cutoff), ("recent", now)] {
        let sql = format!("INSERT INTO audit_log (at, actor, action, details) VALUES ($1, 'test', '{action}', '{{}}')");
        rows::set_time(&db, backend, &sql, at).await;
    }

    let policy = RetentionPolicy { outbox: days(30), audit: days(400), ..RetentionPolicy::KEEP_ALL };
    let pruned = ccm::retention::sweep(store, &policy, now, None, None).await.unwrap();
    let counted: Vec<(PruneKind, u64)> = pruned.iter().map(|k| (k.kind, k.pruned.rows)).collect();
    assert_eq!(counted, [(PruneKind::Outbox, 2), (PruneKind::Notifications, 0), (PruneKind::Audit, 1)]);
    let left = |sql: &'static str| rows::count(&db, backend, sql);
    assert_eq!(
        left("SELECT COUNT(*) FROM outbox_jobs WHERE dedupe_key IN ('done-at-limit', 'done-recent', 'pending-old', 'running-old')").await,
        4
    );
    assert_eq!(left("SELECT COUNT(*) FROM outbox_jobs").await, 4);
    assert_eq!(left("SELECT COUNT(*) FROM audit_log WHERE action IN ('at-limit', 'recent')").await, 2);
    assert_eq!(left("SELECT COUNT(*) FROM audit_log").await, 2);
    assert!(ccm::retention::dry_run(store, &policy, now).await.unwrap().iter().all(|k| k.pruned.rows == 0));
}

/// Two replicas on one PostgreSQL database: the lease lets one prune at a time; the other's sweep
/// stops before its first kind, and an expired lease is taken over.
#[actix_web::test]
async fn on_postgres_one_replica_prunes_at_a_time() {
    let app = TestApp::start(Backend::Postgres).await;
    let other = app.replica().await;
    let (a, b) = (app.store(), other.store());
    let now = ccm::domain::clock::now();
    for k in 0..3 {
        let sql = format!("INSERT INTO audit_log (at, actor, action, details) VALUES ($1, 'test', 'old-{k}', '{{}}')");
        rows::set_time(&app.db, Backend::Postgres, &sql, now - Duration::days(500)).await;
    }
    let audit = || rows::count(&app.db, Backend::Postgres, "SELECT COUNT(*) FROM audit_log WHERE actor = 'test'");
    let policy = RetentionPolicy { audit: days(400), ..RetentionPolicy::KEEP_ALL };
    let (until, later) = (now + Duration::minutes(10), now + Duration::minutes(20));

    assert!(a.take_retention_lease("replica-a", now, until).await.unwrap());
    assert!(!b.take_retention_lease("replica-b", now, until).await.unwrap(), "a holds it");
    assert!(a.take_retention_lease("replica-a", now, later).await.unwrap(), "a extends its own");
    let swept = ccm::retention::sweep(b, &policy, now, None, Some("replica-b")).await.unwrap();
    assert!(swept.is_empty(), "b does not prune while a holds the lease: {swept:?}");
    assert_eq!(audit().await, 3);

    a.release_retention_lease("replica-a").await.unwrap();
    // Both sweep at once: one takes the lease and prunes everything, the other stops.
    let (one, two) = futures_util::join!(
        ccm::retention::sweep(a, &policy, now, None, Some("replica-a")),
        ccm::retention::sweep(b, &policy, now, None, Some("replica-b")),
    );
    let (one, two) = (one.unwrap(), two.unwrap());
    assert!(one.is_empty() != two.is_empty(), "exactly one swept: {one:?} {two:?}");
    let total: u64 = one.iter().chain(&two).map(|k| k.pruned.rows).sum();
    assert_eq!((total, audit().await), (3, 0));
    // The winner's lease (10 minutes) is taken over once it has expired.
    let winner_until = Utc::now() + Duration::minutes(10);
    let (winner, loser) = if one.is_empty() { ("replica-b", a) } else { ("replica-a", b) };
    let loser_name = if winner == "replica-a" { "replica-b" } else { "replica-a" };
    assert!(!loser.take_retention_lease(loser_name, Utc::now(), winner_until).await.unwrap());
    let expired = winner_until + Duration::seconds(1);
    assert!(loser.take_retention_lease(loser_name, expired, expired + Duration::minutes(10)).await.unwrap());
}
