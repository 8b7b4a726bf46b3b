//! Load benchmark for the webhook receiver: starts the real `ccm serve` (release build) on a
//! fresh database, posts signed `workflow_run` deliveries from concurrent senders, and reports
//! deliveries/s, latency percentiles, peak RSS, ccm's (and PostgreSQL's) CPU per delivery, and
//! how soon a delivery's effect is visible in stats and on the SSE stream. It checks that every
//! delivery answered 2xx is stored.
//!
//!   cargo bench --bench webhook_load -- --backend sqlite
//!   scripts/with-postgres cargo bench --bench webhook_load -- --backend postgres --load github
//!
//! `--load github` is the ingest-headroom load (2,000 distinct bodies of 19–24 KB from 200
//! repositories, sent over and over with a new GUID each, 3 s of warm-up then 20 s measured);
//! `--load synthetic` (the default) the earlier sessions' (30,000 deliveries, each once).
//! `--old N --prune` runs the load while the pruner removes N old deliveries (issue 18), `--disk`
//! prints the bytes on disk per delivery; `BENCH_CCM_LOG=FILE` keeps ccm's log (`BENCH_RUST_LOG`
//! sets its level). `--help` lists the options; BENCHMARKS.md says what the figures mean.

mod backup;
mod bodies;
mod disk;
mod old;
mod probe;
#[path = "../support/process.rs"]
mod process;
mod send;
mod server;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use process::{cpu_seconds, status_kb};
use send::{Answer, Load, Signed, percentile};
use serde_json::{Value, json};
use server::{Batches, TOKEN};
use sqlx::Connection;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LoadKind {
    Synthetic,
    Github,
}

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, default_value = "sqlite")]
    backend: String,
    #[arg(long, value_enum, default_value_t = LoadKind::Synthetic)]
    load: LoadKind,
    /// Distinct deliveries [default: 30,000 synthetic, 2,000 github].
    #[arg(long)]
    deliveries: Option<usize>,
    /// Seconds measured; the deliveries are sent over and over until then [github default: 20;
    /// synthetic: each delivery once].
    #[arg(long)]
    seconds: Option<f64>,
    /// Seconds sent before the measured window [github default: 3].
    #[arg(long)]
    warmup: Option<f64>,
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Repositories of the synthetic load (the github load has its 200).
    #[arg(long, default_value_t = 50)]
    repos: usize,
    /// Probe deliveries timed until stats and SSE show them [default: 300 synthetic, 0 github].
    #[arg(long)]
    probes: Option<usize>,
    /// Synthetic load: each run also sends its J jobs' `workflow_job` deliveries.
    #[arg(long, default_value_t = 0)]
    jobs: usize,
    /// Another `ccm` binary to serve with (e.g. a previous revision's, or one with debug info).
    #[arg(long)]
    server: Option<String>,
    /// Also print the measured window second by second (answers, latency, batches, checkpoints).
    #[arg(long)]
    timeline: bool,
    /// Before the load, store N deliveries received 100 days ago (past every retention setting),
    /// then serve again: with --prune the background pruner removes them during the load.
    #[arg(long, default_value_t = 0)]
    old: usize,
    /// Serve with pruning every second (CCM_PRUNE_INTERVAL=1s); without it pruning is off, so
    /// that a run with --prune and one without compare the same load.
    #[arg(long)]
    prune: bool,
    /// SQLite: take `ccm backup` when the measured window starts, and say how long it took and
    /// how the load fared while it ran (issue 18: a backup of a large database while ingesting).
    #[arg(long)]
    backup: bool,
    /// At the end, print what the stored deliveries take on disk (per table, per delivery).
    #[arg(long)]
    disk: bool,
    /// Write the results as one JSON object to this file (for scripts/bench-guard).
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn sign(body: &[u8]) -> String {
    ccm::webhook::signature::sign(server::SECRET.as_bytes(), body)
}

/// What is sampled at the edges of the measured window.
#[derive(Clone, Copy, Default)]
struct Sample {
    ccm_cpu: f64,
    postgres_cpu: f64,
    batches: Batches,
    checkpoints: i64,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let github = args.load == LoadKind::Github;
    let count = args.deliveries.unwrap_or(if github { 2_000 } else { 30_000 });
    let (warmup, seconds) = match (github, args.seconds) {
        (_, Some(s)) => (args.warmup.unwrap_or(3.0), Some(s)),
        (true, None) => (args.warmup.unwrap_or(3.0), Some(20.0)),
        (false, None) => (0.0, None),
    };
    let probes = args.probes.unwrap_or(if github { 0 } else { 300 });
    assert!(args.old == 0 || probes == 0, "--old counts the load's deliveries by their GUIDs: use --probes 0");

    let prune_env: &[(&str, &str)] = &[("CCM_PRUNE_INTERVAL", if args.prune { "1s" } else { "off" })];
    // With --old, seeding is served without pruning: a pruner killed by the restart would keep
    // its lease (the database's) for ten minutes.
    let first_env: &[(&str, &str)] = if args.old > 0 { &[("CCM_PRUNE_INTERVAL", "off")] } else { prune_env };
    let mut server = server::start(&args.backend, args.server.as_deref(), first_env).await;
    let client = reqwest::Client::builder().pool_max_idle_per_host(8).build().unwrap();
    let repos = if github { bodies::github_repositories() } else { bodies::synthetic_repositories(args.repos) };
    for repo in repos.iter().chain(std::iter::once(&"bench-org/probe".to_string())) {
        let r = client
            .post(format!("{}/api/pipelines/provision", server.base))
            .header("CCM-Token", TOKEN)
            .json(&json!({"repo": repo, "workflow_file": bodies::WF}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "provision {repo}");
    }

    let times = bodies::Times::now();
    let made = if github {
        bodies::github(count, &repos, &times)
    } else {
        bodies::synthetic(count, &repos, args.jobs, &times)
    };
    if args.old > 0 {
        let template = &made[0];
        let r = client
            .post(format!("{}/webhooks/github", server.base))
            .header("X-GitHub-Event", template.event)
            .header("X-GitHub-Delivery", "template-0")
            .header("X-Hub-Signature-256", sign(&template.body))
            .header("Content-Type", "application/json")
            .body(template.body.clone())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "the template delivery: {}", r.status());
        let seeding = Instant::now();
        old::seed(&server.url, "template-0", args.old).await;
        println!("old deliveries: {} stored in {:.1} s", args.old, seeding.elapsed().as_secs_f64());
        // Served again, so that the pruner's first sweep comes a second after the start.
        server.restart(args.server.as_deref(), prune_env).await;
    }
    let pid = server.child.id();
    let mut sizes: Vec<usize> = made.iter().map(|b| b.body.len()).collect();
    sizes.sort();
    let signed: Vec<Signed> =
        made.into_iter().map(|b| Signed { event: b.event, signature: sign(&b.body), body: b.body }).collect();

    let postgres = if args.backend == "postgres" {
        let postmaster = server::postmaster(&server.url).await;
        let conn = sqlx::PgConnection::connect(&server.url).await.expect("connect");
        Some((postmaster, tokio::sync::Mutex::new(conn)))
    } else {
        None
    };
    let postgres = Arc::new(postgres);
    let sample = {
        let (client, base, postgres) = (client.clone(), server.base.clone(), postgres.clone());
        move || {
            let (client, base, postgres) = (client.clone(), base.clone(), postgres.clone());
            async move {
                let mut s = Sample { ccm_cpu: cpu_seconds(pid), ..Sample::default() };
                if let Some((postmaster, conn)) = postgres.as_ref() {
                    s.postgres_cpu = server::postgres_cpu(*postmaster);
                    s.checkpoints = server::checkpoints(&mut *conn.lock().await).await;
                }
                s.batches = server::batches(&client, &base).await;
                s
            }
        }
    };

    // Peak RSS, sampled throughout.
    let peak = Arc::new(AtomicUsize::new(0));
    let rss = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(status_kb(pid, "VmRSS:") as usize, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let probes = {
        let (base, client) = (server.base.clone(), client.clone());
        tokio::spawn(async move { probe::probe(&client, &base, probes).await })
    };

    let start = Instant::now();
    let load = Arc::new(Load {
        host: server.base.trim_start_matches("http://").to_string(),
        bodies: signed,
        next: AtomicUsize::new(0),
        until: seconds.map(|s| start + Duration::from_secs_f64(warmup + s)),
        start,
    });
    let own_cpu_before = cpu_seconds(std::process::id());
    // The window's edges and, with --timeline, every second between them.
    let sampler = {
        let sample = sample.clone();
        let edges = seconds.map(|s| (warmup, warmup + s));
        tokio::spawn(async move {
            let Some((from, to)) = edges else { return vec![sample().await] };
            let mut samples = Vec::new();
            let mut at = from;
            while at <= to + 1e-9 {
                tokio::time::sleep_until((start + Duration::from_secs_f64(at)).into()).await;
                samples.push(sample().await);
                at += 1.0;
            }
            samples
        })
    };
    let backup = args.backup.then(|| {
        assert!(args.backend == "sqlite", "--backup: ccm backup is SQLite's (PostgreSQL has pg_dump)");
        let output = server.file("bench-backup.db");
        let command = server.backup(args.server.as_deref(), &output);
        tokio::spawn(backup::run(command, start + Duration::from_secs_f64(warmup), start, output))
    });
    let workers: Vec<_> = (0..args.concurrency).map(|_| tokio::spawn(send::send_all(load.clone()))).collect();
    let mut answers: Vec<Answer> = Vec::new();
    for w in workers {
        answers.extend(w.await.unwrap());
    }
    let finished = start.elapsed().as_secs_f64();
    let mut samples = sampler.await.unwrap();
    if seconds.is_none() {
        samples.push(sample().await);
    }
    let own_cpu = cpu_seconds(std::process::id()) - own_cpu_before;
    let (mut sse, mut stats_visible) = probes.await.unwrap();
    sse.sort_by(f64::total_cmp);
    stats_visible.sort_by(f64::total_cmp);
    rss.abort();
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
    // With old deliveries (being pruned), the load's own are counted by their GUIDs.
    let stored =
        if args.old > 0 { old::load_deliveries(&server.url).await } else { stored["count"].as_u64().unwrap() as usize };
    let acknowledged = answers.iter().filter(|a| a.ok).count();
    let failed = answers.len() - acknowledged;

    let (from, to) = (warmup, seconds.map_or(finished, |s| warmup + s));
    let mut latencies: Vec<f64> = answers.iter().filter(|a| a.ok && a.at >= from && a.at < to).map(|a| a.ms).collect();
    latencies.sort_by(f64::total_cmp);
    let measured = latencies.len();
    let elapsed = to - from;
    let (first, last) = (samples.first().copied().unwrap_or_default(), samples.last().copied().unwrap_or_default());
    // Without a window the CPU counts from the start of the load.
    let ccm_cpu = last.ccm_cpu - if seconds.is_some() { first.ccm_cpu } else { 0.0 };
    let postgres_cpu =
        if seconds.is_some() && postgres.is_some() { last.postgres_cpu - first.postgres_cpu } else { f64::NAN };
    let batches = Batches {
        count: last.batches.count - if seconds.is_some() { first.batches.count } else { 0.0 },
        deliveries: last.batches.deliveries - if seconds.is_some() { first.batches.deliveries } else { 0.0 },
        seconds: last.batches.seconds - if seconds.is_some() { first.batches.seconds } else { 0.0 },
        pruned: last.batches.pruned - first.batches.pruned,
    };
    let result = json!({
        "backend": args.backend,
        "load": format!("{:?}", args.load).to_lowercase(),
        "deliveries_per_s": measured as f64 / elapsed,
        "p50_ms": percentile(&latencies, 0.5),
        "p99_ms": percentile(&latencies, 0.99),
        "max_ms": latencies.last().copied().unwrap_or(f64::NAN),
        "peak_rss_mb": peak.load(Ordering::Relaxed).max(hwm as usize) as f64 / 1024.0,
        "ccm_cpu_us": ccm_cpu * 1e6 / measured as f64,
        "ccm_cores": ccm_cpu / elapsed,
        "postgres_cpu_us": postgres_cpu * 1e6 / measured as f64,
        "postgres_cores": postgres_cpu / elapsed,
        "generator_cores": own_cpu / finished,
        "batch_size": batches.deliveries / batches.count,
        "batch_ms": batches.seconds * 1000.0 / batches.count,
        "checkpoints": last.checkpoints - first.checkpoints,
        "pruned_rows": last.batches.pruned - first.batches.pruned,
        "acknowledged": acknowledged,
        "failed": failed,
        "stored": stored,
        "probes": stats_visible.len(),
        "stats_visible_p99_ms": percentile(&stats_visible, 0.99),
        "sse_p99_ms": percentile(&sse, 0.99),
    });
    let f = |k: &str| result[k].as_f64().unwrap_or(f64::NAN);
    println!(
        "backend: {}  load: {:?}  distinct bodies: {count} ({}–{} bytes, median {})  concurrency: {}  {}",
        args.backend,
        args.load,
        sizes[0],
        sizes[sizes.len() - 1],
        sizes[sizes.len() / 2],
        args.concurrency,
        match seconds {
            Some(s) => format!("warm-up {warmup} s, measured {s} s"),
            None => format!("each once, {finished:.1} s"),
        }
    );
    println!(
        "| backend | deliveries/s | p50 ms | p99 ms | max ms | peak RSS MB | ccm CPU µs/delivery | PostgreSQL CPU µs/delivery | batch |"
    );
    println!(
        "| {} | {:.0} | {:.2} | {:.2} | {:.1} | {:.1} | {:.0} | {:.0} | {:.1} in {:.2} ms |",
        args.backend,
        f("deliveries_per_s"),
        f("p50_ms"),
        f("p99_ms"),
        f("max_ms"),
        f("peak_rss_mb"),
        f("ccm_cpu_us"),
        f("postgres_cpu_us"),
        f("batch_size"),
        f("batch_ms"),
    );
    println!(
        "acknowledged: {acknowledged}  failed: {failed}  stored (incl. {probes} probes): {stored}  cores: ccm {:.2}, \
         PostgreSQL {:.2}, load generator {:.2}  checkpoints in the window: {}",
        f("ccm_cores"),
        f("postgres_cores"),
        f("generator_cores"),
        result["checkpoints"],
        probes = stats_visible.len(),
    );
    if !stats_visible.is_empty() {
        println!(
            "stats visible p50 {:.1} ms, p99 {:.1} ms; SSE p50 {:.1} ms, p99 {:.1} ms",
            percentile(&stats_visible, 0.5),
            f("stats_visible_p99_ms"),
            percentile(&sse, 0.5),
            f("sse_p99_ms")
        );
    }
    if args.old > 0 {
        println!("rows pruned in the measured window: {}", result["pruned_rows"]);
    }
    if let Some(backup) = backup {
        backup::print(&backup.await.unwrap(), &answers, from, to);
    }
    if args.timeline && seconds.is_some() {
        print_timeline(&answers, from, to, &samples);
    }
    if let Some(path) = &args.json {
        std::fs::write(path, result.to_string()).expect("write --json");
    }
    if args.disk {
        disk::report(&server.url, stored).await;
    }
    server.stop().await;
    assert_eq!(failed, 0, "some deliveries were refused");
    assert_eq!(stored, acknowledged + stats_visible.len(), "a delivery answered 2xx is missing from the store");
}

/// The measured window second by second: the answers that came in it, and what ccm and
/// PostgreSQL did in it (batches from /metrics, checkpoints from pg_stat_bgwriter).
fn print_timeline(answers: &[Answer], from: f64, to: f64, samples: &[Sample]) {
    println!(
        "| second | answers | p50 ms | p99 ms | max ms | batches | deliveries a batch | ms a batch | ccm cores | PostgreSQL cores | checkpoints |"
    );
    for (second, pair) in send::timeline(answers, from, to).iter().zip(samples.windows(2)) {
        let (a, b) = (pair[0], pair[1]);
        let batches = b.batches.count - a.batches.count;
        println!(
            "| {} | {} | {:.1} | {:.1} | {:.1} | {:.0} | {:.1} | {:.2} | {:.2} | {:.2} | {} |",
            second.second,
            second.answers,
            second.p50,
            second.p99,
            second.max,
            batches,
            (b.batches.deliveries - a.batches.deliveries) / batches,
            (b.batches.seconds - a.batches.seconds) * 1000.0 / batches,
            b.ccm_cpu - a.ccm_cpu,
            b.postgres_cpu - a.postgres_cpu,
            b.checkpoints - a.checkpoints,
        );
    }
}
