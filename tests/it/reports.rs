//! Insights (issue 19): a pipeline's report (JSON and printable HTML), the overview across
//! pipelines, `ccm pipelines report` and the opt-in per-pipeline metrics, each figure checked
//! against a hand-computed answer over a fixed history delivered as GitHub's webhooks: a flaky
//! job (failed, then passed on a re-run), a day without runs, a run crossing midnight and a
//! rollback deployment. On SQLite and on PostgreSQL.
//!
//! The history is laid out on the days before today (`T`), none today: if midnight passes while
//! the test runs, the report's window moves by a day and every run stays in the same part of it
//! (the trend's halves included), so the figures are the same and only the dates move.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{Value, json};

use crate::helpers::ccm_cli::Ccm;
use crate::helpers::*;
use ccm::domain::job_logs::{JobLog, JobLogSummary};
use ccm::domain::status::JobLogState;
use ccm::http::access::AccessConfig;

on_both_databases!(
    reports_compute_every_figure_of_a_fixed_history,
    insights_rank_pipelines_and_their_flaky_jobs,
    pipeline_metrics_are_opt_in,
    a_busy_environment_leaves_the_others_their_history,
);

const REPO: &str = "Octo/Insights";
const OTHER: &str = "Octo/Other";
/// A job name the HTML page must escape.
const UNIT: &str = "test <unit>";

/// `hh:mm:ss` on the day `days` before `today`.
fn at(today: NaiveDate, days: i64, time: &str) -> DateTime<Utc> {
    let day = today - Duration::days(days);
    DateTime::parse_from_rfc3339(&format!("{day}T{time}Z")).unwrap().to_utc()
}

fn stamp(at: DateTime<Utc>) -> String {
    ccm::domain::clock::format(&at)
}

/// One attempt of a run, as GitHub's `workflow_run` event sends it.
struct Attempt {
    run_id: i64,
    attempt: i64,
    sha: &'static str,
    created: DateTime<Utc>,
    started: DateTime<Utc>,
    /// `None`: still running.
    completed: Option<(DateTime<Utc>, &'static str)>,
}

fn workflow_run_body(repo: &str, a: &Attempt) -> Vec<u8> {
    let (status, conclusion, updated) = match a.completed {
        Some((at, conclusion)) => ("completed", Some(conclusion), at),
        None => ("in_progress", None, a.started),
    };
    json!({
        "action": if status == "completed" { "completed" } else { "in_progress" },
        "workflow_run": {
            "id": a.run_id, "run_attempt": a.attempt, "name": "Deploy", "path": WORKFLOW,
            "head_branch": "main", "head_sha": a.sha, "event": "push", "status": status,
            "conclusion": conclusion, "run_number": a.run_id,
            "html_url": format!("https://github.com/{repo}/actions/runs/{}", a.run_id),
            "actor": {"login": "octocat"}, "created_at": stamp(a.created), "updated_at": stamp(updated),
            "run_started_at": stamp(a.started)
        },
        "repository": {"full_name": repo},
    })
    .to_string()
    .into_bytes()
}

/// A completed job of an attempt; a failed one names its failed step among its steps.
struct JobRun {
    job_id: i64,
    run_id: i64,
    attempt: i64,
    name: &'static str,
    started: DateTime<Utc>,
    completed: DateTime<Utc>,
    conclusion: &'static str,
    failed_step: Option<&'static str>,
}

fn workflow_job_body(repo: &str, j: &JobRun) -> Vec<u8> {
    let mut steps = vec![json!({"name": "Set up job", "status": "completed", "conclusion": "success", "number": 1})];
    if let Some(step) = j.failed_step {
        steps.push(json!({"name": step, "status": "completed", "conclusion": "failure", "number": 2}));
    }
    json!({
        "action": "completed",
        "workflow_job": {
            "id": j.job_id, "run_id": j.run_id, "run_attempt": j.attempt, "name": j.name, "status": "completed",
            "conclusion": j.conclusion, "runner_name": "runner-1", "html_url": "https://github.com/x",
            "created_at": stamp(j.started), "started_at": stamp(j.started), "completed_at": stamp(j.completed),
            "steps": steps
        },
        "repository": {"full_name": repo},
    })
    .to_string()
    .into_bytes()
}

fn deployment_body(id: i64, environment: &str, sha: &str, created: DateTime<Utc>, run: Option<i64>) -> Value {
    json!({
        "id": id, "sha": sha, "ref": "main", "task": "deploy", "environment": environment, "description": null,
        "creator": {"login": "octocat"}, "created_at": stamp(created), "updated_at": stamp(created), "_run": run,
    })
}

async fn deliver_ok(app: &TestApp, event: &str, guid: &str, body: &[u8]) {
    let reply = app.deliver(event, guid, body).await;
    assert_eq!((reply.status, reply.body["status"].as_str()), (200, Some("processed")), "{guid}: {}", reply.body);
}

async fn deploy(app: &TestApp, d: &Value, statuses: &[(i64, &str, DateTime<Utc>)]) {
    let run = d["_run"].as_i64().map(|r| json!({"id": r, "run_attempt": 1}));
    let created = json!({"action": "created", "deployment": d, "workflow_run": run, "repository": {"full_name": REPO}});
    deliver_ok(app, "deployment", &format!("dep-{}", d["id"]), created.to_string().as_bytes()).await;
    for (id, state, at) in statuses {
        let body = json!({
            "action": "created",
            "deployment_status": {"id": id, "state": state, "description": null, "target_url": null,
                "log_url": null, "created_at": stamp(*at)},
            "deployment": d, "repository": {"full_name": REPO}
        });
        deliver_ok(app, "deployment_status", &format!("st-{id}"), body.to_string().as_bytes()).await;
    }
}

/// What the job's log record says of a failure (as the log fetch stores it).
async fn failure_message(app: &TestApp, job_id: i64, run_id: i64, attempt: i64, step: &str, message: &str) {
    let summary = JobLogSummary {
        job_id,
        run_id,
        run_attempt: attempt,
        repository: REPO.to_lowercase(),
        state: JobLogState::Unavailable,
        reason: Some("kept for the test".into()),
        log_bytes: 0,
        kept_bytes: 0,
        stored_bytes: 0,
        truncated: false,
        failed_step: Some(step.into()),
        error_message: Some(message.into()),
        fetched_at: Utc::now(),
    };
    app.store().save_job_log(&JobLog { summary, compressed: None }).await.unwrap();
}

/// The fixed history of the pipeline `REPO` (and, for the overview, of `OTHER`), on the days
/// before `today`. Returns the two pipelines' ids.
async fn fixed_history(app: &TestApp, today: NaiveDate) -> (String, String) {
    let id = app.provision(REPO, WORKFLOW, json!({})).await;
    let other = app.provision(OTHER, WORKFLOW, json!({})).await;
    let t = |days, time| at(today, days, time);
    let done = |at, conclusion| Some((at, conclusion));
    let attempts = [
        // T-10: run 101 succeeds; run 102 fails (e2e), then passes on a re-run: e2e is flaky.
        Attempt {
            run_id: 101,
            attempt: 1,
            sha: "s101",
            created: t(10, "09:00:00"),
            started: t(10, "09:00:00"),
            completed: done(t(10, "09:10:00"), "success"),
        },
        Attempt {
            run_id: 102,
            attempt: 1,
            sha: "s102",
            created: t(10, "14:00:00"),
            started: t(10, "14:00:00"),
            completed: done(t(10, "14:08:00"), "failure"),
        },
        Attempt {
            run_id: 102,
            attempt: 2,
            sha: "s102",
            created: t(10, "14:00:00"),
            started: t(10, "14:30:00"),
            completed: done(t(10, "14:40:00"), "success"),
        },
        // T-9: nothing. T-8: a run created at 23:50 that ends at 00:20 on T-7: T-8's.
        Attempt {
            run_id: 103,
            attempt: 1,
            sha: "s103",
            created: t(8, "23:50:00"),
            started: t(8, "23:50:00"),
            completed: done(t(7, "00:20:00"), "failure"),
        },
        // The last 7 days.
        Attempt {
            run_id: 104,
            attempt: 1,
            sha: "s104",
            created: t(3, "10:00:00"),
            started: t(3, "10:00:00"),
            completed: done(t(3, "10:05:00"), "success"),
        },
        Attempt {
            run_id: 105,
            attempt: 1,
            sha: "s105",
            created: t(3, "15:00:00"),
            started: t(3, "15:00:00"),
            completed: done(t(3, "15:10:00"), "failure"),
        },
        Attempt {
            run_id: 106,
            attempt: 1,
            sha: "s106",
            created: t(1, "08:00:00"),
            started: t(1, "08:00:00"),
            completed: done(t(1, "08:04:00"), "success"),
        },
        Attempt {
            run_id: 107,
            attempt: 1,
            sha: "s107",
            created: t(1, "12:00:00"),
            started: t(1, "12:00:00"),
            completed: None,
        },
        // Older than any report here.
        Attempt {
            run_id: 100,
            attempt: 1,
            sha: "s100",
            created: t(20, "09:00:00"),
            started: t(20, "09:00:00"),
            completed: done(t(20, "09:30:00"), "failure"),
        },
    ];
    for a in &attempts {
        deliver_ok(app, "workflow_run", &format!("run-{}-{}", a.run_id, a.attempt), &workflow_run_body(REPO, a)).await;
    }
    let job = |job_id, run_id, attempt, name, started, completed, conclusion, failed_step| JobRun {
        job_id,
        run_id,
        attempt,
        name,
        started,
        completed,
        conclusion,
        failed_step,
    };
    let jobs = [
        job(1011, 101, 1, "build", t(10, "09:01:00"), t(10, "09:06:00"), "success", None),
        job(1012, 101, 1, UNIT, t(10, "09:06:00"), t(10, "09:09:00"), "success", None),
        job(1021, 102, 1, "build", t(10, "14:04:00"), t(10, "14:06:00"), "success", None),
        job(1022, 102, 1, "e2e", t(10, "14:06:00"), t(10, "14:08:00"), "failure", Some("Run e2e")),
        job(1023, 102, 2, "build", t(10, "14:31:00"), t(10, "14:35:00"), "success", None),
        job(1024, 102, 2, "e2e", t(10, "14:35:00"), t(10, "14:39:00"), "success", None),
        job(1031, 103, 1, "build", t(8, "23:52:00"), t(7, "00:02:00"), "success", None),
        job(1032, 103, 1, "e2e", t(7, "00:02:00"), t(7, "00:19:00"), "failure", Some("Run e2e")),
        job(1041, 104, 1, "build", t(3, "10:00:30"), t(3, "10:03:30"), "success", None),
        job(1042, 104, 1, UNIT, t(3, "10:03:30"), t(3, "10:04:30"), "success", None),
        job(1051, 105, 1, "build", t(3, "15:05:00"), t(3, "15:08:00"), "success", None),
        job(1052, 105, 1, UNIT, t(3, "15:08:00"), t(3, "15:09:40"), "failure", Some("Run tests")),
        job(1061, 106, 1, "build", t(1, "08:00:20"), t(1, "08:03:20"), "success", None),
    ];
    for j in &jobs {
        deliver_ok(app, "workflow_job", &format!("job-{}", j.job_id), &workflow_job_body(REPO, j)).await;
    }
    failure_message(app, 1022, 102, 1, "Run e2e", "Timeout waiting for selector").await;
    failure_message(app, 1052, 105, 1, "Run tests", "assertion failed: 2 == 3").await;

    // s104 reached main in a push whose oldest commit was made at T-3 09:30 (a feature push
    // of s104 does not count).
    for (guid, git_ref, commit_at) in
        [("push-1", "refs/heads/main", "09:30:00"), ("push-2", "refs/heads/feature", "06:00:00")]
    {
        let push = json!({
            "ref": git_ref, "before": "0".repeat(40), "after": "s104",
            "repository": {"full_name": REPO, "default_branch": "main"}, "pusher": {"name": "carol"},
            "commits": [{"id": "s103x", "timestamp": stamp(t(3, commit_at))}, {"id": "s104", "timestamp": stamp(t(3, "09:55:00"))}],
        });
        deliver_ok(app, "push", guid, push.to_string().as_bytes()).await;
    }

    // production: s101, s104, s106 shipped, then s104 again (a rollback of s106);
    // staging: s105 fails, s106 restores it.
    deploy(
        app,
        &deployment_body(9001, "production", "s101", t(10, "09:15:00"), Some(101)),
        &[(90011, "success", t(10, "09:20:00"))],
    )
    .await;
    deploy(
        app,
        &deployment_body(9002, "production", "s104", t(3, "10:10:00"), Some(104)),
        &[(90021, "success", t(3, "10:15:00"))],
    )
    .await;
    deploy(
        app,
        &deployment_body(9003, "production", "s106", t(1, "08:10:00"), Some(106)),
        &[(90031, "success", t(1, "08:12:00")), (90032, "inactive", t(1, "09:05:00"))],
    )
    .await;
    deploy(
        app,
        &deployment_body(9004, "production", "s104", t(1, "09:00:00"), None),
        &[(90041, "success", t(1, "09:05:00"))],
    )
    .await;
    deploy(
        app,
        &deployment_body(9005, "staging", "s105", t(3, "15:20:00"), None),
        &[(90051, "failure", t(3, "15:25:00"))],
    )
    .await;
    deploy(
        app,
        &deployment_body(9006, "staging", "s106", t(1, "08:05:00"), None),
        &[(90061, "success", t(1, "08:07:00"))],
    )
    .await;

    // The other pipeline, all on T-2: lint fails then passes on a re-run of 201; 202 fails.
    let other_attempts = [
        Attempt {
            run_id: 201,
            attempt: 1,
            sha: "o201",
            created: t(2, "10:00:00"),
            started: t(2, "10:00:00"),
            completed: done(t(2, "10:02:00"), "failure"),
        },
        Attempt {
            run_id: 201,
            attempt: 2,
            sha: "o201",
            created: t(2, "10:00:00"),
            started: t(2, "10:10:00"),
            completed: done(t(2, "10:11:00"), "success"),
        },
        Attempt {
            run_id: 202,
            attempt: 1,
            sha: "o202",
            created: t(2, "11:00:00"),
            started: t(2, "11:00:00"),
            completed: done(t(2, "11:05:00"), "failure"),
        },
    ];
    for a in &other_attempts {
        deliver_ok(app, "workflow_run", &format!("run-{}-{}", a.run_id, a.attempt), &workflow_run_body(OTHER, a)).await;
    }
    for j in [
        job(2011, 201, 1, "lint", t(2, "10:00:00"), t(2, "10:01:00"), "failure", Some("Lint")),
        job(2012, 201, 2, "lint", t(2, "10:10:00"), t(2, "10:11:00"), "success", None),
        job(2021, 202, 1, "lint", t(2, "11:00:00"), t(2, "11:04:00"), "failure", Some("Lint")),
    ] {
        deliver_ok(app, "workflow_job", &format!("job-{}", j.job_id), &workflow_job_body(OTHER, &j)).await;
    }
    (id, other)
}

/// The report's last day: today, or tomorrow when midnight passed since the history was laid.
fn check_period(report: &Value, today: NaiveDate, days: i64) -> NaiveDate {
    let to: NaiveDate = report["to"].as_str().unwrap().parse().unwrap();
    assert!(to == today || to == today + Duration::days(1), "{report}");
    assert_eq!(report["from"], json!((to - Duration::days(days - 1)).to_string()));
    to
}

/// On a SQLite file a report's reads run inline (`sqlite_reads`); through the pool they run the
/// same SQL: both read the same rows of the fixed history, for every period.
#[actix_web::test]
async fn inline_report_reads_match_the_pools() {
    use ccm::store::{InsightStore, SqlStore};
    let app = TestApp::start(Backend::Sqlite).await;
    let (id, _) = fixed_history(&app, Utc::now().date_naive()).await;
    let inline = SqlStore::connect(&app.db.url, 2).await.expect("open the file again");
    let pool = inline.without_fast_paths();
    let pipeline = app.db.store.get_pipeline(&id).await.unwrap().expect("the pipeline");
    let scope = pipeline.execution_scope();
    for days in [1, 3, 14, 90] {
        let from = Utc::now() - chrono::Duration::days(days);
        let runs = inline.report_runs(&scope, from).await.unwrap();
        assert_eq!(runs, pool.report_runs(&scope, from).await.unwrap(), "runs of {days} days");
        let jobs = inline.report_jobs(&scope, from).await.unwrap();
        assert_eq!(jobs, pool.report_jobs(&scope, from).await.unwrap(), "jobs of {days} days");
        let deployments = inline.report_deployments(&pipeline.repository, &pipeline.workflow_file, from).await.unwrap();
        assert_eq!(
            deployments,
            pool.report_deployments(&pipeline.repository, &pipeline.workflow_file, from).await.unwrap(),
            "{days} days"
        );
        if days == 14 {
            assert!(runs.len() > 5 && jobs.len() > 5, "{} runs, {} jobs", runs.len(), jobs.len());
            assert!(jobs.iter().any(|j| j.failed_step.is_some() && j.error_message.is_some()), "{jobs:?}");
            assert!(jobs.iter().any(|j| j.failed_step.is_some() && j.error_message.is_none()), "{jobs:?}");
            assert!(deployments.deployments.len() > 2 && deployments.statuses.len() > 2, "{deployments:?}");
            assert_eq!(deployments.first_commits.len(), 1, "s104's push: {deployments:?}");
        }
    }
}

async fn reports_compute_every_figure_of_a_fixed_history(backend: Backend) {
    let app = TestApp::start(backend).await;
    let today = Utc::now().date_naive();
    let (id, _) = fixed_history(&app, today).await;

    let reply = app.get(&format!("/api/pipelines/{id}/report?days=14")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let r = &reply.body;
    let to = check_period(r, today, 14);
    assert_eq!(
        (r["success"].as_bool(), r["pipeline_id"].as_str(), r["days"].as_i64()),
        (Some(true), Some(id.as_str()), Some(14))
    );

    // Performance. Counted attempts: 101 (600 s), 102 (480, failed), its re-run (600), 103
    // (1800, failed), 104 (300), 105 (600, failed), 106 (240); 107 runs still; 100 is too old.
    let p = &r["performance"];
    assert_eq!(
        (&p["runs"], &p["success_rate"], &p["p50_duration_seconds"], &p["p95_duration_seconds"]),
        (&json!(7), &json!(57.1), &json!(600), &json!(1800))
    );
    // Queue times (creation, or a re-run's start, to the first job): 60, 240, 60, 120, 30, 300,
    // 20, and 0 for 107 (running, no job yet): p95 300.
    assert_eq!(p["p95_queue_seconds"], 300);
    let daily = p["daily"].as_array().unwrap();
    assert_eq!(daily.len(), 14);
    let day = |days: i64| {
        let date = (today - Duration::days(days)).to_string();
        daily.iter().find(|d| d["date"] == date.as_str()).unwrap_or_else(|| panic!("{date} in {p}")).clone()
    };
    let figures = |runs, successes, rate: Value, p50: Value, p95: Value, queue: Value| {
        json!({"runs": runs, "successes": successes, "success_rate": rate, "p50_duration_seconds": p50,
               "p95_duration_seconds": p95, "p95_queue_seconds": queue})
    };
    let without_date = |mut d: Value| {
        d.as_object_mut().unwrap().remove("date");
        d
    };
    assert_eq!(without_date(day(10)), figures(3, 2, json!(66.7), json!(600), json!(600), json!(240)));
    assert_eq!(
        without_date(day(9)),
        figures(0, 0, Value::Null, Value::Null, Value::Null, Value::Null),
        "a day without runs"
    );
    assert_eq!(
        without_date(day(8)),
        figures(1, 0, json!(0.0), json!(1800), json!(1800), json!(120)),
        "the run crossing midnight"
    );
    assert_eq!(
        without_date(day(7)),
        figures(0, 0, Value::Null, Value::Null, Value::Null, Value::Null),
        "it ended on T-7"
    );
    assert_eq!(without_date(day(3)), figures(2, 1, json!(50.0), json!(300), json!(600), json!(300)));
    assert_eq!(without_date(day(1)), figures(1, 1, json!(100.0), json!(240), json!(240), json!(20)));
    assert_eq!(daily.last().unwrap()["date"], json!(to.to_string()));
    assert_eq!(daily.iter().map(|d| d["runs"].as_i64().unwrap()).sum::<i64>(), 7);

    // Jobs: e2e 120, 240, 1020; build 300, 120, 240, 600, 180, 180, 180; test <unit> 180, 60,
    // 100. Their p50 against the runs' p50 (600 s).
    assert_eq!(
        p["slowest_jobs"],
        json!([
            {"name": "e2e", "runs": 3, "p50_seconds": 240, "p95_seconds": 1020, "share_of_run_percent": 40.0},
            {"name": "build", "runs": 7, "p50_seconds": 180, "p95_seconds": 600, "share_of_run_percent": 30.0},
            {"name": UNIT, "runs": 3, "p50_seconds": 100, "p95_seconds": 180, "share_of_run_percent": 16.7},
        ])
    );
    // The last 7 days: 104, 105, 106 (2 of 3, p50 300); the 7 before: 101, 102 twice, 103 (2 of
    // 4, p50 600).
    let trend = &p["trend"];
    let period =
        |v: &Value| json!([v["runs"], v["successes"], v["failures"], v["success_rate"], v["p50_duration_seconds"]]);
    assert_eq!(period(&trend["last_7_days"]), json!([3, 2, 1, 66.7, 300]));
    assert_eq!(period(&trend["previous_7_days"]), json!([4, 2, 2, 50.0, 600]));
    assert_eq!(
        (&trend["runs"], &trend["success_rate"], &trend["p50_duration"]),
        (&json!("down"), &json!("up"), &json!("down"))
    );
    assert_eq!(trend["last_7_days"]["to"], json!(to.to_string()));

    // Quality: e2e failed then passed on the re-run of s102 (its 120 s failure thrown away).
    let q = &r["quality"];
    assert_eq!(
        q["flaky_jobs"],
        json!([{"name": "e2e", "flaky_commits": 1, "failed_attempts": 1, "passed_attempts": 1, "minutes_lost": 2.0}])
    );
    assert_eq!(
        q["job_failure_rates"],
        json!([
            {"name": "e2e", "runs": 3, "failures": 2, "failure_rate": 66.7},
            {"name": UNIT, "runs": 3, "failures": 1, "failure_rate": 33.3},
            {"name": "build", "runs": 7, "failures": 0, "failure_rate": 0.0},
        ])
    );
    // e2e's step twice: its message from 102's log record; 103's step from its steps alone.
    assert_eq!(
        q["failing_steps"],
        json!([
            {"job": "e2e", "step": "Run e2e", "failures": 2, "last_error_message": "Timeout waiting for selector",
             "last_failed_at": stamp(at(today, 7, "00:19:00"))},
            {"job": UNIT, "step": "Run tests", "failures": 1, "last_error_message": "assertion failed: 2 == 3",
             "last_failed_at": stamp(at(today, 3, "15:09:40"))},
        ])
    );

    // Deployments. production: 4 shipped, the 4th going back to s104 rolls back s106 (shipped
    // 08:12, replaced 09:05: 3180 s). Lead times of the three changes: s101 and s106 from their
    // runs' starts, 1200 and 720; s104 from its push's oldest commit (T-3 09:30 to 10:15), 2700.
    // The return to s104 ships no change (a redeployment). Created to success: 300, 300, 120, 300.
    // staging: s105 fails at T-3 15:25, s106 succeeds at T-1 08:07 (146520 s later); its lead
    // time from run 106's start (s106): 420; created to success 120.
    assert_eq!(
        r["deployment"]["environments"],
        json!([
            {"environment": "production", "deployments": 4, "successful": 4, "failed": 0, "rolled_back": 1,
             "deployment_frequency": {"per_day": 0.29, "per_week": 2.0},
             "lead_time": {"p50_seconds": 1200, "p95_seconds": 2700, "samples": 3, "from_first_commit": 1,
                           "unmeasured": 0, "redeployments": 1},
             "deploy_duration": {"p50_seconds": 300, "p95_seconds": 300, "samples": 4},
             "change_failure_rate": 25.0,
             "time_to_restore": {"p50_seconds": 3180, "samples": 1, "unrestored": 0}},
            {"environment": "staging", "deployments": 2, "successful": 1, "failed": 1, "rolled_back": 0,
             "deployment_frequency": {"per_day": 0.07, "per_week": 0.5},
             "lead_time": {"p50_seconds": 420, "p95_seconds": 420, "samples": 1, "from_first_commit": 0,
                           "unmeasured": 0, "redeployments": 0},
             "deploy_duration": {"p50_seconds": 120, "p95_seconds": 120, "samples": 1},
             "change_failure_rate": 50.0,
             "time_to_restore": {"p50_seconds": 146520, "samples": 1, "unrestored": 0}},
        ])
    );

    // Recommendations: queue p95 300 s; 102 (240 s, 14:00), 103 (120 s, 23:00) and 105 (300 s,
    // 15:00) waited 2 minutes or more: 660 s in 14 days, 5.5 min a week. e2e's 2 minutes lost,
    // 1 a week.
    let recommendations = r["recommendations"].as_array().unwrap();
    let kinds: Vec<(&str, f64)> = recommendations
        .iter()
        .map(|rec| (rec["kind"].as_str().unwrap(), rec["estimated_gain_minutes_per_week"].as_f64().unwrap()))
        .collect();
    assert_eq!(kinds, [("queue_time", 5.5), ("flaky_job", 1.0)]);
    assert_eq!(recommendations[0]["evidence"], json!({"p95_queue_seconds": 300, "saturated_hours_utc": [14, 15, 23]}));
    assert_eq!(
        recommendations[0]["message"],
        "queue time p95 5 min: runners are saturated at 14:00-16:00, 23:00-24:00 UTC, about 5.5 min/week of waiting"
    );
    assert_eq!(
        recommendations[1]["evidence"],
        json!({"job": "e2e", "flaky_commits": 1, "job_runs": 3, "minutes_lost": 2.0})
    );

    // A shorter report keeps the trend (read over 14 days) but only its days' runs.
    let short = app.get(&format!("/api/pipelines/{id}/report?days=2")).await;
    assert_eq!(short.status, 200, "{}", short.body);
    assert_eq!(short.body["performance"]["daily"].as_array().unwrap().len(), 2);
    assert_eq!(short.body["performance"]["trend"], r["performance"]["trend"]);
    assert!(short.body["performance"]["runs"].as_i64().unwrap() <= 1, "{}", short.body["performance"]);

    // Errors: days out of range, not a number, an unknown format; an unknown pipeline.
    for query in ["days=0", "days=91", "days=two", "format=pdf"] {
        let bad = app.get(&format!("/api/pipelines/{id}/report?{query}")).await;
        assert_eq!((bad.status, &bad.body["success"]), (400, &json!(false)), "{query}: {}", bad.body);
        assert!(bad.body["error"].is_string() && bad.body["code"].is_string(), "{}", bad.body);
    }
    let bad = app.get(&format!("/api/pipelines/{id}/report?days=91")).await;
    assert_eq!(bad.body["error"], "days must be between 1 and 90 (got 91)");
    let unknown = app.get("/api/pipelines/pipe_000000000000/report").await;
    assert_eq!((unknown.status, &unknown.body["error"]), (404, &json!("Pipeline not found: pipe_000000000000")));

    // The printable page: HTML, self-contained, the same figures, every value escaped.
    let page = app
        .client
        .get(format!("{}/api/pipelines/{id}/report?days=14&format=html", app.base))
        .header("CCM-Token", TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(page.headers()["cache-control"], "no-store");
    assert!(page.headers()["content-security-policy"].to_str().unwrap().starts_with("default-src 'none'"));
    let html = page.text().await.unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.contains("<td>test &lt;unit&gt;</td>"), "{html}");
    assert!(!html.contains("<unit>"), "a job name went out unescaped");
    assert!(html.contains("7 runs · success rate 57.1 % · duration p50 600 s, p95 1800 s · queue p95 300 s"), "{html}");
    assert!(html.contains("<td>production</td><td class=\"n\">4</td>"), "{html}");
    assert!(html.contains("Timeout waiting for selector"), "{html}");
    for external in ["<script", "<link", "src=", "href=", "url("] {
        assert!(!html.contains(external), "{external} in a self-contained page");
    }

    // The command line: a readable summary, or the JSON as the API answers it.
    let ccm = Ccm::new(&app.base, Some(TOKEN));
    let run = ccm.run(&["pipelines", "report", &id, "--days", "14"]).await;
    run.assert_code(0);
    for line in [
        "runs:           7\n",
        "success rate:   57.1%\n",
        "duration p95:   30m 00s\n",
        "queue p95:      5m 00s\n",
        "e2e          3     4m 00s  17m 00s  40.0%\n",
        "e2e  1              1       1       2.0\n",
        "- queue time p95 5 min: runners are saturated at 14:00-16:00, 23:00-24:00 UTC, about 5.5 min/week of waiting [queue_time; about 5.5 min/week]\n",
    ] {
        assert!(run.stdout.contains(line), "{line:?} not in:\n{}", run.stdout);
    }
    let as_json = ccm.run(&["pipelines", "report", &id, "--json"]).await;
    as_json.assert_code(0);
    let mut printed = as_json.json();
    let mut answered = r.clone();
    for body in [&mut printed, &mut answered] {
        body.as_object_mut().unwrap().remove("generated_at");
    }
    assert_eq!(printed, answered, "--json prints the API's answer (14 days by default)");
    let refused = ccm.run(&["pipelines", "report", &id, "--days", "0"]).await;
    refused.assert_code(1);
    assert!(refused.stderr.contains("days must be between 1 and 90"), "{refused:?}");
}

async fn insights_rank_pipelines_and_their_flaky_jobs(backend: Backend) {
    let app = TestApp::start(backend).await;
    let today = Utc::now().date_naive();
    let (id, other) = fixed_history(&app, today).await;
    // Torn down: left out, whatever its runs.
    let gone = app.provision("Octo/Gone", WORKFLOW, json!({})).await;
    let t = |days, time| at(today, days, time);
    let failed = Attempt {
        run_id: 301,
        attempt: 1,
        sha: "g301",
        created: t(1, "10:00:00"),
        started: t(1, "10:00:00"),
        completed: Some((t(1, "11:00:00"), "failure")),
    };
    deliver_ok(&app, "workflow_run", "run-301", &workflow_run_body("Octo/Gone", &failed)).await;
    assert_eq!(app.delete(&format!("/api/pipelines/{gone}")).await.status, 200);

    // 7 days: OTHER's 201 (120 s, failed), its re-run (60 s) and 202 (300 s, failed); REPO's 104,
    // 105 (600 s, failed) and 106.
    let week = app.get("/api/insights").await;
    assert_eq!(week.status, 200, "{}", week.body);
    assert_eq!((week.body["days"].as_i64(), week.body["pipelines_with_runs"].as_i64()), (Some(7), Some(2)));
    check_period(&week.body, today, 7);
    let health = |pipeline: &str| {
        let app = &app;
        let pipeline = pipeline.to_string();
        async move { app.stats(&pipeline).await["health_score"].clone() }
    };
    // OTHER's runs are all older than 24 hours: its last 10 (1 of 3 succeeded, the latest
    // failed): 0.6 * 33.3 + 0 + 10 = 30.
    assert_eq!(health(&other).await, 30);
    assert_eq!(
        week.body["pipelines"],
        json!([
            {"pipeline_id": other, "repository": OTHER, "workflow_file": WORKFLOW, "runs": 3, "failures": 2,
             "failure_rate": 66.7, "minutes_lost_to_failures": 7.0, "reruns": 1, "minutes_in_reruns": 1.0,
             "health_score": 30},
            {"pipeline_id": id, "repository": REPO, "workflow_file": WORKFLOW, "runs": 3, "failures": 1,
             "failure_rate": 33.3, "minutes_lost_to_failures": 10.0, "reruns": 0, "minutes_in_reruns": 0.0,
             "health_score": health(&id).await},
        ])
    );
    assert_eq!(
        week.body["flakiest_jobs"],
        json!([{"pipeline_id": other, "repository": OTHER, "name": "lint", "flaky_commits": 1, "failed_attempts": 1,
                "passed_attempts": 1, "minutes_lost": 1.0}])
    );

    // 14 days: REPO's failures (102: 480 s, 103: 1800, 105: 600) rank it first; its e2e (2 min
    // lost) is flakier than OTHER's lint (1 min).
    let fortnight = app.get("/api/insights?days=14&limit=1").await;
    assert_eq!(fortnight.status, 200, "{}", fortnight.body);
    let first = &fortnight.body["pipelines"];
    assert_eq!(first.as_array().unwrap().len(), 1, "{first}");
    assert_eq!(
        json!([
            first[0]["pipeline_id"],
            first[0]["runs"],
            first[0]["failures"],
            first[0]["minutes_lost_to_failures"],
            first[0]["reruns"],
            first[0]["minutes_in_reruns"]
        ]),
        json!([id, 7, 3, 48.0, 1, 10.0])
    );
    assert_eq!(fortnight.body["pipelines_with_runs"], 2);
    let flaky: Vec<(String, String)> = fortnight.body["flakiest_jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["pipeline_id"].as_str().unwrap().to_string(), f["name"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(flaky, [(id.clone(), "e2e".to_string()), (other.clone(), "lint".to_string())]);
    // The overview reads only the jobs of commits run more than once; each pipeline's report
    // reads every job: their flaky jobs are the same.
    for listed in fortnight.body["flakiest_jobs"].as_array().unwrap() {
        let report =
            app.get(&format!("/api/pipelines/{}/report?days=14", listed["pipeline_id"].as_str().unwrap())).await;
        let mut from_report = report.body["quality"]["flaky_jobs"][0].clone();
        from_report["pipeline_id"] = listed["pipeline_id"].clone();
        from_report["repository"] = listed["repository"].clone();
        assert_eq!(
            report.body["quality"]["flaky_jobs"].as_array().map(Vec::len),
            Some(1),
            "{}",
            report.body["quality"]
        );
        assert_eq!(&from_report, listed);
    }

    for query in ["days=0", "days=91", "limit=0", "limit=101", "limit=many"] {
        let bad = app.get(&format!("/api/insights?{query}")).await;
        assert_eq!(bad.status, 400, "{query}: {}", bad.body);
    }
}

async fn pipeline_metrics_are_opt_in(backend: Backend) {
    let scrape = |app: &TestApp| {
        let url = format!("{}/metrics", app.base);
        let client = app.client.clone();
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let on =
        AccessConfig { pipeline_metrics: true, gauges_for: std::time::Duration::ZERO, ..AccessConfig::unlimited() };
    let app = TestApp::with_access(backend, &on).await;
    let id = app.provision(REPO, WORKFLOW, json!({})).await;
    let gone = app.provision(OTHER, WORKFLOW, json!({})).await;
    assert_eq!(app.delete(&format!("/api/pipelines/{gone}")).await.status, 200);
    let now = Utc::now();
    let hours_ago = |h: i64| now - Duration::hours(h);
    for a in [
        Attempt {
            run_id: 1,
            attempt: 1,
            sha: "m1",
            created: hours_ago(3),
            started: hours_ago(3),
            completed: Some((hours_ago(3) + Duration::seconds(100), "success")),
        },
        Attempt {
            run_id: 2,
            attempt: 1,
            sha: "m2",
            created: hours_ago(2),
            started: hours_ago(2),
            completed: Some((hours_ago(2) + Duration::seconds(200), "failure")),
        },
    ] {
        deliver_ok(&app, "workflow_run", &format!("m-{}", a.run_id), &workflow_run_body(REPO, &a)).await;
    }
    deploy(&app, &deployment_body(1, "production", "m1", hours_ago(2), Some(1)), &[(11, "success", hours_ago(1))])
        .await;

    let text = scrape(&app).await;
    let labels = format!("pipeline=\"{id}\",repository=\"{REPO}\",workflow=\"{WORKFLOW}\"");
    // 1 of 2 runs in 24 hours, the latest failed: 0.6 * 50 + 0 + 10 = 40.
    for sample in [
        format!("ccm_pipeline_health_score{{{labels}}} 40\n"),
        format!("ccm_pipeline_success_ratio_24h{{{labels}}} 0.5\n"),
        format!("ccm_pipeline_runs_completed_24h{{{labels},conclusion=\"success\"}} 1\n"),
        format!("ccm_pipeline_runs_completed_24h{{{labels},conclusion=\"failure\"}} 1\n"),
        format!("ccm_pipeline_last_run_duration_seconds{{{labels}}} 200\n"),
        format!("ccm_pipeline_deployments{{{labels},environment=\"production\",state=\"success\"}} 1\n"),
    ] {
        assert!(text.contains(&sample), "{sample:?} not in:\n{text}");
    }
    assert!(!text.contains(&gone), "an inactive pipeline has no series:\n{text}");
    assert_eq!(app.stats(&id).await["health_score"], 40);

    // Off by default: none of these series.
    let off = TestApp::start(backend).await;
    off.provision(REPO, WORKFLOW, json!({})).await;
    let text = scrape(&off).await;
    assert!(text.contains("ccm_pipelines{"), "{text}");
    assert!(!text.contains("ccm_pipeline_"), "{text}");
}

/// What a rollback returns to is read per environment: a hundred and one staging deployments
/// since production last shipped `s1` do not hide that shipment from production's figures.
async fn a_busy_environment_leaves_the_others_their_history(backend: Backend) {
    let app = TestApp::start(backend).await;
    let id = app.provision(REPO, WORKFLOW, json!({})).await;
    let today = Utc::now().date_naive();
    let t = |days, time| at(today, days, time);
    deploy(
        &app,
        &deployment_body(1, "production", "s1", t(20, "09:00:00"), None),
        &[(11, "success", t(20, "09:05:00"))],
    )
    .await;
    for n in 0..101 {
        let created = t(19, "09:00:00") + Duration::minutes(n);
        deploy(&app, &deployment_body(100 + n, "staging", &format!("st{n}"), created, None), &[]).await;
    }
    // In the report's days: s2 ships, then production returns to s1.
    deploy(&app, &deployment_body(2, "production", "s2", t(5, "09:00:00"), None), &[(21, "success", t(5, "09:05:00"))])
        .await;
    deploy(&app, &deployment_body(3, "production", "s1", t(2, "09:00:00"), None), &[(31, "success", t(2, "09:05:00"))])
        .await;

    let report = app.get(&format!("/api/pipelines/{id}/report?days=14")).await;
    assert_eq!(report.status, 200, "{}", report.body);
    let production = &report.body["deployment"]["environments"][0];
    assert_eq!(production["environment"], "production");
    // s2 was rolled back by the return to s1 (3 days later), which ships no change.
    assert_eq!(
        (production["successful"].as_i64(), production["rolled_back"].as_i64()),
        (Some(2), Some(1)),
        "{production}"
    );
    assert_eq!(production["lead_time"]["redeployments"], 1, "{production}");
    assert_eq!(production["time_to_restore"]["p50_seconds"], 3 * 86_400, "{production}");
    let listed = app.get(&format!("/api/pipelines/{id}/deployments?environment=production")).await;
    assert_eq!(listed.body["deployments"][1]["rolled_back_by"], 3, "{}", listed.body);
}
