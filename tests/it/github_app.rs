//! ccm as a GitHub App, against a fake GitHub on loopback (wiremock) that checks the app JWT's
//! signature against the test key's public half and requires the installation token on
//! repository calls; on SQLite and on PostgreSQL.

use std::time::Duration;

use crate::helpers::github::*;
use crate::helpers::*;
use ccm::domain::outbox::OutboxTask;
use ccm::github::client::{As, Method};
use ccm::github::outbox;
use chrono::Utc;
use serde_json::{Value, json};
use wiremock::matchers::{body_json, method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

const REPO: &str = "octo/app";

on_both_databases!(
    provision_verifies_and_backfills,
    import_backfills_the_active_pipelines_it_creates,
    provision_asks_github_for_the_installation,
    provision_refuses_uninstalled_repositories_and_missing_workflows,
    without_an_app_ccm_runs_and_says_so,
    teardown_cancels_open_runs_and_reports_them,
    trigger_dispatches_the_workflow,
    rollback_reruns_the_last_success_and_records_it,
    recovery_redelivers_exactly_the_missed_guids,
    stuck_runs_are_reread_and_corrected,
    retries_on_500_and_counts_in_health,
    waits_on_403_retry_after,
    waits_on_an_exhausted_rate_limit,
    pauses_after_five_failures_and_resumes_by_itself,
    unreadable_jobs_fail_and_the_worker_goes_on,
);

async fn workflow_exists(gh: &FakeGithub, repo: &str) {
    FakeGithub::repo_call("GET", format!("/repos/{repo}/contents/{WORKFLOW}"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"type": "file", "path": WORKFLOW})))
        .mount(&gh.server)
        .await;
}

async fn runs_listing(gh: &FakeGithub, repo: &str, runs: Vec<Value>, delay: Duration) {
    FakeGithub::repo_call("GET", format!("/repos/{repo}/actions/workflows/deploy.yml/runs"))
        .and(query_param("per_page", "100"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"total_count": runs.len(), "workflow_runs": runs}))
                .set_delay(delay),
        )
        .mount(&gh.server)
        .await;
}

async fn provision(app: &TestApp) -> Reply {
    app.post(
        "/api/pipelines/provision",
        json!({"repo": REPO, "workflow_file": WORKFLOW, "config": {"trigger_branches": ["main"]}}),
    )
    .await
}

async fn provision_verifies_and_backfills(backend: Backend) {
    let gh = FakeGithub::start().await;
    let app = TestApp::start_with_github(backend, &gh.url()).await;
    app.install(REPO).await;
    workflow_exists(&gh, REPO).await;
    let now = Utc::now();
    let runs = vec![
        rest_run(11, REPO, "completed", Some("success"), now - chrono::Duration::hours(3)),
        rest_run(12, REPO, "completed", Some("failure"), now - chrono::Duration::hours(2)),
        rest_run(13, REPO, "in_progress", None, now - chrono::Duration::minutes(5)),
    ];
    runs_listing(&gh, REPO, runs, Duration::from_millis(800)).await;

    let reply = provision(&app).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body["repository_verified"], true);
    assert_eq!(reply.body["backfill"]["status"], "running");
    let id = reply.body["pipeline_id"].as_str().unwrap().to_string();

    // While the listing is slow to come, the stats say a backfill is under way.
    let stats = app.get(&format!("/api/pipelines/{id}/stats")).await;
    assert_eq!(stats.body["stats"]["backfill_in_progress"], true, "{}", stats.body);

    let job = app.wait_job(reply.body["backfill"]["job_id"].as_i64().unwrap()).await;
    assert_eq!(job.status.as_str(), "done", "{:?}", job.last_error);
    let stats = app.get(&format!("/api/pipelines/{id}/stats")).await;
    let s = &stats.body["stats"];
    assert_eq!(s["backfill_in_progress"], false);
    assert_eq!(s["metrics_24h"]["run_count"], 2, "{s}");
    assert_eq!(s["metrics_24h"]["success_count"], 1);
    assert_eq!(s["active_runs"], 1);
    // The listing asked for the last 24 hours.
    let listing = gh.requests_to("GET", "/repos/octo/app/actions/workflows/deploy.yml/runs").await;
    let created = listing[0].url.query_pairs().find(|(k, _)| k == "created").unwrap().1.to_string();
    assert!(created.starts_with(">="), "{created}");
}

async fn import_backfills_the_active_pipelines_it_creates(backend: Backend) {
    let gh = FakeGithub::start().await;
    let app = TestApp::start_with_github(backend, &gh.url()).await;
    app.install(REPO).await;
    let now = Utc::now();
    let runs = vec![
        rest_run(21, REPO, "completed", Some("success"), now - chrono::Duration::hours(2)),
        rest_run(22, REPO, "in_progress", None, now - chrono::Duration::minutes(3)),
    ];
    runs_listing(&gh, REPO, runs, Duration::ZERO).await;
    let entry = |id: &str, repo: &str, status: &str| {
        json!({"pipeline_id": id, "repository": repo, "workflow_file": WORKFLOW, "status": status,
               "created_at": "2026-01-05T10:30:00Z", "config": {}})
    };
    let registry =
        json!([entry("pipe_0000000000a1", REPO, "active"), entry("pipe_0000000000b2", "octo/retired", "inactive"),]);
    let reply = app.post("/api/pipelines/import", registry.clone()).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let results = reply.body["results"].as_array().unwrap();
    assert_eq!(results[0]["result"], "created");
    assert_eq!(results[0]["backfill"]["status"], "running", "{}", reply.body);
    // A torn-down pipeline's history is not fetched.
    assert_eq!(results[1]["result"], "created");
    assert_eq!(results[1].get("backfill"), None, "{}", reply.body);

    let job = app.wait_job(results[0]["backfill"]["job_id"].as_i64().unwrap()).await;
    assert_eq!(job.status.as_str(), "done", "{:?}", job.last_error);
    let stats = app.get("/api/pipelines/pipe_0000000000a1/stats").await.body;
    let s = &stats["stats"];
    assert_eq!(s["backfill_in_progress"], false);
    assert_eq!(s["metrics_24h"]["run_count"], 1, "{s}");
    assert_eq!(s["active_runs"], 1, "{s}");
    assert_eq!(gh.requests_to("GET", "/repos/octo/retired/actions/workflows/deploy.yml/runs").await.len(), 0);

    // Importing the same registry again creates nothing and fetches nothing more.
    let again = app.post("/api/pipelines/import", registry).await;
    assert_eq!(again.body["created"], 0, "{}", again.body);
    assert!(again.body["results"].as_array().unwrap().iter().all(|r| r.get("backfill").is_none()));
    assert_eq!(gh.requests_to("GET", "/repos/octo/app/actions/workflows/deploy.yml/runs").await.len(), 1);
}

async fn provision_asks_github_for_the_installation(backend: Backend) {
    let gh = FakeGithub::start().await;
    let app = TestApp::start_with_github(backend, &gh.url()).await;
    gh.installed_on(REPO).await;
    workflow_exists(&gh, REPO).await;
    runs_listing(&gh, REPO, vec![], Duration::ZERO).await;
    let reply = provision(&app).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body["repository_verified"], true);
    // Remembered: the next lookup needs no call.
    assert_eq!(app.store().installation_for_repository(REPO).await.unwrap(), Some(INSTALLATION_ID as i64));
}

async fn provision_refuses_uninstalled_repositories_and_missing_workflows(backend: Backend) {
    let gh = FakeGithub::start().await;
    let app = TestApp::start_with_github(backend, &gh.url()).await;
    Mock::given(method("GET"))
        .and(path("/repos/octo/elsewhere/installation"))
        .and(AppJwt)
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})))
        .mount(&gh.server)
        .await;
    let reply =
        app.post("/api/pipelines/provision", json!({"repo": "octo/elsewhere", "workflow_file": WORKFLOW})).await;
    assert_eq!(reply.status, 404, "{}", reply.body);
    assert_eq!(reply.body["error"], "Repository not found or App not installed: octo/elsewhere");

    app.install(REPO).await;
    FakeGithub::repo_call("GET", format!("/repos/{REPO}/contents/{WORKFLOW}"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})))
        .mount(&gh.server)
        .await;
    FakeGithub::repo_call("GET", format!("/repos/{REPO}"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"full_name": REPO})))
        .mount(&gh.server)
        .await;
    let reply = provision(&app).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.body["error"], format!("Workflow file not found in {REPO}: {WORKFLOW}"));
    assert_eq!(app.get("/api/pipelines").await.body["count"], 0);
}

async fn without_an_app_ccm_runs_and_says_so(backend: Backend) {
    let app = TestApp::start(backend).await;
    let reply = provision(&app).await;
    assert_eq!(reply.status, 201);
    assert_eq!(reply.body["repository_verified"], false);
    assert!(reply.body["message"].as_str().unwrap().contains("GitHub App is not configured"));
    let id = reply.body["pipeline_id"].as_str().unwrap();
    let trigger = app.post(&format!("/api/pipelines/{id}/trigger"), json!({"ref": "main"})).await;
    assert_eq!(trigger.status, 503);
    assert_eq!(trigger.body["code"], "github_not_configured");
    assert!(trigger.body["error"].as_str().unwrap().starts_with("The GitHub App is not configured"));
    let rollback = app.post(&format!("/api/pipelines/{id}/rollback"), json!({})).await;
    assert_eq!(rollback.body["code"], "github_not_configured");
    let health = app.get("/api/integrations/github/health").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body["github"]["configured"], false);
    let teardown = app.delete(&format!("/api/pipelines/{id}")).await;
    assert_eq!(teardown.status, 200);
    assert_eq!(teardown.body["runs_cancel_requested"], 0);
}

async fn provisioned_pipeline(app: &TestApp, gh: &FakeGithub) -> String {
    app.install(REPO).await;
    workflow_exists(gh, REPO).await;
    runs_listing(gh, REPO, vec![], Duration::ZERO).await;
    let reply = provision(app).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    app.wait_job(reply.body["backfill"]["job_id"].as_i64().unwrap()).await;
    reply.body["pipeline_id"].as_str().unwrap().to_string()
}

async fn teardown_cancels_open_runs_and_reports_them(backend: Backend) {
    let gh = FakeGithub::start().await;
    let app = TestApp::start_with_github(backend, &gh.url()).await;
    let id = provisioned_pipeline(&app, &gh).await;
    let now = Utc::now();
    app.store().upsert_execution(&run(201, REPO, "main", now, chrono::Duration::seconds(60), None, 0)).await.unwrap();
    let mut queued = run(202, REPO, "main", now, chrono::Duration::seconds(30), None, 0);
    queued.status = "queued".into();
    app.store().upsert_execution(&queued).await.unwrap();
    app.store()
        .upsert_execution(&run(200, REPO, "main", now, chrono::Duration::hours(1), Some("success"), 60))
        .await
        .unwrap();
    FakeGithub::repo_call("POST", format!("/repos/{REPO}/actions/runs/201/cancel"))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({})))
        .expect(1)
        .mount(&gh.server)
        .await;
    // Already finished on GitHub's side: not an error.
    FakeGithub::repo_call("POST", format!("/repos/{REPO}/actions/runs/202/cancel"))
        .respond_with(
            ResponseTemplate::new(409)
                .set_body_json(json!({"message": "Cannot cancel a workflow run that is completed."})),
        )
        .expect(1)
        .mount(&gh.server)
        .await;

    let reply = app.delete(&format!("/api/pipelines/{id}")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["status"], "inactive");
    assert_eq!(reply.body["runs_cancel_requested"], 2);
    assert_eq!(reply.body["cancel_error"], Value::Null);
    for job in reply.body["cancel_jobs"].as_array().unwrap() {
        let job = app.wait_job(job.as_i64().unwrap()).await;
        assert_eq!(job.status.as_str(), "done", "{:?}", job.last_error);
    }
    gh.server.verify().await;
}

async fn trigger_dispatches_the_workflow(backend: Backend) {
    let gh = FakeGithub::start().await;
    let app = TestApp::start_with_github(backend, &gh.url()).await;
    let id = provisioned_pipeline(&app, &gh).await;
    FakeGithub::repo_call("POST", format!("/repos/{REPO}/actions/workflows/deploy.yml/dispatches"))
        .and(body_json(json!({"ref": "release", "inputs": {"version": "1.2.3"}})))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&gh.server)
        .await;
    let reply = app
        .post(&format!("/api/pipelines/{id}/trigger"), json!({"ref": "release", "inputs": {"version": "1.2.3"}}))
        .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let job_id = reply.body["job_id"].as_i64().unwrap();
    assert_eq!(app.wait_job(job_id).await.status.as_str(), "done");
    let shown = app.get(&format!("/api/integrations/github/jobs/{job_id}")).await;
    assert_eq!(shown.body["job"]["status"], "done");
    assert_eq!(shown.body["job"]["kind"], "dispatch_workflow");
    // Bad bodies are refused before anything is queued.
    let bad = app.post(&format!("/api/pipelines/{id}/trigger"), json!({"ref": "main", "inputs": {"x": [1]}})).await;
    assert_eq!(bad.status, 400);
    gh.server.verify().await;
}

async fn rollback_reruns_the_last_success_and_records_it(backend: Backend) {
    let gh = FakeGithub::start().await;
    let app = TestApp::start_with_github(backend, &gh.url()).await;
    let id = provisioned_pipeline(&app, &gh).await;
    let none = app.post(&format!("/api/pipelines/{id}/rollback"), json!({})).await;
    assert_eq!(none.status, 409, "{}", none.body);

    let now = Utc::now();
    let store = app.store();
    store
        .upsert_execution(&run(300, REPO, "main", now, chrono::Duration::hours(3), Some("success"), 60))
        .await
        .unwrap();
    store
        .upsert_execution(&run(301, REPO, "main", now, chrono::Duration::hours(2), Some("success"), 60))
        .await
        .unwrap();
    store
        .upsert_execution(&run(302, REPO, "main", now, chrono::Duration::hours(1), Some("failure"), 60))
        .await
        .unwrap();
    FakeGithub::repo_call("POST", format!("/repos/{REPO}/actions/runs/301/rerun"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({})))
        .expect(1)
        .mount(&gh.server)
        .await;
    let reply = app.post(&format!("/api/pipelines/{id}/rollback"), json!({"reason": "bad deploy"})).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(reply.body["previous_execution"]["run_id"], 301);
    assert_eq!(reply.body["rolled_back_execution"]["run_id"], 302);
    assert_eq!(app.wait_job(reply.body["job_id"].as_i64().unwrap()).await.status.as_str(), "done");

    let details = app.get(&format!("/api/pipelines/{id}")).await;
    let executions = details.body["executions"].as_array().unwrap();
    let failed = executions.iter().find(|e| e["run_id"] == 302).unwrap();
    let good = executions.iter().find(|e| e["run_id"] == 301).unwrap();
    assert_eq!(failed["rolled_back"], true);
    assert_eq!(failed["rollback_reason"], "bad deploy");
    assert_eq!(failed["rollback_previous_execution_id"], good["id"]);
    assert_eq!(good["rolled_back"], false);
    let audit = app.get(&format!("/api/audit?pipeline_id={id}&action=pipeline.rollback")).await;
    assert_eq!(audit.body["count"], 1);
    gh.server.verify().await;
}

async fn insert_delivery(db: &TestDb, backend: Backend, guid: &str) {
    let now = Utc::now();
    match backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            sqlx::query(
                "INSERT INTO deliveries (guid, event, received_at, headers, body, body_size, status) \
                 VALUES ($1, 'push', $2, '{}', x'00', 1, 'processed')",
            )
            .bind(guid)
            .bind(now)
            .execute(&pool)
            .await
            .unwrap();
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            sqlx::query(
                "INSERT INTO deliveries (guid, event, received_at, headers, body, body_size, status) \
                 VALUES ($1, 'push', $2, '{}'::jsonb, '\\x00'::bytea, 1, 'processed')",
            )
            .bind(guid)
            .bind(now)
            .execute(&pool)
            .await
            .unwrap();
        }
    }
}

fn delivery(id: i64, guid: &str, ago_minutes: i64, status_code: i64) -> Value {
    let at = Utc::now() - chrono::Duration::minutes(ago_minutes);
    json!({
        "id": id, "guid": guid, "delivered_at": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "redelivery": false, "duration": 0.1, "status": if status_code == 200 { "OK" } else { "failed" },
        "status_code": status_code, "event": "workflow_run", "action": "completed"
    })
}

async fn recovery_redelivers_exactly_the_missed_guids(backend: Backend) {
    let gh = FakeGithub::start().await;
    let app = TestApp::start_with_github(backend, &gh.url()).await;
    insert_delivery(&app.db, backend, "g-stored-failed").await;
    // Newest first, over two pages.
    let page1 = vec![
        delivery(10, "g-ok", 1, 200),
        delivery(9, "g-missed", 2, 502),
        delivery(8, "g-stored-failed", 3, 500),
        delivery(7, "g-later-ok", 4, 200),
        delivery(6, "g-later-ok", 5, 0),
    ];
    let page2 = vec![
        delivery(5, "g-missed-older", 60, 0),
        delivery(4, "g-missed-older", 61, 503),
        // Beyond GitHub's 3-day window: cannot be redelivered, and ends the scan.
        delivery(3, "g-too-old", 3 * 24 * 60 + 5, 500),
    ];
    let next = format!("<{}/app/hook/deliveries?per_page=100&cursor=p2>; rel=\"next\"", gh.url());
    Mock::given(method("GET"))
        .and(path("/app/hook/deliveries"))
        .and(query_param("cursor", "p2"))
        .and(AppJwt)
        .respond_with(ResponseTemplate::new(200).set_body_json(page2))
        .with_priority(1)
        .mount(&gh.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/app/hook/deliveries"))
        .and(AppJwt)
        .respond_with(ResponseTemplate::new(200).set_body_json(page1).insert_header("link", next.as_str()))
        .with_priority(2)
        .mount(&gh.server)
        .await;
    Mock::given(method("POST"))
        .and(wiremock::matchers::path_regex(r"^/app/hook/deliveries/\d+/attempts$"))
        .and(AppJwt)
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({})))
        .mount(&gh.server)
        .await;

    let scan = outbox::enqueue(app.gh(), OutboxTask::RecoverDeliveries {}, None).await.unwrap();
    let job = app.wait_job(scan).await;
    assert_eq!(job.status.as_str(), "done", "{:?}", job.last_error);
    assert_eq!(job.result.unwrap().0["redeliveries_queued"], json!(["g-missed", "g-missed-older"]));
    // Every job the scan queued has been run (the scan and the two redeliveries): whatever ccm
    // was going to ask GitHub, it has asked.
    let settled = app.outbox_settled().await;
    assert_eq!((settled.done, settled.failed), (3, 0), "{settled:?}");
    let mut asked: Vec<String> = gh
        .server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path().ends_with("/attempts"))
        .map(|r| r.url.path().to_string())
        .collect();
    asked.sort();
    // The newest failed attempt of each missed GUID, nothing else.
    assert_eq!(asked, vec!["/app/hook/deliveries/5/attempts", "/app/hook/deliveries/9/attempts"]);
    // The scan remembers how far it looked.
    assert!(app.store().get_state(ccm::github::recovery::CURSOR_KEY).await.unwrap().is_some());
}

async fn stuck_runs_are_reread_and_corrected(backend: Backend) {
    let gh = FakeGithub::start().await;
    let mut config = test_config(&gh.url());
    config.stuck_run_after = Duration::from_secs(600);
    let app = TestApp::start_with_github_config(backend, config).await;
    app.install(REPO).await;
    let now = Utc::now();
    let stuck = run(500, REPO, "main", now, chrono::Duration::hours(2), None, 0);
    let fresh = run(501, REPO, "main", now, chrono::Duration::minutes(1), None, 0);
    app.store().upsert_execution(&stuck).await.unwrap();
    app.store().upsert_execution(&fresh).await.unwrap();
    FakeGithub::repo_call("GET", format!("/repos/{REPO}/actions/runs/500/attempts/1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(rest_run(
            500,
            REPO,
            "completed",
            Some("success"),
            now - chrono::Duration::hours(2),
        )))
        .expect(1)
        .mount(&gh.server)
        .await;
    let scan = outbox::enqueue(app.gh(), OutboxTask::CorrectStuckRuns {}, None).await.unwrap();
    let job = app.wait_job(scan).await;
    assert_eq!(job.status.as_str(), "done", "{:?}", job.last_error);
    assert_eq!(job.result.unwrap().0, json!({"checked": 1, "corrected": 1}));
    let scope =
        ccm::store::ExecutionScope { repository: REPO.into(), workflow_path: WORKFLOW.into(), branches: vec![] };
    let runs = app.store().list_executions(&scope, 10, 0).await.unwrap().items;
    assert_eq!(runs.iter().find(|e| e.run_id == 500).unwrap().conclusion.as_ref().map(|c| c.as_str()), Some("success"));
    assert_eq!(runs.iter().find(|e| e.run_id == 501).unwrap().status.as_str(), "in_progress");
    // Checked once: a second scan leaves it alone.
    let again = outbox::enqueue(app.gh(), OutboxTask::CorrectStuckRuns {}, None).await.unwrap();
    assert_eq!(app.wait_job(again).await.result.unwrap().0["checked"], 0);
    gh.server.verify().await;
}

async fn dispatch_job(app: &TestApp) -> i64 {
    let task = OutboxTask::DispatchWorkflow {
        repo: REPO.into(),
        workflow_file: WORKFLOW.into(),
        git_ref: "main".into(),
        inputs: Default::default(),
    };
    outbox::enqueue(app.gh(), task, None).await.unwrap()
}

async fn retries_on_500_and_counts_in_health(backend: Backend) {
    let gh = FakeGithub::start().await;
    let app = TestApp::start_with_github(backend, &gh.url()).await;
    app.install(REPO).await;
    let responder = Recorded::new(
        vec![ResponseTemplate::new(500).set_body_json(json!({"message": "Server Error"}))],
        ResponseTemplate::new(204)
            .insert_header("x-ratelimit-limit", "5000")
            .insert_header("x-ratelimit-remaining", "4990")
            .insert_header("x-ratelimit-reset", (Utc::now().timestamp() + 3600).to_string().as_str()),
    );
    FakeGithub::repo_call("POST", format!("/repos/{REPO}/actions/workflows/deploy.yml/dispatches"))
        .respond_with(responder.clone())
        .mount(&gh.server)
        .await;
    let job = app.wait_job(dispatch_job(&app).await).await;
    assert_eq!(job.status.as_str(), "done", "{:?}", job.last_error);
    assert_eq!(job.attempts, 2);
    assert_eq!(responder.times().len(), 2);

    let health = app.get("/api/integrations/github/health").await;
    let h = &health.body["github"];
    assert_eq!(h["configured"], true);
    assert_eq!(h["mode"], "app");
    assert_eq!(h["success_count"], 1, "{h}");
    assert_eq!(h["error_count"], 1);
    assert_eq!(h["success_rate"], 50.0);
    assert_eq!(h["consecutive_failures"], 0);
    assert_eq!(h["paused"], false);
    assert!(h["last_error"].as_str().unwrap().contains("500"), "{h}");
    assert_eq!(h["rate_limit"]["limit"], 5000);
    assert_eq!(h["rate_limit"]["remaining"], 4990);
    assert_eq!(h["outbox"]["done"], 1);
    // No secret reaches the health report.
    let text = health.body.to_string();
    assert!(!text.contains(INSTALLATION_TOKEN) && !text.contains("PRIVATE KEY"));
}

async fn waits_on_403_retry_after(backend: Backend) {
    let gh = FakeGithub::start().await;
    let app = TestApp::start_with_github(backend, &gh.url()).await;
    app.install(REPO).await;
    let responder = Recorded::new(
        vec![
            ResponseTemplate::new(403)
                .insert_header("retry-after", "2")
                .set_body_json(json!({"message": "You have exceeded a secondary rate limit."})),
        ],
        ResponseTemplate::new(204),
    );
    FakeGithub::repo_call("POST", format!("/repos/{REPO}/actions/workflows/deploy.yml/dispatches"))
        .respond_with(responder.clone())
        .mount(&gh.server)
        .await;
    let id = dispatch_job(&app).await;
    wait_until("the first attempt", async || !responder.times().is_empty()).await;
    let health = app.get("/api/integrations/github/health").await;
    assert_eq!(health.body["github"]["rate_limited"], true, "{}", health.body);
    let job = app.wait_job(id).await;
    assert_eq!(job.status.as_str(), "done");
    let times = responder.times();
    assert_eq!(times.len(), 2);
    assert!(times[1] - times[0] >= Duration::from_millis(1900), "retried after {:?}", times[1] - times[0]);
    // The wait was not counted as an attempt.
    assert_eq!(job.attempts, 1);
}

async fn waits_on_an_exhausted_rate_limit(backend: Backend) {
    let gh = FakeGithub::start().await;
    let app = TestApp::start_with_github(backend, &gh.url()).await;
    app.install(REPO).await;
    let reset = Utc::now().timestamp() + 3;
    let responder = Recorded::new(
        vec![
            ResponseTemplate::new(204)
                .insert_header("x-ratelimit-limit", "5000")
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", reset.to_string().as_str()),
        ],
        ResponseTemplate::new(204).insert_header("x-ratelimit-remaining", "4999"),
    );
    FakeGithub::repo_call("POST", format!("/repos/{REPO}/actions/workflows/deploy.yml/dispatches"))
        .respond_with(responder.clone())
        .mount(&gh.server)
        .await;
    let first = app.wait_job(dispatch_job(&app).await).await;
    assert_eq!(first.status.as_str(), "done");
    let health = app.get("/api/integrations/github/health").await;
    assert_eq!(health.body["github"]["rate_limit"]["remaining"], 0);
    assert_eq!(health.body["github"]["rate_limited"], true);
    // Inline calls are refused at once rather than sent.
    let inline = app.gh().client.call(As::Installation(INSTALLATION_ID), Method::Get, "/repos/octo/app", None).await;
    assert!(matches!(inline, Err(ccm::github::GhError::RateLimited(_))), "{inline:?}");

    let second = app.wait_job(dispatch_job(&app).await).await;
    assert_eq!(second.status.as_str(), "done");
    let times = responder.times();
    assert_eq!(times.len(), 2);
    let sent_at = Utc::now() - chrono::Duration::from_std(times[1].elapsed()).unwrap();
    assert!(sent_at.timestamp() >= reset, "sent before the reset");
}

async fn pauses_after_five_failures_and_resumes_by_itself(backend: Backend) {
    let gh = FakeGithub::start().await;
    let mut config = test_config(&gh.url());
    config.max_attempts = 20;
    config.retry_base = Duration::from_millis(50);
    config.retry_max = Duration::from_secs(2);
    config.pause_base = Duration::from_millis(1500);
    let app = TestApp::start_with_github_config(backend, config).await;
    app.install(REPO).await;
    let failures: Vec<ResponseTemplate> =
        (0..5).map(|_| ResponseTemplate::new(502).set_body_json(json!({"message": "Bad Gateway"}))).collect();
    let responder = Recorded::new(failures, ResponseTemplate::new(204));
    FakeGithub::repo_call("POST", format!("/repos/{REPO}/actions/workflows/deploy.yml/dispatches"))
        .respond_with(responder.clone())
        .mount(&gh.server)
        .await;
    let id = dispatch_job(&app).await;
    wait_until("five failures", async || responder.times().len() >= 5).await;
    let health = app.get("/api/integrations/github/health").await;
    let h = &health.body["github"];
    assert_eq!(h["paused"], true, "{h}");
    assert_eq!(h["consecutive_failures"], 5);
    assert!(h["paused_until"].is_string());

    let job = app.wait_job(id).await;
    assert_eq!(job.status.as_str(), "done", "{:?}", job.last_error);
    let times = responder.times();
    assert_eq!(times.len(), 6);
    assert!(times[5] - times[4] >= Duration::from_millis(1400), "resumed after {:?}", times[5] - times[4]);
    let health = app.get("/api/integrations/github/health").await;
    assert_eq!(health.body["github"]["paused"], false);
    assert_eq!(health.body["github"]["consecutive_failures"], 0);
}

/// A job row as an older or newer version may have left it, written past the typed API.
async fn insert_raw_job(db: &TestDb, backend: Backend, kind: &str, payload: Value) -> i64 {
    let sql = "INSERT INTO outbox_jobs (kind, payload, status, attempts, max_attempts, next_attempt_at, \
                 created_at, updated_at) VALUES ($1, $2, 'pending', 0, 5, $3, $3, $3) RETURNING id";
    let (payload, now) = (sqlx::types::Json(payload), Utc::now());
    match backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            sqlx::query_scalar(sql).bind(kind).bind(payload).bind(now).fetch_one(&pool).await.unwrap()
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            sqlx::query_scalar(sql).bind(kind).bind(payload).bind(now).fetch_one(&pool).await.unwrap()
        }
    }
}

async fn unreadable_jobs_fail_and_the_worker_goes_on(backend: Backend) {
    let gh = FakeGithub::start().await;
    let app = TestApp::start_with_github(backend, &gh.url()).await;
    app.install(REPO).await;
    let unknown = insert_raw_job(&app.db, backend, "send_email", json!({"to": "x"})).await;
    let malformed = insert_raw_job(&app.db, backend, "cancel_run", json!({"repo": REPO})).await;
    for (id, kind, reason) in [(unknown, "send_email", "unknown variant"), (malformed, "cancel_run", "run_id")] {
        let job = app.wait_job(id).await;
        assert_eq!(job.status.as_str(), "failed");
        assert_eq!(job.attempts, 1, "not retried");
        let error = job.last_error.unwrap_or_default();
        assert!(error.contains(kind) && error.contains(reason), "{error}");
        let shown = app.get(&format!("/api/integrations/github/jobs/{id}")).await;
        assert_eq!(shown.body["job"]["kind"], kind);
        assert_eq!(shown.body["job"]["status"], "failed");
    }
    FakeGithub::repo_call("POST", format!("/repos/{REPO}/actions/workflows/deploy.yml/dispatches"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&gh.server)
        .await;
    let job = app.wait_job(dispatch_job(&app).await).await;
    assert_eq!(job.status.as_str(), "done", "{:?}", job.last_error);
}

// Not database-bound: authentication and registration.

#[actix_web::test]
async fn installation_tokens_are_cached_and_renewed() {
    // A token valid for an hour is fetched once for many calls.
    let gh = FakeGithub::start().await;
    FakeGithub::repo_call("GET", format!("/repos/{REPO}"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"full_name": REPO})))
        .mount(&gh.server)
        .await;
    let client = ccm::github::GithubClient::new(test_config(&gh.url())).unwrap().unwrap();
    for _ in 0..3 {
        let reply =
            client.call(As::Installation(INSTALLATION_ID), Method::Get, &format!("/repos/{REPO}"), None).await.unwrap();
        assert_eq!(reply.status, 200);
    }
    let path = format!("/app/installations/{INSTALLATION_ID}/access_tokens");
    assert_eq!(gh.requests_to("POST", &path).await.len(), 1);

    // A token about to expire (inside the 30 s renewal margin) is renewed before the next call.
    let server = wiremock::MockServer::start().await;
    FakeGithub::mount_token(&server, 20).await;
    let short = FakeGithub { server };
    FakeGithub::repo_call("GET", format!("/repos/{REPO}"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"full_name": REPO})))
        .mount(&short.server)
        .await;
    let client = ccm::github::GithubClient::new(test_config(&short.url())).unwrap().unwrap();
    for _ in 0..2 {
        client.call(As::Installation(INSTALLATION_ID), Method::Get, &format!("/repos/{REPO}"), None).await.unwrap();
    }
    assert_eq!(short.requests_to("POST", &path).await.len(), 2);
    // Repository calls never carry the app JWT, and token requests always do (checked by the
    // mocks' matchers); a call with a wrong key is refused by the fake.
}

#[actix_web::test]
async fn a_jwt_signed_with_another_key_is_refused() {
    let gh = FakeGithub::start().await;
    Mock::given(method("GET"))
        .and(path("/app"))
        .and(AppJwt)
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": APP_ID})))
        .mount(&gh.server)
        .await;
    let client = ccm::github::GithubClient::new(test_config(&gh.url())).unwrap().unwrap();
    assert_eq!(client.call(As::App, Method::Get, "/app", None).await.unwrap().status, 200);

    // Another key: the fake's signature check fails (404 from the unmatched mock).
    let other = OTHER_KEY.to_string();
    let mut config = test_config(&gh.url());
    config.credentials =
        Some(ccm::github::Credentials::App { app_id: APP_ID, private_key: ccm::github::config::Secret(other) });
    let client = ccm::github::GithubClient::new(config).unwrap().unwrap();
    assert_eq!(client.call(As::App, Method::Get, "/app", None).await.unwrap().status, 404);
}

#[actix_web::test]
async fn registration_exchanges_the_code_and_stores_the_app() {
    let gh = FakeGithub::start().await;
    Mock::given(method("POST"))
        .and(path("/app-manifests/abc123/conversions"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": 991, "slug": "ccm-test", "html_url": "https://github.com/apps/ccm-test",
            "owner": {"login": "octo"}, "pem": TEST_KEY, "webhook_secret": "whsec_test",
            "client_id": "Iv1.x", "client_secret": "cs"
        })))
        .expect(1)
        .mount(&gh.server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let options = ccm::github::register::RegisterOptions {
        data_dir: dir.path().join("data"),
        api_url: gh.url(),
        web_url: Some("https://github.example".into()),
        public_url: "https://ccm.example.org".into(),
        org: Some("octo-org".into()),
        name: None,
        listen: "127.0.0.1:0".into(),
        force: false,
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let flow = tokio::spawn(ccm::github::register::run(options, move |url| {
        tx.send(url.to_string()).unwrap();
    }));
    let base = rx.await.unwrap();
    let http = reqwest::Client::new();
    let page = http.get(&base).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("https://github.example/organizations/octo-org/settings/apps/new?state="), "{page}");
    assert!(page.contains("https://ccm.example.org/webhooks/github"));
    let state = page.split("state=").nth(1).unwrap().split('"').next().unwrap().to_string();
    assert_eq!(state.len(), 32);

    // A wrong state is refused, and nothing is exchanged.
    let wrong = http.get(format!("{base}/callback?code=abc123&state=nope")).send().await.unwrap();
    assert_eq!(wrong.status(), 400);
    let ok = http.get(format!("{base}/callback?code=abc123&state={state}")).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    let app = flow.await.unwrap().unwrap();
    assert_eq!(app.app_id, 991);

    use std::os::unix::fs::PermissionsExt;
    let data = dir.path().join("data");
    for file in ["github-app.pem", "github-webhook-secret", "github-app.json"] {
        let mode = std::fs::metadata(data.join(file)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file}");
    }
    assert_eq!(std::fs::read_to_string(data.join("github-webhook-secret")).unwrap().trim(), "whsec_test");
    // `ccm serve` finds the App in the data folder.
    let config = ccm::github::GithubSettings::default().validate(&data).unwrap();
    assert!(matches!(config.credentials, Some(ccm::github::Credentials::App { app_id: 991, .. })));
    gh.server.verify().await;
}
