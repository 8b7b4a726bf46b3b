//! `GET /api/pipelines/{id}/executions/{run_id}/{attempt}/jobs`: the jobs of one of a pipeline's
//! runs, as the dashboard's pipeline page shows them.

use crate::helpers::{Backend, TestApp, workflow_job, workflow_run};
use chrono::{Duration, Utc};
use serde_json::json;

on_both_databases!(lists_the_jobs_of_a_run_in_start_order, refuses_runs_that_are_not_the_pipelines);

const REPO: &str = "octo-org/jobs";

async fn lists_the_jobs_of_a_run_in_start_order(backend: Backend) {
    let app = TestApp::start(backend).await;
    let id = app.provision(REPO, ".github/workflows/deploy.yml", json!({})).await;
    let now = Utc::now();
    let started = now - Duration::minutes(5);
    assert_eq!(
        app.deliver("workflow_run", "j-1", &workflow_run(40, 1, REPO, "main", "in_progress", None, started, now))
            .await
            .status,
        200
    );
    let later = now - Duration::minutes(1);
    let earlier = now - Duration::minutes(4);
    app.deliver("workflow_job", "j-2", &workflow_job(402, 40, REPO, "deploy", "in_progress", None, later)).await;
    app.deliver("workflow_job", "j-3", &workflow_job(401, 40, REPO, "build", "completed", Some("success"), earlier))
        .await;

    let reply = app.get(&format!("/api/pipelines/{id}/executions/40/1/jobs")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.body;
    assert_eq!(body["pipeline_id"], id.as_str());
    assert_eq!(
        (body["execution"]["run_id"].clone(), body["execution"]["status"].clone()),
        (json!(40), json!("in_progress"))
    );
    assert_eq!(body["count"], 2);
    let jobs = body["jobs"].as_array().unwrap();
    let names: Vec<_> = jobs.iter().map(|j| j["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["build", "deploy"], "{body}");
    assert_eq!((jobs[0]["status"].clone(), jobs[0]["conclusion"].clone()), (json!("completed"), json!("success")));
    assert_eq!((jobs[1]["status"].clone(), jobs[1]["conclusion"].clone()), (json!("in_progress"), json!(null)));
    assert_eq!(jobs[0]["runner_name"], "runner-1");

    // A run without jobs yet: an empty list, not an error.
    app.deliver("workflow_run", "j-4", &workflow_run(41, 1, REPO, "main", "queued", None, now, now)).await;
    let empty = app.get(&format!("/api/pipelines/{id}/executions/41/1/jobs")).await;
    assert_eq!((empty.status, empty.body["count"].clone()), (200, json!(0)), "{}", empty.body);
}

async fn refuses_runs_that_are_not_the_pipelines(backend: Backend) {
    let app = TestApp::start(backend).await;
    let id = app.provision(REPO, ".github/workflows/deploy.yml", json!({"trigger_branches": ["main"]})).await;
    let now = Utc::now();
    app.deliver("workflow_run", "r-1", &workflow_run(50, 1, REPO, "main", "completed", Some("success"), now, now))
        .await;
    app.deliver("workflow_run", "r-2", &workflow_run(51, 1, REPO, "feature", "completed", Some("success"), now, now))
        .await;
    app.deliver(
        "workflow_run",
        "r-3",
        &workflow_run(52, 1, "someone/else", "main", "completed", Some("success"), now, now),
    )
    .await;
    assert_eq!(app.get(&format!("/api/pipelines/{id}/executions/50/1/jobs")).await.status, 200);

    for (path, why) in [
        (format!("/api/pipelines/{id}/executions/51/1/jobs"), "a branch outside the trigger branches"),
        (format!("/api/pipelines/{id}/executions/52/1/jobs"), "another repository's run"),
        (format!("/api/pipelines/{id}/executions/50/2/jobs"), "an attempt that does not exist"),
        (format!("/api/pipelines/{id}/executions/abc/1/jobs"), "a run id that is not a number"),
        ("/api/pipelines/pipe_000000000000/executions/50/1/jobs".to_string(), "an unknown pipeline"),
    ] {
        let reply = app.get(&path).await;
        assert_eq!((reply.status, reply.body["code"].as_str()), (404, Some("not_found")), "{why}: {}", reply.body);
        assert!(reply.body["error"].as_str().unwrap().contains("not found"), "{why}: {}", reply.body);
    }
    let anonymous =
        app.send(reqwest::Method::GET, &format!("/api/pipelines/{id}/executions/50/1/jobs"), None, None).await;
    assert_eq!(anonymous.status, 401);
    let post = app.post(&format!("/api/pipelines/{id}/executions/50/1/jobs"), json!({})).await;
    assert_eq!(post.status, 405);
}
