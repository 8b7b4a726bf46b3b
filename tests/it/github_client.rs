//! The GitHub client under ccm's outbox: retries, rate limits and pauses, jobs it cannot read,
//! installation tokens, the app JWT and registration; against the fake GitHub on loopback.

use std::time::Duration;

use crate::helpers::github::*;
use crate::helpers::*;
use ccm::domain::outbox::OutboxTask;
use ccm::github::client::{As, Method};
use ccm::github::outbox;
use chrono::Utc;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

const REPO: &str = "octo/app";

on_both_databases!(
    retries_on_500_and_counts_in_health,
    waits_on_403_retry_after,
    waits_on_an_exhausted_rate_limit,
    pauses_after_five_failures_and_resumes_by_itself,
    unreadable_jobs_fail_and_the_worker_goes_on,
);

async fn dispatch_job(app: &TestApp) -> i64 {
    let task = OutboxTask::DispatchWorkflow {
        repo: REPO.into(),
        workflow_file: WORKFLOW.into(),
        git_ref: "main".into(),
        inputs: Default::default(),
    };
    outbox::enqueue(app.gh(), task, None).await.unwrap()
}

async fn retries_on_500_and_counts_in_health(backend: Backend) {
    let gh = FakeGithub::start().await;
    let app = TestApp::start_with_github(backend, &gh.url()).await;
    app.install(REPO).await;
    let responder = Recorded::new(
        vec![ResponseTemplate::new(500).set_body_json(json!({"message": "Server Error"}))],
        ResponseTemplate::new(204)
            .insert_header("x-ratelimit-limit", "5000")
            .insert_header("x-ratelimit-remaining", "4990")
            .insert_header("x-ratelimit-reset", (Utc::now().timestamp() + 3600).to_string().as_str()),
    );
    FakeGithub::repo_call("POST", format!("/repos/{REPO}/actions/workflows/deploy.yml/dispatches"))
        .respond_with(responder.clone())
        .mount(&gh.server)
        .await;
    let job = app.wait_job(dispatch_job(&app).await).await;
    assert_eq!(job.status.as_str(), "done", "{:?}", job.last_error);
    assert_eq!(job.attempts, 2);
    assert_eq!(responder.times().len(), 2);

    let health = app.get("/api/integrations/github/health").await;
    let h = &health.body["github"];
    assert_eq!(h["configured"], true);
    assert_eq!(h["mode"], "app");
    assert_eq!(h["success_count"], 1, "{h}");
    assert_eq!(h["error_count"], 1);
    assert_eq!(h["success_rate"], 50.0);
    assert_eq!(h["consecutive_failures"], 0);
    assert_eq!(h["paused"], false);
    assert!(h["last_error"].as_str().unwrap().contains("500"), "{h}");
    assert_eq!(h["rate_limit"]["limit"], 5000);
    assert_eq!(h["rate_limit"]["remaining"], 4990);
    assert_eq!(h["outbox"]["done"], 1);
    // No secret reaches the health report.
    let text = health.body.to_string();
    assert!(!text.contains(INSTALLATION_TOKEN) && !text.contains("PRIVATE KEY"));
}

async fn waits_on_403_retry_after(backend: Backend) {
    let gh = FakeGithub::start().await;
    let app = TestApp::start_with_github(backend, &gh.url()).await;
    app.install(REPO).await;
    let responder = Recorded::new(
        vec![
            ResponseTemplate::new(403)
                .insert_header("retry-after", "2")
                .set_body_json(json!({"message": "You have exceeded a secondary rate limit."})),
        ],
        ResponseTemplate::new(204),
    );
    FakeGithub::repo_call("POST", format!("/repos/{REPO}/actions/workflows/deploy.yml/dispatches"))
        .respond_with(responder.clone())
        .mount(&gh.server)
        .await;
    let id = dispatch_job(&app).await;
    wait_until("the first attempt", async || !responder.times().is_empty()).await;
    let health = app.get("/api/integrations/github/health").await;
    assert_eq!(health.body["github"]["rate_limited"], true, "{}", health.body);
    let job = app.wait_job(id).await;
    assert_eq!(job.status.as_str(), "done");
    let times = responder.times();
    assert_eq!(times.len(), 2);
    assert!(times[1] - times[0] >= Duration::from_millis(1900), "retried after {:?}", times[1] - times[0]);
    // The wait was not counted as an attempt.
    assert_eq!(job.attempts, 1);
}

async fn waits_on_an_exhausted_rate_limit(backend: Backend) {
    let gh = FakeGithub::start().await;
    let app = TestApp::start_with_github(backend, &gh.url()).await;
    app.install(REPO).await;
    let reset = Utc::now().timestamp() + 3;
    let responder = Recorded::new(
        vec![
            ResponseTemplate::new(204)
                .insert_header("x-ratelimit-limit", "5000")
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", reset.to_string().as_str()),
        ],
        ResponseTemplate::new(204).insert_header("x-ratelimit-remaining", "4999"),
    );
    FakeGithub::repo_call("POST", format!("/repos/{REPO}/actions/workflows/deploy.yml/dispatches"))
        .respond_with(responder.clone())
        .mount(&gh.server)
        .await;
    let first = app.wait_job(dispatch_job(&app).await).await;
    assert_eq!(first.status.as_str(), "done");
    let health = app.get("/api/integrations/github/health").await;
    assert_eq!(health.body["github"]["rate_limit"]["remaining"], 0);
    assert_eq!(health.body["github"]["rate_limited"], true);
    // Inline calls are refused at once rather than sent.
    let inline = app.gh().client.call(As::Installation(INSTALLATION_ID), Method::Get, "/repos/octo/app", None).await;
    assert!(matches!(inline, Err(ccm::github::GhError::RateLimited(_))), "{inline:?}");

    let second = app.wait_job(dispatch_job(&app).await).await;
    assert_eq!(second.status.as_str(), "done");
    let times = responder.times();
    assert_eq!(times.len(), 2);
    let sent_at = Utc::now() - chrono::Duration::from_std(times[1].elapsed()).unwrap();
    assert!(sent_at.timestamp() >= reset, "sent before the reset");
}

async fn pauses_after_five_failures_and_resumes_by_itself(backend: Backend) {
    let gh = FakeGithub::start().await;
    let mut config = test_config(&gh.url());
    config.max_attempts = 20;
    config.retry_base = Duration::from_millis(50);
    config.retry_max = Duration::from_secs(2);
    config.pause_base = Duration::from_millis(1500);
    let app = TestApp::start_with_github_config(backend, config).await;
    app.install(REPO).await;
    let failures: Vec<ResponseTemplate> =
        (0..5).map(|_| ResponseTemplate::new(502).set_body_json(json!({"message": "Bad Gateway"}))).collect();
    let responder = Recorded::new(failures, ResponseTemplate::new(204));
    FakeGithub::repo_call("POST", format!("/repos/{REPO}/actions/workflows/deploy.yml/dispatches"))
        .respond_with(responder.clone())
        .mount(&gh.server)
        .await;
    let id = dispatch_job(&app).await;
    wait_until("five failures", async || responder.times().len() >= 5).await;
    let health = app.get("/api/integrations/github/health").await;
    let h = &health.body["github"];
    assert_eq!(h["paused"], true, "{h}");
    assert_eq!(h["consecutive_failures"], 5);
    assert!(h["paused_until"].is_string());

    let job = app.wait_job(id).await;
    assert_eq!(job.status.as_str(), "done", "{:?}", job.last_error);
    let times = responder.times();
    assert_eq!(times.len(), 6);
    assert!(times[5] - times[4] >= Duration::from_millis(1400), "resumed after {:?}", times[5] - times[4]);
    let health = app.get("/api/integrations/github/health").await;
    assert_eq!(health.body["github"]["paused"], false);
    assert_eq!(health.body["github"]["consecutive_failures"], 0);
}

/// A job row as an older or newer version may have left it, written past the typed API.
async fn insert_raw_job(db: &TestDb, backend: Backend, kind: &str, payload: Value) -> i64 {
    let sql = "INSERT INTO outbox_jobs (kind, payload, status, attempts, max_attempts, next_attempt_at, \
                 created_at, updated_at) VALUES ($1, $2, 'pending', 0, 5, $3, $3, $3) RETURNING id";
    let (payload, now) = (sqlx::types::Json(payload), Utc::now());
    match backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            sqlx::query_scalar(sql).bind(kind).bind(payload).bind(now).fetch_one(&pool).await.unwrap()
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            sqlx::query_scalar(sql).bind(kind).bind(payload).bind(now).fetch_one(&pool).await.unwrap()
        }
    }
}

async fn unreadable_jobs_fail_and_the_worker_goes_on(backend: Backend) {
    let gh = FakeGithub::start().await;
    let app = TestApp::start_with_github(backend, &gh.url()).await;
    app.install(REPO).await;
    let unknown = insert_raw_job(&app.db, backend, "send_email", json!({"to": "x"})).await;
    let malformed = insert_raw_job(&app.db, backend, "cancel_run", json!({"repo": REPO})).await;
    for (id, kind, reason) in [(unknown, "send_email", "unknown variant"), (malformed, "cancel_run", "run_id")] {
        let job = app.wait_job(id).await;
        assert_eq!(job.status.as_str(), "failed");
        assert_eq!(job.attempts, 1, "not retried");
        let error = job.last_error.unwrap_or_default();
        assert!(error.contains(kind) && error.contains(reason), "{error}");
        let shown = app.get(&format!("/api/integrations/github/jobs/{id}")).await;
        assert_eq!(shown.body["job"]["kind"], kind);
        assert_eq!(shown.body["job"]["status"], "failed");
    }
    FakeGithub::repo_call("POST", format!("/repos/{REPO}/actions/workflows/deploy.yml/dispatches"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&gh.server)
        .await;
    let job = app.wait_job(dispatch_job(&app).await).await;
    assert_eq!(job.status.as_str(), "done", "{:?}", job.last_error);
}

// Not database-bound: authentication and registration.

#[actix_web::test]
async fn installation_tokens_are_cached_and_renewed() {
    // A token valid for an hour is fetched once for many calls.
    let gh = FakeGithub::start().await;
    FakeGithub::repo_call("GET", format!("/repos/{REPO}"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"full_name": REPO})))
        .mount(&gh.server)
        .await;
    let client = ccm::github::GithubClient::new(test_config(&gh.url())).unwrap().unwrap();
    for _ in 0..3 {
        let reply =
            client.call(As::Installation(INSTALLATION_ID), Method::Get, &format!("/repos/{REPO}"), None).await.unwrap();
        assert_eq!(reply.status, 200);
    }
    let path = format!("/app/installations/{INSTALLATION_ID}/access_tokens");
    assert_eq!(gh.requests_to("POST", &path).await.len(), 1);

    // A token about to expire (inside the 30 s renewal margin) is renewed before the next call.
    let server = wiremock::MockServer::start().await;
    FakeGithub::mount_token(&server, 20).await;
    let short = FakeGithub { server };
    FakeGithub::repo_call("GET", format!("/repos/{REPO}"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"full_name": REPO})))
        .mount(&short.server)
        .await;
    let client = ccm::github::GithubClient::new(test_config(&short.url())).unwrap().unwrap();
    for _ in 0..2 {
        client.call(As::Installation(INSTALLATION_ID), Method::Get, &format!("/repos/{REPO}"), None).await.unwrap();
    }
    assert_eq!(short.requests_to("POST", &path).await.len(), 2);
    // Repository calls never carry the app JWT, and token requests always do (checked by the
    // mocks' matchers); a call with a wrong key is refused by the fake.
}

#[actix_web::test]
async fn a_jwt_signed_with_another_key_is_refused() {
    let gh = FakeGithub::start().await;
    Mock::given(method("GET"))
        .and(path("/app"))
        .and(AppJwt)
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": APP_ID})))
        .mount(&gh.server)
        .await;
    let client = ccm::github::GithubClient::new(test_config(&gh.url())).unwrap().unwrap();
    assert_eq!(client.call(As::App, Method::Get, "/app", None).await.unwrap().status, 200);

    // Another key: the fake's signature check fails (404 from the unmatched mock).
    let other = OTHER_KEY.to_string();
    let mut config = test_config(&gh.url());
    config.credentials =
        Some(ccm::github::Credentials::App { app_id: APP_ID, private_key: ccm::github::config::Secret(other) });
    let client = ccm::github::GithubClient::new(config).unwrap().unwrap();
    assert_eq!(client.call(As::App, Method::Get, "/app", None).await.unwrap().status, 404);
}

#[actix_web::test]
async fn registration_exchanges_the_code_and_stores_the_app() {
    let gh = FakeGithub::start().await;
    Mock::given(method("POST"))
        .and(path("/app-manifests/abc123/conversions"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": 991, "slug": "ccm-test", "html_url": "https://github.com/apps/ccm-test",
            "owner": {"login": "octo"}, "pem": TEST_KEY, "webhook_secret": "whsec_test",
            "client_id": "Iv1.x", "client_secret": "cs"
        })))
        .expect(1)
        .mount(&gh.server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let options = ccm::github::register::RegisterOptions {
        data_dir: dir.path().join("data"),
        api_url: gh.url(),
        web_url: Some("https://github.example".into()),
        public_url: "https://ccm.example.org".into(),
        org: Some("octo-org".into()),
        name: None,
        listen: "127.0.0.1:0".into(),
        force: false,
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let flow = tokio::spawn(ccm::github::register::run(options, move |url| {
        tx.send(url.to_string()).unwrap();
    }));
    let base = rx.await.unwrap();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = http.get(&base).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("https://ccm.example.org/webhooks/github"), "{page}");
    assert!(page.contains("action=\"/start\"") && !page.contains("state"), "the state is not in the page: {page}");
    // The form goes on to GitHub's through a redirect, which alone carries the state.
    let started = http
        .post(format!("{base}/start"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("manifest=%7B%7D")
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 307);
    let location = started.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with("https://github.example/organizations/octo-org/settings/apps/new?state="),
        "{location}"
    );
    let state = location.split("state=").nth(1).unwrap().to_string();
    assert_eq!(state.len(), 32);
    assert!(!started.text().await.unwrap().contains(&state));

    // A request naming another host (DNS rebinding: evil.example resolving to 127.0.0.1) is
    // refused, page, redirect and callback alike, even with the right state.
    let authority = base.trim_start_matches("http://").to_string();
    for (method, path) in
        [("GET", "/".to_string()), ("POST", "/start".into()), ("GET", format!("/callback?code=abc123&state={state}"))]
    {
        let sent = http
            .request(method.parse().unwrap(), format!("{base}{path}"))
            .header("Host", format!("evil.example:{}", authority.rsplit(':').next().unwrap()))
            .send()
            .await
            .unwrap();
        assert_eq!(sent.status(), 403, "{method} {path}");
        let text = sent.text().await.unwrap();
        assert!(!text.contains(&state) && text.contains(&authority), "{text}");
    }

    // A wrong state is refused, and nothing is exchanged.
    let wrong = http.get(format!("{base}/callback?code=abc123&state=nope")).send().await.unwrap();
    assert_eq!(wrong.status(), 400);
    let ok = http.get(format!("{base}/callback?code=abc123&state={state}")).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    let app = flow.await.unwrap().unwrap();
    assert_eq!(app.app_id, 991);

    use std::os::unix::fs::PermissionsExt;
    let data = dir.path().join("data");
    for file in ["github-app.pem", "github-webhook-secret", "github-app.json"] {
        let mode = std::fs::metadata(data.join(file)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file}");
    }
    assert_eq!(std::fs::read_to_string(data.join("github-webhook-secret")).unwrap().trim(), "whsec_test");
    // `ccm serve` finds the App in the data folder.
    let config = ccm::github::GithubSettings::default().validate(&data).unwrap();
    assert!(matches!(config.credentials, Some(ccm::github::Credentials::App { app_id: 991, .. })));
    gh.server.verify().await;
}
