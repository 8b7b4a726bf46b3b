//! The webhook receiver over HTTP against the real app, on SQLite and on PostgreSQL.

use crate::helpers::*;
use chrono::Duration;
use serde_json::{Value, json};

use ccm::store::{IncomingDelivery, Processing};

const REPO: &str = "octo-org/app";

on_both_databases!(
    signature_is_checked_before_anything,
    rotated_secrets_all_verify,
    no_secret_refuses_every_delivery,
    headers_are_required,
    oversized_bodies_are_413,
    runs_never_go_backwards,
    duplicates_count_once_under_one_or_two_guids,
    rerun_attempts_are_new_executions,
    jobs_give_current_stage_and_progress,
    undecodable_deliveries_are_kept_failed_then_parked,
    stored_deliveries_are_processed_after_a_restart,
    deliveries_can_be_listed_shown_and_replayed,
    installations_follow_their_events,
    stats_show_the_last_delivery_time,
    sse_streams_changes_and_resumes,
    real_github_payloads_are_accepted,
    runs_missing_optional_fields_are_processed,
    concurrent_deliveries_batch_without_loss_or_double_counting,
);

fn run_body(run_id: i64, status: &str, conclusion: Option<&str>, minutes_after: i64) -> Vec<u8> {
    let start = chrono::DateTime::parse_from_rfc3339("2026-11-01T10:00:00Z").unwrap().to_utc();
    let now = ccm::domain::clock::now();
    // Recent enough to count in the 24-hour window.
    let start = now - (now - start).min(Duration::hours(1)) - Duration::minutes(30);
    workflow_run(run_id, 1, REPO, "main", status, conclusion, start, start + Duration::minutes(minutes_after))
}

async fn signature_is_checked_before_anything(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::on(db, &[TOKEN], &["It's a Secret to Everybody"]);
    let vector = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let ok = app.deliver_signed("star", "vector-1", b"Hello, World!", vector).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body["status"], "ignored");

    let bad_body = app.deliver_signed("star", "vector-2", b"Hello, World?", vector).await;
    assert_eq!(bad_body.status, 401);
    assert_eq!(bad_body.body["success"], false);
    assert_eq!(bad_body.body["error"], "Invalid X-Hub-Signature-256");
    let mut flipped = vector.to_string();
    flipped.replace_range(10..11, "8");
    assert_eq!(app.deliver_signed("star", "vector-3", b"Hello, World!", &flipped).await.status, 401);
    assert_eq!(app.deliver_signed("star", "vector-4", b"Hello, World!", "sha256=").await.status, 401);

    let res = app
        .client
        .post(format!("{}/webhooks/github", app.base))
        .header("X-GitHub-Event", "star")
        .header("X-GitHub-Delivery", "vector-5")
        .body("Hello, World!")
        .send()
        .await
        .unwrap();
    let missing = reply(res).await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.body["error"], "Missing X-Hub-Signature-256 header");

    // Only the verified delivery was stored.
    let listed = app.get("/api/deliveries").await.body;
    assert_eq!(listed["count"], 1);
    assert_eq!(listed["deliveries"][0]["delivery_id"], "vector-1");
}

async fn rotated_secrets_all_verify(backend: Backend) {
    let app = TestApp::on(TestDb::new(backend).await, &[TOKEN], &["new-secret", "old-secret"]);
    for (i, secret) in ["new-secret", "old-secret"].iter().enumerate() {
        let sig = ccm::webhook::signature::sign(secret.as_bytes(), b"{}");
        assert_eq!(app.deliver_signed("star", &format!("rot-{i}"), b"{}", &sig).await.status, 200);
    }
    let sig = ccm::webhook::signature::sign(b"retired-secret", b"{}");
    assert_eq!(app.deliver_signed("star", "rot-x", b"{}", &sig).await.status, 401);
}

async fn no_secret_refuses_every_delivery(backend: Backend) {
    let app = TestApp::on(TestDb::new(backend).await, &[TOKEN], &[]);
    let reply = app.deliver("ping", "no-secret", b"{}").await;
    assert_eq!(reply.status, 503);
    assert!(reply.body["error"].as_str().unwrap().contains("GITHUB_WEBHOOK_SECRET"), "{}", reply.body);
    assert_eq!(app.get("/api/deliveries").await.body["count"], 0);
}

async fn headers_are_required(backend: Backend) {
    let app = TestApp::start(backend).await;
    let sig = ccm::webhook::signature::sign(SECRET.as_bytes(), b"{}");
    for (event, guid, needle) in [(None, Some("g1"), "X-GitHub-Event"), (Some("ping"), None, "X-GitHub-Delivery")] {
        let mut req = app.client.post(format!("{}/webhooks/github", app.base)).header("X-Hub-Signature-256", &sig);
        if let Some(event) = event {
            req = req.header("X-GitHub-Event", event);
        }
        if let Some(guid) = guid {
            req = req.header("X-GitHub-Delivery", guid);
        }
        let r = reply(req.body("{}").send().await.unwrap()).await;
        assert_eq!(r.status, 400);
        assert!(r.body["error"].as_str().unwrap().contains(needle));
    }
    let wrong_method = reply(app.client.get(format!("{}/webhooks/github", app.base)).send().await.unwrap()).await;
    assert_eq!(wrong_method.status, 405);
}

async fn oversized_bodies_are_413(backend: Backend) {
    let app = TestApp::start(backend).await;
    // Refused on its declared length, before a byte of it is read (and the connection closed at
    // once: a sender still writing the body would see a reset, so the body is not sent here).
    let head = [
        ("X-GitHub-Event", "push".to_string()),
        ("X-GitHub-Delivery", "huge".to_string()),
        ("X-Hub-Signature-256", "sha256=00".to_string()),
        ("Content-Type", "application/json".to_string()),
        ("Content-Length", (25 * 1024 * 1024 + 1).to_string()),
    ];
    let mut raw = crate::helpers::edge::RawClient::connect(&app.base).await;
    raw.head("POST", "/webhooks/github", &head).await;
    let (status, _, body) = raw.answer().await;
    assert_eq!((status, body["success"].as_bool()), (413, Some(false)), "{body}");
    assert_eq!(app.get("/api/deliveries").await.body["count"], 0);
}

async fn runs_never_go_backwards(backend: Backend) {
    let app = TestApp::start(backend).await;
    let id = app.provision(REPO, WORKFLOW, json!({})).await;
    // GitHub does not guarantee order: completed arrives first, then the older states.
    for (guid, body) in [
        ("o-3", run_body(1, "completed", Some("failure"), 5)),
        ("o-2", run_body(1, "in_progress", None, 1)),
        ("o-1", run_body(1, "requested", None, 0)),
    ] {
        let r = app.deliver("workflow_run", guid, &body).await;
        assert_eq!((r.status, r.body["status"].clone()), (200, json!("processed")), "{}", r.body);
    }
    let details = app.get(&format!("/api/pipelines/{id}")).await.body;
    assert_eq!(details["executions_count"], 1);
    let e = &details["executions"][0];
    assert_eq!((e["status"].clone(), e["conclusion"].clone()), (json!("completed"), json!("failure")));
    assert_eq!(e["duration_seconds"], 300);
    let s = app.stats(&id).await;
    assert_eq!(
        s["metrics_24h"],
        json!({"run_count": 1, "success_count": 0, "success_rate": 0.0, "avg_duration_seconds": 300})
    );
    assert_eq!((s["active_runs"].clone(), s["queue_length"].clone()), (json!(0), json!(0)));
    assert_eq!(s["last_run"]["status"], "failure");

    // In order, a run moves forward through its states.
    app.deliver("workflow_run", "n-1", &run_body(2, "queued", None, 0)).await;
    assert_eq!(app.stats(&id).await["queue_length"], 1);
    app.deliver("workflow_run", "n-2", &run_body(2, "in_progress", None, 1)).await;
    let s = app.stats(&id).await;
    assert_eq!((s["active_runs"].clone(), s["queue_length"].clone()), (json!(1), json!(0)));
    assert_eq!(s["last_run"]["status"], "in_progress");
    app.deliver("workflow_run", "n-3", &run_body(2, "completed", Some("success"), 4)).await;
    let s = app.stats(&id).await;
    assert_eq!(s["metrics_24h"]["run_count"], 2);
    assert_eq!(s["metrics_24h"]["success_count"], 1);
    assert_eq!(s["metrics_24h"]["avg_duration_seconds"], 270);
    assert_eq!(s["active_runs"], 0);
}

async fn duplicates_count_once_under_one_or_two_guids(backend: Backend) {
    let app = TestApp::start(backend).await;
    let id = app.provision(REPO, WORKFLOW, json!({})).await;
    let body = run_body(9, "completed", Some("success"), 2);
    let first = app.deliver("workflow_run", "dup-1", &body).await;
    assert_eq!((first.body["status"].clone(), first.body["duplicate"].clone()), (json!("processed"), json!(false)));
    let again = app.deliver("workflow_run", "dup-1", &body).await;
    assert_eq!(again.status, 200);
    assert_eq!((again.body["status"].clone(), again.body["duplicate"].clone()), (json!("processed"), json!(true)));
    // The App hook and a repository hook both firing: same event, another GUID.
    let other_hook = app.deliver("workflow_run", "dup-2", &body).await;
    assert_eq!(other_hook.body["duplicate"], false);
    let s = app.stats(&id).await;
    assert_eq!(s["metrics_24h"]["run_count"], 1);
    assert_eq!(app.get("/api/deliveries").await.body["count"], 2);
    let stored = app.get("/api/deliveries/dup-1").await.body;
    assert_eq!(stored["delivery"]["attempts"], 1, "a processed GUID is not processed again");
}

async fn rerun_attempts_are_new_executions(backend: Backend) {
    let app = TestApp::start(backend).await;
    let id = app.provision(REPO, WORKFLOW, json!({})).await;
    let now = ccm::domain::clock::now();
    let t0 = now - Duration::minutes(50);
    let first = workflow_run(5, 1, REPO, "main", "completed", Some("failure"), t0, t0 + Duration::minutes(2));
    let t1 = now - Duration::minutes(10);
    let second = workflow_run(5, 2, REPO, "main", "completed", Some("success"), t1, t1 + Duration::minutes(3));
    app.deliver("workflow_run", "att-1", &first).await;
    app.deliver("workflow_run", "att-2", &second).await;
    let details = app.get(&format!("/api/pipelines/{id}")).await.body;
    assert_eq!(details["executions_count"], 2);
    let attempts: Vec<(i64, i64)> = details["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["run_id"].as_i64().unwrap(), e["run_attempt"].as_i64().unwrap()))
        .collect();
    assert_eq!(attempts, vec![(5, 2), (5, 1)]);
    let s = app.stats(&id).await;
    assert_eq!(s["last_run"]["run_attempt"], 2);
    assert_eq!(s["last_run"]["status"], "success");
    assert_eq!(s["metrics_24h"]["run_count"], 2);
    assert_eq!(s["metrics_24h"]["success_rate"], 50.0);
}

async fn jobs_give_current_stage_and_progress(backend: Backend) {
    let app = TestApp::start(backend).await;
    let id = app.provision(REPO, WORKFLOW, json!({})).await;
    let now = ccm::domain::clock::now();
    app.deliver("workflow_run", "j-run", &run_body(30, "in_progress", None, 1)).await;
    app.deliver("workflow_job", "j-1", &workflow_job(301, 30, REPO, "build", "completed", Some("success"), now)).await;
    app.deliver("workflow_job", "j-2", &workflow_job(302, 30, REPO, "test", "in_progress", None, now)).await;
    app.deliver("workflow_job", "j-3", &workflow_job(303, 30, REPO, "deploy", "queued", None, now)).await;
    // A late `queued` for a job already completed changes nothing.
    app.deliver("workflow_job", "j-4", &workflow_job(301, 30, REPO, "build", "queued", None, now)).await;
    let s = app.stats(&id).await;
    assert_eq!(s["current_stage"], "test");
    assert_eq!(s["progress_percentage"], 33);
    app.deliver("workflow_job", "j-5", &workflow_job(302, 30, REPO, "test", "completed", Some("success"), now)).await;
    app.deliver("workflow_job", "j-6", &workflow_job(303, 30, REPO, "deploy", "in_progress", None, now)).await;
    let s = app.stats(&id).await;
    assert_eq!(s["current_stage"], "deploy");
    assert_eq!(s["progress_percentage"], 66);
    let jobs = app.store().list_jobs(30, 1).await.unwrap();
    assert_eq!(jobs.len(), 3);
    assert_eq!(jobs.iter().find(|j| j.job_id == 301).unwrap().status.as_str(), "completed");
    assert_eq!(jobs[0].runner_name.as_deref(), Some("runner-1"));
}

async fn undecodable_deliveries_are_kept_failed_then_parked(backend: Backend) {
    let app = TestApp::start(backend).await;
    let body = br#"{"action": "completed", "workflow_run": {"id": "not a number"}}"#;
    let r = app.deliver("workflow_run", "bad-1", body).await;
    assert_eq!(r.status, 200, "GitHub still gets its 2xx");
    assert_eq!(r.body["status"], "failed");
    let d = app.get("/api/deliveries/bad-1").await.body["delivery"].clone();
    assert_eq!(d["attempts"], 1);
    assert!(d["last_error"].as_str().unwrap().contains("workflow_run payload not understood"));
    assert!(d["next_attempt_at"].is_string());
    // GitHub's redelivery keeps the GUID: processed again.
    let r = app.deliver("workflow_run", "bad-1", body).await;
    assert_eq!((r.body["status"].clone(), r.body["duplicate"].clone()), (json!("failed"), json!(false)));
    assert_eq!(app.get("/api/deliveries/bad-1").await.body["delivery"]["attempts"], 2);
    for _ in 0..3 {
        app.post("/api/deliveries/bad-1/replay", json!({})).await;
    }
    let d = app.get("/api/deliveries/bad-1").await.body["delivery"].clone();
    assert_eq!((d["status"].clone(), d["attempts"].clone()), (json!("parked"), json!(5)));
    assert_eq!(d["next_attempt_at"], Value::Null);
    let parked = app.get("/api/deliveries?status=parked").await.body;
    assert_eq!(parked["count"], 1);
    // The body is kept exactly.
    assert_eq!(d["body"]["workflow_run"]["id"], "not a number");
}

async fn stored_deliveries_are_processed_after_a_restart(backend: Backend) {
    let db = TestDb::new(backend).await;
    // Stored, then the process died before processing it.
    let body = run_body(77, "completed", Some("success"), 3);
    let pending = IncomingDelivery {
        guid: "crash-1".into(),
        event: "workflow_run".into(),
        action: Some("completed".into()),
        installation_id: None,
        repository: Some(REPO.into()),
        hook_id: None,
        received_at: ccm::domain::clock::now(),
        headers: serde_json::value::RawValue::from_string("{}".into()).unwrap(),
        body: ccm::webhook::body::compress(&body),
        body_size: body.len() as i64,
        processing: Processing::Ignore,
    };
    let stored = db.store.store_pending(&[pending]).await.unwrap();
    assert_eq!(stored[0].status.as_str(), "pending");
    assert!(db.store.get_execution(77, 1).await.unwrap().is_none());

    let app = TestApp::on(db, &[TOKEN], &[SECRET]);
    wait_until("the pending delivery is processed after restart", async || {
        app.store().get_execution(77, 1).await.unwrap().is_some()
    })
    .await;
    let d = app.get("/api/deliveries/crash-1").await.body["delivery"].clone();
    assert_eq!(d["status"], "processed");
    assert_eq!(
        app.store().get_execution(77, 1).await.unwrap().unwrap().conclusion.as_ref().map(|c| c.as_str()),
        Some("success")
    );
}

async fn deliveries_can_be_listed_shown_and_replayed(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.deliver("workflow_run", "l-1", &run_body(1, "completed", Some("success"), 1)).await;
    app.deliver("star", "l-2", br#"{"action": "created", "repository": {"full_name": "other/repo"}}"#).await;
    app.deliver("ping", "l-3", br#"{"zen": "Keep it logically awesome.", "hook_id": 99}"#).await;

    let all = app.get("/api/deliveries").await.body;
    assert_eq!(all["count"], 3);
    assert_eq!(all["deliveries"][0]["delivery_id"], "l-3");
    let ignored = app.get("/api/deliveries?status=ignored").await.body;
    assert_eq!(ignored["count"], 1);
    assert_eq!(ignored["deliveries"][0]["event"], "star");
    assert_eq!(app.get("/api/deliveries?event=workflow_run").await.body["count"], 1);
    assert_eq!(app.get(&format!("/api/deliveries?repository={}", REPO.to_uppercase())).await.body["count"], 1);
    assert_eq!(app.get("/api/deliveries?limit=1&offset=1").await.body["deliveries"][0]["delivery_id"], "l-2");
    assert_eq!(app.get("/api/deliveries?status=nope").await.status, 400);

    let shown = app.get("/api/deliveries/l-1").await.body["delivery"].clone();
    assert_eq!(shown["event"], "workflow_run");
    assert_eq!(shown["action"], "completed");
    assert_eq!(shown["repository"], REPO);
    assert_eq!(shown["installation_id"], 77);
    assert_eq!(shown["hook_id"], 4242);
    assert_eq!(shown["status"], "processed");
    assert_eq!(shown["headers"]["x-github-event"], "workflow_run");
    assert_eq!(shown["headers"]["user-agent"], "GitHub-Hookshot/test");
    assert_eq!(shown["body"]["workflow_run"]["id"], 1);
    let ping = app.get("/api/deliveries/l-3").await.body["delivery"].clone();
    assert_eq!((ping["status"].clone(), ping["hook_id"].clone()), (json!("processed"), json!(4242)));

    let replayed = app.post("/api/deliveries/l-1/replay", json!({})).await;
    assert_eq!(replayed.status, 200);
    assert_eq!(replayed.body["status"], "processed");
    assert_eq!(replayed.body["delivery"]["attempts"], 2);
    assert_eq!(app.post("/api/deliveries/nope/replay", json!({})).await.status, 404);
    assert_eq!(app.get("/api/deliveries/nope").await.status, 404);
    assert_eq!(app.send(reqwest::Method::GET, "/api/deliveries", None, None).await.status, 401);
}

async fn installations_follow_their_events(backend: Backend) {
    let app = TestApp::start(backend).await;
    let created = json!({"action": "created", "installation": {"id": 5, "account": {"login": "octo-org"}},
                         "repositories": [{"full_name": "octo-org/a"}]});
    app.deliver("installation", "i-1", created.to_string().as_bytes()).await;
    let added = json!({"action": "added", "installation": {"id": 5}, "repositories_added": [{"full_name": "octo-org/b"}],
                       "repositories_removed": []});
    app.deliver("installation_repositories", "i-2", added.to_string().as_bytes()).await;
    let removed = json!({"action": "removed", "installation": {"id": 5}, "repositories_added": [],
                         "repositories_removed": [{"full_name": "octo-org/a"}]});
    app.deliver("installation_repositories", "i-3", removed.to_string().as_bytes()).await;
    assert_eq!(app.store().installation_for_repository("octo-org/a").await.unwrap(), None);
    assert_eq!(app.store().installation_for_repository("octo-org/b").await.unwrap(), Some(5));
    let suspend = json!({"action": "suspend", "installation": {"id": 5}});
    app.deliver("installation", "i-4", suspend.to_string().as_bytes()).await;
    assert_eq!(app.store().installation_for_repository("octo-org/b").await.unwrap(), None);
}

async fn stats_show_the_last_delivery_time(backend: Backend) {
    let app = TestApp::start(backend).await;
    let id = app.provision(REPO, WORKFLOW, json!({})).await;
    assert_eq!(app.stats(&id).await["last_delivery_at"], Value::Null);
    let before = ccm::domain::clock::now() - Duration::seconds(1);
    app.deliver(
        "push",
        "p-1",
        json!({"ref": "refs/heads/main", "repository": {"full_name": REPO}}).to_string().as_bytes(),
    )
    .await;
    let at = app.stats(&id).await["last_delivery_at"].as_str().unwrap().to_string();
    let at = chrono::DateTime::parse_from_rfc3339(&at).unwrap().to_utc();
    assert!(at >= before && at <= ccm::domain::clock::now() + Duration::seconds(1), "{at}");
}

async fn sse_streams_changes_and_resumes(backend: Backend) {
    let app = TestApp::start(backend).await;
    let id = app.provision(REPO, WORKFLOW, json!({})).await;
    let url = format!("{}/api/pipelines/{id}/events", app.base);
    let unauthorized = app.client.get(&url).send().await.unwrap();
    assert_eq!(unauthorized.status(), 401);
    let mut res = app.client.get(&url).header("CCM-Token", TOKEN).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));

    app.deliver("workflow_run", "sse-1", &run_body(40, "completed", Some("success"), 2)).await;
    let events = read_events(&mut res, |kind, _| kind == "stats").await;
    let (kind, _, execution) = &events[0];
    assert_eq!(kind, "execution");
    assert_eq!(execution["execution"]["run_id"], 40);
    let (_, stats_id, stats) = events.last().unwrap();
    assert_eq!(stats["pipeline_id"], id.as_str());
    assert_eq!(stats["metrics_24h"]["run_count"], 1);
    assert_eq!(stats["last_run"]["status"], "success");

    drop(res);

    // Missed while disconnected: replayed from Last-Event-ID.
    app.deliver("workflow_run", "sse-2", &run_body(41, "in_progress", None, 1)).await;
    let mut resumed = app
        .client
        .get(&url)
        .header("CCM-Token", TOKEN)
        .header("Last-Event-ID", stats_id.as_str())
        .send()
        .await
        .unwrap();
    let events = read_events(&mut resumed, |kind, v| kind == "stats" && v["active_runs"] == 1).await;
    assert_eq!(events[0].2["execution"]["run_id"], 41);
    assert!(events.iter().all(|(_, id, _)| id.parse::<u64>().unwrap() > stats_id.parse::<u64>().unwrap()));

    // The all-pipelines stream also carries delivery events.
    let mut all = app.client.get(format!("{}/api/events", app.base)).header("CCM-Token", TOKEN).send().await.unwrap();
    app.deliver("star", "sse-3", b"{}").await;
    let events = read_events(&mut all, |kind, v| kind == "delivery" && v["guid"] == "sse-3").await;
    assert_eq!(events.last().unwrap().2["status"], "ignored");
    assert_eq!(app.get("/api/pipelines/pipe_000000000000/events").await.status, 404);

    // A job's change goes to its run's pipeline: for a run just delivered, and for one the
    // publisher has not seen (stored another way), looked up in the store.
    let mut jobs = app.client.get(&url).header("CCM-Token", TOKEN).send().await.unwrap();
    let now = ccm::domain::clock::now();
    app.deliver("workflow_job", "sse-job-1", &workflow_job(401, 40, REPO, "build", "in_progress", None, now)).await;
    let events = read_events(&mut jobs, |kind, _| kind == "job").await;
    let (_, _, job) = events.last().unwrap();
    assert_eq!(job["pipeline_id"], id.as_str());
    assert_eq!((job["job"]["job_id"].as_i64(), job["job"]["status"].as_str()), (Some(401), Some("in_progress")));
    app.store().upsert_execution(&run(42, REPO, "main", now, Duration::minutes(1), None, 0)).await.unwrap();
    app.deliver("workflow_job", "sse-job-2", &workflow_job(402, 42, REPO, "test", "queued", None, now)).await;
    let events = read_events(&mut jobs, |kind, _| kind == "job").await;
    let (_, _, job) = events.last().unwrap();
    assert_eq!(job["pipeline_id"], id.as_str());
    assert_eq!((job["job"]["job_id"].as_i64(), job["job"]["run_id"].as_i64()), (Some(402), Some(42)));
}

/// Every example payload GitHub publishes for the events we handle (and some we do not) is
/// accepted and ends processed or ignored as its event says.
async fn real_github_payloads_are_accepted(backend: Backend) {
    let dir = shared_payloads();
    let app = TestApp::start(backend).await;
    let handled = [
        "workflow_run",
        "workflow_job",
        "installation",
        "installation_repositories",
        "ping",
        "issues",
        "pull_request",
        "push",
    ];
    let mut count = 0;
    let mut events: Vec<_> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    events.sort();
    for event_dir in events {
        let event = event_dir.file_name().unwrap().to_str().unwrap().to_string();
        let mut files: Vec<_> = std::fs::read_dir(&event_dir).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for file in files {
            let body = std::fs::read(&file).unwrap();
            count += 1;
            let guid = format!("real-{count}");
            let r = app.deliver(&event, &guid, &body).await;
            assert_eq!(r.status, 200, "{}: {}", file.display(), r.body);
            let expected = if handled.contains(&event.as_str()) { "processed" } else { "ignored" };
            assert_eq!(r.body["status"], expected, "{}: {}", file.display(), r.body);
        }
    }
    assert!(count > 50, "only {count} payloads found");
    // The completed workflow_run example became an execution with its fields.
    let e = app.store().get_execution(289782451, 1).await.unwrap().expect("the example run is stored");
    assert_eq!(e.repository, "octo-org/octo-repo");
    assert_eq!(e.workflow_path, ".github/workflows/test.yml");
    assert_eq!(e.branch.as_deref(), Some("master"));
    assert_eq!(e.event.as_deref(), Some("repository_dispatch"));
    assert_eq!(e.run_number, Some(163));
    let listed = app.get("/api/deliveries?limit=1000&status=failed").await.body;
    assert_eq!(listed["count"], 0, "{listed}");
}

/// Older or unusual `workflow_run` payloads: the workflow's file only in the top-level `workflow`
/// object, no `run_attempt`, `run_started_at` or `actor`, a tag run's null `head_branch`, no pull
/// requests. None of that parks a delivery; a run naming no workflow file at all fails, kept.
async fn runs_missing_optional_fields_are_processed(backend: Backend) {
    let app = TestApp::start(backend).await;
    let id = app.provision(REPO, ".github/workflows/deploy.yml", json!({})).await;
    let mut body: Value = serde_json::from_slice(&run_body(7001, "completed", Some("success"), 3)).unwrap();
    let run = body["workflow_run"].as_object_mut().unwrap();
    for field in ["path", "run_attempt", "run_started_at", "actor"] {
        run.remove(field);
    }
    run.insert("head_branch".into(), Value::Null);
    run.insert("pull_requests".into(), json!([]));
    body["workflow"] = json!({"id": 1, "name": "Deploy", "path": ".github/workflows/deploy.yml"});
    let r = app.deliver("workflow_run", "old-shape-1", body.to_string().as_bytes()).await;
    assert_eq!((r.status, r.body["status"].as_str()), (200, Some("processed")), "{}", r.body);
    let e = app.store().get_execution(7001, 1).await.unwrap().expect("the run is stored");
    assert_eq!(
        (e.workflow_path.as_str(), e.branch.as_deref(), e.actor.as_deref()),
        (".github/workflows/deploy.yml", None, None)
    );
    assert_eq!(e.started_at, e.created_at, "without run_started_at a run starts when it was created");
    let stats = app.stats(&id).await;
    assert_eq!(stats["last_run"]["run_id"], 7001, "{stats}");

    body.as_object_mut().unwrap().remove("workflow");
    let r = app.deliver("workflow_run", "old-shape-2", body.to_string().as_bytes()).await;
    assert_eq!(r.body["status"], "failed", "{}", r.body);
    let stored = app.get("/api/deliveries/old-shape-2").await.body;
    assert!(stored["delivery"]["last_error"].as_str().unwrap().contains("no workflow file"), "{stored}");
    assert_eq!(stored["delivery"]["repository"], REPO, "a failed delivery is still filed by its repository");
}

/// Reading a body once gives the envelope and the plan that reading it twice (the envelope,
/// then the event) gives, for every example payload GitHub publishes.
#[tokio::test]
async fn one_reading_files_and_plans_as_two_did() {
    use ccm::webhook::{events::Envelope, plan};
    let mut count = 0;
    for event_dir in std::fs::read_dir(shared_payloads()).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()) {
        let event = event_dir.file_name().unwrap().to_str().unwrap().to_string();
        for file in std::fs::read_dir(&event_dir).unwrap().map(|e| e.unwrap().path()) {
            let body = std::fs::read(&file).unwrap();
            let once = plan::read(&event, &body);
            let envelope: Envelope = serde_json::from_slice(&body).unwrap_or_default();
            let what = file.display();
            assert_eq!(once.processing, plan::processing(&event, &body), "{what}");
            assert_eq!(once.envelope.action, envelope.action, "{what}");
            assert_eq!(once.envelope.installation.map(|i| i.id), envelope.installation.map(|i| i.id), "{what}");
            assert_eq!(
                once.envelope.repository.map(|r| r.full_name),
                envelope.repository.map(|r| r.full_name),
                "{what}"
            );
            assert_eq!(once.envelope.hook_id, envelope.hook_id, "{what}");
            count += 1;
        }
    }
    assert!(count > 50, "only {count} payloads found");
}

/// Many deliveries at once (committed together in batches): three states of 20 runs, in a
/// shuffled order, each posted twice under one GUID and once under another.
async fn concurrent_deliveries_batch_without_loss_or_double_counting(backend: Backend) {
    let app = TestApp::start(backend).await;
    let id = app.provision(REPO, WORKFLOW, json!({})).await;
    let mut posts = Vec::new();
    for run in 0..20i64 {
        for (step, (status, conclusion, minutes)) in
            [("requested", None, 0), ("in_progress", None, 1), ("completed", Some("success"), 2)]
                .into_iter()
                .enumerate()
        {
            let body = run_body(1000 + run, status, conclusion, minutes);
            posts.push((format!("c-{run}-{step}"), body.clone()));
            posts.push((format!("c-{run}-{step}"), body.clone()));
            posts.push((format!("c-{run}-{step}-other-hook"), body));
        }
    }
    // A fixed shuffle: later states often arrive first.
    posts.sort_by_key(|(guid, _)| guid.bytes().rev().fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64)));
    let replies =
        futures_util::future::join_all(posts.iter().map(|(guid, body)| app.deliver("workflow_run", guid, body))).await;
    assert!(replies.iter().all(|r| r.status == 200), "every delivery acknowledged");
    let duplicates = replies.iter().filter(|r| r.body["duplicate"] == true).count();
    assert_eq!(duplicates, 60, "each GUID posted twice is a duplicate once");
    assert_eq!(app.get("/api/deliveries").await.body["count"], 120);
    let s = app.stats(&id).await;
    assert_eq!(s["metrics_24h"]["run_count"], 20);
    assert_eq!(s["metrics_24h"]["success_count"], 20);
    assert_eq!(s["metrics_24h"]["avg_duration_seconds"], 120);
    assert_eq!((s["active_runs"].clone(), s["queue_length"].clone()), (json!(0), json!(0)));
    let details = app.get(&format!("/api/pipelines/{id}?limit=100")).await.body;
    assert_eq!(details["executions_count"], 20);
    assert!(details["executions"].as_array().unwrap().iter().all(|e| e["status"] == "completed"));
}
