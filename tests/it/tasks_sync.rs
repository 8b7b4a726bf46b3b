//! Research tasks synced with GitHub issues, both ways: signed `issues`, `pull_request` and
//! `push` webhooks, the tasks API, and a fake GitHub on loopback that records what ccm sent;
//! on SQLite and on PostgreSQL.

use crate::helpers::github::*;
use crate::helpers::*;
use chrono::{Duration, Utc};
use serde_json::{Value, json};
use wiremock::ResponseTemplate;

pub(super) const REPO: &str = "octo/research";

on_both_databases!(
    tasks_api_creates_filters_updates_and_deletes,
    issue_events_drive_the_task,
    sync_settings_have_a_default_and_auto_sync_off_stops_webhooks,
    task_changes_are_written_to_the_issue_through_the_outbox,
    echoes_of_ccms_own_writes_change_nothing,
    conflicting_edits_go_to_the_later_change_and_are_audited,
    seed_sync_calls_keep_their_shapes,
);

pub(super) fn ts(at: chrono::DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn issue(number: i64, title: &str, body: &str, state: &str, labels: &[&str], updated: chrono::DateTime<Utc>) -> Value {
    json!({
        "number": number, "id": 1000 + number, "node_id": format!("I_node{number}"),
        "html_url": format!("https://github.com/{REPO}/issues/{number}"),
        "title": title, "body": body, "state": state,
        "labels": labels.iter().map(|l| json!({"name": l})).collect::<Vec<_>>(),
        "updated_at": ts(updated),
    })
}

fn issues_event(action: &str, issue: Value, sender: Value) -> Vec<u8> {
    json!({"action": action, "issue": issue, "repository": {"full_name": REPO}, "sender": sender})
        .to_string()
        .into_bytes()
}

pub(super) fn user() -> Value {
    json!({"login": "alice", "type": "User"})
}

fn bot() -> Value {
    json!({"login": "ccm-research[bot]", "type": "Bot"})
}

pub(super) async fn deliver_ok(app: &TestApp, event: &str, guid: &str, body: &[u8]) {
    let r = app.deliver(event, guid, body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "processed", "{}", r.body);
}

async fn task_of(app: &TestApp, number: i64) -> Value {
    let list = app.get(&format!("/api/tasks?repository={REPO}")).await;
    assert_eq!(list.status, 200, "{}", list.body);
    list.body["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["issue"]["number"] == number)
        .cloned()
        .unwrap_or_else(|| panic!("no task for issue {number}: {}", list.body))
}

async fn audit_actions(app: &TestApp) -> Vec<Value> {
    let r = app.get("/api/audit?limit=1000").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let key = if r.body.get("entries").is_some() { "entries" } else { "audit" };
    r.body[key].as_array().cloned().unwrap_or_default()
}

async fn tasks_api_creates_filters_updates_and_deletes(backend: Backend) {
    let app = TestApp::start(backend).await;
    let r = app.post("/api/tasks", json!({"title": "Read papers", "priority": "high", "labels": ["ml"]})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let t = &r.body["task"];
    assert_eq!(
        (t["status"].as_str(), t["priority"].as_str(), t["origin"].as_str()),
        (Some("todo"), Some("high"), Some("api"))
    );
    assert_eq!(t["labels"], json!(["ml", "priority: high"]));
    assert_eq!(t["issue"], Value::Null);
    let id = t["id"].as_i64().unwrap();
    // Priority from labels when not given.
    let r =
        app.post("/api/tasks", json!({"title": "Low one", "labels": ["priority: low"], "status": "in_progress"})).await;
    assert_eq!(r.body["task"]["priority"], "low");
    assert_eq!(app.post("/api/tasks", json!({"title": " "})).await.status, 400);
    assert_eq!(app.post("/api/tasks", json!({"title": "x", "status": "doing"})).await.status, 400);
    assert_eq!(app.post("/api/tasks", json!({"title": "x", "priority": "p0"})).await.status, 400);

    let all = app.get("/api/tasks").await.body;
    assert_eq!(all["count"], 2);
    let high = app.get("/api/tasks?priority=high").await.body;
    assert_eq!((high["count"].as_i64(), high["tasks"][0]["id"].as_i64()), (Some(1), Some(id)));
    let paged = app.get("/api/tasks?status=in_progress&limit=1&offset=0").await.body;
    assert_eq!((paged["count"].as_i64(), paged["tasks"].as_array().unwrap().len()), (Some(1), 1));
    assert_eq!(app.get("/api/tasks?status=nope").await.status, 400);
    assert_eq!(app.get("/api/tasks?limit=0").await.status, 400);

    let r =
        app.patch(&format!("/api/tasks/{id}"), json!({"status": "done", "priority": "low", "description": "d"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["task"]["labels"], json!(["ml", "priority: low"]));
    assert_eq!(r.body["issue_sync"], Value::Null, "an unlinked task writes nothing to GitHub");
    let got = app.get(&format!("/api/tasks/{id}")).await.body;
    assert_eq!((got["task"]["status"].as_str(), got["task"]["description"].as_str()), (Some("done"), Some("d")));
    assert_eq!(got["task"]["pull_requests"], json!([]));
    assert_eq!(app.patch(&format!("/api/tasks/{id}"), json!({"status": "x"})).await.status, 400);
    assert_eq!(app.patch(&format!("/api/tasks/{id}"), json!({"owner": "x"})).await.status, 400);

    assert_eq!(app.delete(&format!("/api/tasks/{id}")).await.status, 200);
    assert_eq!(app.get(&format!("/api/tasks/{id}")).await.status, 404);
    assert_eq!(app.delete(&format!("/api/tasks/{id}")).await.status, 404);
    assert_eq!(app.get("/api/tasks/abc").await.status, 404);
    let r = app.send(reqwest::Method::PUT, "/api/tasks", Some(json!({})), Some(TOKEN)).await;
    assert_eq!(r.status, 405);
    assert_eq!(app.send(reqwest::Method::GET, "/api/tasks", None, None).await.status, 401);
}

async fn issue_events_drive_the_task(backend: Backend) {
    let app = TestApp::start(backend).await;
    let t0 = Utc::now() - Duration::minutes(30);
    let at = |m: i64| t0 + Duration::minutes(m);
    deliver_ok(
        &app,
        "issues",
        "i-1",
        &issues_event("opened", issue(7, "Survey", "read", "open", &["bug"], at(0)), user()),
    )
    .await;
    let t = task_of(&app, 7).await;
    assert_eq!((t["title"].as_str(), t["description"].as_str()), (Some("Survey"), Some("read")));
    assert_eq!(
        (t["status"].as_str(), t["priority"].as_str(), t["origin"].as_str()),
        (Some("todo"), Some("medium"), Some("github"))
    );
    assert_eq!(t["issue"]["node_id"], "I_node7");
    assert_eq!(t["issue"]["url"], format!("https://github.com/{REPO}/issues/7"));

    deliver_ok(
        &app,
        "issues",
        "i-2",
        &issues_event("edited", issue(7, "Survey v2", "read more", "open", &["bug"], at(1)), user()),
    )
    .await;
    let t = task_of(&app, 7).await;
    assert_eq!((t["title"].as_str(), t["description"].as_str()), (Some("Survey v2"), Some("read more")));

    let labeled = issue(7, "Survey v2", "read more", "open", &["bug", "priority: high"], at(2));
    deliver_ok(&app, "issues", "i-3", &issues_event("labeled", labeled, user())).await;
    let t = task_of(&app, 7).await;
    assert_eq!((t["priority"].as_str(), t["labels"].clone()), (Some("high"), json!(["bug", "priority: high"])));
    let urgent = issue(7, "Survey v2", "read more", "open", &["urgent"], at(3));
    deliver_ok(&app, "issues", "i-4", &issues_event("labeled", urgent, user())).await;
    assert_eq!(task_of(&app, 7).await["priority"], "high");
    let low = issue(7, "Survey v2", "read more", "open", &["priority: low"], at(4));
    deliver_ok(&app, "issues", "i-5", &issues_event("labeled", low, user())).await;
    assert_eq!(task_of(&app, 7).await["priority"], "low");
    let none = issue(7, "Survey v2", "read more", "open", &[], at(5));
    deliver_ok(&app, "issues", "i-6", &issues_event("unlabeled", none, user())).await;
    assert_eq!(task_of(&app, 7).await["priority"], "medium");

    deliver_ok(
        &app,
        "issues",
        "i-7",
        &issues_event("closed", issue(7, "Survey v2", "read more", "closed", &[], at(6)), user()),
    )
    .await;
    assert_eq!(task_of(&app, 7).await["status"], "done");
    deliver_ok(
        &app,
        "issues",
        "i-8",
        &issues_event("reopened", issue(7, "Survey v2", "read more", "open", &[], at(7)), user()),
    )
    .await;
    assert_eq!(task_of(&app, 7).await["status"], "todo");

    // An older event arriving late changes nothing.
    deliver_ok(&app, "issues", "i-9", &issues_event("edited", issue(7, "Stale", "x", "open", &[], at(2)), user()))
        .await;
    assert_eq!(task_of(&app, 7).await["title"], "Survey v2");

    // Transferred: the link follows the issue.
    let mut body: Value = serde_json::from_slice(&issues_event(
        "transferred",
        issue(7, "Survey v2", "read more", "open", &[], at(8)),
        user(),
    ))
    .unwrap();
    body["changes"] = json!({
        "new_issue": {"number": 3, "node_id": "I_moved", "html_url": "https://github.com/octo/archive/issues/3",
                      "title": "Survey v2", "body": "read more", "state": "open", "labels": [], "updated_at": ts(at(8))},
        "new_repository": {"full_name": "octo/archive"}
    });
    deliver_ok(&app, "issues", "i-10", body.to_string().as_bytes()).await;
    let moved = app.get("/api/tasks?repository=octo/archive").await.body;
    assert_eq!(moved["count"], 1, "{moved}");
    let t = &moved["tasks"][0];
    assert_eq!((t["issue"]["number"].as_i64(), t["issue"]["node_id"].as_str()), (Some(3), Some("I_moved")));
    let id = t["id"].as_i64().unwrap();

    // Deleted: the task stays, marked.
    let deleted = json!({"action": "deleted", "issue": issue(3, "Survey v2", "read more", "open", &[], at(9)),
                         "repository": {"full_name": "octo/archive"}, "sender": user()});
    deliver_ok(&app, "issues", "i-11", deleted.to_string().as_bytes()).await;
    let t = app.get(&format!("/api/tasks/{id}")).await.body;
    assert_eq!(t["task"]["issue"]["deleted"], true, "{t}");

    // Events for an issue without a task other than `opened` create nothing.
    deliver_ok(&app, "issues", "i-12", &issues_event("edited", issue(8, "Other", "", "open", &[], at(1)), user()))
        .await;
    assert_eq!(app.get(&format!("/api/tasks?repository={REPO}")).await.body["count"], 0);
    let actions: Vec<String> =
        audit_actions(&app).await.iter().filter_map(|a| a["action"].as_str().map(str::to_string)).collect();
    for expected in
        ["task.created_from_issue", "task.updated_from_issue", "task.issue_transferred", "task.issue_deleted"]
    {
        assert!(actions.iter().any(|a| a == expected), "{expected} missing from {actions:?}");
    }
}

async fn sync_settings_have_a_default_and_auto_sync_off_stops_webhooks(backend: Backend) {
    let app = TestApp::start(backend).await;
    let r = app.get(&format!("/api/sync/repositories/{REPO}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"success": true, "repository": REPO, "auto_sync": true, "default_labels": [], "closes_issues_in": [],
               "default": true, "private": null})
    );
    let r = app
        .send(
            reqwest::Method::PUT,
            &format!("/api/sync/repositories/{REPO}"),
            Some(json!({"auto_sync": false, "default_labels": ["commandcenter"]})),
            Some(TOKEN),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app.get(&format!("/api/sync/repositories/{REPO}")).await;
    assert_eq!((r.body["auto_sync"].as_bool(), r.body["default"].as_bool()), (Some(false), Some(false)));
    assert_eq!(r.body["default_labels"], json!(["commandcenter"]));
    let r = app
        .send(reqwest::Method::PUT, &format!("/api/sync/repositories/{REPO}"), Some(json!({"bogus": 1})), Some(TOKEN))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(app.get("/api/sync/repositories/a%20b/c").await.status, 400);

    deliver_ok(&app, "issues", "o-1", &issues_event("opened", issue(1, "Quiet", "", "open", &[], Utc::now()), user()))
        .await;
    assert_eq!(app.get("/api/tasks").await.body["count"], 0, "auto_sync off: no task");
}

/// Serves the issues API of the fake GitHub: PATCH answers with the issue as sent and an
/// updated_at of now.
async fn issue_api(gh: &FakeGithub, number: i64) {
    FakeGithub::repo_call("PATCH", format!("/repos/{REPO}/issues/{number}"))
        .respond_with(move |req: &wiremock::Request| {
            let sent: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            let mut body = issue(
                number,
                sent["title"].as_str().unwrap_or(""),
                sent["body"].as_str().unwrap_or(""),
                sent["state"].as_str().unwrap_or("open"),
                &[],
                Utc::now(),
            );
            body["labels"] = sent["labels"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|l| json!({"name": l}))
                .collect();
            ResponseTemplate::new(200).set_body_json(body)
        })
        .mount(&gh.server)
        .await;
}

async fn patches(gh: &FakeGithub, number: i64) -> Vec<Value> {
    gh.requests_to("PATCH", &format!("/repos/{REPO}/issues/{number}"))
        .await
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

async fn wait_patches(gh: &FakeGithub, number: i64, n: usize) -> Vec<Value> {
    wait_for(&format!("{n} PATCH calls to issue {number}"), PATIENCE, async || {
        let sent = patches(gh, number).await;
        if sent.len() >= n { Ok(sent) } else { Err(format!("{sent:?}")) }
    })
    .await
}

pub(super) async fn linked_task(app: &TestApp, number: i64, at: chrono::DateTime<Utc>) -> i64 {
    deliver_ok(
        app,
        "issues",
        &format!("open-{number}"),
        &issues_event("opened", issue(number, "Study", "plan", "open", &["bug"], at), user()),
    )
    .await;
    task_of(app, number).await["id"].as_i64().unwrap()
}

async fn task_changes_are_written_to_the_issue_through_the_outbox(backend: Backend) {
    let gh = FakeGithub::start().await;
    issue_api(&gh, 12).await;
    let app = TestApp::start_with_github(backend, &gh.url()).await;
    app.install(REPO).await;
    let id = linked_task(&app, 12, Utc::now() - Duration::minutes(10)).await;

    let r = app.patch(&format!("/api/tasks/{id}"), json!({"status": "done"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["issue_sync"]["queued"], true, "{}", r.body);
    let job = app.wait_job(r.body["issue_sync"]["job_id"].as_i64().unwrap()).await;
    assert_eq!(job.status.as_str(), "done", "{:?}", job.last_error);
    let sent = wait_patches(&gh, 12, 1).await;
    assert_eq!(sent[0]["state"], "closed");
    assert_eq!(sent[0]["title"], "Study");
    assert_eq!(app.get(&format!("/api/tasks/{id}")).await.body["task"]["sync"]["pending"], false);

    let r = app.patch(&format!("/api/tasks/{id}"), json!({"status": "todo"})).await;
    app.wait_job(r.body["issue_sync"]["job_id"].as_i64().unwrap()).await;
    assert_eq!(wait_patches(&gh, 12, 2).await[1]["state"], "open");

    let r = app
        .patch(&format!("/api/tasks/{id}"), json!({"title": "Study 2", "description": "new plan", "priority": "high"}))
        .await;
    app.wait_job(r.body["issue_sync"]["job_id"].as_i64().unwrap()).await;
    let sent = wait_patches(&gh, 12, 3).await;
    assert_eq!(
        sent[2],
        json!({"title": "Study 2", "body": "new plan", "state": "open", "labels": ["bug", "priority: high"]})
    );

    // in_progress is still an open issue: nothing to write. (A change queues its write before
    // answering, so once the outbox has nothing left to do, nothing more was or will be sent.)
    let before = app.outbox_settled().await;
    let r = app.patch(&format!("/api/tasks/{id}"), json!({"status": "in_progress"})).await;
    assert_eq!(r.body["issue_sync"], Value::Null, "{}", r.body);
    assert_eq!(app.outbox_settled().await, before, "a job was queued");
    assert_eq!(patches(&gh, 12).await.len(), 3);
}

async fn echoes_of_ccms_own_writes_change_nothing(backend: Backend) {
    let gh = FakeGithub::start().await;
    issue_api(&gh, 13).await;
    let app = TestApp::start_with_github(backend, &gh.url()).await;
    app.install(REPO).await;
    let id = linked_task(&app, 13, Utc::now() - Duration::minutes(10)).await;
    let r = app.patch(&format!("/api/tasks/{id}"), json!({"status": "done", "title": "Mine"})).await;
    app.wait_job(r.body["issue_sync"]["job_id"].as_i64().unwrap()).await;
    wait_patches(&gh, 13, 1).await;
    let before = app.get(&format!("/api/tasks/{id}")).await.body["task"].clone();
    let outbox = app.outbox_settled().await;

    // The events GitHub sends for ccm's write, sent by ccm's bot, stamped with the time GitHub
    // answered ccm's write: the full echo...
    let written = before["sync"]["issue_updated_at"].as_str().unwrap();
    let written = chrono::DateTime::parse_from_rfc3339(written).unwrap().to_utc();
    deliver_ok(
        &app,
        "issues",
        "echo-1",
        &issues_event("closed", issue(13, "Mine", "plan", "closed", &["bug"], written), bot()),
    )
    .await;
    // ...and one carrying a partial view (title changed, state not yet).
    deliver_ok(
        &app,
        "issues",
        "echo-2",
        &issues_event("edited", issue(13, "Mine", "plan", "open", &["bug"], written), bot()),
    )
    .await;
    let after = app.get(&format!("/api/tasks/{id}")).await.body["task"].clone();
    assert_eq!(after, before, "echoes changed the task");
    // Writes to GitHub go through the outbox, queued before what caused them is answered: with
    // no new job and nothing left to do there, nothing was or will be written back.
    assert_eq!(app.outbox_settled().await, outbox, "an echo queued a job");
    assert_eq!(patches(&gh, 13).await.len(), 1, "an echo must not be written back to GitHub");
    let audits = audit_actions(&app).await;
    let applied = |a: &Value| {
        a["action"] == "task.sync_conflict"
            || (a["action"] == "task.updated_from_issue" && a["details"]["action"] != "opened")
    };
    assert!(!audits.iter().any(applied), "{audits:?}");
    // A real change by someone else still applies.
    deliver_ok(
        &app,
        "issues",
        "human-1",
        &issues_event(
            "reopened",
            issue(13, "Mine", "plan", "open", &["bug"], Utc::now() + Duration::seconds(5)),
            user(),
        ),
    )
    .await;
    assert_eq!(app.get(&format!("/api/tasks/{id}")).await.body["task"]["status"], "todo");
    assert_eq!(patches(&gh, 13).await.len(), 1);
}

async fn conflicting_edits_go_to_the_later_change_and_are_audited(backend: Backend) {
    // Without GitHub configured the local edits stay pending, so both sides have changed.
    let app = TestApp::start(backend).await;
    let id = linked_task(&app, 21, Utc::now() - Duration::hours(3)).await;
    let r = app.patch(&format!("/api/tasks/{id}"), json!({"title": "Local title", "description": "local body"})).await;
    assert_eq!(r.body["task"]["sync"]["pending"], true, "{}", r.body);
    assert_eq!(r.body["issue_sync"]["reason"], "github_not_configured");

    // GitHub's title edit made before the local one: the local title wins; GitHub's label is taken.
    let earlier = issue(21, "Remote title", "plan", "open", &["bug", "critical"], Utc::now() - Duration::hours(1));
    deliver_ok(&app, "issues", "c-1", &issues_event("edited", earlier, user())).await;
    let t = app.get(&format!("/api/tasks/{id}")).await.body["task"].clone();
    assert_eq!((t["title"].as_str(), t["description"].as_str()), (Some("Local title"), Some("local body")));
    assert_eq!(t["priority"], "high", "GitHub's non-conflicting label change is kept");
    assert_eq!(t["sync"]["pending"], true);

    // A later GitHub edit of the same field wins.
    let later = issue(21, "Remote again", "plan", "open", &["bug", "critical"], Utc::now() + Duration::hours(1));
    deliver_ok(&app, "issues", "c-2", &issues_event("edited", later, user())).await;
    let t = app.get(&format!("/api/tasks/{id}")).await.body["task"].clone();
    assert_eq!((t["title"].as_str(), t["description"].as_str()), (Some("Remote again"), Some("local body")));

    let conflicts: Vec<Value> =
        audit_actions(&app).await.into_iter().filter(|a| a["action"] == "task.sync_conflict").collect();
    assert_eq!(conflicts.len(), 2, "{conflicts:?}");
    let winners: Vec<&str> =
        conflicts.iter().map(|c| c["details"]["conflicts"][0]["winner"].as_str().unwrap()).collect();
    assert!(winners.contains(&"ccm") && winners.contains(&"github"), "{winners:?}");
    let c = conflicts.iter().find(|c| c["details"]["conflicts"][0]["winner"] == "ccm").unwrap();
    assert_eq!(c["details"]["conflicts"][0]["ccm"], "Local title");
    assert_eq!(c["details"]["conflicts"][0]["github"], "Remote title");
}

async fn seed_sync_calls_keep_their_shapes(backend: Backend) {
    let gh = FakeGithub::start().await;
    let repo = "my-org/my-repo";
    let mut issue_json = issue(123, "From GitHub", "details", "open", &["urgent"], Utc::now() - Duration::minutes(5));
    issue_json["html_url"] = json!("https://github.com/my-org/my-repo/issues/123");
    FakeGithub::repo_call("GET", format!("/repos/{repo}/issues/123"))
        .respond_with(ResponseTemplate::new(200).set_body_json(issue_json))
        .mount(&gh.server)
        .await;
    FakeGithub::repo_call("POST", format!("/repos/{repo}/issues"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "number": 124, "node_id": "I_124", "html_url": "https://github.com/my-org/my-repo/issues/124",
            "state": "open", "updated_at": ts(Utc::now()),
        })))
        .mount(&gh.server)
        .await;
    let app = TestApp::start_with_github(backend, &gh.url()).await;
    app.install(repo).await;

    let body = json!({"issue_number": 123, "repository": {"owner": "my-org", "name": "my-repo"}});
    let r = app.post("/api/sync/issue-to-task", body.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!((r.body["action"].as_str(), r.body["issue_number"].as_i64()), (Some("created"), Some(123)));
    assert_eq!(r.body["url"], "https://github.com/my-org/my-repo/issues/123");
    assert_eq!(
        (r.body["task"]["title"].as_str(), r.body["task"]["priority"].as_str()),
        (Some("From GitHub"), Some("high"))
    );
    let r2 = app.post("/api/sync/issue-to-task", body).await;
    assert_eq!((r2.body["action"].as_str(), r2.body["task_id"].clone()), (Some("updated"), r.body["task_id"].clone()));
    let missing = app
        .post(
            "/api/sync/issue-to-task",
            json!({"issue_number": 9, "repository": {"owner": "my-org", "name": "my-repo"}}),
        )
        .await;
    assert_eq!(missing.status, 404, "{}", missing.body);

    let r = app
        .send(
            reqwest::Method::PUT,
            &format!("/api/sync/repositories/{repo}"),
            Some(json!({"default_labels": ["commandcenter"]})),
            Some(TOKEN),
        )
        .await;
    assert_eq!(r.status, 200);
    let task = app
        .post("/api/tasks", json!({"title": "Benchmark models", "description": "all of them", "priority": "high"}))
        .await;
    let task_id = task.body["task"]["id"].as_i64().unwrap();
    let body = json!({"task_id": task_id, "repository": {"owner": "my-org", "name": "my-repo"}});
    let r = app.post("/api/sync/task-to-issue", body.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"issue_number": 124, "url": "https://github.com/my-org/my-repo/issues/124", "action": "created"})
    );
    let sent = gh.requests_to("POST", &format!("/repos/{repo}/issues")).await;
    assert_eq!(sent.len(), 1);
    let sent: Value = serde_json::from_slice(&sent[0].body).unwrap();
    assert_eq!(
        sent,
        json!({"title": "Benchmark models", "body": "all of them", "labels": ["commandcenter", "priority: high"]})
    );
    let t = app.get(&format!("/api/tasks/{task_id}")).await.body["task"].clone();
    assert_eq!((t["issue"]["number"].as_i64(), t["issue"]["repository"].as_str()), (Some(124), Some(repo)));

    // Again: the task has its issue, which is up to date.
    let r = app.post("/api/sync/task-to-issue", body).await;
    assert_eq!(
        r.body,
        json!({"issue_number": 124, "url": "https://github.com/my-org/my-repo/issues/124", "action": "updated"})
    );
    assert_eq!(gh.requests_to("POST", &format!("/repos/{repo}/issues")).await.len(), 1, "no second issue");
    let r = app
        .post(
            "/api/sync/task-to-issue",
            json!({"task_id": 999999, "repository": {"owner": "my-org", "name": "my-repo"}}),
        )
        .await;
    assert_eq!(r.status, 404);
    let r = app
        .post("/api/sync/task-to-issue", json!({"task_id": task_id, "repository": {"owner": "other", "name": "repo"}}))
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
}
