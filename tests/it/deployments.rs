//! Deployments from GitHub's `deployment` and `deployment_status` events (issue 19, item 1): each
//! deployment with its states over time, the run that made it, each environment's latest in the
//! pipeline's details, and a return to an earlier sha marked as a rollback. On SQLite and on
//! PostgreSQL.

use crate::helpers::*;
use serde_json::{Value, json};

on_both_databases!(deployments_keep_their_states_and_rollbacks, deployments_belong_to_the_workflow_that_made_them);

const REPO: &str = "Octo/Shop";

fn deployment(id: i64, environment: &str, sha: &str, minute: u32, run: Option<i64>) -> Value {
    json!({
        "id": id, "sha": sha, "ref": "main", "task": "deploy", "environment": environment,
        "description": null, "creator": {"login": "octocat"},
        "created_at": format!("2026-01-05T10:{minute:02}:00Z"), "updated_at": format!("2026-01-05T10:{minute:02}:00Z"),
    })
    .as_object()
    .cloned()
    .map(|mut d| {
        if let Some(run) = run {
            d.insert("_run".into(), json!(run));
        }
        Value::Object(d)
    })
    .unwrap()
}

fn created(d: &Value) -> Vec<u8> {
    let run = d.get("_run").map(|r| json!({"id": r, "run_attempt": 1}));
    json!({"action": "created", "deployment": d, "workflow_run": run, "repository": {"full_name": REPO}})
        .to_string()
        .into_bytes()
}

fn status(d: &Value, id: i64, state: &str, minute: u32) -> Vec<u8> {
    json!({
        "action": "created",
        "deployment_status": {"id": id, "state": state, "description": format!("{state}!"),
            "target_url": "https://shop.example.com", "log_url": format!("https://github.com/{REPO}/actions/runs/1"),
            "created_at": format!("2026-01-05T10:{minute:02}:30Z")},
        "deployment": d,
        "repository": {"full_name": REPO}
    })
    .to_string()
    .into_bytes()
}

async fn deployments_keep_their_states_and_rollbacks(backend: Backend) {
    let app = TestApp::start(backend).await;
    let id = app.provision(REPO, WORKFLOW, json!({})).await;
    // production: aaa ok, bbb ok, ccc fails, then aaa again (a rollback of bbb and ccc);
    // staging: ddd in progress. As GitHub does, each success turns the one before inactive.
    let plan = [
        (1, "production", "aaa", 0, Some(501), &[(11, "in_progress"), (12, "success"), (13, "inactive")][..]),
        (2, "production", "bbb", 10, Some(502), &[(21, "success"), (22, "inactive")][..]),
        (3, "production", "ccc", 20, None, &[(31, "queued"), (32, "failure")][..]),
        (4, "staging", "ddd", 25, None, &[(41, "in_progress")][..]),
        (5, "production", "aaa", 30, None, &[(51, "success")][..]),
    ];
    for (deployment_id, environment, sha, minute, run, statuses) in plan {
        let d = deployment(deployment_id, environment, sha, minute, run);
        let reply = app.deliver("deployment", &format!("dep-{deployment_id}"), &created(&d)).await;
        assert_eq!(reply.body["status"], "processed", "{}", reply.body);
        // Statuses sent out of order: the latest by time is the deployment's state.
        for (status_id, state) in statuses.iter().rev() {
            let at = minute + (*status_id as u32 % 10);
            let reply =
                app.deliver("deployment_status", &format!("st-{status_id}"), &status(&d, *status_id, state, at)).await;
            assert_eq!(reply.body["status"], "processed", "{}", reply.body);
        }
    }
    // A status delivered twice (GitHub redelivers) is one state.
    let d1 = deployment(1, "production", "aaa", 0, Some(501));
    app.deliver("deployment_status", "st-12-again", &status(&d1, 12, "success", 2)).await;

    let listed = app.get(&format!("/api/pipelines/{id}/deployments")).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.body["count"], 5);
    let all = listed.body["deployments"].as_array().unwrap();
    let ids: Vec<i64> = all.iter().map(|d| d["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [5, 4, 3, 2, 1], "newest first");
    let by_id = |id: i64| all.iter().find(|d| d["id"] == id).unwrap().clone();
    let first = by_id(1);
    assert_eq!(
        (first["state"].as_str(), first["run_id"].as_i64(), first["ref"].as_str()),
        (Some("inactive"), Some(501), Some("main"))
    );
    let states: Vec<&str> =
        first["statuses"].as_array().unwrap().iter().map(|s| s["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["in_progress", "success", "inactive"], "in time order, the redelivery counted once");
    assert_eq!(first["statuses"][1]["url"], format!("https://github.com/{REPO}/actions/runs/1"));
    assert_eq!(by_id(3)["state"], "failure");
    // Replaced since, 1 and 2 are inactive; a rollback still counts what they shipped.
    assert_eq!(by_id(2)["state"], "inactive");
    assert_eq!(by_id(2)["rolled_back_by"], 5);
    assert_eq!(by_id(3)["rolled_back_by"], 5);
    assert_eq!(by_id(5)["rolled_back_by"], Value::Null);
    assert_eq!(by_id(4)["state"], "in_progress");

    let staging = app.get(&format!("/api/pipelines/{id}/deployments?environment=staging")).await;
    assert_eq!(staging.body["count"], 1);
    // A page past the first still judges rollbacks from the newer deployments.
    let second = app.get(&format!("/api/pipelines/{id}/deployments?environment=production&limit=2&offset=1")).await;
    let page: Vec<(i64, Value)> = second.body["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["id"].as_i64().unwrap(), d["rolled_back_by"].clone()))
        .collect();
    assert_eq!(page, [(3, json!(5)), (2, json!(5))]);

    let details = app.get(&format!("/api/pipelines/{id}")).await;
    let environments: Vec<(String, i64)> = details.body["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["environment"].as_str().unwrap().to_string(), d["id"].as_i64().unwrap()))
        .collect();
    assert_eq!(environments, [("production".to_string(), 5), ("staging".to_string(), 4)]);
    assert_eq!(app.get("/api/pipelines/pipe_000000000000/deployments").await.status, 404);
    assert_eq!(app.get(&format!("/api/pipelines/{id}/deployments?limit=0")).await.status, 400);
}

/// The `deployment` body of a production deployment created `minutes` ago and linked to `run`,
/// and the `deployment_status` body of its success a minute later.
fn shipped(id: i64, sha: &str, minutes: i64, run: Option<i64>) -> (Vec<u8>, Vec<u8>) {
    let at = |minutes| ccm::domain::clock::format(&(chrono::Utc::now() - chrono::Duration::minutes(minutes)));
    let d = json!({
        "id": id, "sha": sha, "ref": "main", "task": "deploy", "environment": "production",
        "description": null, "creator": {"login": "octocat"}, "created_at": at(minutes), "updated_at": at(minutes),
    });
    let run = run.map(|r| json!({"id": r, "run_attempt": 1}));
    let created = json!({"action": "created", "deployment": d, "workflow_run": run, "repository": {"full_name": REPO}});
    let success = json!({
        "action": "created",
        "deployment_status": {"id": id * 10, "state": "success", "description": null, "target_url": null,
            "log_url": null, "created_at": at(minutes - 1)},
        "deployment": d, "repository": {"full_name": REPO}
    });
    (created.to_string().into_bytes(), success.to_string().into_bytes())
}

/// A repository with two workflows: a deployment belongs to the workflow whose run made it; one
/// made by hand, or by a run ccm never saw, to both.
async fn deployments_belong_to_the_workflow_that_made_them(backend: Backend) {
    const CI: &str = ".github/workflows/ci.yml";
    let app = TestApp::start(backend).await;
    let deploy = app.provision(REPO, WORKFLOW, json!({})).await;
    let ci = app.provision(REPO, CI, json!({})).await;
    let now = chrono::Utc::now();
    let started = now - chrono::Duration::minutes(60);
    let deploy_run = workflow_run(601, 1, REPO, "main", "completed", Some("success"), started, started);
    let mut ci_run: Value =
        serde_json::from_slice(&workflow_run(602, 1, REPO, "main", "completed", Some("success"), started, started))
            .unwrap();
    ci_run["workflow_run"]["path"] = json!(CI);
    for (guid, body) in [("run-601", deploy_run), ("run-602", ci_run.to_string().into_bytes())] {
        assert_eq!(app.deliver("workflow_run", guid, &body).await.body["status"], "processed");
    }
    // 10 by deploy.yml's run, 11 by ci.yml's (the latest), 12 by hand, 13 by an unknown run.
    for (id, sha, minutes, run) in
        [(10, "p1", 50, Some(601)), (12, "h1", 40, None), (13, "u1", 30, Some(999)), (11, "c1", 20, Some(602))]
    {
        let (created, success) = shipped(id, sha, minutes, run);
        assert_eq!(app.deliver("deployment", &format!("dep-{id}"), &created).await.body["status"], "processed");
        let reply = app.deliver("deployment_status", &format!("st-{id}"), &success).await;
        assert_eq!(reply.body["status"], "processed", "{}", reply.body);
    }

    for (pipeline, expected, latest) in [(&deploy, [13, 12, 10], 13), (&ci, [11, 13, 12], 11)] {
        let listed = app.get(&format!("/api/pipelines/{pipeline}/deployments")).await;
        let ids: Vec<i64> =
            listed.body["deployments"].as_array().unwrap().iter().map(|d| d["id"].as_i64().unwrap()).collect();
        assert_eq!((ids.as_slice(), listed.body["count"].as_i64()), (&expected[..], Some(3)), "{pipeline}");
        let details = app.get(&format!("/api/pipelines/{pipeline}")).await;
        assert_eq!(details.body["environments"][0]["id"], latest, "{pipeline}: {}", details.body["environments"]);
        let report = app.get(&format!("/api/pipelines/{pipeline}/report?days=2")).await;
        let production = &report.body["deployment"]["environments"][0];
        assert_eq!(
            (production["deployments"].as_i64(), production["successful"].as_i64()),
            (Some(3), Some(3)),
            "{pipeline}: {production}"
        );
        // Only the workflow's own run measures a lead time (from its start, an hour ago); the
        // other two have no run to measure from. (Two days: an hour ago may be yesterday.)
        assert_eq!(
            (production["lead_time"]["samples"].as_i64(), production["lead_time"]["unmeasured"].as_i64()),
            (Some(1), Some(2)),
            "{pipeline}: {production}"
        );
    }
}
