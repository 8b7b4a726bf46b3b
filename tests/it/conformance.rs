//! What the API fuzzer (scripts/fuzz-api) and the security review found, each as a request
//! against the real app: bodies checked before anything else is asked (a wrong shape, an unknown
//! field, an unknown pipeline, then GitHub), the bounds of paging and of a pipeline's config, and
//! the headers of JSON answers; on SQLite and on PostgreSQL.

use crate::helpers::serve::Serve;
use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};

on_both_databases!(
    actions_on_a_pipeline_say_not_found_or_inactive_before_github,
    unknown_fields_and_non_object_bodies_are_refused,
    an_import_without_pipelines_is_refused,
    paging_offsets_and_filters_are_bounded,
    trigger_branches_and_config_are_bounded,
    json_answers_are_not_cached_nor_sniffed,
);

async fn send_raw(app: &TestApp, method: Method, path: &str, content_type: &str, body: &str) -> Reply {
    let res = app
        .client
        .request(method, format!("{}{path}", app.base))
        .header("CCM-Token", TOKEN)
        .header("Content-Type", content_type)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    reply(res).await
}

async fn actions_on_a_pipeline_say_not_found_or_inactive_before_github(backend: Backend) {
    let app = TestApp::start(backend).await;
    for action in ["trigger", "rollback"] {
        let path = format!("/api/pipelines/pipe_000000000000/{action}");
        let reply = app.post(&path, json!({})).await;
        assert_eq!((reply.status, reply.body["code"].as_str()), (404, Some("not_found")), "{action}: {}", reply.body);
        // An empty body is `{}`; one that is not JSON is a 415, whatever the pipeline.
        let reply = send_raw(&app, Method::POST, &path, "text/plain", "ref=main").await;
        assert_eq!(reply.status, 415, "{action}: {}", reply.body);
    }
    let id = app.provision("octo/actions", WORKFLOW, json!({"trigger_branches": ["main"]})).await;
    assert_eq!(app.delete(&format!("/api/pipelines/{id}")).await.status, 200);
    for action in ["trigger", "rollback"] {
        let reply = app.post(&format!("/api/pipelines/{id}/{action}"), json!({})).await;
        assert_eq!((reply.status, reply.body["code"].as_str()), (409, Some("conflict")), "{action}: {}", reply.body);
    }
    // Active: only now does the missing GitHub App matter.
    app.provision("octo/actions", WORKFLOW, json!({"trigger_branches": ["main"]})).await;
    let reply = app.post(&format!("/api/pipelines/{id}/trigger"), json!({"branch": "main"})).await;
    assert_eq!((reply.status, reply.body["code"].as_str()), (503, Some("github_not_configured")), "{}", reply.body);
    // Invalid requests are refused first.
    for body in [json!({"ref": "main", "branch": "dev"}), json!({"ref": 5}), json!({"inputs": []}), json!({"x": 1})] {
        let reply = app.post(&format!("/api/pipelines/{id}/trigger"), body.clone()).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.body);
    }
}

async fn unknown_fields_and_non_object_bodies_are_refused(backend: Backend) {
    let app = TestApp::start(backend).await;
    let repository = json!({"owner": "my-org", "name": "my-repo"});
    for (method, path, body, needle) in [
        (Method::POST, "/api/sync/task-to-issue", json!({"task_id": 1, "repository": repository, "x": 1}), "`x`"),
        (
            Method::POST,
            "/api/sync/task-to-issue",
            json!({"task_id": 1, "repository": {"owner": "o", "name": "r", "host": "h"}}),
            "`host`",
        ),
        (Method::POST, "/api/sync/issue-to-task", json!({"issue_number": 1, "repository": repository, "y": 0}), "`y`"),
        (Method::POST, "/api/pipelines/provision", json!({"repo": "o/r", "workflow_file": WORKFLOW, "z": 1}), "'z'"),
        (Method::PUT, "/api/sync/repositories/o/r", json!({"auto_sync": true, "labels": []}), "`labels`"),
        (Method::POST, "/api/tasks", json!({"title": "t", "owner": "x"}), "`owner`"),
    ] {
        let reply = app.send(method, path, Some(body.clone()), Some(TOKEN)).await;
        assert_eq!(reply.status, 400, "{path} {body}: {}", reply.body);
        let error = reply.body["error"].as_str().unwrap();
        assert!(error.contains(needle) && error.to_lowercase().contains("unknown field"), "{path}: {error}");
    }
    // Serde would read a struct from an array by position: never a request body here.
    for (method, path) in [
        (Method::PUT, "/api/sync/repositories/o/r"),
        (Method::POST, "/api/tasks"),
        (Method::PATCH, "/api/tasks/1"),
        (Method::POST, "/api/sync/task-to-issue"),
        (Method::POST, "/api/sync/issue-to-task"),
    ] {
        let reply = app.send(method, path, Some(json!([null, null])), Some(TOKEN)).await;
        assert_eq!(reply.status, 400, "{path}: {}", reply.body);
        assert_eq!(reply.body["error"], "Request body must be a JSON object", "{path}");
    }
    // A repository in another format is refused where it is named.
    let reply = app.post("/api/pipelines/provision", json!({"repo": " o/r", "workflow_file": WORKFLOW})).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(app.get("/api/sync/repositories/o_x/r").await.status, 400);
    assert_eq!(app.get("/api/sync/repositories/o/...").await.status, 400);
    assert_eq!(app.get("/api/pipelines").await.body["count"], 0);
}

async fn an_import_without_pipelines_is_refused(backend: Backend) {
    let app = TestApp::start(backend).await;
    for body in [json!({}), json!({"version": "2.0"}), json!({"version": "2.0", "last_updated": "today"})] {
        let reply = app.post("/api/pipelines/import", body.clone()).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.body);
        assert!(reply.body["error"].as_str().unwrap().starts_with("No pipelines"), "{}", reply.body);
    }
    // An empty registry in a registry's shape is one with nothing to import.
    for body in [json!([]), json!({"version": "2.0", "pipelines": {}})] {
        let reply = app.post("/api/pipelines/import", body.clone()).await;
        assert_eq!((reply.status, reply.body["created"].as_i64()), (200, Some(0)), "{body}: {}", reply.body);
    }
}

async fn paging_offsets_and_filters_are_bounded(backend: Backend) {
    let app = TestApp::start(backend).await;
    let id = app.provision("octo/paging", WORKFLOW, json!({})).await;
    for path in [
        "/api/pipelines".to_string(),
        format!("/api/pipelines/{id}"),
        "/api/tasks".into(),
        "/api/deliveries".into(),
        "/api/audit".into(),
    ] {
        let reply = app.get(&format!("{path}?offset=1000000000000")).await;
        assert_eq!(reply.status, 400, "{path}: {}", reply.body);
        assert_eq!(reply.body["error"], "offset must be between 0 and 1000000000, got 1000000000000", "{path}");
        let reply = app.get(&format!("{path}?offset=9223372036854775807")).await;
        assert_eq!(reply.status, 400, "{path}: {}", reply.body);
        // The deepest page there is: empty, not an error.
        let reply = app.get(&format!("{path}?offset=1000000000")).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    }
    // A repository filter is owner/name, as everywhere else.
    for path in ["/api/pipelines", "/api/tasks", "/api/deliveries"] {
        for bad in ["no-slash", "", "o/r/x"] {
            let reply = app.get(&format!("{path}?repository={bad}")).await;
            assert_eq!(reply.status, 400, "{path} {bad:?}: {}", reply.body);
        }
        assert_eq!(app.get(&format!("{path}?repository=octo/paging")).await.status, 200, "{path}");
    }
    let page = app.get("/api/pipelines?offset=1000000000&limit=1000").await;
    assert_eq!((page.body["count"].as_i64(), page.body["pipelines"].as_array().map(Vec::len)), (Some(1), Some(0)));
}

async fn trigger_branches_and_config_are_bounded(backend: Backend) {
    let app = TestApp::start(backend).await;
    let branches = |n: usize| Value::from((0..n).map(|i| format!("b{i}")).collect::<Vec<_>>());
    let provision = |config: Value| json!({"repo": "octo/bounds", "workflow_file": WORKFLOW, "config": config});
    let reply = app.post("/api/pipelines/provision", provision(json!({"trigger_branches": branches(51)}))).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.body["error"], "Field 'trigger_branches' lists 51 branches: the limit is 50");
    let big = json!({"notes": "x".repeat(64 * 1024)});
    let reply = app.post("/api/pipelines/provision", provision(big)).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body["error"].as_str().unwrap().contains("the limit is 65536 bytes (64 KB)"), "{}", reply.body);

    let id = app.provision("octo/bounds", WORKFLOW, json!({"trigger_branches": branches(50)})).await;
    let path = format!("/api/pipelines/{id}");
    let reply = app.patch(&path, json!({"trigger_branches": branches(51)})).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body["error"].as_str().unwrap().contains("the limit is 50"), "{}", reply.body);
    // Each patch is small; the config they would leave is not.
    let half = "y".repeat(40 * 1024);
    assert_eq!(app.patch(&path, json!({"config": {"a": half}})).await.status, 200);
    let reply = app.patch(&path, json!({"config": {"b": half}})).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body["error"].as_str().unwrap().contains("64 KB"), "{}", reply.body);
    let stored = app.get(&path).await.body["pipeline"]["config"].clone();
    assert!(stored.get("a").is_some() && stored.get("b").is_none(), "unchanged");
    // The same limits hold for an imported registry's entries.
    let entry = json!({"pipeline_id": "pipe_00000000000b", "repository": "octo/other", "workflow_file": WORKFLOW,
        "status": "active", "config": {"trigger_branches": branches(60)}});
    let reply = app.post("/api/pipelines/import", json!([entry])).await;
    assert_eq!(reply.body["results"][0]["result"], "invalid", "{}", reply.body);
}

async fn json_answers_are_not_cached_nor_sniffed(backend: Backend) {
    let app = TestApp::start(backend).await;
    let id = app.provision("octo/headers", WORKFLOW, json!({})).await;
    let answers = [
        app.get("/api/pipelines").await,
        app.get(&format!("/api/pipelines/{id}/stats")).await,
        app.get("/api/pipelines/pipe_000000000000").await,
        app.send(Method::GET, "/api/pipelines", None, None).await,
        app.send(Method::GET, "/healthz", None, None).await,
        app.send(Method::GET, "/no/such/route", None, None).await,
        app.send(Method::GET, "/api/openapi.json", None, None).await,
    ];
    for reply in answers {
        assert_eq!(reply.headers["cache-control"], "no-store", "{}: {:?}", reply.status, reply.headers);
        assert_eq!(reply.headers["x-content-type-options"], "nosniff", "{}", reply.status);
    }
}

/// `CCM_MAX_EVENT_STREAMS`: past it a new stream is a 503; a closed one frees its slot.
#[actix_web::test]
async fn event_streams_are_capped_by_the_setting() {
    let data = tempfile::tempdir().unwrap();
    let server = Serve::start(&[
        ("CCM_DATA_DIR", data.path().display().to_string()),
        ("CCM_API_TOKEN", TOKEN.into()),
        ("CCM_MAX_EVENT_STREAMS", "2".into()),
    ])
    .await;
    let client = reqwest::Client::new();
    let open = |path: &str| client.get(format!("{}{path}", server.base)).header("CCM-Token", TOKEN).send();
    let first = open("/api/events").await.unwrap();
    let second = open("/api/events").await.unwrap();
    assert_eq!((first.status().as_u16(), second.status().as_u16()), (200, 200));
    let refused = reply(open("/api/events").await.unwrap()).await;
    assert_eq!((refused.status, refused.body["code"].as_str()), (503, Some("unavailable")), "{}", refused.body);
    let error = refused.body["error"].as_str().unwrap();
    assert!(error.contains("at most 2") && error.contains("CCM_MAX_EVENT_STREAMS"), "{error}");
    // The server learns that a client went away when writing to it fails: the second keep-alive
    // after the close (15 s apart), so up to about 30 s.
    drop(first);
    let limit = std::time::Duration::from_secs(60);
    wait_for("the closed stream's slot to be free", limit, async || match open("/api/events").await {
        Ok(res) if res.status() == 200 => Ok(()),
        other => Err(format!("{other:?}")),
    })
    .await;
    drop(second);
}
