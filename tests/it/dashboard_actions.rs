//! The dashboard acts (issue 17), in headless Chromium against the real app and the fake GitHub:
//! a write token provisions a pipeline from a form, triggers it, rolls it back with a reason,
//! cancels a run, re-runs a failed run's failed jobs, reads a failed job's log (error lines
//! marked, searched) and tears the pipeline down after confirming; each action's GitHub call is
//! made. A read-only token sees none of these controls.

use std::time::Duration;

use crate::browser::Browser;
use crate::github_app::{REPO, runs_listing, workflow_exists};
use crate::helpers::github::*;
use crate::helpers::*;
use chrono::Utc;
use serde_json::json;
use wiremock::matchers::{body_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

on_both_databases!(a_write_token_acts_and_a_read_token_only_watches);

/// Waits for the action notice naming a queued job, and for that job to be done.
async fn queued(browser: &Browser, app: &TestApp, what: &str, check: impl Fn(&str) -> bool) {
    let shown = browser.wait_text("#action-notice [data-job-id]", what, check).await;
    let job: i64 = browser
        .script("return Number(document.querySelector('#action-notice [data-job-id]').dataset.jobId)", json!([]))
        .await
        .as_i64()
        .unwrap_or_else(|| panic!("a job id in {shown}"));
    let done = app.wait_job(job).await;
    assert_eq!(done.status.as_str(), "done", "{what}: {:?}", done.last_error);
    browser.script("document.querySelector('#action-notice').replaceChildren()", json!([])).await;
}

async fn a_write_token_acts_and_a_read_token_only_watches(backend: Backend) {
    let gh = FakeGithub::start().await;
    let download = MockServer::start().await;
    let app = TestApp::start_with_github(backend, &gh.url()).await;
    app.install(REPO).await;
    workflow_exists(&gh, REPO).await;
    runs_listing(&gh, REPO, vec![], Duration::ZERO).await;

    let browser = Browser::start().await;
    browser.goto(&format!("{}/", app.base)).await;
    browser.wait_text("#sign-in h1", "the sign-in form", |t| t.contains("Sign in")).await;
    browser.type_into("#token", TOKEN).await;
    browser.click("#sign-in button[type=submit]").await;
    browser.wait_text("#provision-form", "the provisioning form", |t| t.contains("Provision")).await;

    // Provision from the form: the pipeline's page opens.
    browser.type_into("#provision-repo", REPO).await;
    browser.type_into("#provision-workflow", WORKFLOW).await;
    browser.type_into("#provision-branches", "main").await;
    browser.click("#provision").await;
    browser
        .wait_text("#pipeline-about", "the new pipeline's page", |t| t.contains(WORKFLOW) && t.contains("main"))
        .await;
    let listed = app.get("/api/pipelines").await;
    let id = listed.body["pipelines"][0]["pipeline_id"].as_str().unwrap().to_string();

    // Runs: 800 succeeded, 801 failed (its job 8011 failed), 802 is running.
    let now = Utc::now();
    let store = app.store();
    for (run_id, ago, conclusion) in [(800, 3, Some("success")), (801, 2, Some("failure")), (802, 1, None)] {
        store
            .upsert_execution(&run(run_id, REPO, "main", now, chrono::Duration::hours(ago), conclusion, 60))
            .await
            .unwrap();
    }
    FakeGithub::repo_call("GET", format!("/repos/{REPO}/actions/jobs/8011/logs"))
        .respond_with(ResponseTemplate::new(302).insert_header("Location", format!("{}/logs/8011", download.uri())))
        .mount(&gh.server)
        .await;
    FakeGithub::repo_call("GET", format!("/repos/{REPO}/check-runs/8011/annotations"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&gh.server)
        .await;
    let log = "2024-05-01T10:00:00.0000000Z ##[group]Run cargo test\n\
               2024-05-01T10:00:01.0000000Z \u{1b}[32mtest a ... ok\u{1b}[0m\n\
               2024-05-01T10:00:02.0000000Z test b ... FAILED\n\
               2024-05-01T10:00:03.0000000Z ##[error]Process completed with exit code 101.\n";
    Mock::given(method("GET"))
        .and(path("/logs/8011"))
        .respond_with(ResponseTemplate::new(200).set_body_string(log))
        .mount(&download)
        .await;
    let job = json!({
        "action": "completed",
        "workflow_job": {
            "id": 8011, "run_id": 801, "run_attempt": 1, "name": "test", "status": "completed", "conclusion": "failure",
            "started_at": ccm::domain::clock::format(&now), "completed_at": ccm::domain::clock::format(&now),
            "steps": [{"name": "Run cargo test", "status": "completed", "conclusion": "failure", "number": 1}]
        },
        "repository": {"full_name": REPO}
    });
    app.deliver("workflow_job", "act-job-1", job.to_string().as_bytes()).await;
    browser.wait_text("#executions tr[data-run-id=\"802\"]", "the running run", |t| t.contains("in progress")).await;

    // Trigger with a ref and an input.
    FakeGithub::repo_call("POST", format!("/repos/{REPO}/actions/workflows/deploy.yml/dispatches"))
        .and(body_json(json!({"ref": "release", "inputs": {"version": "1.2.3"}})))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&gh.server)
        .await;
    browser.type_into("#trigger-ref", "release").await;
    browser.type_into("#trigger-inputs", "version=1.2.3").await;
    browser.click("#trigger").await;
    queued(&browser, &app, "the trigger", |t| t.contains("Workflow dispatch of") && t.contains("release")).await;

    // Cancel the running run; re-run the failed run's failed jobs.
    for (call, status) in [("802/cancel", 202), ("801/rerun-failed-jobs", 201), ("800/rerun", 201)] {
        FakeGithub::repo_call("POST", format!("/repos/{REPO}/actions/runs/{call}"))
            .respond_with(ResponseTemplate::new(status).set_body_json(json!({})))
            .expect(1)
            .mount(&gh.server)
            .await;
    }
    browser.click("#executions tr[data-run-id=\"802\"] button[data-action=cancel]").await;
    queued(&browser, &app, "the cancellation", |t| t.contains("Cancellation of run 802")).await;
    // GitHub then reports the run cancelled (else the teardown below would cancel it again).
    store
        .upsert_execution(&run(802, REPO, "main", now, chrono::Duration::hours(1), Some("cancelled"), 60))
        .await
        .unwrap();
    browser.click("#executions tr[data-run-id=\"801\"] button[data-action=rerun-failed-jobs]").await;
    queued(&browser, &app, "the re-run", |t| t.contains("Re-run of the failed jobs of run 801")).await;

    // Roll back with a reason: the last successful run (800) is re-run, 802 marked.
    browser.type_into("#rollback-reason", "bad release").await;
    browser.click("#rollback").await;
    queued(&browser, &app, "the rollback", |t| t.contains("Re-run of run 800")).await;
    let audit = app.get(&format!("/api/audit?pipeline_id={id}&action=pipeline.rollback")).await;
    assert_eq!(audit.body["entries"][0]["details"]["reason"], "bad release", "{}", audit.body);

    // The failed job's log: why it failed, the error line marked, colours stripped, searchable.
    let job_row = "tr[data-jobs-of=\"801/1\"] tr[data-job-id=\"8011\"]";
    browser.click("#executions tr[data-run-id=\"801\"] button[aria-expanded]").await;
    browser
        .wait_text(&format!("{job_row} [data-field=failure]"), "the failed step", |t| t.contains("Run cargo test"))
        .await;
    browser
        .wait_text("#executions tr[data-run-id=\"801\"] [data-field=failure]", "the run's failure", |t| {
            t.starts_with("test › Run cargo test")
        })
        .await;
    // The log arrives in the background; its live event shows the button that opens it.
    browser.wait_text(&format!("{job_row} button.show-log"), "the log's button", |t| t == "Log").await;
    browser.click(&format!("{job_row} button.show-log")).await;
    let viewer = "[data-log-of=\"8011\"]";
    browser
        .wait_text(&format!("{viewer} .log-line.error"), "the error line", |t| {
            t == "##[error]Process completed with exit code 101."
        })
        .await;
    browser
        .wait_text(&format!("{viewer} .log-line.failed-step"), "the failed step's section", |t| {
            t.starts_with("##[group]Run cargo test")
        })
        .await;
    let first = browser.text(&format!("{viewer} .log-line:nth-child(2)")).await.unwrap();
    assert_eq!(first, "test a ... ok", "ANSI colours and timestamps are stripped");
    // Typed again if a live reload took the field's focus while it was being typed into.
    wait_for("the search", PATIENCE, async || {
        let count = browser.text(&format!("{viewer} .log-count")).await;
        if count.as_deref() == Some("1 of 4 lines") {
            return Ok(());
        }
        browser.type_into(&format!("{viewer} .log-search"), "FAILED").await;
        Err(format!("{count:?}"))
    })
    .await;
    browser.wait_text(&format!("{viewer} .log"), "the matching line", |t| t == "test b ... FAILED").await;

    // Tear down, after confirming.
    browser.click("#teardown").await;
    browser.click("#teardown-confirm").await;
    browser.wait_text("#pipeline-about", "the inactive pipeline", |t| t.contains("inactive")).await;
    assert_eq!(app.get(&format!("/api/pipelines/{id}")).await.body["pipeline"]["status"], "inactive");

    // A read-only token: the pipeline and its runs, no control that changes anything.
    let created = app.post("/api/tokens", json!({"name": "wall-screen", "scope": "read"})).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let read_token = created.body["token"].as_str().unwrap().to_string();
    browser.click("#sign-out").await;
    browser.wait_text("#sign-in", "the sign-in form", |t| t.contains("Signed out")).await;
    browser.type_into("#token", &read_token).await;
    browser.click("#sign-in button[type=submit]").await;
    browser.wait_text("#pipeline-status", "the pipelines", |_| true).await;
    assert_eq!(browser.script("return document.querySelector('#provision-form') === null", json!([])).await, true);
    browser.goto(&format!("{}/#/pipelines/{id}", app.base)).await;
    browser.wait_text("#executions tr[data-run-id=\"800\"]", "the runs", |t| t.contains("success")).await;
    let controls = "return document.querySelectorAll('#pipeline-actions, .run-actions, #provision-form').length";
    assert_eq!(browser.script(controls, json!([])).await, 0, "a read-only token sees no control");

    let problems: Vec<serde_json::Value> =
        browser.log().await.into_iter().filter(|entry| entry["level"] == "SEVERE").collect();
    assert!(problems.is_empty(), "the browser reported: {problems:#?}");
    gh.server.verify().await;
}
