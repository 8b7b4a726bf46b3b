//! The dashboard in a real browser (headless Chromium over WebDriver) against the real app: sign
//! in, the pipelines table, live changes from signed webhooks without a reload, a pipeline's page
//! with its runs and jobs, tasks, replaying a failed delivery, and signing out.

use crate::browser::Browser;
use crate::helpers::{Backend, TOKEN, TestApp, workflow_job, workflow_run};
use chrono::{Duration, Utc};
use serde_json::{Value, json};

on_both_databases!(an_operator_watches_pipelines_change_live);

const REPO: &str = "octo-org/storefront";

/// A deployment of REPO to `environment` made at `at`, and its status `state` (GitHub's
/// `deployment` and `deployment_status` events).
async fn deploy(app: &TestApp, id: i64, environment: &str, state: &str, at: chrono::DateTime<Utc>) {
    let deployment = json!({
        "id": id, "sha": format!("{id:0<40}"), "ref": "main", "task": "deploy", "environment": environment,
        "creator": {"login": "octocat"}, "created_at": at.to_rfc3339(), "updated_at": at.to_rfc3339(),
    });
    let created = json!({"action": "created", "deployment": deployment, "repository": {"full_name": REPO}});
    let status = json!({
        "action": "created", "deployment": deployment, "repository": {"full_name": REPO},
        "deployment_status": {"id": id * 10, "state": state, "created_at": at.to_rfc3339()},
    });
    for (event, guid, body) in
        [("deployment", format!("dep-{id}"), created), ("deployment_status", format!("dep-{id}-s"), status)]
    {
        let reply = app.deliver(event, &guid, body.to_string().as_bytes()).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
}

/// What the table's cell `field` of the pipeline's row shows.
fn cell(pipeline: &str, field: &str) -> String {
    format!("tr[data-pipeline-id=\"{pipeline}\"] [data-field=\"{field}\"]")
}

async fn an_operator_watches_pipelines_change_live(backend: Backend) {
    // A backup in the backups folder, which the overview names (on SQLite).
    let backups = tempfile::tempdir().unwrap();
    std::fs::write(backups.path().join("ccm-20261204T101500.000Z.db"), vec![0u8; 2048]).unwrap();
    let app = TestApp::with_backups(backend, backups.path().to_path_buf()).await;
    let provisioned = app
        .post(
            "/api/pipelines/provision",
            json!({"repo": REPO, "workflow_file": ".github/workflows/deploy.yml", "linked_domain": "shop.example.com"}),
        )
        .await;
    assert_eq!(provisioned.status, 201, "{}", provisioned.body);
    let id = provisioned.body["pipeline_id"].as_str().unwrap().to_string();
    let now = Utc::now();
    let run =
        |run_id, status, conclusion, started| workflow_run(run_id, 1, REPO, "main", status, conclusion, started, now);
    let first = now - Duration::minutes(30);
    assert_eq!(app.deliver("workflow_run", "d-1", &run(1, "completed", Some("success"), first)).await.status, 200);

    let browser = Browser::start().await;
    browser.goto(&format!("{}/", app.base)).await;

    // A wrong token is refused with a message and the form stays.
    browser.wait_text("#sign-in h1", "the sign-in form", |t| t.contains("Sign in")).await;
    browser.type_into("#token", "not-the-token").await;
    browser.click("#sign-in button[type=submit]").await;
    browser.wait_text("#sign-in [role=alert]", "the refusal", |t| t.contains("refused") && t.contains("401")).await;
    assert_eq!(browser.script("return localStorage.getItem('ccm-token')", json!([])).await, Value::Null);

    browser.type_into("#token", TOKEN).await;
    browser.click("#sign-in button[type=submit]").await;
    browser.wait_text(&cell(&id, "success-rate"), "the pipeline's stats", |t| t == "100.0%").await;
    browser.wait_text(&cell(&id, "active-runs"), "no active run", |t| t == "0").await;
    browser.wait_text(&cell(&id, "domain"), "the linked domain", |t| t == "shop.example.com").await;
    let health = app.stats(&id).await["health_score"].to_string();
    browser.wait_text(&cell(&id, "health"), "the health score", |t| t == health).await;
    // Issue 19: a sparkline of the runs per day over 14 days, drawn from the pipeline's report.
    let report = app.get(&format!("/api/pipelines/{id}/report?days=14")).await.body;
    let runs: Vec<String> =
        report["performance"]["daily"].as_array().unwrap().iter().map(|d| d["runs"].to_string()).collect();
    assert_eq!(runs.len(), 14);
    let sparkline = format!("Runs per day, last 14 days: {}", runs.join(", "));
    browser.wait_text(&cell(&id, "trend"), "the sparkline", |t| t == sparkline).await;
    let row = format!("tr[data-pipeline-id=\"{id}\"]");
    assert!(browser.text(&row).await.unwrap().contains(REPO));
    browser.wait_text("#live", "the live stream", |t| t == "live").await;
    // Issue 18: the last backup's time and size under the table; PostgreSQL has none to show.
    match backend {
        Backend::Sqlite => {
            let line = "Last backup: 2026-12-04 10:15:00 UTC (2.0 KiB)";
            browser.wait_text("#last-backup", "the last backup", |t| t == line).await;
        }
        Backend::Postgres => {
            let hidden = "return document.getElementById('last-backup').hidden";
            assert_eq!(browser.script(hidden, json!([])).await, true, "no backup line on PostgreSQL");
        }
    }

    // From here on the page must not reload: a marker in the page's memory would be lost.
    browser.script("window.stillTheSamePage = true;", json!([])).await;
    let marker = "return window.stillTheSamePage === true";

    let second = now - Duration::minutes(2);
    app.deliver("workflow_run", "d-2", &run(2, "in_progress", None, second)).await;
    browser.wait_text(&cell(&id, "active-runs"), "one active run", |t| t == "1").await;
    browser.wait_text(&cell(&id, "last-run"), "the running run", |t| t.starts_with("in progress")).await;

    let job_start = second + Duration::seconds(10);
    app.deliver("workflow_job", "d-3", &workflow_job(201, 2, REPO, "build", "completed", Some("success"), job_start))
        .await;
    app.deliver("workflow_job", "d-4", &workflow_job(202, 2, REPO, "deploy", "completed", Some("failure"), job_start))
        .await;
    app.deliver("workflow_run", "d-5", &run(2, "completed", Some("failure"), second)).await;
    browser.wait_text(&cell(&id, "success-rate"), "half the runs succeeded", |t| t == "50.0%").await;
    browser.wait_text(&cell(&id, "last-run"), "the failed run", |t| t.starts_with("failure")).await;
    browser.wait_text(&cell(&id, "active-runs"), "no active run", |t| t == "0").await;
    let health = app.stats(&id).await["health_score"].to_string();
    browser.wait_text(&cell(&id, "health"), "the new health score", |t| t == health).await;
    assert_ne!(health, "100");
    assert_eq!(browser.script(marker, json!([])).await, true, "the page was reloaded");

    // Two deployments to production, the second failed.
    deploy(&app, 501, "production", "success", now - Duration::hours(1)).await;
    deploy(&app, 502, "production", "failure", now - Duration::minutes(30)).await;

    // The pipeline's page: its runs, the latest one's jobs shown.
    browser.click(&format!("{row} a")).await;
    browser.wait_text("#executions tr[data-run-id=\"1\"]", "the first run", |t| t.contains("success")).await;
    let latest =
        browser.wait_text("#executions tr[data-run-id=\"2\"]", "the failed run", |t| t.contains("failure")).await;
    assert!(latest.contains("main") && latest.contains(&format!("{:040x}", 2)[..7]), "{latest}");
    let jobs = "tr[data-jobs-of=\"2/1\"]";
    browser
        .wait_text(&format!("{jobs} tr[data-job-id=\"201\"]"), "the build job", |t| {
            t.contains("build") && t.contains("success")
        })
        .await;
    browser
        .wait_text(&format!("{jobs} tr[data-job-id=\"202\"]"), "the deploy job", |t| {
            t.contains("deploy") && t.contains("failure")
        })
        .await;
    browser.wait_text("#pipeline-stats [data-field=\"health\"]", "the health card", |t| t.contains(&health)).await;
    // A new run appears on this page live too.
    app.deliver("workflow_run", "d-6", &run(3, "in_progress", None, now)).await;
    browser.wait_text("#executions tr[data-run-id=\"3\"]", "the new run", |t| t.contains("in progress")).await;
    browser.wait_text("#pipeline-stats [data-field=\"active-runs\"]", "the active run", |t| t.ends_with('1')).await;
    assert_eq!(browser.script(marker, json!([])).await, true, "the page was reloaded");

    // Issue 19: the charts, drawn by the page from the pipeline's report, labelled, and drawn
    // again when a run completes (today's success-rate bar shows what the report says).
    for caption in ["Success rate per day", "Duration per day (p50)", "Queue time per day (p95)", "Slowest jobs"] {
        browser.wait_text("#report-charts", "the charts' captions", |t| t.contains(caption)).await;
    }
    let svgs = "return document.querySelectorAll('#report-charts svg[role=img][aria-label]').length";
    browser
        .wait_text("#report-charts", "the deployments' caption", |t| t.contains("Deployments per environment"))
        .await;
    assert_eq!(browser.script(svgs, json!([])).await, 5);
    let production = "#report-charts [data-chart=deployments] g[data-environment=production]";
    browser.wait_text(production, "production's timeline", |t| t.contains("production")).await;
    let marks = "return [...document.querySelectorAll(arguments[0] + ' circle')].map((c) => c.dataset.state + ' ' + c.textContent)";
    let marks = browser.script(marks, json!([production])).await;
    let mut marks: Vec<&str> = marks.as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
    marks.sort();
    assert_eq!(marks.len(), 2, "{marks:?}");
    assert!(marks[0].starts_with("failure production: 5020000 failure"), "{marks:?}");
    assert!(marks[1].starts_with("success production: 5010000 success"), "{marks:?}");
    let today = now.date_naive().to_string();
    let bar = format!("#report-charts [data-chart=success-rate] rect[data-date=\"{today}\"]");
    let todays_rate = async || {
        let report = app.get(&format!("/api/pipelines/{id}/report?days=14")).await.body;
        let day =
            report["performance"]["daily"].as_array().unwrap().iter().find(|d| d["date"] == today.as_str()).cloned();
        format!("{today}: {:.1}%", day.unwrap()["success_rate"].as_f64().unwrap())
    };
    let expected = todays_rate().await;
    browser.wait_text(&bar, "today's success rate", |t| t == expected).await;
    // A deployment to staging while the page is open: drawn when the page reads the report again.
    deploy(&app, 503, "staging", "success", now - Duration::minutes(5)).await;
    app.deliver("workflow_run", "d-7", &run(4, "completed", Some("success"), now)).await;
    let expected_after = todays_rate().await;
    assert_ne!(expected, expected_after, "a success changes today's rate");
    browser.wait_text(&bar, "today's success rate, redrawn", |t| t == expected_after).await;
    let staging = "#report-charts [data-chart=deployments] g[data-environment=staging]";
    browser.wait_text(staging, "staging's timeline, drawn live", |t| t.contains("staging")).await;
    assert_eq!(browser.script(marker, json!([])).await, true, "the page was reloaded");

    // Tasks.
    let task = app.post("/api/tasks", json!({"title": "Check the storefront deploy", "priority": "high"})).await;
    assert_eq!(task.status, 201, "{}", task.body);
    let task_id = task.body["task"]["id"].clone();
    browser.click(".nav a[data-view=tasks]").await;
    browser
        .wait_text(&format!("#tasks tr[data-task-id=\"{task_id}\"]"), "the task", |t| {
            t.contains("Check the storefront deploy") && t.contains("high") && t.contains("todo")
        })
        .await;

    // A delivery that cannot be processed, replayed from its page.
    let bad = br#"{"action": "completed", "workflow_run": {"id": "not a number"}}"#;
    assert_eq!(app.deliver("workflow_run", "bad-1", bad).await.body["status"], "failed");
    browser.click(".nav a[data-view=deliveries]").await;
    let failed = "#deliveries tr[data-delivery-id=\"bad-1\"]";
    browser.wait_text(&format!("{failed} [data-field=attempts]"), "the failed delivery", |t| t == "1").await;
    assert_eq!(browser.text(&format!("{failed} [data-field=status]")).await.as_deref(), Some("failed"));
    browser.click(&format!("{failed} button.replay")).await;
    browser.wait_text("#delivery-notice", "the replay's outcome", |t| t.contains("Replayed bad-1: failed")).await;
    browser.wait_text(&format!("{failed} [data-field=attempts]"), "a second attempt", |t| t == "2").await;
    let stored = app.get("/api/deliveries/bad-1").await.body;
    assert_eq!(stored["delivery"]["attempts"], 2, "the replay did not reach the server: {stored}");
    assert_eq!(browser.script(marker, json!([])).await, true, "the page was reloaded");

    // A token that stops working brings the form back, saying why.
    browser.script("localStorage.setItem('ccm-token', 'revoked-token'); location.reload();", json!([])).await;
    browser.wait_text("#sign-in [role=alert]", "the refusal", |t| t.contains("refused") && t.contains("401")).await;
    browser.type_into("#token", TOKEN).await;
    browser.click("#sign-in button[type=submit]").await;
    browser
        .wait_text("#deliveries tr[data-delivery-id=\"bad-1\"]", "the deliveries again", |t| t.contains("bad-1"))
        .await;

    // Signing out forgets the token.
    browser.click("#sign-out").await;
    browser.wait_text("#sign-in", "the sign-in form", |t| t.contains("Signed out")).await;
    assert_eq!(browser.script("return localStorage.getItem('ccm-token')", json!([])).await, Value::Null);

    // No script error and no blocked load (CSP) along the way; the only failed loads are the
    // refused tokens' 401s.
    let problems: Vec<Value> = browser
        .log()
        .await
        .into_iter()
        .filter(|entry| entry["level"] == "SEVERE")
        .filter(|entry| !(entry["source"] == "network" && entry["message"].as_str().is_some_and(|m| m.contains("401"))))
        .collect();
    assert!(problems.is_empty(), "the browser reported: {problems:#?}");
}
