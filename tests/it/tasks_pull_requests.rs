//! Pull requests and pushes that move research tasks, and GitHub's real payloads driving them;
//! on SQLite and on PostgreSQL (the issue side is in `tasks_sync`).

use super::tasks_sync::{REPO, deliver_ok, linked_task, ts, user};
use crate::helpers::*;
use chrono::{Duration, Utc};
use serde_json::{Value, json};

on_both_databases!(
    pull_requests_link_tasks_and_move_their_status,
    references_to_other_repositories_act_only_when_listed,
    pushes_to_the_default_branch_are_recorded,
    real_issue_and_pull_request_payloads_drive_tasks,
);

fn pr_event(
    action: &str,
    number: i64,
    body: &str,
    draft: bool,
    merged: bool,
    sha: &str,
    updated: chrono::DateTime<Utc>,
) -> Vec<u8> {
    json!({
        "action": action,
        "pull_request": {
            "number": number, "title": format!("PR {number}"), "body": body,
            "state": if action == "closed" { "closed" } else { "open" }, "draft": draft, "merged": merged,
            "head": {"sha": sha}, "user": {"login": "bob"}, "html_url": format!("https://github.com/{REPO}/pull/{number}"),
            "updated_at": ts(updated),
        },
        "repository": {"full_name": REPO},
        "sender": user(),
    })
    .to_string()
    .into_bytes()
}

async fn pull_requests_link_tasks_and_move_their_status(backend: Backend) {
    let app = TestApp::start(backend).await;
    let t0 = Utc::now() - Duration::minutes(20);
    let a = linked_task(&app, 5, t0).await;
    let b = linked_task(&app, 6, t0).await;
    let sha = "a".repeat(40);
    // A draft links but does not start the work.
    deliver_ok(
        &app,
        "pull_request",
        "pr-1",
        &pr_event("opened", 40, "Fixes #5 and closes octo/research#6", true, false, &sha, t0 + Duration::minutes(1)),
    )
    .await;
    let t = app.get(&format!("/api/tasks/{a}")).await.body["task"].clone();
    assert_eq!(t["status"], "todo");
    let pr = &t["pull_requests"][0];
    assert_eq!(
        (pr["number"].as_i64(), pr["draft"].as_bool(), pr["author"].as_str()),
        (Some(40), Some(true), Some("bob"))
    );
    assert_eq!(pr["head_sha"], sha.as_str());
    deliver_ok(
        &app,
        "pull_request",
        "pr-2",
        &pr_event(
            "ready_for_review",
            40,
            "Fixes #5 and closes octo/research#6",
            false,
            false,
            &sha,
            t0 + Duration::minutes(2),
        ),
    )
    .await;
    for id in [a, b] {
        assert_eq!(app.get(&format!("/api/tasks/{id}")).await.body["task"]["status"], "in_progress");
    }
    // Executions of the head commit show on the tasks.
    let run = workflow_run(900, 1, REPO, "main", "completed", Some("success"), t0, t0 + Duration::minutes(2));
    let mut run: Value = serde_json::from_slice(&run).unwrap();
    run["workflow_run"]["head_sha"] = json!(sha);
    deliver_ok(&app, "workflow_run", "run-1", run.to_string().as_bytes()).await;
    let t = app.get(&format!("/api/tasks/{a}")).await.body["task"].clone();
    assert_eq!(t["pull_requests"][0]["executions"][0]["run_id"], 900, "{t}");

    deliver_ok(
        &app,
        "pull_request",
        "pr-3",
        &pr_event("closed", 40, "Fixes #5 and closes octo/research#6", false, true, &sha, t0 + Duration::minutes(3)),
    )
    .await;
    for id in [a, b] {
        let t = app.get(&format!("/api/tasks/{id}")).await.body["task"].clone();
        assert_eq!(t["status"], "done");
        assert_eq!(t["pull_requests"][0]["merged"], true);
    }
    // An older event changes nothing back.
    deliver_ok(&app, "pull_request", "pr-4", &pr_event("opened", 40, "", false, false, &sha, t0)).await;
    assert_eq!(app.get(&format!("/api/tasks/{a}")).await.body["task"]["pull_requests"][0]["merged"], true);
}

/// A task created from issue `number` of `repo` (an `opened` webhook); returns its id.
async fn task_in(app: &TestApp, repo: &str, number: i64) -> i64 {
    let event = json!({
        "action": "opened",
        "issue": {"number": number, "title": format!("Issue {number}"), "body": "", "state": "open", "labels": [],
                  "html_url": format!("https://github.com/{repo}/issues/{number}"), "updated_at": ts(Utc::now())},
        "repository": {"full_name": repo, "private": true},
        "sender": user(),
    });
    deliver_ok(app, "issues", &format!("open-{repo}-{number}"), event.to_string().as_bytes()).await;
    let tasks = app.get(&format!("/api/tasks?repository={repo}")).await.body;
    tasks["tasks"][0]["id"].as_i64().unwrap_or_else(|| panic!("no task for {repo}#{number}: {tasks}"))
}

/// A pull request (from a fork, as anyone can open on a public repository) saying it fixes
/// another repository's issue moves nothing there, merged or not; once the repository's sync
/// settings list that other repository, its references act.
async fn references_to_other_repositories_act_only_when_listed(backend: Backend) {
    let app = TestApp::start(backend).await;
    let own = task_in(&app, REPO, 5).await;
    let foreign = task_in(&app, "other-org/other-repo", 3).await;
    let listed = task_in(&app, "octo/lib", 4).await;
    let body = "Fixes #5, fixes other-org/other-repo#3 and closes octo/lib#4";
    let sha = "f".repeat(40);
    let t0 = Utc::now() - Duration::minutes(10);
    let mut opened: Value = serde_json::from_slice(&pr_event("opened", 41, body, false, false, &sha, t0)).unwrap();
    opened["pull_request"]["head"]["repo"] = json!({"full_name": "mallory/research", "fork": true});
    deliver_ok(&app, "pull_request", "xpr-1", opened.to_string().as_bytes()).await;
    let task = async |id: i64| app.get(&format!("/api/tasks/{id}")).await.body["task"].clone();
    assert_eq!(task(own).await["status"], "in_progress");
    for id in [foreign, listed] {
        let t = task(id).await;
        assert_eq!((t["status"].as_str(), t["pull_requests"].as_array().map(Vec::len)), (Some("todo"), Some(0)), "{t}");
    }

    let settings = "/api/sync/repositories/octo/research";
    let put =
        app.send(reqwest::Method::PUT, settings, Some(json!({"closes_issues_in": ["Octo/Lib"]})), Some(TOKEN)).await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.body["closes_issues_in"], json!(["Octo/Lib"]));
    assert_eq!(app.get(settings).await.body["closes_issues_in"], json!(["Octo/Lib"]));
    let bad = app.send(reqwest::Method::PUT, settings, Some(json!({"closes_issues_in": ["nope"]})), Some(TOKEN)).await;
    assert_eq!((bad.status, bad.body["code"].as_str()), (400, Some("bad_request")), "{}", bad.body);

    let merged = pr_event("closed", 41, body, false, true, &sha, t0 + Duration::minutes(1));
    deliver_ok(&app, "pull_request", "xpr-2", &merged).await;
    assert_eq!(task(own).await["status"], "done");
    assert_eq!(task(listed).await["status"], "done", "octo/lib is listed now");
    let t = task(foreign).await;
    assert_eq!((t["status"].as_str(), t["pull_requests"].as_array().map(Vec::len)), (Some("todo"), Some(0)), "{t}");
}

fn push_event(git_ref: &str, after: &str) -> Vec<u8> {
    json!({
        "ref": git_ref, "before": "0".repeat(40), "after": after,
        "repository": {"full_name": REPO, "default_branch": "main"},
        "pusher": {"name": "carol", "email": "c@example.com"},
        "commits": [{"id": after, "timestamp": "2026-01-05T09:30:00Z"}, {"id": "b", "timestamp": "2026-01-05T10:00:00+02:00"}],
    })
    .to_string()
    .into_bytes()
}

async fn pushes_to_the_default_branch_are_recorded(backend: Backend) {
    let app = TestApp::start(backend).await;
    let id = app.provision(REPO, ".github/workflows/ci.yml", json!({})).await;
    deliver_ok(&app, "push", "push-1", &push_event("refs/heads/main", &"c".repeat(40))).await;
    deliver_ok(&app, "push", "push-2", &push_event("refs/heads/feature", &"d".repeat(40))).await;
    deliver_ok(&app, "push", "push-3", &push_event("refs/tags/v1", &"e".repeat(40))).await;
    let r = app.get(&format!("/api/pipelines/{id}/pushes")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let pushes = r.body["pushes"].as_array().unwrap();
    assert_eq!(pushes.len(), 1, "{}", r.body);
    assert_eq!(pushes[0]["ref"], "refs/heads/main");
    assert_eq!(pushes[0]["after"], "c".repeat(40));
    assert_eq!((pushes[0]["pusher"].as_str(), pushes[0]["commits_count"].as_i64()), (Some("carol"), Some(2)));
    // The oldest commit, its offset taken into account (10:00 at +02:00 is 08:00 UTC).
    assert_eq!(pushes[0]["first_commit_at"], "2026-01-05T08:00:00Z");
    assert_eq!(app.get("/api/pipelines/pipe_000000000000/pushes").await.status, 404);
}

async fn real_issue_and_pull_request_payloads_drive_tasks(backend: Backend) {
    let dir = shared_payloads();
    let read = |p: &str| -> Value { serde_json::from_slice(&std::fs::read(dir.join(p)).unwrap()).unwrap() };
    let app = TestApp::start(backend).await;
    let opened = read("issues/opened.payload.json");
    let repo = opened["repository"]["full_name"].as_str().unwrap().to_string();
    // GitHub's example repository is public: its issues sync once its settings say so.
    assert_eq!(opened["repository"]["private"], false);
    let on = json!({"auto_sync": true});
    let put = app.send(reqwest::Method::PUT, &format!("/api/sync/repositories/{repo}"), Some(on), Some(TOKEN)).await;
    assert_eq!(put.status, 200, "{}", put.body);
    let number = opened["issue"]["number"].as_i64().unwrap();
    deliver_ok(&app, "issues", "real-1", opened.to_string().as_bytes()).await;
    let list = app.get(&format!("/api/tasks?repository={repo}")).await.body;
    assert_eq!(list["count"], 1, "{list}");
    let t = &list["tasks"][0];
    assert_eq!(t["title"], opened["issue"]["title"]);
    assert_eq!((t["status"].as_str(), t["issue"]["number"].as_i64()), (Some("todo"), Some(number)));
    let id = t["id"].as_i64().unwrap();
    // The real labeled, edited and closed payloads, applied in order of their timestamps.
    for (i, file) in
        ["issues/labeled.payload.json", "issues/edited.payload.json", "issues/closed.payload.json"].iter().enumerate()
    {
        if let Ok(bytes) = std::fs::read(dir.join(file)) {
            deliver_ok(&app, "issues", &format!("real-x{i}"), &bytes).await;
        }
    }
    let t = app.get(&format!("/api/tasks/{id}")).await.body["task"].clone();
    assert_eq!(t["labels"].as_array().map(|l| l.is_empty()), Some(false), "{t}");
    // The real pull request, saying it fixes the issue.
    let mut pr = read("pull_request/opened.payload.json");
    pr["pull_request"]["body"] = json!(format!("Fixes #{number}"));
    deliver_ok(&app, "pull_request", "real-pr", pr.to_string().as_bytes()).await;
    let t = app.get(&format!("/api/tasks/{id}")).await.body["task"].clone();
    assert_eq!(t["pull_requests"][0]["number"], pr["pull_request"]["number"], "{t}");
    assert_eq!(t["pull_requests"][0]["head_sha"], pr["pull_request"]["head"]["sha"]);
    if t["status"] == "todo" {
        panic!("a ready pull request should move a todo task on: {t}");
    }
}
