//! Job logs and failure reasons (issue 17) against the fake GitHub: a completed job's log is
//! fetched through the App (GitHub answers with a redirect to a second local server, the download
//! host, which must not see the installation token), capped to its tail, served with `tail` and
//! `Range`; a failed job is explained by its failure annotation or its log. On SQLite and on
//! PostgreSQL.

use crate::github_app::{REPO, provisioned_pipeline};
use crate::helpers::github::*;
use crate::helpers::*;
use chrono::Utc;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

on_both_databases!(
    logs_are_fetched_capped_and_served,
    a_job_without_a_log_says_why,
    jobs_github_did_not_send_are_read_and_their_logs_fetched,
    the_oldest_logs_go_past_the_budget
);

const RUN: i64 = 700;
/// Kept of each log in these tests (CCM_JOB_LOG_MAX_MB is in megabytes; the tests set bytes).
const CAP: usize = 2048;

fn job_body(job_id: i64, name: &str, conclusion: &str, failed_step: Option<&str>) -> Vec<u8> {
    let at = Utc::now();
    let mut steps = vec![json!({"name": "Set up job", "status": "completed", "conclusion": "success", "number": 1})];
    if let Some(step) = failed_step {
        steps.push(json!({"name": step, "status": "completed", "conclusion": "failure", "number": 2}));
    }
    json!({
        "action": "completed",
        "workflow_job": {
            "id": job_id, "run_id": RUN, "run_attempt": 1, "name": name, "status": "completed",
            "conclusion": conclusion, "runner_name": "runner-1", "html_url": "https://github.com/x",
            "created_at": ccm::domain::clock::format(&at), "started_at": ccm::domain::clock::format(&at),
            "completed_at": ccm::domain::clock::format(&at), "steps": steps,
        },
        "repository": {"full_name": REPO}
    })
    .to_string()
    .into_bytes()
}

/// GitHub answers the job's logs call with a redirect to the download host.
async fn log_redirect(gh: &FakeGithub, download: &MockServer, job_id: i64) {
    FakeGithub::repo_call("GET", format!("/repos/{REPO}/actions/jobs/{job_id}/logs"))
        .respond_with(
            ResponseTemplate::new(302).insert_header("Location", format!("{}/logs/{job_id}.txt?sig=x", download.uri())),
        )
        .expect(1)
        .mount(&gh.server)
        .await;
}

async fn serve_log(download: &MockServer, job_id: i64, text: String) {
    Mock::given(method("GET"))
        .and(path(format!("/logs/{job_id}.txt")))
        .respond_with(ResponseTemplate::new(200).set_body_string(text))
        .expect(1)
        .mount(download)
        .await;
}

async fn logs_are_fetched_capped_and_served(backend: Backend) {
    let gh = FakeGithub::start().await;
    let download = MockServer::start().await;
    let mut config = test_config(&gh.url());
    config.job_logs.max_bytes = CAP;
    let app = TestApp::start_with_github_config(backend, config).await;
    let id = provisioned_pipeline(&app, &gh).await;
    app.store()
        .upsert_execution(&run(RUN, REPO, "main", Utc::now(), chrono::Duration::minutes(5), Some("failure"), 60))
        .await
        .unwrap();

    // build: passed, a long log kept as its tail. test: failed, explained by its annotation.
    // lint: failed without annotations, explained by its log. docs: its log expired on GitHub.
    let long: String = (1..=5000).map(|n| format!("2024-05-01T10:00:00.0000000Z build line {n}\n")).collect();
    let lint_log = "2024-05-01T10:00:00.0000000Z ##[group]Run cargo clippy\n\
                    2024-05-01T10:00:00.1000000Z ##[endgroup]\n\
                    2024-05-01T10:00:01.0000000Z warning: unused variable\n\
                    2024-05-01T10:00:02.0000000Z error: could not compile `app`\n\
                    2024-05-01T10:00:03.0000000Z ##[error]Process completed with exit code 101.\n";
    for (job_id, text) in [(7001, long.clone()), (7002, "tests ran\n".to_string()), (7003, lint_log.to_string())] {
        log_redirect(&gh, &download, job_id).await;
        serve_log(&download, job_id, text).await;
    }
    FakeGithub::repo_call("GET", format!("/repos/{REPO}/actions/jobs/7004/logs"))
        .respond_with(ResponseTemplate::new(410).set_body_json(json!({"message": "Gone"})))
        .expect(1)
        .mount(&gh.server)
        .await;
    FakeGithub::repo_call("GET", format!("/repos/{REPO}/check-runs/7002/annotations"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"annotation_level": "warning", "message": "Node 16 is deprecated"},
            {"annotation_level": "failure", "message": "assertion failed: total == 42"},
        ])))
        .expect(1)
        .mount(&gh.server)
        .await;
    FakeGithub::repo_call("GET", format!("/repos/{REPO}/check-runs/7003/annotations"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&gh.server)
        .await;

    let events_url = format!("{}/api/pipelines/{id}/events", app.base);
    let mut events = app.client.get(&events_url).header("CCM-Token", TOKEN).send().await.unwrap();
    let jobs = [
        (7001, "build", "success", None),
        (7002, "test", "failure", Some("Run tests")),
        (7003, "lint", "failure", Some("Run cargo clippy")),
        (7004, "docs", "success", None),
    ];
    for (job_id, name, conclusion, step) in jobs {
        let reply =
            app.deliver("workflow_job", &format!("log-{job_id}"), &job_body(job_id, name, conclusion, step)).await;
        assert_eq!(reply.body["status"], "processed", "{}", reply.body);
    }
    let log_url = |job_id: i64| format!("/api/pipelines/{id}/executions/{RUN}/1/jobs/{job_id}/logs");
    // Each log arrives once, announced to the pipeline's live stream.
    let arrived = read_events(&mut events, {
        let mut seen = std::collections::HashSet::new();
        move |kind, v| {
            if kind == "log" {
                seen.insert(v["job_id"].as_i64().unwrap());
            }
            seen.len() == 4
        }
    })
    .await;
    let build = arrived.iter().find(|(kind, _, v)| kind == "log" && v["job_id"] == 7001).unwrap();
    assert_eq!(build.2["state"], "stored");
    assert_eq!(build.2["truncated"], true);

    // The tail of the long log is kept, from a whole line; the token never left GitHub's host.
    let whole =
        app.client.get(format!("{}{}", app.base, log_url(7001))).header("CCM-Token", TOKEN).send().await.unwrap();
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(whole.headers()["x-ccm-log-truncated"], "true");
    let text = whole.text().await.unwrap();
    assert!(text.len() <= CAP && text.len() > CAP - 60, "{}", text.len());
    assert!(text.starts_with("2024-05-01T10:00:00.0000000Z build line "), "{text}");
    assert!(text.ends_with("build line 5000\n"));
    assert_eq!(long.rfind(&text).map(|at| at + text.len()), Some(long.len()), "a suffix of the log");
    for request in download.received_requests().await.unwrap() {
        assert!(!request.headers.contains_key("authorization"), "the download host got credentials: {request:?}");
    }

    // ?tail= lines, and Range.
    let tail = app.client.get(format!("{}{}?tail=2", app.base, log_url(7001))).header("CCM-Token", TOKEN).send().await;
    let tail = tail.unwrap().text().await.unwrap();
    assert_eq!(tail, "2024-05-01T10:00:00.0000000Z build line 4999\n2024-05-01T10:00:00.0000000Z build line 5000\n");
    let range = |spec: &str| {
        app.client.get(format!("{}{}", app.base, log_url(7002))).header("CCM-Token", TOKEN).header("Range", spec).send()
    };
    let part = range("bytes=0-4").await.unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], "bytes 0-4/10");
    assert_eq!(part.text().await.unwrap(), "tests");
    let last = range("bytes=-4").await.unwrap();
    assert_eq!((last.status().as_u16(), last.text().await.unwrap()), (206, "ran\n".to_string()));
    let outside = range("bytes=10-").await.unwrap();
    assert_eq!(outside.status(), 416);
    assert_eq!(outside.headers()["content-range"], "bytes */10");
    let outside: Value = outside.json().await.unwrap();
    assert_eq!(outside["code"], "range_not_satisfiable");
    assert_eq!(app.get(&format!("{}?tail=0", log_url(7001))).await.status, 400);

    // Failure reasons: the annotation, else the log's error lines; on the jobs and on /logs.
    let listed = app.get(&format!("/api/pipelines/{id}/executions/{RUN}/1/jobs")).await;
    let job = |name: &str| listed.body["jobs"].as_array().unwrap().iter().find(|j| j["name"] == name).unwrap().clone();
    assert_eq!(job("test")["failed_step"], "Run tests");
    assert_eq!(job("test")["error_message"], "assertion failed: total == 42");
    assert_eq!(job("lint")["failed_step"], "Run cargo clippy");
    assert_eq!(
        job("lint")["error_message"],
        "warning: unused variable\nerror: could not compile `app`\nProcess completed with exit code 101."
    );
    assert_eq!(
        (job("build")["failed_step"].clone(), job("build")["log_state"].clone()),
        (Value::Null, json!("stored"))
    );
    assert_eq!(job("docs")["log_state"], "expired");

    // So do the pipeline's executions.
    let details = app.get(&format!("/api/pipelines/{id}")).await;
    let listed_run = &details.body["executions"][0];
    assert_eq!((listed_run["run_id"].as_i64(), listed_run["failure"]["job_name"].as_str()), (Some(RUN), Some("test")));
    assert_eq!(listed_run["failure"]["error_message"], "assertion failed: total == 42");

    // The stats' last run says which job failed and why.
    let stats = app.get(&format!("/api/pipelines/{id}/stats")).await;
    let failure = &stats.body["stats"]["last_run"]["failure"];
    assert_eq!(failure["job_name"], "test", "{}", stats.body);
    assert_eq!(
        (failure["failed_step"].as_str(), failure["error_message"].as_str()),
        (Some("Run tests"), Some("assertion failed: total == 42"))
    );

    let logs = app.get(&format!("/api/pipelines/{id}/logs?tail=1")).await;
    assert_eq!(logs.status, 200, "{}", logs.body);
    assert_eq!(logs.body["execution"]["run_id"], RUN);
    let entries = logs.body["jobs"].as_array().unwrap();
    assert_eq!(entries.len(), 4);
    let lint = entries.iter().find(|j| j["name"] == "lint").unwrap();
    assert_eq!(lint["log_tail"], "2024-05-01T10:00:03.0000000Z ##[error]Process completed with exit code 101.\n");
    assert_eq!(lint["log_url"], log_url(7003));
    let docs = entries.iter().find(|j| j["name"] == "docs").unwrap();
    assert_eq!(docs["log_tail"], Value::Null);
    assert_eq!(docs["log_missing"], "No log of job 7004: expired on GitHub");
    let one = app.get(&format!("/api/pipelines/{id}/logs?run_id={RUN}&attempt=1&job=test")).await;
    assert_eq!(one.body["jobs"].as_array().unwrap().len(), 1, "{}", one.body);
    assert_eq!(app.get(&format!("/api/pipelines/{id}/logs?job=nope")).await.status, 404);

    // The command line shows the same: which step failed, why, and the log's end.
    let ccm = crate::helpers::ccm_cli::Ccm::new(&app.base, Some(TOKEN));
    let shown = ccm.run(&["pipelines", "logs", &id, "--job", "lint", "--tail", "1"]).await;
    shown.assert_code(0);
    assert_eq!(
        shown.stdout,
        format!(
            "Run {RUN} attempt 1 (main), failure\n\n== lint (failure)\nfailed step: Run cargo clippy\n\
             error: warning: unused variable\n       error: could not compile `app`\n       \
             Process completed with exit code 101.\n\
             2024-05-01T10:00:03.0000000Z ##[error]Process completed with exit code 101.\n"
        )
    );
    let stats = ccm.run(&["pipelines", "stats", &id]).await;
    assert!(stats.stdout.contains("\nfailed job:    test, step \"Run tests\"\n"), "{stats:?}");
    assert!(stats.stdout.contains("\nerror:         assertion failed: total == 42\n"), "{stats:?}");

    // An expired log, a job of another run, an unknown job: 404s that say which.
    let expired = app.get(&log_url(7004)).await;
    assert_eq!((expired.status, expired.body["error"].as_str()), (404, Some("No log of job 7004: expired on GitHub")));
    assert_eq!(app.get(&format!("/api/pipelines/{id}/executions/{RUN}/2/jobs/7001/logs")).await.status, 404);
    assert_eq!(app.get(&log_url(9999)).await.status, 404);

    // Each log was fetched once: the sweep queues no second fetch of a job it has.
    let unfinished =
        "SELECT COUNT(*) FROM outbox_jobs WHERE kind = 'fetch_job_log' AND status IN ('pending', 'running')";
    wait_until("the log fetches to finish", async || rows::count(&app.db, backend, unfinished).await == 0).await;
    let fetches = rows::count(&app.db, backend, "SELECT COUNT(*) FROM outbox_jobs WHERE kind = 'fetch_job_log'").await;
    assert_eq!(fetches, 4);
    gh.server.verify().await;
    download.verify().await;
}

async fn a_job_without_a_log_says_why(backend: Backend) {
    // Without an App, ccm cannot fetch logs, and says so.
    let app = TestApp::start(backend).await;
    let id = app.provision(REPO, WORKFLOW, json!({})).await;
    app.store()
        .upsert_execution(&run(RUN, REPO, "main", Utc::now(), chrono::Duration::minutes(5), Some("failure"), 60))
        .await
        .unwrap();
    app.deliver("workflow_job", "nolog-1", &job_body(7101, "test", "failure", Some("Run tests"))).await;
    let url = format!("/api/pipelines/{id}/executions/{RUN}/1/jobs/7101/logs");
    let reply = wait_for("the job to be stored", PATIENCE, async || {
        let reply = app.get(&url).await;
        let not_stored = format!("Job 7101 not found in run {RUN} attempt 1 of {id}");
        if reply.body["error"] == not_stored.as_str() { Err(not_stored) } else { Ok(reply) }
    })
    .await;
    assert_eq!(reply.status, 404);
    assert_eq!(
        reply.body["error"],
        "No log of job 7101: no App: ccm fetches job logs through the GitHub App, which is not configured"
    );
    // The failing step is known from the job's steps all the same.
    let listed = app.get(&format!("/api/pipelines/{id}/executions/{RUN}/1/jobs")).await;
    assert_eq!(listed.body["jobs"][0]["failed_step"], "Run tests");
    assert_eq!(listed.body["jobs"][0]["log_state"], Value::Null);
}

async fn jobs_github_did_not_send_are_read_and_their_logs_fetched(backend: Backend) {
    let gh = FakeGithub::start().await;
    let download = MockServer::start().await;
    let app = TestApp::start_with_github(backend, &gh.url()).await;
    let id = provisioned_pipeline(&app, &gh).await;
    // A run that completed an hour ago; no workflow_job event ever came for it.
    app.store()
        .upsert_execution(&run(900, REPO, "main", Utc::now(), chrono::Duration::hours(1), Some("success"), 60))
        .await
        .unwrap();
    FakeGithub::repo_call("GET", format!("/repos/{REPO}/actions/runs/900/attempts/1/jobs"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"total_count": 1, "jobs": [{
            "id": 9001, "run_id": 900, "run_attempt": 1, "name": "deploy", "status": "completed",
            "conclusion": "success", "started_at": "2026-01-05T10:00:10Z", "completed_at": Utc::now().to_rfc3339(),
            "steps": [{"name": "Deploy", "status": "completed", "conclusion": "success", "number": 1}]
        }]})))
        .expect(1)
        .mount(&gh.server)
        .await;
    log_redirect(&gh, &download, 9001).await;
    serve_log(&download, 9001, "deployed\n".into()).await;
    let logs = wait_for("the run's jobs and their logs", PATIENCE, async || {
        let logs = app.get(&format!("/api/pipelines/{id}/logs?run_id=900")).await;
        if logs.body["jobs"][0]["log_tail"].is_string() { Ok(logs) } else { Err(logs.body.to_string()) }
    })
    .await;
    assert_eq!(logs.body["jobs"][0]["name"], "deploy");
    assert_eq!(logs.body["jobs"][0]["log_tail"], "deployed\n");
    let listed = rows::count(&app.db, backend, "SELECT COUNT(*) FROM job_listings WHERE run_id = 900").await;
    assert_eq!(listed, 1);
    gh.server.verify().await;
}

/// About `bytes` of text LZ4 cannot shrink much (hex of a counter's digest on each line).
fn incompressible(bytes: usize) -> String {
    use sha2::Digest;
    let mut text = String::new();
    let mut n = 0u64;
    while text.len() < bytes {
        n += 1;
        text.push_str(&hex::encode(sha2::Sha256::digest(n.to_le_bytes())));
        text.push('\n');
    }
    text
}

async fn the_oldest_logs_go_past_the_budget(backend: Backend) {
    let gh = FakeGithub::start().await;
    let download = MockServer::start().await;
    let mut config = test_config(&gh.url());
    // Room for one 4 KB log, not two.
    config.job_logs.budget_bytes = 6000;
    let app = TestApp::start_with_github_config(backend, config).await;
    let id = provisioned_pipeline(&app, &gh).await;
    app.store()
        .upsert_execution(&run(RUN, REPO, "main", Utc::now(), chrono::Duration::minutes(5), Some("success"), 60))
        .await
        .unwrap();
    let url = |job_id: i64| format!("/api/pipelines/{id}/executions/{RUN}/1/jobs/{job_id}/logs");
    let status = async |job_id: i64| {
        let reply = app.client.get(format!("{}{}", app.base, url(job_id))).header("CCM-Token", TOKEN).send().await;
        reply.unwrap().status().as_u16()
    };
    for job_id in [7201, 7202] {
        log_redirect(&gh, &download, job_id).await;
        serve_log(&download, job_id, incompressible(4000)).await;
        app.deliver("workflow_job", &format!("budget-{job_id}"), &job_body(job_id, "build", "success", None)).await;
        wait_until("the log to be stored", async || status(job_id).await == 200).await;
    }
    // The older one is dropped, its record kept and saying why; the newer one stays.
    wait_until("the older log to be dropped", async || status(7201).await == 404).await;
    let dropped = app.get(&url(7201)).await;
    assert_eq!(
        dropped.body["error"],
        "No log of job 7201: removed to keep the stored logs within CCM_JOB_LOG_BUDGET_MB"
    );
    assert_eq!(status(7202).await, 200);
    let listed = app.get(&format!("/api/pipelines/{id}/executions/{RUN}/1/jobs")).await;
    let states: Vec<&str> =
        listed.body["jobs"].as_array().unwrap().iter().map(|j| j["log_state"].as_str().unwrap()).collect();
    assert_eq!(states.iter().filter(|s| **s == "evicted").count(), 1, "{states:?}");
    assert_eq!(states.iter().filter(|s| **s == "stored").count(), 1, "{states:?}");
}
