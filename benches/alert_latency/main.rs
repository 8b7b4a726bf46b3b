//! Alert latency benchmark (issue 16): the time from a failing run's delivery being acknowledged
//! to the webhook channel's POST arriving at a local receiver, while ccm ingests a steady load of
//! other deliveries (1,000/s by default). ccm runs in this process (the real app on a loopback
//! port, as the tests serve it) over a fresh SQLite file, or the PostgreSQL database named by
//! `--database-url`; the receiver is a small local HTTP server that timestamps each POST.
//!
//!   cargo bench --bench alert_latency -- --seconds 20
//!   cargo bench --bench alert_latency -- --database-url postgres://.../fresh_db
//!
//! Each probe posts a failing run of the watched pipeline (a `run_failed` rule, cooldown 0) and
//! waits for its firing notification, then posts a success and waits for the resolution; probes
//! repeat until `--seconds` have passed. Prints p50/p90/p99/max of the firing latency and the
//! background load actually achieved.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use chrono::Utc;
use clap::Parser;
use serde_json::{Value, json};
use tokio::sync::mpsc;

const TOKEN: &str = "bench-token-0123456789";
const SECRET: &str = "bench-webhook-secret-0123";

#[derive(Debug, Parser)]
struct Args {
    /// Seconds of probing.
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    /// Background deliveries a second.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// A PostgreSQL database to use (fresh); default: a SQLite file in a temp folder.
    #[arg(long)]
    database_url: Option<String>,
    #[arg(long, hide = true)]
    bench: bool,
}

fn run_body(repo: &str, run_id: i64, conclusion: Option<&str>) -> Vec<u8> {
    let now = Utc::now();
    let started = now - chrono::Duration::minutes(2);
    let fmt = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let status = if conclusion.is_some() { "completed" } else { "in_progress" };
    json!({
        "action": if conclusion.is_some() { "completed" } else { "in_progress" },
        "workflow_run": {
            "id": run_id, "run_attempt": 1, "name": "Deploy", "path": ".github/workflows/deploy.yml",
            "head_branch": "main", "head_sha": format!("{run_id:040x}"), "event": "push", "status": status,
            "conclusion": conclusion, "run_number": run_id,
            "html_url": format!("https://github.com/{repo}/actions/runs/{run_id}"),
            "actor": {"login": "octocat"}, "created_at": fmt(started), "updated_at": fmt(now),
            "run_started_at": fmt(started), "workflow_id": 1
        },
        "repository": {"full_name": repo, "id": 1},
        "installation": {"id": 77},
        "sender": {"login": "octocat"}
    })
    .to_string()
    .into_bytes()
}

async fn deliver(client: &reqwest::Client, base: &str, guid: &str, body: Vec<u8>) -> bool {
    let signature = ccm::webhook::signature::sign(SECRET.as_bytes(), &body);
    client
        .post(format!("{base}/webhooks/github"))
        .header("X-GitHub-Event", "workflow_run")
        .header("X-GitHub-Delivery", guid)
        .header("X-Hub-Signature-256", signature)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let url = args.database_url.clone().unwrap_or_else(|| ccm::config::sqlite_url(&dir.path().join("ccm.db")));
    let store = ccm::store::connect(&url, 10).await?;

    // The receiver: each POST's arrival time and body.
    let (tx, mut received) = mpsc::unbounded_channel::<(Instant, Value)>();
    let receiver = HttpServer::new(move || {
        let tx = tx.clone();
        App::new().route(
            "/hook",
            web::post().to(move |body: web::Bytes| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send((Instant::now(), serde_json::from_slice(&body).unwrap_or(Value::Null)));
                    HttpResponse::NoContent().finish()
                }
            }),
        )
    })
    .workers(1)
    .bind(("127.0.0.1", 0))?;
    let receiver_addr = receiver.addrs()[0];
    actix_web::rt::spawn(receiver.run());

    let settings = ccm::notify::AlertSettings { cooldown: Duration::ZERO, ..Default::default() };
    let state = ccm::http::AppState::start(
        store,
        ccm::http::ApiTokens::new(&[TOKEN]),
        ccm::webhook::WebhookSecrets::new(&[SECRET]),
        None,
    )
    .with_alerts(settings);
    let server = HttpServer::new(move || ccm::http::build_app(state.clone())).bind(("127.0.0.1", 0))?;
    let base = format!("http://{}", server.addrs()[0]);
    actix_web::rt::spawn(server.run());

    let client = reqwest::Client::new();
    let api =
        |path: &str, body: Value| client.post(format!("{base}{path}")).header("CCM-Token", TOKEN).json(&body).send();
    let provisioned: Value = api(
        "/api/pipelines/provision",
        json!({"repo": "bench/watched", "workflow_file": ".github/workflows/deploy.yml", "config": {}}),
    )
    .await?
    .json()
    .await?;
    let pipeline = provisioned["pipeline_id"].as_str().expect("a pipeline id").to_string();
    let channel: Value = api(
        "/api/notification-channels",
        json!({"name": "bench", "kind": "webhook", "url": format!("http://{receiver_addr}/hook"), "secret": "bench-channel-secret"}),
    )
    .await?
    .json()
    .await?;
    let channel_id = channel["channel"]["id"].as_i64().expect("a channel id");
    api(
        "/api/alert-rules",
        json!({"name": "bench", "kind": "run_failed", "pipeline_id": pipeline, "channels": [channel_id]}),
    )
    .await?;

    // The background load: other repositories' runs at `rate` a second.
    let sent = Arc::new(AtomicU64::new(0));
    let load = {
        let (client, base, sent) = (client.clone(), base.clone(), sent.clone());
        let permits = Arc::new(tokio::sync::Semaphore::new(64));
        let rate = args.rate.max(1);
        actix_web::rt::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rate));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            for n in 0u64.. {
                tick.tick().await;
                let Ok(permit) = permits.clone().acquire_owned().await else { return };
                let (client, base, sent) = (client.clone(), base.clone(), sent.clone());
                actix_web::rt::spawn(async move {
                    let repo = format!("load/repo{}", n % 50);
                    let body = run_body(&repo, 10_000_000 + n as i64, Some("success"));
                    if deliver(&client, &base, &format!("load-{n}"), body).await {
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                    drop(permit);
                });
            }
        })
    };

    let started = Instant::now();
    let mut latencies = Vec::new();
    let mut run_id = 1_i64;
    let wait_for = async |received: &mut mpsc::UnboundedReceiver<(Instant, Value)>, event: &str| {
        loop {
            match tokio::time::timeout(Duration::from_secs(30), received.recv()).await {
                Ok(Some((at, body))) if body["event"] == event => return Some(at),
                Ok(Some(_)) => continue,
                _ => return None,
            }
        }
    };
    while started.elapsed().as_secs_f64() < args.seconds {
        let acked =
            deliver(&client, &base, &format!("probe-{run_id}"), run_body("bench/watched", run_id, Some("failure")))
                .await;
        let acked_at = Instant::now();
        run_id += 1;
        assert!(acked, "the failing run's delivery was refused");
        let Some(at) = wait_for(&mut received, "firing").await else {
            anyhow::bail!("no firing notification within 30 s");
        };
        latencies.push(at.saturating_duration_since(acked_at));
        deliver(&client, &base, &format!("probe-{run_id}"), run_body("bench/watched", run_id, Some("success"))).await;
        run_id += 1;
        if wait_for(&mut received, "resolved").await.is_none() {
            anyhow::bail!("no resolved notification within 30 s");
        }
    }
    load.abort();
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    println!(
        "alert latency (failing run acknowledged -> webhook channel POST received), {} probes over {elapsed:.1} s",
        latencies.len()
    );
    println!(
        "  p50 {:?}  p90 {:?}  p99 {:?}  max {:?}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.9),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default()
    );
    println!("  background load: {:.0} deliveries/s acknowledged", sent.load(Ordering::Relaxed) as f64 / elapsed);
    Ok(())
}
