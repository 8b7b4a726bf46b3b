//! The `ccm` binary's client commands (pipelines, tasks, deliveries) against the real app served
//! on a loopback port, on SQLite and on PostgreSQL: tables, `--json`, exit codes and messages.
//! The live dashboard is in cli_watch.rs.

use std::net::TcpListener;

use crate::helpers::ccm_cli::{Ccm, finished_run, provision_webshop, row};
use crate::helpers::github::FakeGithub;
use crate::helpers::*;
use chrono::Utc;
use serde_json::{Value, json};
use wiremock::ResponseTemplate;
use wiremock::matchers::body_json;

on_both_databases!(
    pipelines_commands_print_tables_and_json,
    server_errors_exit_1_with_the_servers_message,
    tasks_commands_print_tables_and_json,
    deliveries_commands_list_show_and_replay,
    trigger_rollback_and_run_actions_queue_github_calls,
);

async fn pipelines_commands_print_tables_and_json(backend: Backend) {
    let app = TestApp::start(backend).await;
    let ccm = Ccm::new(&app.base, Some(TOKEN));
    let run = ccm
        .run(&[
            "pipelines",
            "provision",
            "--repo",
            "myorg/webshop",
            "--workflow-file",
            WORKFLOW,
            "--branch",
            "main",
            "--branch",
            "production",
            "--environment",
            "production",
            "--domain",
            "shop.example.com",
            "--app",
            "webshop",
            "--config",
            r#"{"auto_deploy": true, "environment": "staging"}"#,
        ])
        .await;
    run.assert_code(0);
    let first = run.stdout.lines().next().unwrap();
    assert!(first.starts_with("Pipeline provisioned: pipe_"), "{run:?}");
    let id = first.rsplit(' ').next().unwrap().to_string();
    assert!(run.stdout.contains("The repository was not verified"), "{run:?}");
    let shown = app.get(&format!("/api/pipelines/{id}")).await.body["pipeline"].clone();
    assert_eq!(
        shown["config"],
        json!({"auto_deploy": true, "environment": "production", "trigger_branches": ["main", "production"]})
    );
    assert_eq!(shown["vps_integration"], json!({"linked_domain": "shop.example.com", "linked_app": "webshop"}));

    let list = ccm.run(&["pipelines", "list"]).await;
    list.assert_code(0);
    assert!(
        list.stdout.starts_with("ID                 REPOSITORY     WORKFLOW    STATUS  DOMAIN            APP"),
        "{list:?}"
    );
    let cells = row(&list.stdout, &id);
    assert_eq!(cells[..6], [id.as_str(), "myorg/webshop", "deploy.yml", "active", "shop.example.com", "webshop"]);
    assert!(list.stdout.ends_with("\n1 of 1 pipelines\n"), "{list:?}");
    let json = ccm.run(&["pipelines", "list", "--json"]).await;
    json.assert_code(0);
    assert_eq!(json.json(), app.get("/api/pipelines").await.body);
    let none = ccm.run(&["pipelines", "list", "--status", "inactive", "--repository", "myorg/webshop"]).await;
    assert!(none.stdout.ends_with("0 of 0 pipelines\n"), "{none:?}");

    assert_eq!(app.deliver("workflow_run", "cli-run-1", &finished_run(501, "success")).await.status, 200);
    let stats = ccm.run(&["pipelines", "stats", &id]).await;
    stats.assert_code(0);
    assert!(stats.stdout.contains("health score:  100/100\n"), "{stats:?}");
    assert!(stats.stdout.contains("last 24h:      1 runs, 1 succeeded (100.0%), average 2m 00s\n"), "{stats:?}");
    assert!(stats.stdout.contains("last run:      success on main at "), "{stats:?}");
    let stats_json = ccm.run(&["pipelines", "stats", &id, "--json"]).await;
    assert_eq!(stats_json.json(), app.get(&format!("/api/pipelines/{id}/stats")).await.body);
    let details = ccm.run(&["pipelines", "show", &id]).await;
    details.assert_code(0);
    assert!(details.stdout.contains("Runs (1 of 1):\n"), "{details:?}");
    assert_eq!(row(&details.stdout, "501")[..4], ["501", "1", "success", "main"]);
    assert!(details.stdout.contains("2m 00s"), "{details:?}");

    let run = ccm
        .run(&[
            "pipelines",
            "update",
            &id,
            "--domain",
            "new.example.com",
            "--clear-app",
            "--branch",
            "main",
            "--config",
            r#"{"auto_deploy": null}"#,
        ])
        .await;
    run.assert_code(0);
    assert!(run.stdout.starts_with("Pipeline updated.\n"), "{run:?}");
    let shown = app.get(&format!("/api/pipelines/{id}")).await.body["pipeline"].clone();
    assert_eq!(shown["config"], json!({"environment": "production", "trigger_branches": ["main"]}));
    assert_eq!(shown["vps_integration"], json!({"linked_domain": "new.example.com", "linked_app": null}));

    let down = ccm.run(&["pipelines", "teardown", &id, "--yes"]).await;
    down.assert_code(0);
    assert_eq!(down.stdout, format!("{id}: Pipeline deactivated, repository preserved\n"));
    assert_eq!(app.get(&format!("/api/pipelines/{id}")).await.body["pipeline"]["status"], "inactive");
    let again = ccm.run(&["pipelines", "teardown", &id, "--json", "-y"]).await;
    again.assert_code(0);
    assert_eq!(again.json()["already_inactive"], true);
}

async fn server_errors_exit_1_with_the_servers_message(backend: Backend) {
    let app = TestApp::start(backend).await;
    let ccm = Ccm::new(&app.base, Some(TOKEN));
    let missing = ccm.run(&["pipelines", "stats", "pipe_000000000000"]).await;
    missing.assert_code(1);
    assert_eq!(missing.stderr, "ccm: Pipeline not found: pipe_000000000000 (HTTP 404)\n");
    assert_eq!(missing.stdout, "");
    // Scripts get the server's JSON error on stdout as well.
    let missing = ccm.run(&["pipelines", "show", "pipe_000000000000", "--json"]).await;
    missing.assert_code(1);
    assert_eq!(missing.json()["code"], "not_found");

    let bad = ccm.run(&["pipelines", "provision", "--repo", "nope", "--workflow-file", WORKFLOW]).await;
    bad.assert_code(1);
    assert!(bad.stderr.starts_with("ccm: Invalid repo 'nope': expected owner/name"), "{bad:?}");
    let id = provision_webshop(&app).await;
    let twice = ccm.run(&["pipelines", "provision", "--repo", "myorg/webshop", "--workflow-file", WORKFLOW]).await;
    twice.assert_code(1);
    assert!(
        twice.stderr.contains(&format!("already exists for myorg/webshop {WORKFLOW}: {id} (HTTP 409)")),
        "{twice:?}"
    );
    let trigger = ccm.run(&["pipelines", "trigger", &id, "--ref", "main"]).await;
    trigger.assert_code(1);
    assert!(trigger.stderr.starts_with("ccm: The GitHub App is not configured"), "{trigger:?}");
    assert!(trigger.stderr.ends_with("(HTTP 503)\n"), "{trigger:?}");

    const WRONG: &str = "wrong-token-that-must-not-show-0123";
    let wrong = Ccm::new(&app.base, Some(WRONG));
    for args in [
        &["pipelines", "list"][..],
        &["tasks", "list"],
        &["deliveries", "list"],
        &["export"],
        &["import", &fixture("registry/list.json")],
        &["pipelines", "watch"],
    ] {
        let run = wrong.run(args).await;
        run.assert_code(1);
        assert_eq!(run.stderr, "ccm: Invalid CCM-Token (HTTP 401)\n", "{args:?}");
        assert!(!run.stdout.contains(WRONG) && !run.stderr.contains(WRONG));
    }
}

/// Nothing listens there: every command says which server it could not reach, exit code 3.
#[tokio::test]
async fn an_unreachable_server_exits_3_naming_the_url() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let ccm = Ccm::new(&url, Some(TOKEN));
    let registry = fixture("registry/list.json");
    for args in [
        &["pipelines", "list"][..],
        &["pipelines", "watch"],
        &["tasks", "show", "1"],
        &["deliveries", "replay", "x"],
        &["export"],
        &["import", &registry],
    ] {
        let run = ccm.run(args).await;
        run.assert_code(3);
        assert!(run.stderr.starts_with(&format!("ccm: cannot reach ccm at {url}: ")), "{args:?}: {run:?}");
        assert!(run.stderr.contains("refused"), "{args:?}: {run:?}");
        assert!(!run.stderr.contains(TOKEN), "{run:?}");
    }
}

#[tokio::test]
async fn usage_errors_exit_2_before_anything_is_sent() {
    // An unreachable server: a command that got as far as sending would exit 3.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let ccm = Ccm::new(&format!("http://127.0.0.1:{port}"), Some(TOKEN));
    let dir = tempfile::tempdir().unwrap();
    let not_json = dir.path().join("broken.json");
    std::fs::write(&not_json, "{\"pipe_abc123def456\": ").unwrap();
    let not_registry = dir.path().join("string.json");
    std::fs::write(&not_registry, "\"hello\"").unwrap();
    let missing = dir.path().join("missing.json");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["pipelines"], "Usage: ccm pipelines"),
        (vec!["pipelines", "show"], "<ID>"),
        (vec!["pipelines", "update", "pipe_abc123def456"], "--branch"),
        (vec!["pipelines", "list", "--status", "paused"], "paused"),
        (
            vec!["pipelines", "provision", "--repo", "o/r", "--workflow-file", WORKFLOW, "--config", "[1]"],
            "JSON object",
        ),
        (vec!["tasks", "create"], "--title"),
        (vec!["import", not_json.to_str().unwrap()], "is not valid JSON"),
        (vec!["import", not_registry.to_str().unwrap()], "A registry is a JSON list"),
        (vec!["import", missing.to_str().unwrap()], "cannot read"),
    ];
    for (args, expected) in cases {
        let run = ccm.run(&args).await;
        run.assert_code(2);
        assert!(run.stderr.contains(expected), "{args:?}: {run:?}");
    }
    let run = Ccm::new("ftp://127.0.0.1", Some(TOKEN)).run(&["pipelines", "list"]).await;
    run.assert_code(2);
    assert!(run.stderr.contains("must be an http:// or https:// URL"), "{run:?}");
    // No token anywhere: it says where it looked.
    let data = dir.path().join("data");
    let run = Ccm::new(&format!("http://127.0.0.1:{port}"), None)
        .env("CCM_DATA_DIR", data.to_str().unwrap())
        .run(&["pipelines", "list"])
        .await;
    run.assert_code(2);
    assert!(run.stderr.contains("no API token: set CCM_API_TOKEN"), "{run:?}");
    assert!(run.stderr.contains(&data.join("api-token").display().to_string()), "{run:?}");
}

/// Without CCM_API_TOKEN the operator's own token file is used, as `ccm serve` wrote it.
#[actix_web::test]
async fn the_token_comes_from_the_data_folder_when_unset() {
    let app = TestApp::start(Backend::Sqlite).await;
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("api-token"), format!("{OTHER_TOKEN}\n")).unwrap();
    let run =
        Ccm::new(&app.base, None).env("CCM_DATA_DIR", data.path().to_str().unwrap()).run(&["tasks", "list"]).await;
    run.assert_code(0);
    assert!(!run.stdout.contains(OTHER_TOKEN) && !run.stderr.contains(OTHER_TOKEN));
    // The default folder is ~/.ccm.
    let ccm = Ccm::new(&app.base, None);
    std::fs::create_dir(ccm.home().join(".ccm")).unwrap();
    std::fs::write(ccm.home().join(".ccm/api-token"), TOKEN).unwrap();
    ccm.run(&["pipelines", "list"]).await.assert_code(0);
    // CCM_API_TOKEN wins over the file; with several (rotation) the first is sent.
    let rotated = Ccm::new(&app.base, Some(&format!(" {OTHER_TOKEN} , old-token")));
    rotated.run(&["pipelines", "list"]).await.assert_code(0);
}

/// `ccm pipelines teardown` asks on a terminal, as the old CCM's CLI did; without one (a script)
/// it does nothing unless `--yes` confirms ahead.
#[actix_web::test]
async fn teardown_asks_on_a_terminal_and_a_script_passes_yes() {
    let app = TestApp::start(Backend::Sqlite).await;
    let id = provision_webshop(&app).await;
    let status = async || app.get(&format!("/api/pipelines/{id}")).await.body["pipeline"]["status"].clone();
    let ccm = Ccm::new(&app.base, Some(TOKEN));

    let scripted = ccm.run(&["pipelines", "teardown", &id]).await;
    scripted.assert_code(2);
    assert!(scripted.stderr.contains("standard input is not a terminal: pass --yes"), "{scripted:?}");
    assert_eq!(status().await, "active", "nothing sent");

    let declined = ccm.run_on_terminal(&["pipelines", "teardown", &id], "n").await;
    declined.assert_code(1);
    let question = format!(
        "Deactivate pipeline {id} (myorg/webshop {WORKFLOW}, active)? The repository will be preserved. [y/N]:"
    );
    assert!(declined.stdout.contains(&question), "{declined:?}");
    assert!(declined.stdout.contains("cancelled: nothing was changed"), "{declined:?}");
    assert_eq!(status().await, "active");

    let unknown = ccm.run_on_terminal(&["pipelines", "teardown", "pipe_000000000000"], "y").await;
    unknown.assert_code(1);
    assert!(unknown.stdout.contains("Pipeline not found") && !unknown.stdout.contains("[y/N]"), "{unknown:?}");

    let confirmed = ccm.run_on_terminal(&["pipelines", "teardown", &id], "y").await;
    confirmed.assert_code(0);
    assert!(confirmed.stdout.contains(&format!("{id}: Pipeline deactivated, repository preserved")), "{confirmed:?}");
    assert_eq!(status().await, "inactive");
}

/// A redirect to another origin is refused, not followed with the token; one within the server's
/// origin is followed.
#[tokio::test]
async fn the_token_never_follows_a_redirect_to_another_host() {
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer};
    let (server, elsewhere) = (MockServer::start().await, MockServer::start().await);
    Mock::given(path("/api/pipelines"))
        .respond_with(
            ResponseTemplate::new(307).insert_header("location", format!("{}/api/pipelines", elsewhere.uri())),
        )
        .mount(&server)
        .await;
    Mock::given(path("/api/tasks"))
        .respond_with(ResponseTemplate::new(308).insert_header("location", "/api/v2/tasks"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/tasks"))
        .and(header("CCM-Token", TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true, "tasks": [], "count": 0})))
        .mount(&server)
        .await;
    Mock::given(wiremock::matchers::any()).respond_with(ResponseTemplate::new(200)).mount(&elsewhere).await;

    let ccm = Ccm::new(&server.uri(), Some(TOKEN));
    let run = ccm.run(&["pipelines", "list"]).await;
    run.assert_code(1);
    assert!(run.stderr.contains(&format!("the server redirected to {}", elsewhere.uri())), "{run:?}");
    assert!(run.stderr.contains("not followed"), "{run:?}");
    assert!(!run.stderr.contains(TOKEN), "{run:?}");
    let received = elsewhere.received_requests().await.unwrap_or_default();
    assert!(
        received.is_empty(),
        "the other host was asked: {:?}",
        received.iter().map(|r| &r.headers).collect::<Vec<_>>()
    );

    // Within the same origin the redirect is followed, token and all.
    ccm.run(&["tasks", "list"]).await.assert_code(0);
}

#[tokio::test]
async fn help_lists_the_client_commands_and_their_settings() {
    let ccm = Ccm::new("http://127.0.0.1:5000", None);
    let top = ccm.run(&["--help"]).await;
    top.assert_code(0);
    for command in ["pipelines", "tasks", "deliveries", "import", "export"] {
        assert!(top.stdout.contains(&format!("\n  {command} ")), "{command}: {}", top.stdout);
    }
    let help = ccm.run(&["pipelines", "--help"]).await;
    for text in ["watch", "provision", "rollback", "CCM_URL", "CCM_API_TOKEN", "CCM_DATA_DIR", "Exit codes"] {
        assert!(help.stdout.contains(text), "{text}: {}", help.stdout);
    }
}

async fn tasks_commands_print_tables_and_json(backend: Backend) {
    let app = TestApp::start(backend).await;
    let ccm = Ccm::new(&app.base, Some(TOKEN));
    let created = ccm
        .run(&[
            "tasks",
            "create",
            "--title",
            "Benchmark the new index",
            "--description",
            "Measure p99 before and after",
            "--priority",
            "high",
            "--label",
            "research",
            "--json",
        ])
        .await;
    created.assert_code(0);
    let task = created.json()["task"].clone();
    let id = task["id"].to_string();
    assert_eq!(task["labels"], json!(["research", "priority: high"]));
    let human = ccm.run(&["tasks", "create", "--title", "Second"]).await;
    human.assert_code(0);
    assert!(human.stdout.starts_with("Task created.\nid: "), "{human:?}");

    let list = ccm.run(&["tasks", "list", "--priority", "high"]).await;
    list.assert_code(0);
    assert!(list.stdout.starts_with("ID  STATUS  PRIORITY  TITLE"), "{list:?}");
    assert_eq!(
        row(&list.stdout, &format!("{id} "))[..5],
        [id.as_str(), "todo", "high", "Benchmark the new index", "-"]
    );
    assert!(list.stdout.ends_with("\n1 of 1 tasks\n"), "{list:?}");
    assert_eq!(ccm.run(&["tasks", "list", "--json"]).await.json(), app.get("/api/tasks").await.body);

    let updated = ccm.run(&["tasks", "update", &id, "--status", "done", "--clear-labels"]).await;
    updated.assert_code(0);
    assert!(updated.stdout.starts_with("Task updated.\n"), "{updated:?}");
    let stored = app.get(&format!("/api/tasks/{id}")).await.body["task"].clone();
    assert_eq!((stored["status"].clone(), stored["labels"].clone()), (json!("done"), json!([])));
    let shown = ccm.run(&["tasks", "show", &id]).await;
    shown.assert_code(0);
    assert!(shown.stdout.contains("status:       done\n"), "{shown:?}");
    assert!(shown.stdout.contains("\nMeasure p99 before and after\n"), "{shown:?}");
    let missing = ccm.run(&["tasks", "show", "999"]).await;
    missing.assert_code(1);
    assert_eq!(missing.stderr, "ccm: Task not found: 999 (HTTP 404)\n");
}

async fn deliveries_commands_list_show_and_replay(backend: Backend) {
    let app = TestApp::start(backend).await;
    let ccm = Ccm::new(&app.base, Some(TOKEN));
    assert_eq!(app.deliver("workflow_run", "cli-delivery-1", &finished_run(801, "success")).await.status, 200);
    let list = ccm.run(&["deliveries", "list"]).await;
    list.assert_code(0);
    assert!(list.stdout.starts_with("DELIVERY        EVENT         ACTION     REPOSITORY     STATUS"), "{list:?}");
    assert_eq!(
        row(&list.stdout, "cli-delivery-1")[..6],
        ["cli-delivery-1", "workflow_run", "completed", "myorg/webshop", "processed", "1"]
    );
    let json = ccm.run(&["deliveries", "list", "--status", "processed", "--json"]).await;
    assert_eq!(json.json(), app.get("/api/deliveries?status=processed").await.body);

    let shown = ccm.run(&["deliveries", "show", "cli-delivery-1"]).await;
    shown.assert_code(0);
    assert!(shown.stdout.contains("event:        workflow_run completed\n"), "{shown:?}");
    assert!(shown.stdout.contains("\nHeaders:\n") && shown.stdout.contains("  x-github-event: workflow_run\n"));
    let body = shown.stdout.split("\nBody:\n").nth(1).expect("a body section");
    assert_eq!(serde_json::from_str::<Value>(body).unwrap()["workflow_run"]["id"], 801);

    let replay = ccm.run(&["deliveries", "replay", "cli-delivery-1"]).await;
    replay.assert_code(0);
    assert_eq!(replay.stdout, "Delivery cli-delivery-1 replayed: processed\n");
    let missing = ccm.run(&["deliveries", "replay", "nope"]).await;
    missing.assert_code(1);
    assert_eq!(missing.stderr, "ccm: Delivery not found: nope (HTTP 404)\n");
}

async fn trigger_rollback_and_run_actions_queue_github_calls(backend: Backend) {
    let gh = FakeGithub::start().await;
    let app = TestApp::start_with_github(backend, &gh.url()).await;
    app.install("myorg/webshop").await;
    // Imported: a pipeline without GitHub's verification of provisioning.
    let id = "pipe_5e5e5e5e5e5e";
    let imported = app
        .post(
            "/api/pipelines/import",
            json!([{"pipeline_id": id, "repository": "myorg/webshop", "workflow_file": WORKFLOW, "status": "active",
                    "config": {"trigger_branches": ["main"]}}]),
        )
        .await;
    assert_eq!(imported.body["created"], 1, "{}", imported.body);
    FakeGithub::repo_call("POST", "/repos/myorg/webshop/actions/workflows/deploy.yml/dispatches")
        .and(body_json(json!({"ref": "release", "inputs": {"version": "1.2.3"}})))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&gh.server)
        .await;
    let ccm = Ccm::new(&app.base, Some(TOKEN));
    let triggered =
        ccm.run(&["pipelines", "trigger", id, "--ref", "release", "--input", "version=1.2.3", "--json"]).await;
    triggered.assert_code(0);
    let job = triggered.json()["job_id"].as_i64().expect("a job id");
    assert_eq!(app.wait_job(job).await.status.as_str(), "done");

    let now = Utc::now();
    for (run_id, ago, conclusion) in [(301, 2, "success"), (302, 1, "failure")] {
        let execution = run(run_id, "myorg/webshop", "main", now, chrono::Duration::hours(ago), Some(conclusion), 60);
        app.store().upsert_execution(&execution).await.unwrap();
    }
    FakeGithub::repo_call("POST", "/repos/myorg/webshop/actions/runs/301/rerun")
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({})))
        .expect(1)
        .mount(&gh.server)
        .await;
    let rollback = ccm.run(&["pipelines", "rollback", id, "--reason", "bad deploy"]).await;
    rollback.assert_code(0);
    assert!(rollback.stdout.starts_with("Re-run of run 301 (commit "), "{rollback:?}");
    let job: i64 = rollback.stdout.trim_end().trim_end_matches(')').rsplit(' ').next().unwrap().parse().unwrap();
    assert_eq!(app.wait_job(job).await.status.as_str(), "done");
    let details = app.get(&format!("/api/pipelines/{id}")).await;
    let failed = details.body["executions"].as_array().unwrap().iter().find(|e| e["run_id"] == 302).unwrap().clone();
    assert_eq!(failed["rollback_reason"], "bad deploy");

    // Per-run actions: re-run the failed jobs of 302; cancelling a completed run is refused.
    FakeGithub::repo_call("POST", "/repos/myorg/webshop/actions/runs/302/rerun-failed-jobs")
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({})))
        .expect(1)
        .mount(&gh.server)
        .await;
    let rerun = ccm.run(&["pipelines", "rerun", id, "302", "--failed-jobs"]).await;
    rerun.assert_code(0);
    assert!(
        rerun.stdout.starts_with("Re-run of the failed jobs of run 302 of myorg/webshop queued (job "),
        "{rerun:?}"
    );
    let job: i64 = rerun.stdout.trim_end().trim_end_matches(')').rsplit(' ').next().unwrap().parse().unwrap();
    assert_eq!(app.wait_job(job).await.status.as_str(), "done");
    let cancel = ccm.run(&["pipelines", "cancel", id, "302", "--attempt", "1"]).await;
    assert_ne!(cancel.code, Some(0), "{cancel:?}");
    assert!(cancel.stderr.contains("Run 302 attempt 1 is already completed"), "{cancel:?}");
    gh.server.verify().await;
}
