//! Per-run actions (cancel, re-run, re-run the failed jobs) against the fake GitHub: each queued
//! in the outbox, audited, and its GitHub call made; refused before anything is queued where
//! GitHub would refuse it. On SQLite and on PostgreSQL.

use crate::github_app::{REPO, provisioned_pipeline};
use crate::helpers::github::*;
use crate::helpers::*;
use chrono::{Duration, Utc};
use serde_json::json;
use wiremock::ResponseTemplate;

on_both_databases!(each_run_action_calls_github_once, run_actions_github_would_refuse_are_refused_here);

async fn each_run_action_calls_github_once(backend: Backend) {
    let gh = FakeGithub::start().await;
    let app = TestApp::start_with_github(backend, &gh.url()).await;
    let id = provisioned_pipeline(&app, &gh).await;
    let now = Utc::now();
    let store = app.store();
    store.upsert_execution(&run(401, REPO, "main", now, Duration::minutes(5), None, 0)).await.unwrap();
    store.upsert_execution(&run(402, REPO, "main", now, Duration::hours(1), Some("failure"), 60)).await.unwrap();
    for (call, status) in [("401/cancel", 202), ("402/rerun", 201), ("402/rerun-failed-jobs", 201)] {
        FakeGithub::repo_call("POST", format!("/repos/{REPO}/actions/runs/{call}"))
            .respond_with(ResponseTemplate::new(status).set_body_json(json!({})))
            .expect(1)
            .mount(&gh.server)
            .await;
    }
    for (run_id, action, audited) in [
        (401, "cancel", "execution.cancel"),
        (402, "rerun", "execution.rerun"),
        (402, "rerun-failed-jobs", "execution.rerun_failed_jobs"),
    ] {
        let reply = app.post(&format!("/api/pipelines/{id}/executions/{run_id}/1/{action}"), json!({})).await;
        assert_eq!(reply.status, 202, "{action}: {}", reply.body);
        assert_eq!((reply.body["run_id"].as_i64(), reply.body["action"].as_str()), (Some(run_id), Some(audited)));
        let job = app.wait_job(reply.body["job_id"].as_i64().unwrap()).await;
        assert_eq!(job.status.as_str(), "done", "{action}: {:?}", job.last_error);
        let audit = app.get(&format!("/api/audit?pipeline_id={id}&action={audited}")).await;
        assert_eq!(audit.body["count"], 1, "{action}: {}", audit.body);
        assert_eq!(audit.body["entries"][0]["details"]["run_id"], run_id, "{}", audit.body);
    }
    gh.server.verify().await;
}

async fn run_actions_github_would_refuse_are_refused_here(backend: Backend) {
    let gh = FakeGithub::start().await;
    let app = TestApp::start_with_github(backend, &gh.url()).await;
    let id = provisioned_pipeline(&app, &gh).await;
    let now = Utc::now();
    let store = app.store();
    store.upsert_execution(&run(501, REPO, "main", now, Duration::minutes(5), None, 0)).await.unwrap();
    store.upsert_execution(&run(502, REPO, "main", now, Duration::hours(1), Some("success"), 60)).await.unwrap();
    // A run of another repository is not this pipeline's, nor one on a branch it does not follow.
    store
        .upsert_execution(&run(503, "octo/other", "main", now, Duration::hours(1), Some("failure"), 60))
        .await
        .unwrap();
    store.upsert_execution(&run(504, REPO, "feature", now, Duration::hours(1), Some("failure"), 60)).await.unwrap();
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path_regex(r"/actions/runs/"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .named("no run action reaches GitHub")
        .mount(&gh.server)
        .await;
    let refused = [
        ("502/1/cancel", 409, "Run 502 attempt 1 is already completed: nothing to cancel"),
        ("501/1/rerun", 409, "Run 501 attempt 1 is still in_progress: cancel it or wait for it to complete"),
        ("502/1/rerun-failed-jobs", 409, "Run 502 attempt 1 has no failed jobs to re-run (it ended success)"),
        ("503/1/rerun", 404, "Execution not found in pipeline"),
        ("504/1/rerun", 404, "Execution not found in pipeline"),
        ("502/2/rerun", 404, "Execution not found in pipeline"),
        ("x/1/rerun", 404, "Execution not found in pipeline"),
    ];
    for (path, status, message) in refused {
        let reply = app.post(&format!("/api/pipelines/{id}/executions/{path}"), json!({})).await;
        assert_eq!(reply.status, status, "{path}: {}", reply.body);
        assert!(reply.body["error"].as_str().unwrap().starts_with(message), "{path}: {}", reply.body);
    }
    let unknown = app.post("/api/pipelines/pipe_000000000000/executions/502/1/rerun", json!({})).await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    let audit = app.get(&format!("/api/audit?pipeline_id={id}&action=execution.rerun")).await;
    assert_eq!(audit.body["count"], 0, "nothing refused is audited: {}", audit.body);
    gh.server.verify().await;
}
