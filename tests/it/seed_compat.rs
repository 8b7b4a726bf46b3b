//! What the seed systems' clients do, answered as they expect: a provision retried after a lost
//! answer, the DevOps tool's `PUT` and `{"branch": ...}` trigger, and CommandCenter's paths;
//! against the real app (and the fake GitHub) on SQLite and on PostgreSQL.

use crate::helpers::github::*;
use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};
use wiremock::ResponseTemplate;
use wiremock::matchers::body_json;

on_both_databases!(
    a_provision_retried_after_a_lost_answer_gets_the_first_answer,
    a_retried_provision_with_github_names_the_same_backfill,
    put_replaces_every_mutable_field,
    trigger_takes_the_devops_tools_branch,
    commandcenter_paths_answer_as_ccms_own,
);

fn without_existing(body: &Value) -> Value {
    let mut body = body.clone();
    body.as_object_mut().unwrap().remove("existing");
    body
}

async fn a_provision_retried_after_a_lost_answer_gets_the_first_answer(backend: Backend) {
    let app = TestApp::start(backend).await;
    // The VPS manager's Python client's body: it treats anything but 201 as a failure.
    let body = json!({"repo": "myuser/myapp", "workflow_file": WORKFLOW, "linked_domain": "myapp.com",
        "linked_app": "myapp", "config": {"trigger_branches": ["production"], "environment": "production",
        "auto_deploy": true}});
    let first = app.post("/api/pipelines/provision", body.clone()).await;
    assert_eq!((first.status, first.body["existing"].as_bool()), (201, Some(false)), "{}", first.body);
    let again = app.post("/api/pipelines/provision", body.clone()).await;
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!((again.body["existing"].as_bool(), again.body["reactivated"].as_bool()), (Some(true), Some(false)));
    assert_eq!(without_existing(&again.body), without_existing(&first.body));
    assert_eq!(app.get("/api/pipelines").await.body["count"], 1);
    let id = first.body["pipeline_id"].as_str().unwrap();
    let audit = app.get(&format!("/api/audit?pipeline_id={id}")).await;
    assert_eq!(audit.body["count"], 1, "nothing written the second time: {}", audit.body);

    // Anything else about it differs: still the conflict it was.
    for change in [
        json!({"linked_app": "other"}),
        json!({"config": {"trigger_branches": ["main"]}}),
        json!({"linked_domain": null}),
        json!({"repo": "MyUser/MyApp"}),
    ] {
        let mut other = body.clone();
        for (k, v) in change.as_object().unwrap() {
            other[k] = v.clone();
        }
        let reply = app.post("/api/pipelines/provision", other).await;
        assert_eq!((reply.status, reply.body["pipeline_id"].as_str()), (409, Some(id)), "{change}: {}", reply.body);
    }
    // Once changed (PATCH), the first provision is no longer what the pipeline is.
    assert_eq!(app.patch(&format!("/api/pipelines/{id}"), json!({"linked_app": "renamed"})).await.status, 200);
    assert_eq!(app.post("/api/pipelines/provision", body.clone()).await.status, 409);

    // A reactivation retried: the second answer names the same pipeline, existing this time.
    assert_eq!(app.delete(&format!("/api/pipelines/{id}")).await.status, 200);
    let reactivated = app.post("/api/pipelines/provision", body.clone()).await;
    assert_eq!((reactivated.status, reactivated.body["reactivated"].as_bool()), (201, Some(true)));
    let again = app.post("/api/pipelines/provision", body).await;
    assert_eq!((again.status, again.body["existing"].as_bool()), (201, Some(true)), "{}", again.body);
    assert_eq!((again.body["pipeline_id"].as_str(), again.body["reactivated"].as_bool()), (Some(id), Some(false)));
}

async fn a_retried_provision_with_github_names_the_same_backfill(backend: Backend) {
    let gh = FakeGithub::start().await;
    let repo = "octo/verified";
    FakeGithub::repo_call("GET", format!("/repos/{repo}/contents/{WORKFLOW}"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"type": "file"})))
        .mount(&gh.server)
        .await;
    // The backfill's read of the runs does not answer yet: the first backfill is still running
    // when the retry comes, as it is when an answer was lost a moment ago.
    FakeGithub::repo_call("GET", format!("/repos/{repo}/actions/workflows/deploy.yml/runs"))
        .respond_with(ResponseTemplate::new(200).set_delay(std::time::Duration::from_secs(120)))
        .mount(&gh.server)
        .await;
    let app = TestApp::start_with_github(backend, &gh.url()).await;
    app.install(repo).await;
    let body = json!({"repo": repo, "workflow_file": WORKFLOW});
    let first = app.post("/api/pipelines/provision", body.clone()).await;
    assert_eq!((first.status, first.body["repository_verified"].as_bool()), (201, Some(true)), "{}", first.body);
    assert_eq!(first.body["backfill"]["status"], "running", "{}", first.body);
    let again = app.post("/api/pipelines/provision", body).await;
    assert_eq!((again.status, again.body["existing"].as_bool()), (201, Some(true)), "{}", again.body);
    assert_eq!(without_existing(&again.body), without_existing(&first.body));
}

async fn put_replaces_every_mutable_field(backend: Backend) {
    let app = TestApp::start(backend).await;
    let provision = json!({"repo": "octo/devops", "workflow_file": WORKFLOW, "linked_domain": "app.example.com",
        "linked_app": "app", "config": {"trigger_branches": ["main"], "environment": "production"}});
    let id = app.post("/api/pipelines/provision", provision).await.body["pipeline_id"].as_str().unwrap().to_string();
    let path = format!("/api/pipelines/{id}");
    let put = |body: Value| app.send(Method::PUT, &path, Some(body), Some(TOKEN));

    // The DevOps tool's own update: its fields are kept in the config, the rest is replaced.
    let reply = put(json!({"port": 8081, "subdomain": "newapp"})).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let p = &reply.body["pipeline"];
    assert_eq!(p["config"], json!({"port": 8081, "subdomain": "newapp"}));
    assert_eq!(p["vps_integration"], json!({"linked_domain": null, "linked_app": null}));
    assert_eq!(app.stats(&id).await["pipeline_id"], id.as_str());

    // A pipeline as GET shows it round-trips, changed where the caller changed it.
    let mut shown = app.get(&path).await.body["pipeline"].clone();
    shown["config"] = json!({"trigger_branches": ["release"], "environment": "staging"});
    shown["vps_integration"]["linked_domain"] = json!("new.example.com");
    let reply = put(shown.clone()).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let p = &reply.body["pipeline"];
    assert_eq!(p["config"], json!({"trigger_branches": ["release"], "environment": "staging"}));
    assert_eq!(p["vps_integration"], json!({"linked_domain": "new.example.com", "linked_app": null}));
    assert_eq!(p["created_at"], shown["created_at"]);

    // What names the pipeline stays: a PUT cannot move or deactivate it.
    for (field, value) in [("repository", "octo/elsewhere"), ("status", "inactive"), ("workflow_file", "x")] {
        let mut body = shown.clone();
        body[field] = json!(value);
        let reply = put(body).await;
        assert_eq!(reply.status, 400, "{field}: {}", reply.body);
        assert!(reply.body["error"].as_str().unwrap().contains(&format!("'{field}' cannot be changed")));
    }
    let reply = put(json!({"trigger_branches": (0..51).map(|i| format!("b{i}")).collect::<Vec<_>>()})).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    let reply = app.send(Method::PUT, "/api/pipelines/pipe_000000000000", Some(json!({})), Some(TOKEN)).await;
    assert_eq!(reply.status, 404);
    assert_eq!(app.get(&path).await.body["pipeline"]["config"]["environment"], "staging", "unchanged by refusals");

    // PATCH still merges.
    let reply = app.patch(&path, json!({"config": {"region": "eu"}})).await;
    assert_eq!(reply.body["pipeline"]["config"]["environment"], "staging");
    assert_eq!(reply.body["pipeline"]["config"]["region"], "eu");
    let audit = app.get(&format!("/api/audit?pipeline_id={id}&action=pipeline.replaced")).await;
    assert_eq!(audit.body["count"], 2, "{}", audit.body);
}

async fn trigger_takes_the_devops_tools_branch(backend: Backend) {
    let gh = FakeGithub::start().await;
    let app = TestApp::start_with_github(backend, &gh.url()).await;
    let repo = "myorg/devops";
    app.install(repo).await;
    let id = "pipe_5e5e5e5e5e5f";
    let entry = json!({"pipeline_id": id, "repository": repo, "workflow_file": WORKFLOW, "status": "active",
        "config": {"trigger_branches": ["release"]}});
    assert_eq!(app.post("/api/pipelines/import", json!([entry])).await.body["created"], 1);
    FakeGithub::repo_call("POST", format!("/repos/{repo}/actions/workflows/deploy.yml/dispatches"))
        .and(body_json(json!({"ref": "main"})))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&gh.server)
        .await;
    let reply = app.post(&format!("/api/pipelines/{id}/trigger"), json!({"branch": "main"})).await;
    assert_eq!((reply.status, reply.body["ref"].as_str()), (202, Some("main")), "{}", reply.body);
    let job = app.wait_job(reply.body["job_id"].as_i64().unwrap()).await;
    assert_eq!(job.status.as_str(), "done", "{:?}", job.last_error);
    gh.server.verify().await;
}

async fn commandcenter_paths_answer_as_ccms_own(backend: Backend) {
    let gh = FakeGithub::start().await;
    let repo = "my-org/my-repo";
    let issue = json!({"number": 123, "id": 9123, "node_id": "I_123", "title": "From GitHub", "body": "",
        "state": "open", "labels": [{"name": "urgent"}], "updated_at": "2026-01-05T10:30:00Z",
        "html_url": format!("https://github.com/{repo}/issues/123")});
    FakeGithub::repo_call("GET", format!("/repos/{repo}/issues/123"))
        .respond_with(ResponseTemplate::new(200).set_body_json(issue))
        .mount(&gh.server)
        .await;
    FakeGithub::repo_call("POST", format!("/repos/{repo}/issues"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "number": 124, "node_id": "I_124", "html_url": format!("https://github.com/{repo}/issues/124"),
            "state": "open", "updated_at": "2026-01-05T10:31:00Z"})))
        .mount(&gh.server)
        .await;
    let app = TestApp::start_with_github(backend, &gh.url()).await;
    app.install(repo).await;

    // The health check, without a token, as CommandCenter's GitHub Action calls it.
    let health = app.send(Method::GET, "/api/v1/health", None, None).await;
    assert_eq!((health.status, health.body.clone()), (200, app.send(Method::GET, "/healthz", None, None).await.body));

    // GitHub's hook pointed at CommandCenter: the same receiver, the same signature check.
    let run = workflow_run(41, 1, repo, "main", "completed", Some("success"), chrono::Utc::now(), chrono::Utc::now());
    let signature = ccm::webhook::signature::sign(SECRET.as_bytes(), &run);
    let deliver = |guid: &'static str, signature: String| {
        app.client
            .post(format!("{}/api/v1/integrations/github/webhook", app.base))
            .header("X-GitHub-Event", "workflow_run")
            .header("X-GitHub-Delivery", guid)
            .header("X-Hub-Signature-256", signature)
            .header("Content-Type", "application/json")
            .body(run.clone())
            .send()
    };
    let accepted = reply(deliver("cc-1", signature).await.unwrap()).await;
    assert_eq!((accepted.status, accepted.body["status"].as_str()), (200, Some("processed")), "{}", accepted.body);
    assert_eq!(app.get("/api/deliveries/cc-1").await.status, 200);
    let refused = reply(deliver("cc-2", "sha256=00".into()).await.unwrap()).await;
    assert_eq!((refused.status, refused.body["code"].as_str()), (401, Some("invalid_signature")));

    // The sync calls under an integration id (ccm has one integration: any id names it).
    let base = "/api/v1/integrations/7/github/sync";
    let body = json!({"issue_number": 123, "repository": {"owner": "my-org", "name": "my-repo"}});
    let unauthenticated = app.send(Method::POST, &format!("{base}/issue-to-task"), Some(body.clone()), None).await;
    assert_eq!(unauthenticated.status, 401);
    let synced = app.post(&format!("{base}/issue-to-task"), body).await;
    assert_eq!(synced.status, 200, "{}", synced.body);
    assert_eq!(
        (synced.body["action"].as_str(), synced.body["task"]["priority"].as_str()),
        (Some("created"), Some("high"))
    );
    let task = app.post("/api/tasks", json!({"title": "Write the report"})).await.body["task"]["id"].clone();
    let body = json!({"task_id": task, "repository": {"owner": "my-org", "name": "my-repo"}});
    let written = app.post(&format!("{base}/task-to-issue"), body).await;
    assert_eq!(written.status, 200, "{}", written.body);
    assert_eq!(
        written.body,
        json!({"issue_number": 124, "url": format!("https://github.com/{repo}/issues/124"), "action": "created"})
    );
    let unknown = app.post(&format!("{base}/task-to-issue"), json!({"task_id": task, "repo": "x"})).await;
    assert_eq!(unknown.status, 400, "the same checks: {}", unknown.body);
}
