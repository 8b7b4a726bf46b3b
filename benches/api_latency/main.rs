//! Latency of the pipeline API on a large database, and start-up time of `ccm serve`.
//!
//!   cargo bench --bench api_latency -- --backend sqlite
//!   scripts/with-postgres cargo bench --bench api_latency -- --backend postgres
//!
//! Seeds a fresh database (SQLite in a temporary folder; for PostgreSQL a new database in the
//! cluster named by CCM_TEST_DATABASE_URL), measures how long the release `ccm serve` binary takes
//! to answer `/readyz`, then drives it over loopback HTTP and prints markdown tables.
//!
//! Issue 19's reports: `--insights` seeds each run's jobs and the deployments of `deploy.yml`
//! runs too, and measures `GET /api/pipelines/{id}/report?days=14` and `?days=90` beside the
//! other endpoints, and `GET /api/insights?days=7` a few times; `--days N` spreads the runs over
//! N days (default 14):
//!
//!   cargo bench --bench api_latency -- --backend sqlite --insights --days 90 --requests 1000

mod load;
#[path = "../support/process.rs"]
mod process;
mod seed;

use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use sqlx::Connection;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, value_enum)]
    backend: Backend,
    #[arg(long, default_value_t = 10_000)]
    pipelines: usize,
    #[arg(long, default_value_t = 1_000_000)]
    executions: usize,
    /// Measured requests per endpoint (after a warm-up of a fifth as many).
    #[arg(long, default_value_t = 5_000)]
    requests: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// How many times `ccm serve` is started to time its start-up.
    #[arg(long, default_value_t = 10)]
    startups: usize,
    /// The `ccm` binary to serve with [default: the one cargo built with this benchmark].
    #[arg(long)]
    server: Option<std::path::PathBuf>,
    /// Keep the seeded database (SQLite file or PostgreSQL database) and print its URL.
    #[arg(long)]
    keep: bool,
    /// Measure a database kept by an earlier `--keep` run instead of seeding a new one.
    #[arg(long, value_name = "DATABASE_URL")]
    reuse: Option<String>,
    /// The days the executions are spread over, back from now.
    #[arg(long, default_value_t = 14)]
    days: i64,
    /// Seed each run's jobs and the deployments of `deploy.yml` runs, and measure the reports.
    #[arg(long)]
    insights: bool,
    /// Write the results as one JSON object to this file (for scripts/bench-guard).
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.pipelines >= 100 && args.requests > 0 && args.concurrency > 0 && args.startups > 0);
    anyhow::ensure!(args.days >= 1, "--days must be at least 1");
    let dir = tempfile::Builder::new().prefix("ccm-bench").disable_cleanup(args.keep).tempdir()?;
    let url = match (&args.reuse, args.backend) {
        (Some(url), _) => url.clone(),
        (None, Backend::Sqlite) => ccm::config::sqlite_url(&dir.path().join("ccm.db")),
        (None, Backend::Postgres) => create_postgres_database().await?,
    };

    let started = Instant::now();
    let db = match args.backend {
        Backend::Sqlite => {
            seed::Db::Sqlite(ccm::store::SqlStore::connect(&url, 1).await?.sqlite_pool().expect("SQLite").clone())
        }
        Backend::Postgres => seed::Db::Postgres(
            ccm::store::SqlStore::connect(&url, 1).await?.postgres_pool().expect("PostgreSQL").clone(),
        ),
    };
    let seeded = if args.reuse.is_some() {
        seed::existing(&db).await?
    } else {
        eprintln!("seeding {} pipelines and {} executions over {} days", args.pipelines, args.executions, args.days);
        seed::seed(&db, args.pipelines, args.executions, args.days, args.insights).await?
    };
    let seeding = started.elapsed();
    match db {
        seed::Db::Sqlite(pool) => pool.close().await,
        seed::Db::Postgres(pool) => pool.close().await,
    }
    eprintln!("seeded in {:.1} s", seeding.as_secs_f64());

    let load_before = load_average();
    let server_bin = args.server.clone().unwrap_or_else(|| env!("CARGO_BIN_EXE_ccm").into());
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency).build()?;
    let mut startups = Vec::new();
    for _ in 0..args.startups {
        let (server, ready) = load::start(&server_bin, &client, &url, dir.path()).await?;
        drop(server);
        startups.push(ready);
    }
    startups.sort();

    let (server, _) = load::start(&server_bin, &client, &url, dir.path()).await?;
    let log = dir.path().join("ccm.log");
    // Every pipeline's stats once: its runs' pages are then in memory, as on a server that has
    // been answering for a while, and not read from disk the first time one is asked for.
    let every_pipeline: Vec<String> =
        seeded.pipeline_ids.iter().map(|id| format!("/api/pipelines/{id}/stats")).collect();
    load::drive(&client, &server.base, &every_pipeline, args.concurrency).await?;
    let mut rng = SmallRng::seed_from_u64(7);
    let ids = &seeded.pipeline_ids;
    let pages = |rng: &mut SmallRng, status: &str, rows: usize| {
        format!("/api/pipelines?{status}limit=50&offset={}", rng.random_range(0..rows.saturating_sub(50).max(1)))
    };
    // Every page's `next` cursor, collected by paging through once: keyset pages at random
    // positions then cost what a client paging through the whole list pays per page.
    let all_cursors = load::cursors(&client, &server.base, "").await?;
    let active_cursors = load::cursors(&client, &server.base, "status=active&").await?;
    let keyset = |rng: &mut SmallRng, status: &str, cursors: &[String]| {
        format!("/api/pipelines?{status}limit=50&after={}", cursors[rng.random_range(0..cursors.len())])
    };
    type PathFn<'a> = Box<dyn Fn(&mut SmallRng) -> String + 'a>;
    let mut endpoints: Vec<(&str, PathFn)> = vec![
        // The floor: what a request costs on this machine with no database and no token.
        ("GET /healthz", Box::new(|_| "/healthz".to_string())),
        (
            "GET /api/pipelines/{id}/stats",
            Box::new(|rng| format!("/api/pipelines/{}/stats", ids[rng.random_range(0..ids.len())])),
        ),
        ("GET /api/pipelines?limit=50&offset=random", Box::new(|rng| pages(rng, "", ids.len()))),
        (
            "GET /api/pipelines?status=active&limit=50&offset=random",
            Box::new(|rng| pages(rng, "status=active&", seeded.active_pipelines)),
        ),
        ("GET /api/pipelines?limit=50&after=random", Box::new(|rng| keyset(rng, "", &all_cursors))),
        (
            "GET /api/pipelines?status=active&limit=50&after=random",
            Box::new(|rng| keyset(rng, "status=active&", &active_cursors)),
        ),
        // What the dashboard asks for: a page with each pipeline's stats.
        (
            "GET /api/pipelines?limit=50&after=random&include=stats",
            Box::new(|rng| format!("{}&include=stats", keyset(rng, "", &all_cursors))),
        ),
    ];
    if args.insights {
        let report = |days: u32| -> PathFn {
            Box::new(move |rng| format!("/api/pipelines/{}/report?days={days}", ids[rng.random_range(0..ids.len())]))
        };
        endpoints.push(("GET /api/pipelines/{id}/report?days=14", report(14)));
        endpoints.push(("GET /api/pipelines/{id}/report?days=90", report(90)));
    }
    let mut results = Vec::new();
    for (name, path) in &endpoints {
        let warm_up: Vec<String> = (0..args.requests.div_ceil(5)).map(|_| path(&mut rng)).collect();
        load::drive(&client, &server.base, &warm_up, args.concurrency).await?;
        let paths: Vec<String> = (0..args.requests).map(|_| path(&mut rng)).collect();
        let log_from = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
        let cpu_before = process::cpu_seconds(server.pid());
        let summary = load::drive(&client, &server.base, &paths, args.concurrency).await?;
        let cpu_per_request = (process::cpu_seconds(server.pid()) - cpu_before) / paths.len() as f64;
        let inside = server_durations(&log, log_from)?;
        anyhow::ensure!(inside.len() == paths.len(), "{} log lines for {} requests", inside.len(), paths.len());
        results.push((*name, summary, cpu_per_request, inside));
    }
    // The overview reads across every active pipeline: a few requests, one at a time.
    let overview = match args.insights {
        true => {
            let paths = vec!["/api/insights?days=7".to_string(); 5];
            load::drive(&client, &server.base, &paths, 1).await?.latencies
        }
        false => Vec::new(),
    };
    let peak_rss_mb = process::status_kb(server.pid(), "VmHWM:") as f64 / 1024.0;
    // SQLite's readers map the database file: those pages count in RSS but are the kernel's
    // page cache. RssAnon is the memory ccm itself holds.
    let anon_mb = process::status_kb(server.pid(), "RssAnon:") as f64 / 1024.0;
    drop(server);
    if args.keep || args.reuse.is_some() {
        eprintln!("kept the database: {url}");
    } else if args.backend == Backend::Postgres {
        drop_postgres_database(&url).await?;
    }

    let backend = format!("{:?}", args.backend).to_lowercase();
    println!();
    println!(
        "{backend}: {} pipelines, {}; {} requests per endpoint, concurrency {}",
        seeded.pipeline_ids.len(),
        match &args.reuse {
            Some(_) => "a database seeded earlier (--reuse)".to_string(),
            None => format!(
                "{} executions over {} days ({} rows with first attempts, {} jobs, {} deployments), seeded in {:.1} s",
                args.executions,
                args.days,
                seeded.executions,
                seeded.jobs,
                seeded.deployments,
                seeding.as_secs_f64()
            ),
        },
        args.requests,
        args.concurrency
    );
    println!(
        "load average before and after: {load_before} / {}; ccm peak RSS {peak_rss_mb:.1} MB (anonymous at the end: {anon_mb:.1} MB)",
        load_average()
    );
    println!();
    println!(
        "| database | endpoint | requests | req/s | p50 ms | p90 ms | p99 ms | max ms | in ccm p50 ms | in ccm p99 ms | ccm CPU ms/req |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, s, cpu, inside) in &results {
        println!(
            "| {backend} | `{name}` | {} | {:.0} | {} | {} | {} | {} | {:.2} | {:.2} | {:.3} |",
            s.latencies.len(),
            s.throughput(),
            ms(s.percentile(50.0)),
            ms(s.percentile(90.0)),
            ms(s.percentile(99.0)),
            ms(s.percentile(100.0)),
            inside[inside.len() / 2],
            inside[((inside.len() as f64 * 0.99).ceil() as usize).clamp(1, inside.len()) - 1],
            cpu * 1000.0,
        );
    }
    if !overview.is_empty() {
        println!();
        println!("| database | `GET /api/insights?days=7`, one at a time | ms each |");
        println!("|---|---:|---|");
        let each: Vec<String> = overview.iter().map(|d| ms(*d)).collect();
        println!("| {backend} | {} | {} |", overview.len(), each.join(", "));
    }
    println!();
    println!("| database | `ccm serve` start-ups | median ms | max ms |");
    println!("|---|---:|---:|---:|");
    println!(
        "| {backend} | {} | {} | {} |",
        startups.len(),
        ms(startups[startups.len() / 2]),
        ms(startups[startups.len() - 1])
    );
    if let Some(path) = &args.json {
        let endpoints: serde_json::Map<String, serde_json::Value> = results
            .iter()
            .map(|(name, s, cpu, _)| {
                let ms = |d: Duration| d.as_secs_f64() * 1000.0;
                let figures = serde_json::json!({
                    "req_per_s": s.throughput(), "p50_ms": ms(s.percentile(50.0)), "p99_ms": ms(s.percentile(99.0)),
                    "cpu_ms": cpu * 1000.0,
                });
                (name.to_string(), figures)
            })
            .collect();
        let result = serde_json::json!({
            "backend": backend, "endpoints": endpoints, "peak_rss_mb": peak_rss_mb,
            "startup_ms": startups[startups.len() / 2].as_secs_f64() * 1000.0,
        });
        std::fs::write(path, result.to_string())?;
    }
    Ok(())
}

/// How long ccm took over each request logged after byte `from` of its log, sorted: the
/// `duration_ms` of its `http request` lines, from the request's arrival in the app to its
/// answer, without the client's and the kernel's share of the round trip.
fn server_durations(log: &std::path::Path, from: u64) -> anyhow::Result<Vec<f64>> {
    use std::io::{Read, Seek};
    let mut file = std::fs::File::open(log)?;
    file.seek(std::io::SeekFrom::Start(from))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut durations: Vec<f64> = text
        .lines()
        .filter(|line| line.contains("http request"))
        .filter_map(|line| line.split("duration_ms=").nth(1)?.split_whitespace().next()?.parse().ok())
        .collect();
    durations.sort_by(f64::total_cmp);
    Ok(durations)
}

/// The 1-minute load average: other work on the machine inflates latencies.
fn load_average() -> String {
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    loadavg.split_whitespace().next().unwrap_or("?").to_string()
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// A new, empty database in the cluster named by CCM_TEST_DATABASE_URL (as the tests do).
async fn create_postgres_database() -> anyhow::Result<String> {
    let admin = std::env::var("CCM_TEST_DATABASE_URL")
        .map_err(|_| anyhow::anyhow!("CCM_TEST_DATABASE_URL is unset: run under scripts/with-postgres"))?;
    let name = format!("ccm_bench_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await?;
    let base = admin.rsplit_once('/').map(|(base, _)| base).unwrap_or(&admin);
    Ok(format!("{base}/{name}"))
}

async fn drop_postgres_database(url: &str) -> anyhow::Result<()> {
    let admin = std::env::var("CCM_TEST_DATABASE_URL")?;
    let name = url.rsplit_once('/').map(|(_, name)| name).unwrap_or_default();
    let mut conn = sqlx::PgConnection::connect(&admin).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {name} WITH (FORCE)"))).execute(&mut conn).await?;
    Ok(())
}
