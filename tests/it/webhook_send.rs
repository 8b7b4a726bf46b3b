//! `ccm webhook send` against the real app, on SQLite and on PostgreSQL.

use crate::helpers::*;

on_both_databases!(sends_a_signed_delivery, a_wrong_secret_fails_with_the_receivers_answer);

async fn send(app: &TestApp, secret: &str, guid: &str) -> std::process::Output {
    let (url, file, secret, guid) = (
        format!("{}/webhooks/github", app.base),
        fixture("workflow_run.completed.json"),
        secret.to_string(),
        guid.to_string(),
    );
    tokio::task::spawn_blocking(move || {
        assert_cmd::Command::cargo_bin("ccm")
            .unwrap()
            .args(["webhook", "send", "--event", "workflow_run", "--file", &file, "--url", &url, "--delivery", &guid])
            .env("GITHUB_WEBHOOK_SECRET", secret)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

async fn sends_a_signed_delivery(backend: Backend) {
    let app = TestApp::start(backend).await;
    let out = send(&app, SECRET, "cli-1").await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["status"], "processed");
    let run = app.store().get_execution(9001, 1).await.unwrap().expect("stored");
    assert_eq!(run.duration_seconds, Some(192));
    let stored = app.get("/api/deliveries/cli-1").await.body;
    assert_eq!(stored["delivery"]["headers"]["x-github-event"], "workflow_run");
}

async fn a_wrong_secret_fails_with_the_receivers_answer(backend: Backend) {
    let app = TestApp::start(backend).await;
    let out = send(&app, "not-the-secret", "cli-2").await;
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("Invalid X-Hub-Signature-256"), "{stdout}");
    assert!(stderr.contains("401"), "{stderr}");
    assert!(!stderr.contains("not-the-secret") && !stdout.contains("not-the-secret"));
    assert_eq!(app.get("/api/deliveries").await.body["count"], 0);
}
