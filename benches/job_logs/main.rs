//! Issue 17's benchmark: the real `ccm serve` (release build) on a fresh SQLite database, with a
//! GitHub App against a local fake GitHub (wiremock) whose job-log call redirects to a second
//! local server serving a large log. Measures:
//!
//! - fetching a `--log-mb` MB log (default 50; ccm keeps its last CCM_JOB_LOG_MAX_MB, 5 by
//!   default): the time from the job's completion to the log being served, and ccm's RSS growth
//!   (VmHWM after the fetch minus VmRSS before it);
//! - serving the last 200 lines of a stored 5 MB log (`?tail=200`), `--requests` times, one
//!   client: p50, p99, max.
//!
//!   cargo bench --bench job_logs [-- --log-mb 50 --requests 2000]

#[path = "../support/process.rs"]
#[allow(dead_code)] // CPU time is not measured here
mod process;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2::Sha256;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SECRET: &str = "bench-webhook-secret";
const TOKEN: &str = "bench-api-token-0123456789";
const REPO: &str = "octo/bench";
const WORKFLOW: &str = ".github/workflows/deploy.yml";

#[derive(Debug, Parser)]
struct Args {
    /// Size of the fetched log, in MB.
    #[arg(long, default_value_t = 50)]
    log_mb: usize,
    /// Requests for the last 200 lines of the 5 MB log.
    #[arg(long, default_value_t = 2000)]
    requests: usize,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn log_of(bytes: usize) -> String {
    let mut text = String::with_capacity(bytes + 100);
    let mut n = 0u64;
    while text.len() < bytes {
        n += 1;
        text.push_str(&format!(
            "2024-05-01T10:00:00.{:07}Z test module::case_{n} ... ok (\u{1b}[32m{} ms\u{1b}[0m)\n",
            n % 10_000_000,
            n % 997
        ));
    }
    text
}

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

struct Stopped(std::process::Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at].as_secs_f64() * 1000.0
}

async fn deliver(client: &reqwest::Client, api: &str, event: &str, guid: &str, body: serde_json::Value) {
    let body = body.to_string().into_bytes();
    let reply = client
        .post(format!("{api}/webhooks/github"))
        .header("X-GitHub-Event", event)
        .header("X-GitHub-Delivery", guid)
        .header("X-Hub-Signature-256", sign(&body))
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .expect("deliver");
    assert!(reply.status().is_success(), "delivery {guid}: {}", reply.status());
}

fn completed_job(job_id: i64, run_id: i64) -> serde_json::Value {
    let now = chrono::Utc::now().to_rfc3339();
    json!({
        "action": "completed",
        "workflow_job": {"id": job_id, "run_id": run_id, "run_attempt": 1, "name": format!("job-{job_id}"),
            "status": "completed", "conclusion": "success", "started_at": now, "completed_at": now, "steps": []},
        "repository": {"full_name": REPO}
    })
}

fn completed_run(run_id: i64) -> serde_json::Value {
    let now = chrono::Utc::now().to_rfc3339();
    json!({
        "action": "completed",
        "workflow_run": {"id": run_id, "run_attempt": 1, "name": "Deploy", "path": WORKFLOW, "status": "completed",
            "conclusion": "success", "head_branch": "main", "head_sha": "a".repeat(40), "event": "push",
            "created_at": now, "run_started_at": now, "updated_at": now},
        "repository": {"full_name": REPO}
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let github = MockServer::start().await;
    let download = MockServer::start().await;
    let mount = |m: Mock| async { m.mount(&github).await };
    let expires = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    mount(Mock::given(method("POST")).and(path_regex(r"^/app/installations/\d+/access_tokens$")).respond_with(
        ResponseTemplate::new(201).set_body_json(
            json!({"token": "ghs_bench", "expires_at": expires, "permissions": {"actions": "read", "checks": "read"}}),
        ),
    ))
    .await;
    mount(
        Mock::given(method("GET"))
            .and(path(format!("/repos/{REPO}/installation")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 77, "account": {"login": "octo"}}))),
    )
    .await;
    mount(
        Mock::given(method("GET"))
            .and(path(format!("/repos/{REPO}/contents/{WORKFLOW}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"type": "file", "path": WORKFLOW}))),
    )
    .await;
    mount(
        Mock::given(method("GET"))
            .and(path(format!("/repos/{REPO}/actions/workflows/deploy.yml/runs")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"total_count": 0, "workflow_runs": []}))),
    )
    .await;
    for (job_id, mb) in [(1, args.log_mb), (2, 5)] {
        mount(Mock::given(method("GET")).and(path(format!("/repos/{REPO}/actions/jobs/{job_id}/logs"))).respond_with(
            ResponseTemplate::new(302).insert_header("Location", format!("{}/logs/{job_id}", download.uri())),
        ))
        .await;
        Mock::given(method("GET"))
            .and(path(format!("/logs/{job_id}")))
            .respond_with(ResponseTemplate::new(200).set_body_string(log_of(mb << 20)))
            .mount(&download)
            .await;
    }

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let key = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/test-app-key.pem");
    let child = Command::new(env!("CARGO_BIN_EXE_ccm"))
        .arg("serve")
        .env("CCM_BIND", format!("127.0.0.1:{port}"))
        .env("CCM_DATA_DIR", dir.path())
        .env("DATABASE_URL", format!("sqlite://{}", dir.path().join("ccm.db").display()))
        .env("CCM_API_TOKEN", TOKEN)
        .env("GITHUB_WEBHOOK_SECRET", SECRET)
        .env("GITHUB_APP_ID", "4242")
        // The measured client is not a rate limit's case.
        .env("CCM_RATE_LIMIT", "off")
        .env("GITHUB_PRIVATE_KEY_PATH", &key)
        .env("GITHUB_API_URL", github.uri())
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn ccm serve");
    // Stopped however the benchmark ends (a failed assertion too).
    let child = Stopped(child);
    let pid = child.0.id();
    let api = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..400 {
        if client.get(format!("{api}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(ready, "ccm serve did not become ready");
    let provisioned: serde_json::Value = client
        .post(format!("{api}/api/pipelines/provision"))
        .header("CCM-Token", TOKEN)
        .json(&json!({"repo": REPO, "workflow_file": WORKFLOW}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id =
        provisioned["pipeline_id"].as_str().unwrap_or_else(|| panic!("provisioning failed: {provisioned}")).to_string();

    // Warm: the run, then the 5 MB log of job 2 (fetched and stored as well).
    deliver(&client, &api, "workflow_run", "run-1", completed_run(100)).await;
    let log_url = |job_id: i64| format!("{api}/api/pipelines/{id}/executions/100/1/jobs/{job_id}/logs");
    let wait_log = async |job_id: i64| {
        let started = Instant::now();
        loop {
            let reply = client.get(log_url(job_id)).header("CCM-Token", TOKEN).send().await.unwrap();
            if reply.status() == 200 {
                return started.elapsed();
            }
            assert!(started.elapsed() < Duration::from_secs(120), "job {job_id}'s log never arrived");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    deliver(&client, &api, "workflow_job", "job-2", completed_job(2, 100)).await;
    wait_log(2).await;

    let rss_before = process::status_kb(pid, "VmRSS:");
    let hwm_before = process::status_kb(pid, "VmHWM:");
    deliver(&client, &api, "workflow_job", "job-1", completed_job(1, 100)).await;
    let fetched_in = wait_log(1).await;
    let hwm_after = process::status_kb(pid, "VmHWM:");
    let kept = client.get(log_url(1)).header("CCM-Token", TOKEN).send().await.unwrap();
    let truncated = kept.headers()["x-ccm-log-truncated"].to_str().unwrap().to_string();
    let kept = kept.bytes().await.unwrap().len();

    let mut latencies = Vec::with_capacity(args.requests);
    let tail = format!("{}?tail=200", log_url(2));
    for _ in 0..args.requests / 5 {
        client.get(&tail).header("CCM-Token", TOKEN).send().await.unwrap().bytes().await.unwrap();
    }
    for _ in 0..args.requests {
        let started = Instant::now();
        let body = client.get(&tail).header("CCM-Token", TOKEN).send().await.unwrap().bytes().await.unwrap();
        latencies.push(started.elapsed());
        assert_eq!(
            body.iter().filter(|b| **b == b'\n').count(),
            200,
            "{}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        );
    }
    latencies.sort();
    drop(child);

    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| log fetched | {} MB (ccm kept {:.1} MB, truncated: {truncated}) |",
        args.log_mb,
        kept as f64 / 1048576.0
    );
    println!("| job completed -> log served | {:.2} s |", fetched_in.as_secs_f64());
    println!("| ccm RSS before the fetch | {:.1} MB |", rss_before as f64 / 1024.0);
    println!(
        "| ccm RSS growth (VmHWM after - VmRSS before) | {:.1} MB (VmHWM before: {:.1} MB) |",
        hwm_after.saturating_sub(rss_before) as f64 / 1024.0,
        hwm_before as f64 / 1024.0
    );
    println!(
        "| last 200 lines of a 5 MB log, {} requests | p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms |",
        args.requests,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().unwrap().as_secs_f64() * 1000.0
    );
}
