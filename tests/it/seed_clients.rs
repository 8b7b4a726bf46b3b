//! The clients in the CCM API guide, unchanged, against the real app on SQLite and PostgreSQL:
//! the VPS Manager's Python `CCMClient` (tests/fixtures/ccm_client.py), its bash provisioning
//! script (tests/fixtures/provision.sh) and the guide's curl examples, run with the real
//! `python3`, `bash`, `curl` and `jq`.
//!
//! These tools are required: when one is missing the test fails, naming what to install
//! (scripts/test installs them when it can).

use std::process::{Command, Output};

use crate::helpers::*;
use chrono::Duration;
use serde_json::{Value, json};

on_both_databases!(
    python_client_provisions_reads_lists_and_tears_down,
    bash_script_provisions_and_prints_the_pipeline_id,
    bash_script_fails_with_the_error_json_on_a_wrong_token,
    curl_examples_answer_as_documented,
    curl_error_cases_answer_with_the_documented_bodies,
);

/// Fails the test, naming what to install, when `program` cannot run.
fn require(program: &str, probe: &[&str], install: &str) {
    let ok = Command::new(program).args(probe).output().map(|o| o.status.success()).unwrap_or(false);
    assert!(ok, "`{program} {}` failed: this test needs it. Install it: {install}", probe.join(" "));
}

fn require_curl() {
    require("curl", &["--version"], "apt-get install curl");
}

fn require_jq() {
    require("jq", &["--version"], "apt-get install jq");
}

fn require_python_requests() {
    require(
        "python3",
        &["-c", "import requests"],
        "python3 with the `requests` module (Debian: apt-get install python3 python3-requests; \
         otherwise: pip install --user requests)",
    );
}

/// Runs a tool off the async runtime (the app's background workers keep running), with the
/// loopback exempt from any proxy the environment configures.
async fn run_tool(program: &str, args: Vec<String>, envs: Vec<(&'static str, String)>) -> Output {
    let program = program.to_string();
    tokio::task::spawn_blocking(move || {
        Command::new(&program)
            .args(&args)
            .envs(envs)
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
    })
    .await
    .expect("tool thread")
}

/// Three runs of `deploy.yml` on `production` in the last 24 hours (the oldest failed; 100, 200
/// and 300 seconds long) and a failed one on a branch the pipeline does not trigger on.
async fn seed_runs(app: &TestApp, repo: &str) {
    let now = ccm::domain::clock::now();
    for record in [
        run(1, repo, "production", now, Duration::hours(5), Some("failure"), 100),
        run(2, repo, "production", now, Duration::hours(3), Some("success"), 200),
        run(3, repo, "production", now, Duration::hours(1), Some("success"), 300),
        run(4, repo, "feature", now, Duration::minutes(30), Some("failure"), 50),
    ] {
        app.store().upsert_execution(&record).await.unwrap();
    }
}

/// The stats `seed_runs` leads to for a pipeline that triggers on `production`: 2 of 3
/// succeeded (66.7 %), the latest succeeded, no baseline week, so the health score is
/// round(0.6 * 66.67 + 0.3 * 100 + 0.1 * 100) = 80.
fn assert_seeded_stats(stats: &Value, id: &str) {
    assert_eq!(stats["pipeline_id"], id, "{stats}");
    assert_eq!(stats["status"], "active");
    assert_eq!(stats["health_score"], 80);
    assert_eq!(
        stats["metrics_24h"],
        json!({"run_count": 3, "success_count": 2, "success_rate": 66.7,
                                            "avg_duration_seconds": 200})
    );
    let last = &stats["last_run"];
    assert_eq!(last["status"], "success");
    assert_eq!(last["duration_seconds"], 300);
    assert_eq!(last["branch"], "production");
    let ts = last["timestamp"].as_str().expect("last_run.timestamp");
    assert!(ts.ends_with('Z') && ts.len() == 20, "{ts}");
    assert_eq!(stats["active_runs"], 0);
    assert_eq!(stats["queue_length"], 0);
}

async fn python_client_provisions_reads_lists_and_tears_down(backend: Backend) {
    require_python_requests();
    let app = TestApp::start(backend).await;
    seed_runs(&app, "myuser/myapp").await;

    let out = run_tool(
        "python3",
        vec![
            fixture("drive_ccm_client.py"),
            app.base.clone(),
            TOKEN.into(),
            "myuser/myapp".into(),
            "myapp.com".into(),
            "myapp".into(),
        ],
        vec![],
    )
    .await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "driver failed ({}):\n{stdout}\n{stderr}", out.status);
    // One line of JSON: the client printed no "Error ...: <exception>" of its own.
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let got: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));

    let id = got["pipeline_id"].as_str().unwrap_or_else(|| panic!("provision_pipeline returned {got}"));
    assert!(ccm::domain::pipeline::is_pipeline_id(id), "{id}");
    assert_eq!(got["retried_pipeline_id"], id, "a retried provision is the same pipeline, not a failure");

    assert_seeded_stats(&got["stats"], id);
    assert_eq!(got["printed"], json!(["Health score: 80", "Success rate: 66.7%"]));

    let listed = got["pipelines"].as_array().unwrap_or_else(|| panic!("list_pipelines returned {got}"));
    assert_eq!(listed.len(), 1, "{got}");
    assert_eq!(listed[0]["pipeline_id"], id);
    assert_eq!(listed[0]["repository"], "myuser/myapp");
    assert_eq!(listed[0]["status"], "active");
    assert_eq!(listed[0]["vps_integration"], json!({"linked_domain": "myapp.com", "linked_app": "myapp"}));

    assert_eq!(got["teardown"], true);
    assert_eq!(got["missing_stats"], Value::Null);
    assert_eq!(got["wrong_token_list"], Value::Null);
    assert_eq!(got["wrong_token_provision"], Value::Null);

    // The server kept what the client sent, and the teardown deactivated it.
    let stored = app.store().get_pipeline(id).await.unwrap().expect("the provisioned pipeline is stored");
    assert_eq!(stored.status.as_str(), "inactive");
    assert!(stored.deactivated_at.is_some());
    assert_eq!(stored.repository, "myuser/myapp");
    assert_eq!(stored.workflow_file, WORKFLOW);
    assert_eq!(stored.linked_domain.as_deref(), Some("myapp.com"));
    assert_eq!(stored.linked_app.as_deref(), Some("myapp"));
    assert_eq!(stored.trigger_branches(), vec!["production"]);
    assert_eq!(stored.config.0["environment"], "production");
    assert_eq!(stored.config.0["auto_deploy"], true);
    // The wrong token provisioned nothing.
    assert_eq!(app.get("/api/pipelines").await.body["count"], 1);
}

async fn provision_sh(app: &TestApp, token: &str, args: &[&str]) -> (i32, String, String) {
    let host = app.base.strip_prefix("http://").unwrap().to_string();
    let mut argv = vec![fixture("provision.sh")];
    argv.extend(args.iter().map(|a| a.to_string()));
    let out = run_tool("bash", argv, vec![("CCM_HOST", host), ("CCM_TOKEN", token.to_string())]).await;
    (out.status.code().expect("exit code"), text(&out.stdout), text(&out.stderr))
}

fn provisioned_id(stdout: &str) -> String {
    let first = stdout.lines().next().unwrap_or_default();
    let id = first.strip_prefix("✓ Pipeline provisioned: ").unwrap_or_else(|| panic!("{stdout}"));
    assert!(ccm::domain::pipeline::is_pipeline_id(id), "{stdout}");
    id.to_string()
}

async fn bash_script_provisions_and_prints_the_pipeline_id(backend: Backend) {
    require_curl();
    require_jq();
    let app = TestApp::start(backend).await;

    let (code, stdout, stderr) = provision_sh(&app, TOKEN, &["octo/shop", "shop.example.com", "shop"]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    let id = provisioned_id(&stdout);
    assert_eq!(stdout, format!("✓ Pipeline provisioned: {id}\n  Domain: shop.example.com\n  App: shop\n"));
    let stored = app.store().get_pipeline(&id).await.unwrap().expect("stored");
    assert_eq!((stored.repository.as_str(), stored.workflow_file.as_str()), ("octo/shop", WORKFLOW));
    assert_eq!(stored.status.as_str(), "active");
    assert_eq!(stored.linked_domain.as_deref(), Some("shop.example.com"));
    assert_eq!(stored.linked_app.as_deref(), Some("shop"));

    // Without an app name the script sends "linked_app": "", which ccm stores as no app.
    let (code, stdout, stderr) = provision_sh(&app, TOKEN, &["octo/blog", "blog.example.com"]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    let blog = provisioned_id(&stdout);
    assert!(stdout.ends_with("  Domain: blog.example.com\n  App: N/A\n"), "{stdout}");
    let stored = app.store().get_pipeline(&blog).await.unwrap().expect("stored");
    assert_eq!(stored.linked_app, None);

    // Run again for a repository that already has an active pipeline: ccm answers 409 naming
    // that pipeline, so the script reports the pipeline that exists (and provisions no second).
    let (code, stdout, _) = provision_sh(&app, TOKEN, &["octo/shop", "shop.example.com", "shop"]).await;
    assert_eq!((code, provisioned_id(&stdout)), (0, id));
    assert_eq!(app.get("/api/pipelines").await.body["count"], 2);

    // Its own usage check still works.
    let (code, stdout, _) = provision_sh(&app, TOKEN, &["octo/shop"]).await;
    assert_eq!(code, 1);
    assert!(stdout.starts_with("Usage: "), "{stdout}");
}

async fn bash_script_fails_with_the_error_json_on_a_wrong_token(backend: Backend) {
    require_curl();
    require_jq();
    let app = TestApp::start(backend).await;
    let (code, stdout, stderr) = provision_sh(&app, "wrong-token", &["octo/shop", "shop.example.com", "shop"]).await;
    assert_eq!(code, 1, "{stdout}{stderr}");
    let (first, rest) = stdout.split_once('\n').unwrap_or_else(|| panic!("{stdout}"));
    assert_eq!(first, "✗ Failed to provision pipeline");
    let error: Value = serde_json::from_str(rest.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(error["success"], false);
    assert_eq!(error["error"], "Invalid CCM-Token");
    assert_eq!(app.get("/api/pipelines").await.body["count"], 0);
}

/// Runs `curl ARGS` (the guide's example, with its host replaced) and returns the status code and
/// the JSON body.
async fn curl(args: &[&str]) -> (u16, Value) {
    let mut argv: Vec<String> = vec!["-s".into(), "-w".into(), "\n%{http_code}".into()];
    argv.extend(args.iter().map(|a| a.to_string()));
    let out = run_tool("curl", argv, vec![]).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "curl {args:?} failed ({}): {}", out.status, text(&out.stderr));
    let (body, status) = stdout.rsplit_once('\n').unwrap_or_else(|| panic!("{stdout}"));
    let status = status.parse().unwrap_or_else(|_| panic!("{stdout}"));
    let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: non-JSON body from curl {args:?}: {body}"));
    (status, body)
}

fn token_header() -> String {
    format!("CCM-Token: {TOKEN}")
}

fn assert_timestamp(value: &Value) {
    let ts = value.as_str().unwrap_or_else(|| panic!("not a timestamp: {value}"));
    assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok() && ts.ends_with('Z') && ts.len() == 20, "{ts}");
}

async fn curl_examples_answer_as_documented(backend: Backend) {
    require_curl();
    require_jq();
    let app = TestApp::start(backend).await;
    let base = &app.base;
    let auth = token_header();

    // 1. Provision, the guide's curl example.
    let (status, body) = curl(&[
        "-X",
        "POST",
        &format!("{base}/api/pipelines/provision"),
        "-H",
        &auth,
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{
    "repo": "myorg/myrepo",
    "workflow_file": ".github/workflows/deploy.yml",
    "linked_domain": "example.com",
    "linked_app": "example-app"
  }"#,
    ])
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["success"], true);
    let id = body["pipeline_id"].as_str().unwrap().to_string();
    assert!(ccm::domain::pipeline::is_pipeline_id(&id), "{id}");
    assert_eq!(body["status"], "active");
    assert_timestamp(&body["created_at"]);
    assert_eq!(body["repository"], "myorg/myrepo");

    // The full request format of the guide, with a config.
    let (status, body) = curl(&[
        "-X",
        "POST",
        &format!("{base}/api/pipelines/provision"),
        "-H",
        &auth,
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{
  "repo": "owner/repository-name",
  "workflow_file": ".github/workflows/deploy.yml",
  "config": {
    "trigger_branches": ["production", "main"],
    "environment": "production",
    "auto_deploy": true,
    "notifications_enabled": true
  },
  "linked_domain": "example.com",
  "linked_app": "my-app"
}"#,
    ])
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!((body["success"].clone(), body["repository"].clone()), (json!(true), json!("owner/repository-name")));
    let other = body["pipeline_id"].as_str().unwrap().to_string();
    let stored = app.store().get_pipeline(&other).await.unwrap().unwrap();
    assert_eq!(stored.trigger_branches(), vec!["production", "main"]);
    assert_eq!(stored.config.0["notifications_enabled"], true);

    // 2. Stats. The first pipeline triggers on every branch: the four seeded runs count.
    seed_runs(&app, "myorg/myrepo").await;
    let (status, body) = curl(&["-X", "GET", &format!("{base}/api/pipelines/{id}/stats"), "-H", &auth]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    let stats = &body["stats"];
    assert_eq!(stats["pipeline_id"], id.as_str());
    assert_eq!(stats["status"], "active");
    assert_timestamp(&stats["last_run"]["timestamp"]);
    assert_eq!(stats["last_run"]["status"], "failure");
    assert_eq!(stats["last_run"]["duration_seconds"], 50);
    assert_eq!(stats["last_run"]["branch"], "feature");
    assert_eq!(
        stats["metrics_24h"],
        json!({"run_count": 4, "success_count": 2, "success_rate": 50.0, "avg_duration_seconds": 163})
    );
    // round(0.6 * 50 + 0.3 * 0 + 0.1 * 100)
    assert_eq!(stats["health_score"], 40);
    assert_eq!((stats["active_runs"].clone(), stats["queue_length"].clone()), (json!(0), json!(0)));

    // "Check Pipeline Health": curl piped into jq.
    let out = run_tool(
        "bash",
        vec![
            "-c".into(),
            format!(r#"curl -H "CCM-Token: $CCM_API_TOKEN" {base}/api/pipelines/{id}/stats | jq '.stats'"#),
        ],
        vec![("CCM_API_TOKEN", TOKEN.to_string())],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let piped: Value = serde_json::from_slice(&out.stdout).expect("jq printed JSON");
    assert_eq!(piped["pipeline_id"], id.as_str());
    assert_eq!(piped["health_score"], 40);

    // 3. List.
    let (status, body) = curl(&["-X", "GET", &format!("{base}/api/pipelines"), "-H", &auth]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["count"], 2);
    let pipelines = body["pipelines"].as_array().unwrap();
    assert_eq!(pipelines.len(), 2);
    for (pid, repo, app_name) in
        [(id.as_str(), "myorg/myrepo", "example-app"), (other.as_str(), "owner/repository-name", "my-app")]
    {
        let p = pipelines.iter().find(|p| p["pipeline_id"] == pid).unwrap_or_else(|| panic!("{pid} not in {body}"));
        assert_eq!(p["repository"], repo);
        assert_eq!(p["status"], "active");
        assert_timestamp(&p["created_at"]);
        assert_eq!(p["vps_integration"], json!({"linked_domain": "example.com", "linked_app": app_name}));
    }

    // 4. Teardown, the curl example and the request with ?preserve_repo=true.
    let (status, body) = curl(&["-X", "DELETE", &format!("{base}/api/pipelines/{id}"), "-H", &auth]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["pipeline_id"], id.as_str());
    assert_eq!(body["message"], "Pipeline deactivated, repository preserved");
    let (status, body) =
        curl(&["-X", "DELETE", &format!("{base}/api/pipelines/{other}?preserve_repo=true"), "-H", &auth]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["success"].clone(), body["pipeline_id"].clone()), (json!(true), json!(other)));
    assert_eq!(body["message"], "Pipeline deactivated, repository preserved");
    for pid in [&id, &other] {
        assert_eq!(app.store().get_pipeline(pid).await.unwrap().unwrap().status.as_str(), "inactive");
    }
}

/// A documented error body: every field the guide shows, with its exact value; ccm adds only a
/// machine-readable `code`.
fn assert_documented_error(status: u16, body: &Value, want_status: u16, error: &str, code: &str) {
    assert_eq!(status, want_status, "{body}");
    let mut expected = json!({"success": false, "error": error});
    expected["code"] = json!(code);
    assert_eq!(body, &expected);
}

async fn curl_error_cases_answer_with_the_documented_bodies(backend: Backend) {
    require_curl();
    let app = TestApp::start(backend).await;
    let base = &app.base;
    let auth = token_header();

    // 401: a wrong token, and none at all.
    let (status, body) = curl(&["-X", "GET", &format!("{base}/api/pipelines"), "-H", "CCM-Token: wrong"]).await;
    assert_documented_error(status, &body, 401, "Invalid CCM-Token", "unauthorized");
    let (status, body) = curl(&["-X", "GET", &format!("{base}/api/pipelines")]).await;
    assert_documented_error(status, &body, 401, "Invalid CCM-Token", "unauthorized");
    let (status, body) = curl(&[
        "-X",
        "POST",
        &format!("{base}/api/pipelines/provision"),
        "-H",
        "CCM-Token: wrong",
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"repo": "myorg/myrepo", "workflow_file": ".github/workflows/deploy.yml"}"#,
    ])
    .await;
    assert_documented_error(status, &body, 401, "Invalid CCM-Token", "unauthorized");

    // 404: the guide's pipe_invalid_id, on stats and on teardown.
    let (status, body) =
        curl(&["-X", "GET", &format!("{base}/api/pipelines/pipe_invalid_id/stats"), "-H", &auth]).await;
    assert_documented_error(status, &body, 404, "Pipeline not found: pipe_invalid_id", "not_found");
    let (status, body) = curl(&["-X", "DELETE", &format!("{base}/api/pipelines/pipe_invalid_id"), "-H", &auth]).await;
    assert_documented_error(status, &body, 404, "Pipeline not found: pipe_invalid_id", "not_found");

    // 400: a payload without the required fields.
    let (status, body) = curl(&[
        "-X",
        "POST",
        &format!("{base}/api/pipelines/provision"),
        "-H",
        &auth,
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"linked_domain": "example.com", "linked_app": "example-app"}"#,
    ])
    .await;
    assert_documented_error(status, &body, 400, "Missing required fields: repo, workflow_file", "bad_request");

    // Nothing was provisioned by any of them.
    assert_eq!(app.get("/api/pipelines").await.body["count"], 0);
}
