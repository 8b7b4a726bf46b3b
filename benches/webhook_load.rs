//! Load benchmark for the webhook receiver: starts the real `ccm serve` (release build) on a
//! fresh database, posts signed `workflow_run` deliveries at a chosen concurrency, and reports
//! deliveries/s, latency percentiles, peak RSS, and how soon a delivery's effect is visible in
//! stats and on the SSE stream. It checks that every delivery answered 2xx is stored.
//!
//!   cargo bench --bench webhook_load -- --backend sqlite
//!   scripts/with-postgres cargo bench --bench webhook_load -- --backend postgres
//!
//! Options: --deliveries N (30000) --concurrency C (64) --repos R (50) --probes P (300)
//! --jobs J (0: each run also sends its J jobs' `workflow_job` deliveries, queued, in_progress
//! and completed, in GitHub's order) --server PATH (another `ccm` binary, e.g. one built with
//! debug info for perf)
//!
//! The senders write requests built before the clock starts over keep-alive connections and
//! read just the status line and the length of each answer, as `wrk` does: the load generator
//! shares the two cores with ccm, and the less it takes of them, the more the figures are ccm's.
//! (With reqwest it took 0.3 cores at 3,000 deliveries/s.) Its CPU is printed with the results.

#[path = "support/process.rs"]
mod process;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use process::{cpu_seconds, status_kb};
use serde_json::{Value, json};
use sqlx::Connection;

const SECRET: &str = "bench-webhook-secret";
const TOKEN: &str = "bench-api-token-0123456789";
const WF: &str = ".github/workflows/deploy.yml";

struct Options {
    backend: String,
    deliveries: usize,
    concurrency: usize,
    repos: usize,
    probes: usize,
    /// Jobs per run, each delivered three times among its run's deliveries.
    jobs: usize,
    /// The `ccm` binary to serve with (default: the one cargo built with this benchmark).
    server: Option<String>,
}

fn options() -> Options {
    let mut o = Options {
        backend: "sqlite".into(),
        deliveries: 30_000,
        concurrency: 64,
        repos: 50,
        probes: 300,
        jobs: 0,
        server: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--backend" => o.backend = value,
            "--deliveries" => o.deliveries = value.parse().expect("--deliveries N"),
            "--concurrency" => o.concurrency = value.parse().expect("--concurrency N"),
            "--repos" => o.repos = value.parse().expect("--repos N"),
            "--probes" => o.probes = value.parse().expect("--probes N"),
            "--jobs" => o.jobs = value.parse().expect("--jobs N"),
            "--server" => o.server = Some(value),
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    o
}

/// A body shaped and sized like GitHub's (about 20 KB: the repository object and its URL
/// fields appear three times, as in real deliveries).
fn body(run_id: i64, repo: &str, status: &str, conclusion: Option<&str>, started: &str, updated: &str) -> Vec<u8> {
    let mut repository = serde_json::Map::new();
    repository.insert("full_name".into(), json!(repo));
    repository.insert("id".into(), json!(123456));
    for i in 0..45 {
        repository.insert(
            format!("field_{i}_url"),
            json!(format!("https://api.github.com/repos/{repo}/things/{i}{{/number}}")),
        );
    }
    let repository = Value::Object(repository);
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

/// A `workflow_job` delivery shaped like GitHub's (its repository as large as `body`'s).
fn job_body(job_id: i64, run_id: i64, repo: &str, status: &str, started: &str, done: &str) -> Vec<u8> {
    let mut repository = serde_json::Map::new();
    repository.insert("full_name".into(), json!(repo));
    repository.insert("id".into(), json!(123456));
    for i in 0..45 {
        repository.insert(
            format!("field_{i}_url"),
            json!(format!("https://api.github.com/repos/{repo}/things/{i}{{/number}}")),
        );
    }
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
        "repository": Value::Object(repository),
        "organization": {"login": "octo-org", "id": 1},
        "sender": {"login": "octocat", "id": 1},
        "installation": {"id": 77}
    })
    .to_string()
    .into_bytes()
}

fn sign(body: &[u8]) -> String {
    ccm::webhook::signature::sign(SECRET.as_bytes(), body)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

struct Server {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
    /// The database's URL, dropped at the end when it is a PostgreSQL database of its own.
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn database_url(backend: &str, dir: &std::path::Path) -> String {
    match backend {
        "sqlite" => format!("sqlite://{}", dir.join("ccm.db").display()),
        "postgres" => {
            let admin = std::env::var("CCM_TEST_DATABASE_URL")
                .expect("CCM_TEST_DATABASE_URL: run under scripts/with-postgres for --backend postgres");
            let mut conn = sqlx::PgConnection::connect(&admin).await.expect("connect");
            let name = format!("ccm_bench_{}", uuid::Uuid::new_v4().simple());
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.unwrap();
            format!("{}/{name}", admin.rsplit_once('/').unwrap().0)
        }
        other => panic!("--backend sqlite|postgres, not {other}"),
    }
}

async fn start_server(backend: &str, bin: Option<&str>) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(backend, dir.path()).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(bin.unwrap_or(env!("CARGO_BIN_EXE_ccm")))
        .arg("serve")
        .env("CCM_BIND", format!("127.0.0.1:{port}"))
        .env("CCM_DATA_DIR", dir.path())
        .env("DATABASE_URL", &url)
        .env("CCM_API_TOKEN", TOKEN)
        .env("GITHUB_WEBHOOK_SECRET", SECRET)
        .env("RUST_LOG", std::env::var("BENCH_RUST_LOG").unwrap_or_else(|_| "info".into()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn ccm serve");
    let server = Server { child, base: format!("http://127.0.0.1:{port}"), _dir: dir, url };
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client.get(format!("{}/readyz", server.base)).send().await.is_ok_and(|r| r.status().is_success()) {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("ccm serve did not become ready");
}

struct Delivery {
    event: &'static str,
    guid: String,
    body: Vec<u8>,
    signature: String,
}

impl Delivery {
    /// The whole HTTP/1.1 request, as GitHub would send it.
    fn request(&self, host: &str) -> Vec<u8> {
        let mut request = format!(
            "POST /webhooks/github HTTP/1.1\r\nHost: {host}\r\nUser-Agent: GitHub-Hookshot/bench\r\n\
             Content-Type: application/json\r\nX-GitHub-Event: {}\r\nX-GitHub-Delivery: {}\r\n\
             X-Hub-Signature-256: {}\r\nContent-Length: {}\r\n\r\n",
            self.event,
            self.guid,
            self.signature,
            self.body.len()
        )
        .into_bytes();
        request.extend_from_slice(&self.body);
        request
    }
}

/// One sender: posts requests from `requests` (shared, taken in turn) over one keep-alive
/// connection until none are left. Returns the latency of each 2xx answer and the count of others.
async fn send_all(addr: String, requests: Arc<Vec<Vec<u8>>>, next: Arc<AtomicUsize>) -> (Vec<f64>, usize) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(&addr).await.expect("connect to ccm");
    stream.set_nodelay(true).unwrap();
    let (mut latencies, mut failed) = (Vec::new(), 0);
    let mut buffer = Vec::with_capacity(4096);
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(request) = requests.get(i) else { break };
        let t = Instant::now();
        stream.write_all(request).await.expect("send");
        // Read the head, then as much body as Content-Length says.
        buffer.clear();
        let head_end = loop {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(n > 0, "ccm closed the connection");
            buffer.extend_from_slice(&chunk[..n]);
        };
        let head = std::str::from_utf8(&buffer[..head_end]).expect("an HTTP head");
        let length: usize = head
            .lines()
            .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-length")))
            .map(|(_, v)| v.trim().parse().expect("a length"))
            .expect("answers carry Content-Length");
        let ok = head.starts_with("HTTP/1.1 2");
        while buffer.len() < head_end + length {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(n > 0, "ccm closed the connection");
            buffer.extend_from_slice(&chunk[..n]);
        }
        if ok {
            latencies.push(t.elapsed().as_secs_f64() * 1000.0);
        } else {
            failed += 1;
        }
    }
    (latencies, failed)
}

async fn post(client: &reqwest::Client, base: &str, d: &Delivery) -> bool {
    client
        .post(format!("{base}/webhooks/github"))
        .header("X-GitHub-Event", d.event)
        .header("X-GitHub-Delivery", &d.guid)
        .header("X-Hub-Signature-256", &d.signature)
        .header("Content-Type", "application/json")
        .body(d.body.clone())
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

#[tokio::main]
async fn main() {
    let o = options();
    let server = start_server(&o.backend, o.server.as_deref()).await;
    let pid = server.child.id();
    let client = reqwest::Client::builder().pool_max_idle_per_host(o.concurrency * 2).build().unwrap();
    let repos: Vec<String> = (0..o.repos).map(|i| format!("bench-org/app-{i}")).collect();
    for repo in repos.iter().chain(std::iter::once(&"bench-org/probe".to_string())) {
        let r = client
            .post(format!("{}/api/pipelines/provision", server.base))
            .header("CCM-Token", TOKEN)
            .json(&json!({"repo": repo, "workflow_file": WF}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }

    // Each run is delivered three times (requested, in_progress, completed), like GitHub does,
    // with its jobs' deliveries (queued, in_progress, completed) in between with --jobs.
    let now = chrono::Utc::now();
    let started = (now - chrono::Duration::minutes(30)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let done = (now - chrono::Duration::minutes(27)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let per_run = 3 + 3 * o.jobs;
    let deliveries: Arc<Vec<Delivery>> = Arc::new(
        (0..o.deliveries)
            .map(|i| {
                let run = (i / per_run) as i64 + 1;
                let repo = &repos[(run as usize) % repos.len()];
                let step = i % per_run;
                let (event, body) = if step == 0 || step == o.jobs + 1 || step == per_run - 1 {
                    let (status, conclusion, updated) = match step {
                        0 => ("requested", None, &started),
                        s if s == per_run - 1 => {
                            ("completed", Some(if run % 10 == 0 { "failure" } else { "success" }), &done)
                        }
                        _ => ("in_progress", None, &started),
                    };
                    ("workflow_run", body(run, repo, status, conclusion, &started, updated))
                } else {
                    // Steps 1..=J queue the jobs, J+2..=2J+1 start them, 2J+2..=3J+1 complete them.
                    let (status, k) = match step {
                        s if s <= o.jobs => ("queued", s - 1),
                        s if s <= 2 * o.jobs + 1 => ("in_progress", s - o.jobs - 2),
                        s => ("completed", s - 2 * o.jobs - 2),
                    };
                    ("workflow_job", job_body(run * 100 + k as i64, run, repo, status, &started, &done))
                };
                Delivery { event, guid: format!("bench-{i}"), signature: sign(&body), body }
            })
            .collect(),
    );
    let body_size = deliveries.iter().map(|d| d.body.len()).sum::<usize>() / deliveries.len().max(1);

    // Peak RSS, sampled throughout.
    let peak = Arc::new(AtomicUsize::new(0));
    let sampling = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(status_kb(pid, "VmRSS:") as usize, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    // Probes: a delivery for a run of its own, timed until its stats show it (via GET) and until
    // the SSE stream carries its stats, while the load runs.
    let probes = {
        let (base, client, n) = (server.base.clone(), client.clone(), o.probes);
        tokio::spawn(async move { probe(&client, &base, n).await })
    };

    let host = server.base.trim_start_matches("http://").to_string();
    let requests: Arc<Vec<Vec<u8>>> = Arc::new(deliveries.iter().map(|d| d.request(&host)).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let cpu_before = cpu_seconds(pid);
    let own_cpu_before = cpu_seconds(std::process::id());
    let clock = Instant::now();
    let workers: Vec<_> =
        (0..o.concurrency).map(|_| tokio::spawn(send_all(host.clone(), requests.clone(), next.clone()))).collect();
    let mut latencies = Vec::new();
    let mut failed = 0;
    for w in workers {
        let (l, f) = w.await.unwrap();
        latencies.extend(l);
        failed += f;
    }
    let elapsed = clock.elapsed().as_secs_f64();
    let server_cpu = cpu_seconds(pid) - cpu_before;
    let own_cpu = cpu_seconds(std::process::id()) - own_cpu_before;
    let (mut sse, mut stats_visible) = probes.await.unwrap();
    sse.sort_by(f64::total_cmp);
    stats_visible.sort_by(f64::total_cmp);
    sampling.abort();
    let hwm = status_kb(pid, "VmHWM:");

    // Every 2xx delivery is stored.
    let stored: Value = client
        .get(format!("{}/api/deliveries?limit=1", server.base))
        .header("CCM-Token", TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stored = stored["count"].as_u64().unwrap() as usize;
    let acknowledged = latencies.len();

    latencies.sort_by(f64::total_cmp);
    println!(
        "backend: {}  deliveries: {}  concurrency: {}  jobs per run: {}  body: {} bytes on average",
        o.backend, o.deliveries, o.concurrency, o.jobs, body_size
    );
    println!("| backend | deliveries/s | p50 ms | p99 ms | max ms | peak RSS MB | stats visible p99 ms | SSE p99 ms |");
    println!(
        "| {} | {:.0} | {:.2} | {:.2} | {:.1} | {:.1} | {:.1} | {:.1} |",
        o.backend,
        acknowledged as f64 / elapsed,
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(f64::NAN),
        peak.load(Ordering::Relaxed).max(hwm as usize) as f64 / 1024.0,
        percentile(&stats_visible, 0.99),
        percentile(&sse, 0.99),
    );
    println!(
        "acknowledged: {acknowledged}  failed: {failed}  stored (incl. {} probes): {stored}  SSE p50 {:.1} ms  stats p50 {:.1} ms",
        stats_visible.len(),
        percentile(&sse, 0.5),
        percentile(&stats_visible, 0.5)
    );
    println!(
        "server CPU: {:.2} cores on average during the load, {:.0} µs a delivery; load generator (with the \
         probes): {:.2} cores",
        server_cpu / elapsed,
        server_cpu * 1e6 / acknowledged as f64,
        own_cpu / elapsed
    );
    let metrics = client.get(format!("{}/metrics", server.base)).header("CCM-Token", TOKEN).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    let sample =
        |name: &str| metrics.lines().find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok()).unwrap_or(f64::NAN);
    let batches = sample("ccm_webhook_batch_deliveries_count");
    println!(
        "batches: {batches:.0}, {:.1} deliveries and {:.2} ms each on average",
        sample("ccm_webhook_batch_deliveries_sum") / batches,
        sample("ccm_webhook_batch_seconds_sum") * 1000.0 / batches
    );
    // A PostgreSQL database of its own, dropped once ccm has stopped.
    let url = server.url.clone();
    drop(server);
    if let Some((_, name)) = url.rsplit_once('/').filter(|_| url.starts_with("postgres")) {
        let admin = std::env::var("CCM_TEST_DATABASE_URL").expect("set for --backend postgres");
        let mut conn = sqlx::PgConnection::connect(&admin).await.expect("connect");
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {name}"))).execute(&mut conn).await.unwrap();
    }
    assert_eq!(failed, 0, "some deliveries were refused");
    assert_eq!(stored, acknowledged + stats_visible.len(), "a delivery answered 2xx is missing from the store");
}

/// Sends `n` probe deliveries, one every 20 ms, each a new completed run of bench-org/probe.
/// Returns the SSE latencies and the stats latencies (ms from sending to seeing the run).
async fn probe(client: &reqwest::Client, base: &str, n: usize) -> (Vec<f64>, Vec<f64>) {
    if n == 0 {
        return (Vec::new(), Vec::new());
    }
    let mut stream = client.get(format!("{base}/api/events")).header("CCM-Token", TOKEN).send().await.unwrap();
    let id = {
        let list: Value = client
            .get(format!("{base}/api/pipelines?repository=bench-org/probe"))
            .header("CCM-Token", TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        list["pipelines"][0]["pipeline_id"].as_str().unwrap().to_string()
    };
    let (mut sse, mut visible) = (Vec::new(), Vec::new());
    let mut buffer = String::new();
    let base_time = chrono::Utc::now() - chrono::Duration::minutes(20);
    for k in 0..n {
        let run_id = 10_000_000 + k as i64;
        let at = (base_time + chrono::Duration::seconds(k as i64)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let body = body(run_id, "bench-org/probe", "completed", Some("success"), &at, &at);
        let d = Delivery { event: "workflow_run", guid: format!("probe-{k}"), signature: sign(&body), body };
        let t = Instant::now();
        assert!(post(client, base, &d).await, "probe refused");
        let stats: Value = client
            .get(format!("{base}/api/pipelines/{id}/stats"))
            .header("CCM-Token", TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(stats["stats"]["last_run"]["run_id"], run_id, "stats do not show the acknowledged run");
        visible.push(t.elapsed().as_secs_f64() * 1000.0);
        let needle = format!("\"run_id\":{run_id}");
        'wait: loop {
            while let Some(end) = buffer.find("\n\n") {
                let frame: String = buffer.drain(..end + 2).collect();
                if frame.contains("event: stats") && frame.contains(&needle) {
                    sse.push(t.elapsed().as_secs_f64() * 1000.0);
                    break 'wait;
                }
            }
            match tokio::time::timeout(Duration::from_secs(5), stream.chunk()).await {
                Ok(Ok(Some(chunk))) => buffer.push_str(&String::from_utf8_lossy(&chunk)),
                _ => panic!("no SSE stats event for probe {k}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (sse, visible)
}
