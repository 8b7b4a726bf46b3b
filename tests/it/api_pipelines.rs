//! The CCM pipeline API over HTTP against the real app, on SQLite and on PostgreSQL.

use crate::helpers::*;
use chrono::Duration;
use reqwest::Method;
use serde_json::{Value, json};

on_both_databases!(
    provision_answers_201_with_a_pipe_id,
    provision_names_every_missing_field,
    provision_rejects_invalid_values_with_json_errors,
    provision_rejects_bad_media_and_oversized_bodies,
    second_provision_is_409_naming_the_existing_pipeline,
    teardown_then_provision_reactivates_with_id_and_history,
    list_filters_and_pages,
    list_pages_by_cursor_and_keeps_counts,
    list_includes_each_pipelines_stats_on_request,
    details_show_config_link_and_executions,
    patch_changes_config_branches_and_links,
    stats_follow_a_change_of_trigger_branches_at_once,
    teardown_deactivates_and_is_idempotent,
    teardown_refuses_deleting_repositories,
    unknown_pipeline_is_404_everywhere,
    tokens_are_required_and_rotatable,
    unknown_routes_and_methods_are_json_errors,
    audit_log_records_who_did_what,
    health_and_readiness,
    failed_writes_lose_nothing,
);

async fn provision_answers_201_with_a_pipe_id(backend: Backend) {
    let app = TestApp::start(backend).await;
    let reply = app
        .post(
            "/api/pipelines/provision",
            json!({
                "repo": "owner/repository-name",
                "workflow_file": WORKFLOW,
                "config": {"trigger_branches": ["production", "main"], "environment": "production",
                           "auto_deploy": true, "notifications_enabled": true},
                "linked_domain": "example.com",
                "linked_app": "my-app"
            }),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let body = &reply.body;
    assert_eq!(body["success"], true);
    assert_eq!(body["status"], "active");
    assert_eq!(body["repository"], "owner/repository-name");
    let id = body["pipeline_id"].as_str().unwrap();
    assert!(ccm::domain::pipeline::is_pipeline_id(id), "{id}");
    let created = body["created_at"].as_str().unwrap();
    assert!(created.ends_with('Z') && created.len() == 20, "{created}");
    assert_eq!(body["vps_integration"], json!({"linked_domain": "example.com", "linked_app": "my-app"}));

    let stored = app.store().get_pipeline(id).await.unwrap().unwrap();
    assert_eq!(stored.workflow_file, WORKFLOW);
    assert_eq!(stored.trigger_branches(), vec!["production", "main"]);
    assert_eq!(stored.config.0["environment"], "production");
}

async fn provision_names_every_missing_field(backend: Backend) {
    let app = TestApp::start(backend).await;
    for (body, message) in [
        (json!({}), "Missing required fields: repo, workflow_file"),
        (json!({"repo": "o/r"}), "Missing required fields: workflow_file"),
        (json!({"workflow_file": WORKFLOW, "repo": ""}), "Missing required fields: repo"),
        (
            json!({"repo": null, "workflow_file": null, "linked_domain": "x.com"}),
            "Missing required fields: repo, workflow_file",
        ),
    ] {
        let reply = app.post("/api/pipelines/provision", body.clone()).await;
        assert_eq!(reply.status, 400, "{body}");
        assert_eq!(reply.body["success"], false);
        assert_eq!(reply.body["error"], message);
    }
    assert_eq!(app.get("/api/pipelines").await.body["count"], 0);
}

async fn provision_rejects_invalid_values_with_json_errors(backend: Backend) {
    let app = TestApp::start(backend).await;
    for (body, needle) in [
        (json!({"repo": "not-a-repo", "workflow_file": WORKFLOW}), "Invalid repo 'not-a-repo'"),
        (json!({"repo": "o/r/x", "workflow_file": WORKFLOW}), "Invalid repo"),
        (json!({"repo": "o/r", "workflow_file": "deploy.yml"}), "Invalid workflow_file 'deploy.yml'"),
        (json!({"repo": "o/r", "workflow_file": ".github/workflows/deploy.sh"}), "Invalid workflow_file"),
        (json!({"repo": 42, "workflow_file": WORKFLOW}), "Field 'repo' must be a string, got a number"),
        (json!({"repo": "o/r", "workflow_file": WORKFLOW, "config": []}), "Field 'config' must be an object"),
        (
            json!({"repo": "o/r", "workflow_file": WORKFLOW, "linked_domain": true}),
            "Field 'linked_domain' must be a string",
        ),
        (json!(["o/r", WORKFLOW]), "Request body must be a JSON object"),
    ] {
        let reply = app.post("/api/pipelines/provision", body.clone()).await;
        assert_eq!(reply.status, 400, "{body}");
        assert_eq!(reply.body["success"], false);
        assert_eq!(reply.body["code"], "bad_request");
        let error = reply.body["error"].as_str().unwrap();
        assert!(error.contains(needle), "{error:?} should contain {needle:?}");
    }
    // Malformed JSON: a JSON error naming the problem, not actix's plain text.
    let res = app
        .client
        .post(format!("{}/api/pipelines/provision", app.base))
        .header("CCM-Token", TOKEN)
        .header("Content-Type", "application/json")
        .body("{\"repo\": ")
        .send()
        .await
        .unwrap();
    let reply = reply(res).await;
    assert_eq!(reply.status, 400);
    assert!(reply.body["error"].as_str().unwrap().starts_with("Malformed JSON body"), "{}", reply.body);
    assert_eq!(app.get("/api/pipelines").await.body["count"], 0);
}

async fn provision_rejects_bad_media_and_oversized_bodies(backend: Backend) {
    let app = TestApp::start(backend).await;
    let url = format!("{}/api/pipelines/provision", app.base);
    let res = app
        .client
        .post(&url)
        .header("CCM-Token", TOKEN)
        .header("Content-Type", "text/plain")
        .body(json!({"repo": "o/r", "workflow_file": WORKFLOW}).to_string())
        .send()
        .await
        .unwrap();
    let r = reply(res).await;
    assert_eq!(r.status, 415);
    assert_eq!(r.body["success"], false);
    assert!(r.body["error"].as_str().unwrap().contains("application/json"));

    // A body over the limit is refused on its declared length, before it is read (on the one
    // listener the connection then closes at once, so the body is not sent here).
    let head = [
        ("CCM-Token", TOKEN.to_string()),
        ("Content-Type", "application/json".to_string()),
        ("Content-Length", (2 * 1024 * 1024).to_string()),
    ];
    let mut raw = crate::helpers::edge::RawClient::connect(&app.base).await;
    raw.head("POST", "/api/pipelines/provision", &head).await;
    let (status, _, body) = raw.answer().await;
    assert_eq!((status, body["success"].as_bool()), (413, Some(false)), "{body}");
    assert_eq!(body["code"], "payload_too_large");
}

async fn second_provision_is_409_naming_the_existing_pipeline(backend: Backend) {
    let app = TestApp::start(backend).await;
    let id = app.provision("Octo-Org/App", WORKFLOW, json!({})).await;
    // Repository names are case-insensitive on GitHub.
    let reply = app.post("/api/pipelines/provision", json!({"repo": "octo-org/app", "workflow_file": WORKFLOW})).await;
    assert_eq!(reply.status, 409);
    assert_eq!(reply.body["success"], false);
    assert_eq!(reply.body["pipeline_id"], id.as_str());
    assert!(reply.body["error"].as_str().unwrap().contains(&id), "{}", reply.body);
    // Another workflow of the same repository is another pipeline.
    let other = app.provision("octo-org/app", ".github/workflows/release.yaml", json!({})).await;
    assert_ne!(other, id);
    assert_eq!(app.get("/api/pipelines").await.body["count"], 2);
}

async fn teardown_then_provision_reactivates_with_id_and_history(backend: Backend) {
    let app = TestApp::start(backend).await;
    let id = app.provision("octo/app", WORKFLOW, json!({"environment": "staging"})).await;
    let now = ccm::domain::clock::now();
    app.store()
        .upsert_execution(&run(11, "octo/app", "main", now, Duration::hours(1), Some("success"), 60))
        .await
        .unwrap();
    assert_eq!(app.delete(&format!("/api/pipelines/{id}")).await.status, 200);

    let reply = app
        .post(
            "/api/pipelines/provision",
            json!({"repo": "octo/app", "workflow_file": WORKFLOW, "linked_domain": "new.example.com",
                   "config": {"environment": "production"}}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body["pipeline_id"], id.as_str());
    assert_eq!(reply.body["reactivated"], true);
    assert_eq!(reply.body["status"], "active");

    let details = app.get(&format!("/api/pipelines/{id}")).await.body;
    assert_eq!(details["pipeline"]["status"], "active");
    assert_eq!(details["pipeline"]["deactivated_at"], Value::Null);
    assert_eq!(details["pipeline"]["config"], json!({"environment": "production"}));
    assert_eq!(details["pipeline"]["vps_integration"]["linked_domain"], "new.example.com");
    assert_eq!(details["executions_count"], 1);
    assert_eq!(details["executions"][0]["run_id"], 11);
}

async fn list_filters_and_pages(backend: Backend) {
    let app = TestApp::start(backend).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.provision(&format!("octo/app-{i}"), WORKFLOW, json!({})).await);
    }
    app.delete(&format!("/api/pipelines/{}", ids[1])).await;

    let all = app.get("/api/pipelines").await.body;
    assert_eq!(all["success"], true);
    assert_eq!(all["count"], 5);
    let listed: Vec<&str> =
        all["pipelines"].as_array().unwrap().iter().map(|p| p["pipeline_id"].as_str().unwrap()).collect();
    assert_eq!(listed.len(), 5);
    for id in &ids {
        assert!(listed.contains(&id.as_str()));
    }
    let first = &all["pipelines"][0];
    for field in ["pipeline_id", "repository", "status", "created_at", "vps_integration"] {
        assert!(first.get(field).is_some(), "missing {field}");
    }
    assert!(
        first["vps_integration"].get("linked_domain").is_some() && first["vps_integration"].get("linked_app").is_some()
    );

    let active = app.get("/api/pipelines?status=active").await.body;
    assert_eq!(active["count"], 4);
    assert!(active["pipelines"].as_array().unwrap().iter().all(|p| p["status"] == "active"));
    let inactive = app.get("/api/pipelines?status=inactive").await.body;
    assert_eq!(inactive["count"], 1);
    assert_eq!(inactive["pipelines"][0]["pipeline_id"], ids[1].as_str());

    let by_repo = app.get("/api/pipelines?repository=OCTO/app-3").await.body;
    assert_eq!(by_repo["count"], 1);
    assert_eq!(by_repo["pipelines"][0]["pipeline_id"], ids[3].as_str());

    let page1 = app.get("/api/pipelines?limit=2&offset=0").await.body;
    let page3 = app.get("/api/pipelines?limit=2&offset=4").await.body;
    assert_eq!(page1["count"], 5);
    assert_eq!(page1["pipelines"].as_array().unwrap().len(), 2);
    assert_eq!(page3["pipelines"].as_array().unwrap().len(), 1);
    let beyond = app.get("/api/pipelines?limit=2&offset=10").await.body;
    assert_eq!(beyond["count"], 5);
    assert_eq!(beyond["pipelines"], json!([]));

    for bad in ["?status=paused", "?limit=0", "?limit=5000", "?offset=-1", "?limit=ten"] {
        let reply = app.get(&format!("/api/pipelines{bad}")).await;
        assert_eq!(reply.status, 400, "{bad}");
        assert_eq!(reply.body["success"], false);
    }
}

async fn list_pages_by_cursor_and_keeps_counts(backend: Backend) {
    let app = TestApp::start(backend).await;
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(app.provision(&format!("octo/keyset-{i}"), WORKFLOW, json!({})).await);
    }
    app.delete(&format!("/api/pipelines/{}", ids[2])).await;
    app.delete(&format!("/api/pipelines/{}", ids[5])).await;

    let ids_of = |body: &Value| -> Vec<String> {
        body["pipelines"].as_array().unwrap().iter().map(|p| p["pipeline_id"].as_str().unwrap().to_string()).collect()
    };
    let everything = app.get("/api/pipelines").await.body;
    assert_eq!(everything["next"], Value::Null, "a page that is not full has no next cursor");
    // Following `next` from page to page lists every pipeline once, in the unpaged order.
    for (filter, expected_count) in [("", 7), ("status=active&", 5), ("status=inactive&", 2)] {
        let unpaged = ids_of(&app.get(&format!("/api/pipelines?{filter}")).await.body);
        let mut paged = Vec::new();
        let mut path = format!("/api/pipelines?{filter}limit=2");
        loop {
            let page = app.get(&path).await.body;
            assert_eq!(page["count"], expected_count, "{path}");
            paged.extend(ids_of(&page));
            match page["next"].as_str() {
                Some(next) => path = format!("/api/pipelines?{filter}limit=2&after={next}"),
                None => break,
            }
        }
        assert_eq!(paged, unpaged, "{filter}");
        assert_eq!(paged.len(), expected_count);
    }
    // Reactivating moves a pipeline between the counts kept by the database.
    app.provision("octo/keyset-2", WORKFLOW, json!({})).await;
    assert_eq!(app.get("/api/pipelines?status=active").await.body["count"], 6);
    assert_eq!(app.get("/api/pipelines?status=inactive").await.body["count"], 1);
    assert_eq!(app.get("/api/pipelines").await.body["count"], 7);

    for bad in ["?after=nonsense", "?after=12.", "?after=x.pipe_1", "?after=1.pipe_1&offset=2"] {
        let reply = app.get(&format!("/api/pipelines{bad}")).await;
        assert_eq!(reply.status, 400, "{bad}");
        assert_eq!(reply.body["success"], false);
    }
}

async fn list_includes_each_pipelines_stats_on_request(backend: Backend) {
    let app = TestApp::start(backend).await;
    let plain = app.provision("octo/stats-a", WORKFLOW, json!({})).await;
    let branches = app.provision("octo/stats-b", WORKFLOW, json!({"trigger_branches": ["main"]})).await;
    let quiet = app.provision("octo/stats-c", WORKFLOW, json!({})).await;
    let now = ccm::domain::clock::now();
    let runs = [
        run(201, "octo/stats-a", "main", now, Duration::hours(2), Some("success"), 60),
        run(202, "octo/stats-a", "dev", now, Duration::hours(1), Some("failure"), 90),
        run(203, "octo/stats-a", "main", now, Duration::minutes(5), None, 0),
        run(204, "octo/stats-b", "main", now, Duration::hours(3), Some("success"), 120),
        run(205, "octo/stats-b", "feature", now, Duration::hours(1), Some("failure"), 30),
    ];
    for r in &runs {
        app.store().upsert_execution(r).await.unwrap();
    }
    app.store().start_backfill(&quiet).await.unwrap();

    let listed = app.get("/api/pipelines?include=stats").await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let pipelines = listed.body["pipelines"].as_array().unwrap();
    assert_eq!(pipelines.len(), 3);
    for p in pipelines {
        let id = p["pipeline_id"].as_str().unwrap();
        let alone = app.get(&format!("/api/pipelines/{id}/stats")).await.body;
        assert_eq!(p["stats"], alone["stats"], "{id}");
        assert_eq!(p["repository"], alone["stats"]["repository"]);
    }
    let by_id = |id: &str| pipelines.iter().find(|p| p["pipeline_id"] == id).unwrap()["stats"].clone();
    assert_eq!(by_id(&plain)["metrics_24h"]["run_count"], 2);
    assert_eq!(by_id(&plain)["active_runs"], 1);
    // Only the trigger branch counts.
    assert_eq!(by_id(&branches)["metrics_24h"]["run_count"], 1);
    assert_eq!(by_id(&branches)["metrics_24h"]["success_rate"], 100.0);
    assert_eq!(by_id(&quiet)["backfill_in_progress"], true);
    assert_eq!(by_id(&plain)["backfill_in_progress"], false);

    // Filters and paging as without stats; without `include` there are none.
    let page = app.get("/api/pipelines?include=stats&limit=1&offset=1").await.body;
    assert_eq!(page["count"], 3);
    assert_eq!(page["pipelines"].as_array().unwrap().len(), 1);
    assert_eq!(page["pipelines"][0]["pipeline_id"], pipelines[1]["pipeline_id"]);
    assert!(page["pipelines"][0]["stats"]["health_score"].is_number());
    let bare = app.get("/api/pipelines").await.body;
    assert!(bare["pipelines"].as_array().unwrap().iter().all(|p| p.get("stats").is_none()));
    let bad = app.get("/api/pipelines?include=runs").await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["error"], "include must be stats, got 'runs'");
}

async fn details_show_config_link_and_executions(backend: Backend) {
    let app = TestApp::start(backend).await;
    let id = app.provision("octo/app", WORKFLOW, json!({"trigger_branches": ["main"]})).await;
    let now = ccm::domain::clock::now();
    for i in 0..5 {
        let branch = if i == 4 { "feature" } else { "main" };
        app.store()
            .upsert_execution(&run(
                100 + i,
                "octo/app",
                branch,
                now,
                Duration::minutes(60 - i * 10),
                Some("success"),
                30,
            ))
            .await
            .unwrap();
    }
    let body = app.get(&format!("/api/pipelines/{id}?limit=2")).await.body;
    assert_eq!(body["pipeline"]["pipeline_id"], id.as_str());
    assert_eq!(body["pipeline"]["config"]["trigger_branches"], json!(["main"]));
    // Only the trigger branch counts; newest first.
    assert_eq!(body["executions_count"], 4);
    let runs: Vec<i64> = body["executions"].as_array().unwrap().iter().map(|e| e["run_id"].as_i64().unwrap()).collect();
    assert_eq!(runs, vec![103, 102]);
    let next = app.get(&format!("/api/pipelines/{id}?limit=2&offset=2")).await.body;
    let runs: Vec<i64> = next["executions"].as_array().unwrap().iter().map(|e| e["run_id"].as_i64().unwrap()).collect();
    assert_eq!(runs, vec![101, 100]);
    let e = &body["executions"][0];
    assert_eq!(e["status"], "completed");
    assert_eq!(e["conclusion"], "success");
    assert_eq!(e["duration_seconds"], 30);
    assert_eq!(e["branch"], "main");
}

async fn patch_changes_config_branches_and_links(backend: Backend) {
    let app = TestApp::start(backend).await;
    let reply = app
        .post(
            "/api/pipelines/provision",
            json!({"repo": "octo/app", "workflow_file": WORKFLOW, "linked_domain": "a.com", "linked_app": "a",
                   "config": {"environment": "production", "auto_deploy": true}}),
        )
        .await;
    let id = reply.body["pipeline_id"].as_str().unwrap().to_string();
    let path = format!("/api/pipelines/{id}");
    let reply = app
        .patch(
            &path,
            json!({"config": {"environment": "staging", "auto_deploy": null}, "trigger_branches": ["release"],
                   "linked_domain": "b.com", "linked_app": null}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let p = &reply.body["pipeline"];
    assert_eq!(p["config"], json!({"environment": "staging", "trigger_branches": ["release"]}));
    assert_eq!(p["vps_integration"], json!({"linked_domain": "b.com", "linked_app": null}));
    let stats = app.get(&format!("{path}/stats")).await.body;
    assert_eq!(stats["stats"]["trigger_branches"], json!(["release"]));

    for (body, needle) in [
        (json!({"status": "inactive"}), "Unknown field 'status'"),
        (json!({"trigger_branches": "main"}), "trigger_branches"),
        (json!({}), "Nothing to change"),
    ] {
        let reply = app.patch(&path, body).await;
        assert_eq!(reply.status, 400);
        assert!(reply.body["error"].as_str().unwrap().contains(needle), "{}", reply.body);
    }
    assert_eq!(app.patch("/api/pipelines/pipe_000000000000", json!({"linked_app": "x"})).await.status, 404);
}

/// A stats request reads the stats of the scope the pipeline had last time beside the pipeline
/// itself: after a change of trigger branches the next answer must already use the new ones.
async fn stats_follow_a_change_of_trigger_branches_at_once(backend: Backend) {
    let app = TestApp::start(backend).await;
    let id = app.provision("octo/app", WORKFLOW, json!({})).await;
    let now = ccm::domain::clock::now();
    for (run_id, branch, conclusion) in [(1, "main", "success"), (2, "main", "success"), (3, "dev", "failure")] {
        app.store()
            .upsert_execution(&run(run_id, "octo/app", branch, now, Duration::hours(1), Some(conclusion), 60))
            .await
            .unwrap();
    }
    let path = format!("/api/pipelines/{id}");
    let runs = |body: &Value| body["stats"]["metrics_24h"]["run_count"].as_i64().unwrap();
    for expected in [3, 3] {
        assert_eq!(runs(&app.get(&format!("{path}/stats")).await.body), expected);
    }
    for (branches, expected, rate) in [(json!(["dev"]), 1, 0.0), (json!(["main"]), 2, 100.0), (json!([]), 3, 66.7)] {
        let reply = app.patch(&path, json!({"trigger_branches": branches})).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let stats = app.get(&format!("{path}/stats")).await.body;
        assert_eq!(runs(&stats), expected, "trigger branches {branches}: {stats}");
        assert_eq!(stats["stats"]["metrics_24h"]["success_rate"], json!(rate), "{stats}");
        assert_eq!(runs(&app.get(&format!("{path}/stats")).await.body), expected);
    }
}

async fn teardown_deactivates_and_is_idempotent(backend: Backend) {
    let app = TestApp::start(backend).await;
    let id = app.provision("octo/app", WORKFLOW, json!({})).await;
    let reply = app.delete(&format!("/api/pipelines/{id}?preserve_repo=true")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        (reply.body["success"].clone(), reply.body["pipeline_id"].clone(), reply.body["message"].clone()),
        (json!(true), json!(id), json!("Pipeline deactivated, repository preserved"))
    );
    let stats = app.get(&format!("/api/pipelines/{id}/stats")).await.body;
    assert_eq!(stats["stats"]["status"], "inactive");

    let again = app.delete(&format!("/api/pipelines/{id}")).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["success"], true);
    assert_eq!(again.body["already_inactive"], true);
    assert!(again.body["message"].as_str().unwrap().contains("already inactive"));
}

async fn teardown_refuses_deleting_repositories(backend: Backend) {
    let app = TestApp::start(backend).await;
    let id = app.provision("octo/app", WORKFLOW, json!({})).await;
    let reply = app.delete(&format!("/api/pipelines/{id}?preserve_repo=false")).await;
    assert_eq!(reply.status, 400);
    assert!(reply.body["error"].as_str().unwrap().contains("never deletes repositories"));
    let reply = app.delete(&format!("/api/pipelines/{id}?preserve_repo=maybe")).await;
    assert_eq!(reply.status, 400);
    // Still active.
    assert_eq!(app.get(&format!("/api/pipelines/{id}")).await.body["pipeline"]["status"], "active");
}

async fn unknown_pipeline_is_404_everywhere(backend: Backend) {
    let app = TestApp::start(backend).await;
    for (method, path) in [
        (Method::GET, "/api/pipelines/pipe_invalid_id/stats"),
        (Method::GET, "/api/pipelines/pipe_invalid_id"),
        (Method::DELETE, "/api/pipelines/pipe_invalid_id"),
    ] {
        let reply = app.send(method, path, None, Some(TOKEN)).await;
        assert_eq!(reply.status, 404, "{path}");
        assert_eq!(
            reply.body,
            json!({"success": false, "error": "Pipeline not found: pipe_invalid_id", "code": "not_found"})
        );
    }
}

async fn tokens_are_required_and_rotatable(backend: Backend) {
    let app = TestApp::start(backend).await;
    let expected = json!({"success": false, "error": "Invalid CCM-Token", "code": "unauthorized"});
    for token in [None, Some(""), Some("wrong"), Some("test-token-012345678")] {
        for (method, path) in [
            (Method::GET, "/api/pipelines"),
            (Method::POST, "/api/pipelines/provision"),
            (Method::GET, "/api/pipelines/pipe_000000000000/stats"),
            (Method::DELETE, "/api/pipelines/pipe_000000000000"),
            (Method::GET, "/api/audit"),
            (Method::GET, "/api/nothing-here"),
        ] {
            let body = (method == Method::POST).then(|| json!({"repo": "o/r", "workflow_file": WORKFLOW}));
            let reply = app.send(method, path, body, token).await;
            assert_eq!(reply.status, 401, "{path} {token:?}");
            assert_eq!(reply.body, expected);
        }
    }
    assert_eq!(app.get("/api/pipelines").await.body["count"], 0, "nothing was provisioned without a token");
    // Both configured tokens work (rotation).
    let reply = app.send(Method::GET, "/api/pipelines", None, Some(OTHER_TOKEN)).await;
    assert_eq!(reply.status, 200);
}

async fn unknown_routes_and_methods_are_json_errors(backend: Backend) {
    let app = TestApp::start(backend).await;
    let reply = app.get("/api/nothing-here").await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.body["success"], false);
    assert_eq!(reply.body["error"], "No such endpoint: GET /api/nothing-here");
    let reply = app.send(Method::GET, "/nothing", None, None).await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.body["code"], "not_found");
    let reply = app.send(Method::PUT, "/api/pipelines", Some(json!({})), Some(TOKEN)).await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.body["code"], "method_not_allowed");
    let reply = app.send(Method::GET, "/api/pipelines/provision", None, Some(TOKEN)).await;
    assert_eq!(reply.status, 405);
    let reply = app.send(Method::POST, "/healthz", None, None).await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.body["success"], false);
    assert!(reply.headers.get("x-request-id").is_some());
}

async fn audit_log_records_who_did_what(backend: Backend) {
    let app = TestApp::start(backend).await;
    let id = app.provision("octo/app", WORKFLOW, json!({})).await;
    app.patch(&format!("/api/pipelines/{id}"), json!({"linked_app": "x"})).await;
    app.send(Method::DELETE, &format!("/api/pipelines/{id}"), None, Some(OTHER_TOKEN)).await;
    app.provision("octo/app", WORKFLOW, json!({})).await;
    app.provision("octo/other", WORKFLOW, json!({})).await;

    let log = app.get(&format!("/api/audit?pipeline_id={id}")).await.body;
    assert_eq!(log["count"], 4);
    let actions: Vec<&str> = log["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["pipeline.reactivated", "pipeline.deactivated", "pipeline.updated", "pipeline.provisioned"]);
    let actors: Vec<&str> = log["entries"].as_array().unwrap().iter().map(|e| e["actor"].as_str().unwrap()).collect();
    let (mine, other) = (ccm::http::Actor::fingerprint(TOKEN), ccm::http::Actor::fingerprint(OTHER_TOKEN));
    assert_eq!(actors, [mine.as_str(), other.as_str(), mine.as_str(), mine.as_str()]);
    let text = log.to_string();
    assert!(!text.contains(TOKEN) && !text.contains(OTHER_TOKEN), "a token leaked into the audit log");
    assert_eq!(log["entries"][3]["details"]["repository"], "octo/app");

    let all = app.get("/api/audit?limit=2").await.body;
    assert_eq!(all["count"], 5);
    assert_eq!(all["entries"].as_array().unwrap().len(), 2);
    let provisions = app.get("/api/audit?action=pipeline.provisioned").await.body;
    assert_eq!(provisions["count"], 2);
}

async fn health_and_readiness(backend: Backend) {
    let app = TestApp::start(backend).await;
    let reply = app.send(Method::GET, "/healthz", None, None).await;
    assert_eq!((reply.status, reply.body["status"].clone()), (200, json!("ok")));
    let reply = app.send(Method::GET, "/readyz", None, None).await;
    assert_eq!((reply.status, reply.body["status"].clone()), (200, json!("ready")));
}

/// A refused write leaves what was stored before untouched.
async fn failed_writes_lose_nothing(backend: Backend) {
    let app = TestApp::start(backend).await;
    let id = app.provision("octo/app", WORKFLOW, json!({"environment": "production"})).await;
    let before = app.get(&format!("/api/pipelines/{id}")).await.body;
    app.post("/api/pipelines/provision", json!({"repo": "octo/app", "workflow_file": WORKFLOW, "config": {"x": 1}}))
        .await;
    app.patch(&format!("/api/pipelines/{id}"), json!({"config": "bad"})).await;
    app.delete(&format!("/api/pipelines/{id}?preserve_repo=false")).await;
    let after = app.get(&format!("/api/pipelines/{id}")).await.body;
    assert_eq!(before, after);
    assert_eq!(app.get("/api/audit").await.body["count"], 1);
}
