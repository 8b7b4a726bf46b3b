//! ccm as a GitHub App, against a fake GitHub on loopback (wiremock) that checks the app JWT's
//! signature against the test key's public half and requires the installation token on
//! repository calls; on SQLite and on PostgreSQL.

use std::time::Duration;

use crate::helpers::github::*;
use crate::helpers::*;
use ccm::domain::outbox::OutboxTask;
use ccm::github::outbox;
use chrono::Utc;
use serde_json::{Value, json};
use wiremock::matchers::{body_json, method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

pub(super) const REPO: &str = "octo/app";

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
);

pub(super) async fn workflow_exists(gh: &FakeGithub, repo: &str) {
    FakeGithub::repo_call("GET", format!("/repos/{repo}/contents/{WORKFLOW}"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"type": "file", "path": WORKFLOW})))
        .mount(&gh.server)
        .await;
}

pub(super) async fn runs_listing(gh: &FakeGithub, repo: &str, runs: Vec<Value>, delay: Duration) {
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

pub(super) async fn provisioned_pipeline(app: &TestApp, gh: &FakeGithub) -> String {
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
