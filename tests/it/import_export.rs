//! `ccm import` and `ccm export`, and the `POST /api/pipelines/import` they go through, against
//! the real app on SQLite and on PostgreSQL.

use std::os::unix::fs::PermissionsExt;

use crate::helpers::ccm_cli::Ccm;
use crate::helpers::*;
use serde_json::{Value, json};

on_both_databases!(
    imports_every_registry_shape_keeping_ids_status_and_links,
    a_second_import_creates_nothing_and_says_what_it_skipped,
    export_is_a_backup_that_import_reads_back_on_either_database,
    the_import_endpoint_reports_each_entry,
);

const SHAPES: [&str; 5] =
    ["list.json", "map.json", "map-with-version.json", "versioned-map.json", "versioned-list.json"];
const SHOP: &str = "pipe_1a2b3c4d5e6f";
const BLOG: &str = "pipe_7a8b9c0d1e2f";
const BAD: &str = "pipe_0f0f0f0f0f0f";

fn registry(name: &str) -> String {
    fixture(&format!("registry/{name}"))
}

fn other(backend: Backend) -> Backend {
    match backend {
        Backend::Sqlite => Backend::Postgres,
        Backend::Postgres => Backend::Sqlite,
    }
}

async fn imports_every_registry_shape_keeping_ids_status_and_links(backend: Backend) {
    for shape in SHAPES {
        let app = TestApp::start(backend).await;
        let run = Ccm::new(&app.base, Some(TOKEN)).run(&["import", &registry(shape)]).await;
        // One entry is invalid: reported, the others imported all the same, exit code 1.
        run.assert_code(1);
        let out = &run.stdout;
        assert!(out.contains(&format!("created          {SHOP}\n")), "{shape}: {out}");
        assert!(out.contains(&format!("created          {BLOG}\n")), "{shape}: {out}");
        assert!(
            out.contains(&format!("invalid          {BAD}: Invalid repo 'not a repository': expected owner/name")),
            "{shape}: {out}"
        );
        assert!(out.ends_with(": 2 created, 0 already present, 1 invalid\n"), "{shape}: {out}");
        assert!(run.stderr.contains("1 of 3 entries of") && run.stderr.contains("were not imported"), "{run:?}");

        let shop = app.get(&format!("/api/pipelines/{SHOP}")).await;
        assert_eq!(shop.status, 200, "{shape}: {}", shop.body);
        let p = &shop.body["pipeline"];
        assert_eq!(p["repository"], "myorg/webshop");
        assert_eq!(p["workflow_file"], ".github/workflows/deploy.yml");
        assert_eq!(p["status"], "active");
        // The old CCM wrote Python's isoformat() without a zone: taken as UTC.
        assert_eq!(p["created_at"], "2026-01-05T10:30:00Z");
        assert_eq!(p["deactivated_at"], Value::Null);
        assert_eq!(p["config"], json!({"trigger_branches": ["production", "main"], "environment": "production"}));
        assert_eq!(p["vps_integration"], json!({"linked_domain": "shop.example.com", "linked_app": "webshop"}));

        let blog = &app.get(&format!("/api/pipelines/{BLOG}")).await.body["pipeline"];
        assert_eq!(blog["status"], "inactive");
        assert_eq!(blog["created_at"], "2025-11-20T08:00:00Z");
        assert!(blog["deactivated_at"].is_string(), "{blog}");
        assert_eq!(blog["vps_integration"], json!({"linked_domain": "blog.example.com", "linked_app": null}));

        assert_eq!(app.get(&format!("/api/pipelines/{BAD}")).await.status, 404);
        assert_eq!(app.get("/api/pipelines").await.body["count"], 2);
        let audit = app.get("/api/audit?action=pipeline.imported").await;
        assert_eq!(audit.body["count"], 2, "{}", audit.body);
    }
}

/// An imported pipeline is a pipeline like any other: its runs arrive by webhook.
async fn imported_pipeline_counts_runs(app: &TestApp) {
    let now = chrono::Utc::now();
    let body = workflow_run(
        7001,
        1,
        "myorg/webshop",
        "main",
        "completed",
        Some("success"),
        now - chrono::Duration::minutes(3),
        now - chrono::Duration::minutes(1),
    );
    assert_eq!(app.deliver("workflow_run", "import-run-1", &body).await.status, 200);
    let stats = app.get(&format!("/api/pipelines/{SHOP}/stats")).await;
    assert_eq!(stats.body["stats"]["metrics_24h"]["run_count"], 1, "{}", stats.body);
}

async fn a_second_import_creates_nothing_and_says_what_it_skipped(backend: Backend) {
    let app = TestApp::start(backend).await;
    let ccm = Ccm::new(&app.base, Some(TOKEN));
    ccm.run(&["import", &registry("versioned-map.json")]).await.assert_code(1);
    imported_pipeline_counts_runs(&app).await;
    // Torn down since: a second import must not bring it back.
    assert_eq!(app.delete(&format!("/api/pipelines/{SHOP}")).await.status, 200);

    let again = ccm.run(&["import", &registry("versioned-map.json")]).await;
    again.assert_code(1);
    assert!(again.stdout.contains(&format!("already present  {SHOP} (skipped)\n")), "{again:?}");
    assert!(again.stdout.contains(&format!("already present  {BLOG} (skipped)\n")), "{again:?}");
    assert!(again.stdout.ends_with(": 0 created, 2 already present, 1 invalid\n"), "{again:?}");

    // The same registry in another shape, as JSON for scripts.
    let json = ccm.run(&["import", &registry("list.json"), "--json"]).await;
    json.assert_code(1);
    let report = json.json();
    assert_eq!((report["created"].clone(), report["already_present"].clone()), (json!(0), json!(2)));
    assert_eq!(report["invalid"], 1);
    assert_eq!(report["success"], false);
    assert_eq!(report["results"][0], json!({"entry": 1, "pipeline_id": SHOP, "result": "already_present"}));
    assert_eq!(report["results"][2]["entry"], 3);
    assert_eq!(report["results"][2]["result"], "invalid");
    assert!(report["results"][2]["reason"].as_str().unwrap().starts_with("Invalid repo"), "{report}");

    assert_eq!(app.get("/api/pipelines").await.body["count"], 2);
    assert_eq!(app.get(&format!("/api/pipelines/{SHOP}")).await.body["pipeline"]["status"], "inactive");
    assert_eq!(app.get("/api/audit?action=pipeline.imported").await.body["count"], 2);
}

async fn export_is_a_backup_that_import_reads_back_on_either_database(backend: Backend) {
    let source = TestApp::start(backend).await;
    let ccm = Ccm::new(&source.base, Some(TOKEN));
    ccm.run(&["import", &registry("list.json")]).await.assert_code(1);
    let api =
        source.provision("myorg/api", ".github/workflows/release.yml", json!({"trigger_branches": ["main"]})).await;
    let linked = source.patch(&format!("/api/pipelines/{api}"), json!({"linked_domain": "api.example.com"})).await;
    assert_eq!(linked.status, 200);

    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("pipelines.json");
    let run = ccm.run(&["export", "--output", backup.to_str().unwrap()]).await;
    run.assert_code(0);
    assert!(run.stderr.contains(&format!("Exported 3 pipelines to {}", backup.display())), "{run:?}");
    assert_eq!(std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777, 0o600);
    let written: Value = serde_json::from_slice(&std::fs::read(&backup).unwrap()).unwrap();
    assert_eq!(written["version"], "2.0");
    let pipelines = written["pipelines"].as_object().unwrap();
    let mut ids = vec![api.clone(), SHOP.to_string(), BLOG.to_string()];
    ids.sort();
    assert_eq!(pipelines.keys().cloned().collect::<Vec<_>>(), ids);
    assert_eq!(pipelines[&api]["vps_integration"]["linked_domain"], "api.example.com");
    // Without --output: the same document on standard output.
    let printed = ccm.run(&["export"]).await;
    printed.assert_code(0);
    assert_eq!(printed.json()["pipelines"], written["pipelines"]);

    // Into an empty ccm on the other database: everything, with ids, status, links and times.
    let target = TestApp::start(other(backend)).await;
    let restore = Ccm::new(&target.base, Some(TOKEN));
    let run = restore.run(&["import", backup.to_str().unwrap()]).await;
    run.assert_code(0);
    assert!(run.stdout.ends_with(": 3 created, 0 already present, 0 invalid\n"), "{run:?}");
    let run = restore.run(&["import", backup.to_str().unwrap()]).await;
    run.assert_code(0);
    assert!(run.stdout.ends_with(": 0 created, 3 already present, 0 invalid\n"), "{run:?}");
    let round_trip = restore.run(&["export"]).await;
    round_trip.assert_code(0);
    assert_eq!(round_trip.json()["pipelines"], written["pipelines"]);
}

fn entry(id: &str, repo: &str) -> Value {
    json!({"pipeline_id": id, "repository": repo, "workflow_file": ".github/workflows/deploy.yml", "status": "active"})
}

async fn the_import_endpoint_reports_each_entry(backend: Backend) {
    let app = TestApp::start(backend).await;
    let unauthenticated = app.send(reqwest::Method::POST, "/api/pipelines/import", Some(json!([])), None).await;
    assert_eq!(unauthenticated.status, 401);

    let not_a_registry = app.post("/api/pipelines/import", json!("pipelines")).await;
    assert_eq!(not_a_registry.status, 400);
    assert_eq!(
        not_a_registry.body["error"],
        "A registry is a JSON list of pipelines or an object keyed by pipeline id, got a string"
    );
    let future = app.post("/api/pipelines/import", json!({"version": "3.0", "pipelines": []})).await;
    assert_eq!(future.status, 400);
    assert!(future.body["error"].as_str().unwrap().starts_with("Unsupported registry version '3.0'"));
    let too_many: Vec<Value> = (0..1001).map(|i| entry(&format!("pipe_{i:012x}"), "o/r")).collect();
    let too_many = app.post("/api/pipelines/import", Value::Array(too_many)).await;
    assert_eq!(too_many.status, 400);
    assert!(too_many.body["error"].as_str().unwrap().starts_with("At most 1000 pipelines per request"));

    let existing = app.provision("myorg/webshop", ".github/workflows/deploy.yml", json!({})).await;
    let reply = app
        .post(
            "/api/pipelines/import",
            json!([
                entry("pipe_aaaaaaaaaaaa", "myorg/webshop"),
                5,
                entry("pipe_cccccccccccc", "myorg/docs"),
                entry("pipe_cccccccccccc", "myorg/other"),
                entry("pipe_cccccccccccc", "MyOrg/Docs"),
            ]),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!((reply.body["created"].clone(), reply.body["already_present"].clone()), (json!(1), json!(1)));
    assert_eq!(reply.body["invalid"], 3);
    let reasons: Vec<Value> = reply.body["results"].as_array().unwrap().iter().map(|r| r["reason"].clone()).collect();
    assert_eq!(
        reasons,
        vec![
            json!(format!("myorg/webshop .github/workflows/deploy.yml already has another pipeline: {existing}")),
            json!("Entry must be an object, got a number"),
            Value::Null,
            json!("pipeline_id pipe_cccccccccccc is already used by myorg/docs .github/workflows/deploy.yml"),
            Value::Null,
        ]
    );
    assert_eq!(
        reply.body["results"][1],
        json!({"entry": 2, "pipeline_id": null, "result": "invalid", "reason": reasons[1]})
    );
    assert_eq!(reply.body["results"][4]["result"], "already_present");

    let keyed =
        app.post("/api/pipelines/import", json!({"pipe_dddddddddddd": entry("pipe_eeeeeeeeeeee", "myorg/keys")})).await;
    assert_eq!(
        keyed.body["results"][0]["reason"],
        "Key 'pipe_dddddddddddd' and pipeline_id 'pipe_eeeeeeeeeeee' differ"
    );
    assert_eq!(app.get("/api/pipelines").await.body["count"], 2);
}
