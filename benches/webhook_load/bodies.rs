//! The deliveries the benchmark sends.
//!
//! - `synthetic`: the earlier sessions' load, bodies of about 20 KB built from scratch, every run
//!   in one organisation (kept so that older results can be repeated).
//! - `github`: GitHub's own `workflow_run` payload (`shared/github-payloads`) as the template,
//!   rewritten per repository and run: 200 repositories (140 in 20 organisations, 60 personal),
//!   bodies of 19–24 KB (median about 21 KB), each run's requested, in_progress and completed
//!   in that order, each run with an id of its own.

use serde_json::{Value, json};

pub const WF: &str = ".github/workflows/deploy.yml";

/// One delivery's event and body; the GUID and signature are added when it is sent.
pub struct Body {
    pub event: &'static str,
    pub body: Vec<u8>,
}

/// The moments a run's bodies give: started 30 minutes ago, done three minutes later.
pub struct Times {
    pub started: String,
    pub done: String,
}

impl Times {
    pub fn now() -> Self {
        let now = chrono::Utc::now();
        let at =
            |minutes| (now - chrono::Duration::minutes(minutes)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        Times { started: at(30), done: at(27) }
    }
}

/// The event-order status of step `step` (0, 1, 2) of a run, and its conclusion.
fn run_state(step: usize, run: i64) -> (&'static str, Option<&'static str>) {
    match step {
        0 => ("requested", None),
        1 => ("in_progress", None),
        _ => ("completed", Some(if run % 10 == 0 { "failure" } else { "success" })),
    }
}

/// The `synthetic` repositories: `bench-org/app-N`.
pub fn synthetic_repositories(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("bench-org/app-{i}")).collect()
}

/// `count` deliveries of the synthetic load: runs of three (requested, in_progress, completed),
/// with their `jobs` jobs' deliveries (queued, in_progress, completed) in between.
pub fn synthetic(count: usize, repos: &[String], jobs: usize, times: &Times) -> Vec<Body> {
    let per_run = 3 + 3 * jobs;
    (0..count)
        .map(|i| {
            let run = (i / per_run) as i64 + 1;
            let repo = &repos[(run as usize) % repos.len()];
            let step = i % per_run;
            if step == 0 || step == jobs + 1 || step == per_run - 1 {
                let (status, conclusion) = run_state(
                    if step == 0 {
                        0
                    } else if step == per_run - 1 {
                        2
                    } else {
                        1
                    },
                    run,
                );
                let updated = if status == "completed" { &times.done } else { &times.started };
                Body {
                    event: "workflow_run",
                    body: synthetic_run(run, repo, status, conclusion, &times.started, updated),
                }
            } else {
                // Steps 1..=J queue the jobs, J+2..=2J+1 start them, 2J+2..=3J+1 complete them.
                let (status, k) = match step {
                    s if s <= jobs => ("queued", s - 1),
                    s if s <= 2 * jobs + 1 => ("in_progress", s - jobs - 2),
                    s => ("completed", s - 2 * jobs - 2),
                };
                Body {
                    event: "workflow_job",
                    body: synthetic_job(run * 100 + k as i64, run, repo, status, &times.started, &times.done),
                }
            }
        })
        .collect()
}

fn synthetic_repository(repo: &str) -> Value {
    let mut repository = serde_json::Map::new();
    repository.insert("full_name".into(), json!(repo));
    repository.insert("id".into(), json!(123456));
    for i in 0..45 {
        repository.insert(
            format!("field_{i}_url"),
            json!(format!("https://api.github.com/repos/{repo}/things/{i}{{/number}}")),
        );
    }
    Value::Object(repository)
}

/// A body shaped and sized like GitHub's (about 20 KB: the repository object and its URL
/// fields appear three times, as in real deliveries).
pub fn synthetic_run(
    run_id: i64,
    repo: &str,
    status: &str,
    conclusion: Option<&str>,
    started: &str,
    updated: &str,
) -> Vec<u8> {
    let repository = synthetic_repository(repo);
    json!({
        "action": if status == "completed" { "completed" } else { status },
        "workflow_run": {
            "id": run_id, "run_attempt": 1, "name": "Deploy", "path": WF, "head_branch": "main",
            "head_sha": format!("{run_id:040x}"), "event": "push", "status": status, "conclusion": conclusion,
            "run_number": run_id, "html_url": format!("https://github.com/{repo}/actions/runs/{run_id}"),
            "actor": {"login": "octocat", "id": 1}, "created_at": started, "updated_at": updated,
            "run_started_at": started, "repository": repository, "head_repository": repository,
            "head_commit": {"id": format!("{run_id:040x}"), "message": "Update the thing", "author": {"name": "Octo Cat", "email": "octo@example.com"}}
        },
        "repository": repository,
        "organization": {"login": "octo-org", "id": 1},
        "sender": {"login": "octocat", "id": 1},
        "installation": {"id": 77}
    })
    .to_string()
    .into_bytes()
}

/// A `workflow_job` delivery shaped like GitHub's (its repository as large as a run's).
fn synthetic_job(job_id: i64, run_id: i64, repo: &str, status: &str, started: &str, done: &str) -> Vec<u8> {
    let step = |n: i64, name: &str| json!({"name": name, "status": status, "conclusion": null, "number": n});
    json!({
        "action": status,
        "workflow_job": {
            "id": job_id, "run_id": run_id, "run_attempt": 1, "name": format!("build-{}", job_id % 100),
            "status": status, "conclusion": if status == "completed" { Some("success") } else { None },
            "runner_name": (status != "queued").then_some("runner-1"), "html_url": format!("https://github.com/{repo}/actions/runs/{run_id}/job/{job_id}"),
            "created_at": started, "started_at": (status != "queued").then_some(started),
            "completed_at": (status == "completed").then_some(done), "head_branch": "main",
            "steps": [step(1, "Set up job"), step(2, "Checkout"), step(3, "Build"), step(4, "Test")]
        },
        "repository": synthetic_repository(repo),
        "organization": {"login": "octo-org", "id": 1},
        "sender": {"login": "octocat", "id": 1},
        "installation": {"id": 77}
    })
    .to_string()
    .into_bytes()
}

/// The `github` load's repositories: 140 in 20 organisations (7 each), 60 personal.
pub fn github_repositories() -> Vec<String> {
    let organisations = (0..140).map(|i| format!("org-{:02}/service-{}", i % 20, i / 20));
    let personal = (0..60).map(|i| format!("user-{i:02}/project"));
    organisations.chain(personal).collect()
}

/// GitHub's `workflow_run` payload, read from `shared/github-payloads`.
fn github_template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/github-payloads/workflow_run/completed.payload.json");
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("the github load needs {path} (the shared folder beside the repository): {e}"));
    serde_json::from_str(&text).expect("the template is JSON")
}

/// A number in [0, 1) spread evenly over `i` (a fixed sequence: every run sends the same bodies).
fn spread(i: usize) -> f64 {
    ((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) as f64 / (1u64 << 53) as f64
}

/// `count` bodies of the `github` load (`count` / 3 runs, each requested, in_progress, completed).
pub fn github(count: usize, repos: &[String], times: &Times) -> Vec<Body> {
    let template = github_template();
    (0..count)
        .map(|i| {
            let run = i / 3;
            let (status, conclusion) = run_state(i % 3, run as i64);
            // 19 to 24 KB, median about 21 KB: skewed towards the small end, as real bodies are.
            let target = 19_000 + (5_000.0 * spread(run).powf(1.3)) as usize;
            let repo = &repos[run % repos.len()];
            let body = github_run(&template, 7_000_000_000 + run as i64, repo, status, conclusion, times, target);
            Body { event: "workflow_run", body }
        })
        .collect()
}

fn github_run(
    template: &Value,
    run_id: i64,
    repo: &str,
    status: &str,
    conclusion: Option<&str>,
    times: &Times,
    target: usize,
) -> Vec<u8> {
    let mut d = template.clone();
    let (owner, _) = repo.split_once('/').unwrap();
    let personal = owner.starts_with("user-");
    let updated = if status == "completed" { &times.done } else { &times.started };
    d["action"] = json!(status);
    let run = &mut d["workflow_run"];
    run["id"] = json!(run_id);
    run["run_number"] = json!(run_id % 100_000);
    run["run_attempt"] = json!(1);
    run["path"] = json!(WF);
    run["status"] = json!(status);
    run["conclusion"] = json!(conclusion);
    run["head_sha"] = json!(format!("{run_id:040x}"));
    run["head_commit"]["id"] = run["head_sha"].clone();
    run["created_at"] = json!(times.started);
    run["run_started_at"] = json!(times.started);
    run["updated_at"] = json!(updated);
    if personal {
        d.as_object_mut().unwrap().remove("organization");
    }
    let kind = if personal { "User" } else { "Organization" };
    d["repository"]["owner"]["type"] = json!(kind);
    for key in ["repository", "head_repository"] {
        d["workflow_run"][key]["owner"]["type"] = json!(kind);
    }
    // Every URL and name of the template's repository names this one instead.
    let original = template["repository"]["full_name"].as_str().unwrap();
    let (original_owner, original_name) = original.split_once('/').unwrap();
    let (name, text) = (repo.split_once('/').unwrap().1, d.to_string());
    let text = text
        .replace(original, repo)
        .replace(&format!("\"login\":\"{original_owner}\""), &format!("\"login\":\"{owner}\""))
        .replace(&format!("\"name\":\"{original_name}\""), &format!("\"name\":\"{name}\""));
    let mut d: Value = serde_json::from_str(&text).unwrap();
    if text.len() > target {
        d["workflow_run"].as_object_mut().unwrap().remove("head_repository");
    }
    let length = d.to_string().len();
    let message = "Update the deployment: ".to_string() + &"x".repeat(target.saturating_sub(length + 23));
    d["workflow_run"]["head_commit"]["message"] = json!(message);
    d.to_string().into_bytes()
}
