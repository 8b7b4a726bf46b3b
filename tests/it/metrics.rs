//! `GET /metrics`: after known traffic, the exact counts, on both databases. Each app has its own
//! registry, so the values are this test's alone.

use std::collections::BTreeMap;

use crate::helpers::github::FakeGithub;
use crate::helpers::{Backend, SECRET, TestApp, WORKFLOW, workflow_run};
use ccm::domain::outbox::OutboxTask;
use ccm::http::access::AccessConfig;
use ccm::store::NewOutboxJob;
use chrono::{Duration, Utc};
use serde_json::json;
use wiremock::ResponseTemplate;

on_both_databases!(counts_requests_deliveries_and_database_state, counts_github_calls_and_rate_limit);

const REPO: &str = "octo/metrics";

/// The samples of an exposition text: metric name and labels -> value.
struct Scrape {
    text: String,
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Scrape {
    async fn of(app: &TestApp) -> Scrape {
        let res = app.client.get(format!("{}/metrics", app.base)).send().await.expect("scrape");
        assert_eq!(res.status(), 200);
        let content_type = res.headers()["content-type"].to_str().unwrap().to_string();
        assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
        let text = res.text().await.unwrap();
        let samples = text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|line| {
                let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample: {line}"));
                let value: f64 = value.parse().unwrap_or_else(|_| panic!("not a value: {line}"));
                let (name, labels) = match series.split_once('{') {
                    Some((name, rest)) => (name, parse_labels(rest.strip_suffix('}').expect("closing brace"))),
                    None => (series, BTreeMap::new()),
                };
                (name.to_string(), labels, value)
            })
            .collect();
        Scrape { text, samples }
    }

    /// The value of the sample with exactly these labels; 0 when there is none (a counter or
    /// histogram never touched is not rendered).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let wanted: BTreeMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let found: Vec<f64> =
            self.samples.iter().filter(|(n, l, _)| n == name && *l == wanted).map(|(_, _, v)| *v).collect();
        assert!(found.len() <= 1, "{name} {labels:?} appears twice:\n{}", self.text);
        found.first().copied().unwrap_or(0.0)
    }

    /// The value of a sample that must be present (gauges).
    fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let wanted: BTreeMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert!(
            self.samples.iter().any(|(n, l, _)| n == name && *l == wanted),
            "{name} {labels:?} missing:\n{}",
            self.text
        );
        self.value(name, labels)
    }
}

fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").expect("label=\"value\"");
        let end = after.find('"').expect("closing quote");
        labels.insert(key.trim_start_matches(',').to_string(), after[..end].to_string());
        rest = &after[end + 1..];
    }
    labels
}

async fn counts_requests_deliveries_and_database_state(backend: Backend) {
    // The database gauges read at every scrape (they are cached for 5 s by default; see
    // metrics_auth for the cache).
    let app = TestApp::with_access(
        backend,
        &AccessConfig { gauges_for: std::time::Duration::ZERO, ..AccessConfig::unlimited() },
    )
    .await;
    let first = app.provision(REPO, WORKFLOW, json!({})).await;
    let second = app.provision("octo/other", WORKFLOW, json!({})).await;
    assert_eq!(app.delete(&format!("/api/pipelines/{second}")).await.status, 200);

    // Deliveries: run 1 starts then completes (the start delivered twice), run 2 starts, a
    // `star` is ignored, a malformed workflow_run fails, a bad signature and a missing header
    // are refused.
    let t0 = Utc::now() - Duration::minutes(10);
    let start1 = workflow_run(1, 1, REPO, "main", "in_progress", None, t0, t0);
    let done1 = workflow_run(1, 1, REPO, "main", "completed", Some("success"), t0, t0 + Duration::minutes(2));
    let start2 = workflow_run(2, 1, REPO, "main", "in_progress", None, t0, t0 + Duration::minutes(3));
    for (guid, body) in [("m-1", &start1), ("m-1", &start1), ("m-2", &done1), ("m-3", &start2)] {
        assert_eq!(app.deliver("workflow_run", guid, body).await.status, 200);
    }
    assert_eq!(app.deliver("star", "m-4", br#"{"action":"created"}"#).await.body["status"], "ignored");
    let malformed = br#"{"action":"completed","workflow_run":{"id":"not a number"}}"#;
    assert_eq!(app.deliver("workflow_run", "m-5", malformed).await.body["status"], "failed");
    let forged = app.deliver_signed("workflow_run", "m-6", &start2, "sha256=00").await;
    assert_eq!(forged.status, 401);
    let no_event = app
        .client
        .post(format!("{}/webhooks/github", app.base))
        .header("X-GitHub-Delivery", "m-7")
        .header("X-Hub-Signature-256", ccm::webhook::signature::sign(SECRET.as_bytes(), b"{}"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(no_event.status(), 400);

    // API calls: two lists, one details, one without a token, two unknown paths.
    assert_eq!(app.get("/api/pipelines").await.status, 200);
    assert_eq!(app.get("/api/pipelines?status=active").await.status, 200);
    assert_eq!(app.get(&format!("/api/pipelines/{first}")).await.status, 200);
    assert_eq!(app.send(reqwest::Method::GET, "/api/pipelines", None, None).await.status, 401);
    assert_eq!(app.get("/api/no-such-thing").await.status, 404);
    assert_eq!(app.get("/no/such/thing").await.status, 404);
    // An outbound job waiting (no GitHub worker runs in this app).
    let job =
        NewOutboxJob { task: OutboxTask::CorrectStuckRuns {}, dedupe_key: None, max_attempts: 3, run_at: Utc::now() };
    app.store().enqueue_job(&job).await.unwrap();

    let m = Scrape::of(&app).await;
    let http = |method: &str, route: &str, status: &str| {
        m.value("ccm_http_requests_total", &[("method", method), ("route", route), ("status", status)])
    };
    assert_eq!(http("POST", "/api/pipelines/provision", "201"), 2.0);
    assert_eq!(http("DELETE", "/api/pipelines/{id}", "200"), 1.0);
    assert_eq!(http("GET", "/api/pipelines", "200"), 2.0);
    assert_eq!(http("GET", "/api/pipelines", "401"), 1.0);
    assert_eq!(http("GET", "/api/pipelines/{id}", "200"), 1.0);
    assert_eq!(http("GET", "unmatched", "404"), 2.0);
    assert_eq!(http("POST", "/webhooks/github", "200"), 6.0);
    assert_eq!(http("POST", "/webhooks/github", "401"), 1.0);
    assert_eq!(http("POST", "/webhooks/github", "400"), 1.0);
    let durations =
        |route: &str| m.value("ccm_http_request_duration_seconds_count", &[("method", "GET"), ("route", route)]);
    assert_eq!(durations("/api/pipelines"), 3.0);
    assert_eq!(durations("unmatched"), 2.0);
    let le_inf = [("method", "GET"), ("route", "/api/pipelines"), ("le", "+Inf")];
    assert_eq!(m.value("ccm_http_request_duration_seconds_bucket", &le_inf), 3.0);
    // Route patterns only: no pipeline id, no unknown path becomes a label.
    assert!(!m.text.contains(&first) && !m.text.contains("no-such-thing"), "{}", m.text);

    let delivered =
        |event: &str, outcome: &str| m.value("ccm_webhook_deliveries_total", &[("event", event), ("outcome", outcome)]);
    assert_eq!(delivered("workflow_run", "processed"), 3.0);
    assert_eq!(delivered("workflow_run", "duplicate"), 1.0);
    assert_eq!(delivered("workflow_run", "failed"), 1.0);
    // Events ccm does not read are `other`: the header is not signed, its values are unbounded.
    assert_eq!(delivered("other", "ignored"), 1.0);
    assert_eq!(m.value("ccm_webhook_rejected_total", &[("reason", "invalid_signature")]), 1.0);
    assert_eq!(m.value("ccm_webhook_rejected_total", &[("reason", "bad_request")]), 1.0);
    // Latency of every delivery stored (duplicates excluded).
    assert_eq!(m.value("ccm_webhook_processing_seconds_count", &[("event", "workflow_run")]), 4.0);
    assert_eq!(m.value("ccm_webhook_processing_seconds_count", &[("event", "other")]), 1.0);
    assert!(!m.text.contains("event=\"star\""), "{}", m.text);
    // Sent one after another, every signed delivery was a batch of its own.
    assert_eq!(m.value("ccm_webhook_batch_deliveries_count", &[]), 6.0);
    assert_eq!(m.value("ccm_webhook_batch_deliveries_sum", &[]), 6.0);
    assert_eq!(m.value("ccm_webhook_batch_deliveries_bucket", &[("le", "1")]), 6.0);
    assert_eq!(m.value("ccm_webhook_batch_seconds_count", &[]), 6.0);
    assert_eq!(m.value("ccm_runs_completed_total", &[("conclusion", "success")]), 1.0);

    // Scrape-time gauges, from the database.
    assert_eq!(m.gauge("ccm_pipelines", &[("status", "active")]), 1.0);
    assert_eq!(m.gauge("ccm_pipelines", &[("status", "inactive")]), 1.0);
    assert_eq!(m.gauge("ccm_runs_active", &[("status", "in_progress")]), 1.0);
    assert_eq!(m.gauge("ccm_runs_active", &[("status", "queued")]), 0.0);
    assert_eq!(m.gauge("ccm_webhook_backlog", &[("status", "failed")]), 1.0);
    assert_eq!(m.gauge("ccm_webhook_backlog", &[("status", "pending")]), 0.0);
    assert_eq!(m.gauge("ccm_webhook_backlog", &[("status", "parked")]), 0.0);
    assert_eq!(m.gauge("ccm_outbox_jobs", &[("status", "pending")]), 1.0);
    assert_eq!(m.gauge("ccm_outbox_jobs", &[("status", "running")]), 0.0);
    assert_eq!(m.gauge("ccm_database_up", &[]), 1.0);
    assert_eq!(m.gauge("ccm_build_info", &[("version", env!("CARGO_PKG_VERSION"))]), 1.0);
    // No GitHub App: no GitHub series.
    assert!(!m.text.contains("ccm_github_"), "{}", m.text);
    for name in ["ccm_http_requests_total", "ccm_webhook_deliveries_total", "ccm_pipelines"] {
        assert!(m.text.contains(&format!("# HELP {name} ")), "{name} has no help:\n{}", m.text);
    }

    // The first scrape is counted by the next one; gauges follow the database.
    assert_eq!(app.delete(&format!("/api/pipelines/{first}")).await.status, 200);
    let again = Scrape::of(&app).await;
    assert_eq!(
        again.value("ccm_http_requests_total", &[("method", "GET"), ("route", "/metrics"), ("status", "200")]),
        1.0
    );
    assert_eq!(again.gauge("ccm_pipelines", &[("status", "active")]), 0.0);
    assert_eq!(again.gauge("ccm_pipelines", &[("status", "inactive")]), 2.0);
}

async fn counts_github_calls_and_rate_limit(backend: Backend) {
    let gh = FakeGithub::start().await;
    let app = TestApp::start_with_github(backend, &gh.url()).await;
    app.install(REPO).await;
    let ok = ResponseTemplate::new(204)
        .insert_header("x-ratelimit-limit", "5000")
        .insert_header("x-ratelimit-remaining", "4321")
        .insert_header("x-ratelimit-reset", (Utc::now().timestamp() + 3600).to_string().as_str());
    let responder = crate::helpers::github::Recorded::new(
        vec![ResponseTemplate::new(502).set_body_json(json!({"message": "Bad Gateway"}))],
        ok,
    );
    FakeGithub::repo_call("POST", format!("/repos/{REPO}/actions/workflows/deploy.yml/dispatches"))
        .respond_with(responder.clone())
        .mount(&gh.server)
        .await;
    let task = OutboxTask::DispatchWorkflow {
        repo: REPO.into(),
        workflow_file: WORKFLOW.into(),
        git_ref: "main".into(),
        inputs: Default::default(),
    };
    let id = ccm::github::outbox::enqueue(app.gh(), task, None).await.unwrap();
    assert_eq!(app.wait_job(id).await.status.as_str(), "done");
    assert_eq!(responder.times().len(), 2);

    let m = Scrape::of(&app).await;
    assert_eq!(m.value("ccm_github_api_calls_total", &[("status", "502")]), 1.0);
    assert_eq!(m.value("ccm_github_api_calls_total", &[("status", "204")]), 1.0);
    assert_eq!(m.gauge("ccm_github_rate_limit_remaining", &[]), 4321.0);
    assert_eq!(m.gauge("ccm_outbox_jobs", &[("status", "pending")]), 0.0);
    assert_eq!(m.gauge("ccm_outbox_jobs", &[("status", "failed")]), 0.0);
}
