//! Issue sync by default follows the repository's visibility, as its webhooks say it
//! (`repository.private`): on for a private repository, off for a public one, where anyone with a
//! GitHub account could open issues and create tasks; a stored setting overrides either way; on
//! SQLite and on PostgreSQL.

use super::tasks_sync::{deliver_ok, ts, user};
use crate::helpers::*;
use chrono::Utc;
use serde_json::{Value, json};

on_both_databases!(issue_sync_is_off_by_default_for_public_repositories);

fn opened(repo: &str, private: bool, number: i64) -> Vec<u8> {
    json!({
        "action": "opened",
        "issue": {"number": number, "title": format!("Issue {number}"), "body": "", "state": "open", "labels": [],
                  "html_url": format!("https://github.com/{repo}/issues/{number}"), "updated_at": ts(Utc::now())},
        "repository": {"full_name": repo, "private": private, "visibility": if private { "private" } else { "public" }},
        "sender": user(),
    })
    .to_string()
    .into_bytes()
}

async fn tasks_of(app: &TestApp, repo: &str) -> i64 {
    app.get(&format!("/api/tasks?repository={repo}")).await.body["count"].as_i64().unwrap()
}

async fn settings(app: &TestApp, repo: &str) -> Value {
    let reply = app.get(&format!("/api/sync/repositories/{repo}")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

async fn put(app: &TestApp, repo: &str, body: Value) {
    let reply =
        app.send(reqwest::Method::PUT, &format!("/api/sync/repositories/{repo}"), Some(body), Some(TOKEN)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

async fn issue_sync_is_off_by_default_for_public_repositories(backend: Backend) {
    let app = TestApp::start(backend).await;
    // Before any webhook, a repository counts as private.
    let s = settings(&app, "octo/public").await;
    assert_eq!(
        (s["auto_sync"].as_bool(), s["default"].as_bool(), s["private"].clone()),
        (Some(true), Some(true), Value::Null)
    );

    // A stranger's issue on a public repository: stored and processed, no task.
    deliver_ok(&app, "issues", "pub-1", &opened("octo/public", false, 1)).await;
    assert_eq!(tasks_of(&app, "octo/public").await, 0);
    let s = settings(&app, "octo/public").await;
    assert_eq!(
        (s["auto_sync"].as_bool(), s["default"].as_bool(), s["private"].as_bool()),
        (Some(false), Some(true), Some(false)),
        "{s}"
    );
    // A private repository's issue becomes a task.
    deliver_ok(&app, "issues", "priv-1", &opened("octo/private", true, 1)).await;
    assert_eq!(tasks_of(&app, "octo/private").await, 1);
    assert_eq!(settings(&app, "octo/private").await["auto_sync"], true);

    // An explicit setting wins over the visibility, either way.
    put(&app, "octo/public", json!({"auto_sync": true})).await;
    put(&app, "octo/private", json!({"auto_sync": false})).await;
    deliver_ok(&app, "issues", "pub-2", &opened("octo/public", false, 2)).await;
    deliver_ok(&app, "issues", "priv-2", &opened("octo/private", true, 2)).await;
    assert_eq!((tasks_of(&app, "octo/public").await, tasks_of(&app, "octo/private").await), (1, 1));
    let s = settings(&app, "octo/public").await;
    assert_eq!(
        (s["auto_sync"].as_bool(), s["default"].as_bool(), s["private"].as_bool()),
        (Some(true), Some(false), Some(false)),
        "{s}"
    );

    // A repository made public later: its next webhook says so, and the default follows.
    deliver_ok(&app, "issues", "flip-1", &opened("octo/flipped", true, 1)).await;
    deliver_ok(&app, "issues", "flip-2", &opened("octo/flipped", false, 2)).await;
    assert_eq!(tasks_of(&app, "octo/flipped").await, 1, "only the issue opened while it was private");
    assert_eq!(settings(&app, "octo/flipped").await["private"], false);
}
