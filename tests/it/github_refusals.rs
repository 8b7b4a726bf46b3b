//! GitHub refusing a call (401, 403) as opposed to failing (5xx, no answer): a refusal for one
//! repository pauses no other call, and a 401 is met once by renewing the installation token or
//! signing a new app JWT before the call is given up; against the fake GitHub on loopback.

use std::time::Duration;

use crate::helpers::github::*;
use crate::helpers::*;
use ccm::domain::outbox::OutboxTask;
use ccm::github::client::{As, Method};
use ccm::github::outbox;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

on_both_databases!(refusals_for_one_repository_pause_no_other_call, a_401_renews_the_installation_token_once);

async fn dispatch(app: &TestApp, repo: &str) -> i64 {
    let task = OutboxTask::DispatchWorkflow {
        repo: repo.into(),
        workflow_file: WORKFLOW.into(),
        git_ref: "main".into(),
        inputs: Default::default(),
    };
    outbox::enqueue(app.gh(), task, None).await.unwrap()
}

fn dispatches(repo: &str) -> String {
    format!("/repos/{repo}/actions/workflows/deploy.yml/dispatches")
}

async fn refusals_for_one_repository_pause_no_other_call(backend: Backend) {
    let gh = FakeGithub::start().await;
    let mut config = test_config(&gh.url());
    // Were the refusals counted, the sixth would pause every call for a minute: longer than the
    // test waits for the other repository's call.
    config.pause_base = Duration::from_secs(60);
    let app = TestApp::start_with_github_config(backend, config).await;
    let (forbidden, fine) = ("octo/forbidden", "octo/fine");
    let both = ccm::store::InstallationChange::Upsert {
        id: INSTALLATION_ID as i64,
        account: Some("octo".into()),
        repositories: Some(vec![forbidden.into(), fine.into()]),
    };
    app.store().apply_installation_change(&both).await.unwrap();
    let refusal = json!({"message": "Resource not accessible by integration"});
    FakeGithub::repo_call("POST", dispatches(forbidden))
        .respond_with(ResponseTemplate::new(403).set_body_json(refusal))
        .mount(&gh.server)
        .await;
    FakeGithub::repo_call("POST", dispatches(fine)).respond_with(ResponseTemplate::new(204)).mount(&gh.server).await;

    for _ in 0..6 {
        let job = app.wait_job(dispatch(&app, forbidden).await).await;
        assert_eq!((job.status.as_str(), job.attempts), ("failed", 1), "{:?}", job.last_error);
        let error = job.last_error.unwrap_or_default();
        assert!(error.contains("403"), "{error}");
    }
    let health = app.get("/api/integrations/github/health").await;
    let h = &health.body["github"];
    assert_eq!((h["paused"].as_bool(), h["consecutive_failures"].as_i64()), (Some(false), Some(0)), "{h}");
    assert_eq!(h["error_count"], 6, "{h}");
    let job = app.wait_job(dispatch(&app, fine).await).await;
    assert_eq!(job.status.as_str(), "done", "{:?}", job.last_error);
    assert_eq!(gh.requests_to("POST", &dispatches(fine)).await.len(), 1);
}

async fn a_401_renews_the_installation_token_once(backend: Backend) {
    let gh = FakeGithub::start().await;
    let app = TestApp::start_with_github(backend, &gh.url()).await;
    let repo = "octo/revoked";
    app.install(repo).await;
    // The cached token was revoked: 401 once, then the renewed token works.
    let bad_credentials = ResponseTemplate::new(401).set_body_json(json!({"message": "Bad credentials"}));
    let responder = Recorded::new(vec![bad_credentials.clone()], ResponseTemplate::new(204));
    FakeGithub::repo_call("POST", dispatches(repo)).respond_with(responder.clone()).mount(&gh.server).await;
    let job = app.wait_job(dispatch(&app, repo).await).await;
    assert_eq!((job.status.as_str(), job.attempts), ("done", 1), "{:?}", job.last_error);
    assert_eq!(responder.times().len(), 2);
    let tokens = format!("/app/installations/{INSTALLATION_ID}/access_tokens");
    assert_eq!(gh.requests_to("POST", &tokens).await.len(), 2, "a new token for the second try");

    // Refused with the new token as well: given up after the one renewal, not retried.
    let other = "octo/refused";
    app.install(other).await;
    let always = Recorded::new(Vec::new(), bad_credentials);
    FakeGithub::repo_call("POST", dispatches(other)).respond_with(always.clone()).mount(&gh.server).await;
    let job = app.wait_job(dispatch(&app, other).await).await;
    assert_eq!((job.status.as_str(), job.attempts), ("failed", 1), "{:?}", job.last_error);
    assert_eq!(always.times().len(), 2);
    assert!(job.last_error.unwrap_or_default().contains("401"));
    let health = app.get("/api/integrations/github/health").await;
    assert_eq!(health.body["github"]["paused"], false);
}

// Not database-bound: the app's own JWT.

#[actix_web::test]
async fn a_401_to_the_app_jwt_is_met_with_a_new_one() {
    // A JWT GitHub refused (its clock and ours disagreed a moment): a new one is signed and sent.
    let gh = FakeGithub::start().await;
    let skew = json!({"message": "'Expiration time' claim ('exp') is too far in the future"});
    let responder = Recorded::new(
        vec![ResponseTemplate::new(401).set_body_json(skew.clone())],
        ResponseTemplate::new(200).set_body_json(json!({"id": APP_ID})),
    );
    Mock::given(method("GET")).and(path("/app")).and(AppJwt).respond_with(responder.clone()).mount(&gh.server).await;
    let client = ccm::github::GithubClient::new(test_config(&gh.url())).unwrap().unwrap();
    let reply = client.call(As::App, Method::Get, "/app", None).await.unwrap();
    assert_eq!(reply.status, 200);
    let sent = gh.requests_to("GET", "/app").await;
    assert_eq!(sent.len(), 2);
    let jwt = |i: usize| sent[i].headers["authorization"].to_str().unwrap().to_string();
    assert!(jwt(1).starts_with("Bearer ey"), "{}", jwt(1));

    // An installation token request refused once (the same skew) is asked again with a new JWT.
    let server = MockServer::start().await;
    let expires = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let token = Recorded::new(
        vec![ResponseTemplate::new(401).set_body_json(skew)],
        ResponseTemplate::new(201).set_body_json(
            json!({"token": INSTALLATION_TOKEN, "expires_at": expires, "permissions": {"metadata": "read"}}),
        ),
    );
    Mock::given(method("POST"))
        .and(path(format!("/app/installations/{INSTALLATION_ID}/access_tokens")))
        .and(AppJwt)
        .respond_with(token.clone())
        .mount(&server)
        .await;
    FakeGithub::repo_call("GET", "/repos/octo/app")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"full_name": "octo/app"})))
        .mount(&server)
        .await;
    let client = ccm::github::GithubClient::new(test_config(&server.uri())).unwrap().unwrap();
    let reply = client.call(As::Installation(INSTALLATION_ID), Method::Get, "/repos/octo/app", None).await.unwrap();
    assert_eq!((reply.status, token.times().len()), (200, 2));
    let snapshot = client.health.snapshot(chrono::Utc::now());
    assert_eq!((snapshot.consecutive_failures, snapshot.paused), (0, false));
}
