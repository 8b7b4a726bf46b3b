//! Issue 20's attack benchmark: the real `ccm serve` (release build) on a fresh database, while
//! 2,000 connections trickle webhook bodies at 1 byte a second and 50 clients post 25 MB bodies
//! with wrong signatures in a loop, a legitimate sender posts signed deliveries at 200/s. Reports
//! how many of the legitimate deliveries were stored (read from the database), their latency
//! percentiles, ccm's peak RSS (VmHWM, and VmRSS sampled), what the attackers got, and whether
//! every connection was released afterwards (ccm's open files back to their count before).
//!
//!   cargo bench --bench under_attack -- --backend sqlite [--split] [--allow]
//!   scripts/with-postgres cargo bench --bench under_attack -- --backend postgres [--split] [--allow]
//!
//! `--split`: webhooks on their own listener (CCM_WEBHOOK_BIND), the API on CCM_BIND.
//! `--allow`: the attackers come from 127.0.0.2 and CCM_WEBHOOK_ALLOW=127.0.0.1/32 (the legitimate
//! sender's address), as with `CCM_WEBHOOK_ALLOW=github` in production. `--other-address`: the
//! attackers come from 127.0.0.2 and are allowed to send. `--poster-pause-ms N`: how long a 25 MB
//! poster waits after ccm reset its connection before posting again (default 0, as an attacker).
//! Needs about 2,100 open files on each side: `ulimit -n 65536` (or at least 8192) first.

#[path = "../support/process.rs"]
mod process;

use std::net::{IpAddr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use sqlx::Connection;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: &str = "bench-webhook-secret";
const TOKEN: &str = "bench-api-token-0123456789";
const BIG: usize = 25 * 1024 * 1024;

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, default_value = "sqlite")]
    backend: String,
    /// Webhooks on their own listener.
    #[arg(long)]
    split: bool,
    /// Attackers from 127.0.0.2, refused by CCM_WEBHOOK_ALLOW=127.0.0.1/32.
    #[arg(long)]
    allow: bool,
    /// Attackers from 127.0.0.2 (not the legitimate sender's address), allowed to send.
    #[arg(long)]
    other_address: bool,
    #[arg(long, default_value_t = 2000)]
    trickle: usize,
    #[arg(long, default_value_t = 50)]
    big: usize,
    /// How long a 25 MB poster waits after its connection failed (reset by ccm) before posting
    /// again. An attacker does not wait: 0.
    #[arg(long, default_value_t = 0)]
    poster_pause_ms: u64,
    /// Legitimate deliveries a second.
    #[arg(long, default_value_t = 200)]
    rate: u64,
    /// Seconds the legitimate sender sends (the attack starts 5 s before).
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn sign(body: &[u8]) -> String {
    ccm::webhook::signature::sign(SECRET.as_bytes(), body)
}

fn admin_url() -> String {
    std::env::var("CCM_TEST_DATABASE_URL").expect("CCM_TEST_DATABASE_URL: run under scripts/with-postgres")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

/// TCP connections to these local ports, not listening (/proc/net/tcp; whoever holds them).
fn http_connections(ports: &[u16]) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port =
                fields.get(1).and_then(|a| a.rsplit_once(':')).and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
            // 0A: LISTEN; 06: TIME_WAIT (no longer held by anyone).
            local_port.is_some_and(|p| ports.contains(&p)) && !matches!(fields.get(3), Some(&"0A") | Some(&"06"))
        })
        .count()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[derive(Default)]
struct Tally {
    connections: AtomicU64,
    s408: AtomicU64,
    s401: AtomicU64,
    s403: AtomicU64,
    s503: AtomicU64,
    s413: AtomicU64,
    other: AtomicU64,
}

impl Tally {
    fn count(&self, status: u16) {
        let slot = match status {
            408 => &self.s408,
            401 => &self.s401,
            403 => &self.s403,
            503 => &self.s503,
            413 => &self.s413,
            _ => &self.other,
        };
        slot.fetch_add(1, Ordering::Relaxed);
    }

    fn show(&self) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "conn {} / 408 {} / 401 {} / 403 {} / 503 {} / 413 {} / other {}",
            g(&self.connections),
            g(&self.s408),
            g(&self.s401),
            g(&self.s403),
            g(&self.s503),
            g(&self.s413),
            g(&self.other)
        )
    }
}

async fn connect_from(addr: SocketAddr, from: IpAddr) -> std::io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(addr).await
}

/// One connection after another: a head declaring 1 MB, then a byte a second until the server
/// answers or closes; then (a second later) again.
async fn trickler(addr: SocketAddr, from: IpAddr, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    let head = format!(
        "POST /webhooks/github HTTP/1.1\r\nHost: ccm\r\nX-GitHub-Event: push\r\nX-GitHub-Delivery: trickle\r\n\
         X-Hub-Signature-256: sha256={}\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n",
        "0".repeat(64)
    );
    while !stop.load(Ordering::Relaxed) {
        let Ok(stream) = connect_from(addr, from).await else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        tally.connections.fetch_add(1, Ordering::Relaxed);
        let (mut reader, mut writer) = stream.into_split();
        if writer.write_all(head.as_bytes()).await.is_err() {
            continue;
        }
        let stop2 = stop.clone();
        let sender = tokio::spawn(async move {
            let mut pace = tokio::time::interval(Duration::from_secs(1));
            while !stop2.load(Ordering::Relaxed) {
                pace.tick().await;
                if writer.write_all(b" ").await.is_err() {
                    break;
                }
            }
        });
        let mut buf = [0u8; 512];
        let status = match reader.read(&mut buf).await {
            Ok(n) if n > 12 => std::str::from_utf8(&buf[9..12]).ok().and_then(|s| s.parse().ok()).unwrap_or(0),
            _ => 0,
        };
        sender.abort();
        tally.count(status);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// 25 MB bodies with a well-formed, wrong signature, one after another.
async fn big_poster(
    url: String,
    client: reqwest::Client,
    body: bytes::Bytes,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
    pause: Duration,
) {
    let signature = format!("sha256={}", "0".repeat(64));
    while !stop.load(Ordering::Relaxed) {
        tally.connections.fetch_add(1, Ordering::Relaxed);
        let sent = client
            .post(&url)
            .header("X-GitHub-Event", "push")
            .header("X-GitHub-Delivery", "big")
            .header("X-Hub-Signature-256", &signature)
            .header("Content-Type", "application/json")
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(res) => tally.count(res.status().as_u16()),
            Err(_) => {
                tally.count(0);
                tokio::time::sleep(pause).await;
            }
        }
    }
}

async fn stored(backend: &str, url: &str) -> i64 {
    let sql = "SELECT count(*) FROM deliveries WHERE guid LIKE 'legit-%'";
    if backend == "postgres" {
        let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
        sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
    } else {
        let mut conn = sqlx::SqliteConnection::connect(url).await.expect("open");
        sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
    }
}

/// Sends `total` signed deliveries at `rate` a second; their latencies (ms, sorted later), the
/// count of each status (0: no answer) and the first few errors.
async fn legitimate(
    url: String,
    rate: u64,
    total: u64,
) -> (Vec<f64>, std::collections::BTreeMap<u16, u64>, Vec<String>) {
    // A connection per delivery, as GitHub's (and no race with the server's keep-alive timeout).
    let legit = reqwest::Client::builder()
        .local_address("127.0.0.1".parse::<IpAddr>().unwrap())
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let mut pace = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    let mut sends = Vec::with_capacity(total as usize);
    for i in 0..total {
        pace.tick().await;
        let (client, url) = (legit.clone(), url.clone());
        sends.push(tokio::spawn(async move {
            let body = format!(r#"{{"action":"created","n":{i},"repository":{{"full_name":"bench/legit"}}}}"#);
            let t = Instant::now();
            let res = client
                .post(url)
                .header("X-GitHub-Event", "star")
                .header("X-GitHub-Delivery", format!("legit-{i}"))
                .header("X-Hub-Signature-256", sign(body.as_bytes()))
                .header("Content-Type", "application/json")
                .body(body)
                .send()
                .await;
            let status = match res {
                Ok(res) => {
                    let status = res.status().as_u16();
                    let _ = res.bytes().await;
                    Ok(status)
                }
                Err(err) => Err(format!("{err:?}").chars().take(300).collect::<String>()),
            };
            (status, t.elapsed().as_secs_f64() * 1000.0)
        }));
    }
    let mut latencies = Vec::new();
    let mut statuses = std::collections::BTreeMap::<u16, u64>::new();
    let mut errors = Vec::<String>::new();
    for send in sends {
        let (status, ms) = send.await.unwrap();
        match status {
            Ok(status) => *statuses.entry(status).or_default() += 1,
            Err(err) => {
                *statuses.entry(0).or_default() += 1;
                if errors.len() < 3 {
                    errors.push(err);
                }
            }
        }
        latencies.push(ms);
    }
    (latencies, statuses, errors)
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let dir = tempfile::tempdir().unwrap();
    let url = match args.backend.as_str() {
        "sqlite" => format!("sqlite://{}", dir.path().join("ccm.db").display()),
        "postgres" => {
            let mut conn = sqlx::PgConnection::connect(&admin_url()).await.expect("connect");
            let name = format!("ccm_bench_{}", uuid::Uuid::new_v4().simple());
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.unwrap();
            format!("{}/{name}", admin_url().rsplit_once('/').unwrap().0)
        }
        other => panic!("--backend sqlite|postgres, not {other}"),
    };
    let api_port = free_port();
    let hook_port = if args.split { free_port() } else { api_port };
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ccm"));
    cmd.arg("serve")
        .env("CCM_BIND", format!("127.0.0.1:{api_port}"))
        .env("CCM_DATA_DIR", dir.path())
        .env("DATABASE_URL", &url)
        .env("CCM_API_TOKEN", TOKEN)
        .env("GITHUB_WEBHOOK_SECRET", SECRET)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if args.split {
        cmd.env("CCM_WEBHOOK_BIND", format!("127.0.0.1:{hook_port}"));
    }
    if args.allow {
        cmd.env("CCM_WEBHOOK_ALLOW", "127.0.0.1/32");
    }
    let mut child = cmd.spawn().expect("spawn ccm serve");
    let pid = child.id();
    let api = format!("http://127.0.0.1:{api_port}");
    let hooks = format!("http://127.0.0.1:{hook_port}");
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
    let baseline_fds = open_files(pid);
    let cpu_before = process::cpu_seconds(pid);

    let attacker: IpAddr = if args.allow || args.other_address { "127.0.0.2" } else { "127.0.0.1" }.parse().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (trickle_tally, big_tally) = (Arc::new(Tally::default()), Arc::new(Tally::default()));
    let hook_addr: SocketAddr = format!("127.0.0.1:{hook_port}").parse().unwrap();
    let mut attack = Vec::new();
    for _ in 0..args.trickle {
        attack.push(tokio::spawn(trickler(hook_addr, attacker, stop.clone(), trickle_tally.clone())));
    }
    let big_body = bytes::Bytes::from(vec![b' '; BIG]);
    let big_client = reqwest::Client::builder().local_address(attacker).build().unwrap();
    for _ in 0..args.big {
        attack.push(tokio::spawn(big_poster(
            format!("{hooks}/webhooks/github"),
            big_client.clone(),
            big_body.clone(),
            stop.clone(),
            big_tally.clone(),
            Duration::from_millis(args.poster_pause_ms),
        )));
    }
    // RSS sampled every 100 ms.
    let peak_rss = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (peak, stop) = (peak_rss.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(process::status_kb(pid, "VmRSS:"), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(5)).await;
    let under_attack_fds = open_files(pid);

    // The legitimate sender, on a runtime of its own (so that the attackers' tasks in this
    // process do not delay it): `rate` deliveries a second, each on its own task.
    let (rate, seconds, legit_url) = (args.rate, args.seconds, format!("{hooks}/webhooks/github"));
    let total = rate * seconds;
    let started = Instant::now();
    let (latencies, statuses, errors) = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(legitimate(legit_url, rate, total))
    })
    .join()
    .unwrap();
    let sent_for = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for task in &attack {
        task.abort();
    }
    for task in attack {
        let _ = task.await;
    }
    let _ = sampler.await;
    let hwm = process::status_kb(pid, "VmHWM:");
    let cpu = process::cpu_seconds(pid) - cpu_before;
    // Every connection released: ccm's open files back to the count before the attack.
    let released_at = Instant::now();
    let mut after_fds = open_files(pid);
    while after_fds > baseline_fds && released_at.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        after_fds = open_files(pid);
    }
    let released_in = released_at.elapsed().as_secs_f64();
    let mut open_http = http_connections(&[api_port, hook_port]);
    while open_http > 0 && released_at.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        open_http = http_connections(&[api_port, hook_port]);
    }
    let stored = stored(&args.backend, &url).await;
    let mut latencies = latencies;
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let _ = child.kill();
    let _ = child.wait();
    if args.backend == "postgres" {
        let name = url.rsplit_once('/').unwrap().1;
        let mut conn = sqlx::PgConnection::connect(&admin_url()).await.expect("connect");
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {name} WITH (FORCE)"))).execute(&mut conn).await;
    }

    println!(
        "backend {} | listeners {} | attackers {} | legit sent {total} in {sent_for:.1} s, answers {statuses:?}",
        args.backend,
        if args.split { "split" } else { "one" },
        match (args.allow, args.other_address) {
            (true, _) => "refused by CCM_WEBHOOK_ALLOW",
            (false, true) => "allowed, from 127.0.0.2",
            (false, false) => "allowed, from the sender's address",
        },
    );
    println!("ccm CPU: {cpu:.1} s over the run");
    println!("legit errors (first of each kind): {errors:?}");
    println!("trickle: {}", trickle_tally.show());
    println!("25 MB:   {}", big_tally.show());
    println!(
        "fds: before {baseline_fds}, under attack {under_attack_fds}, after {after_fds} (within {released_in:.1} s); \
         HTTP connections left open: {open_http}"
    );
    println!(
        "| {} | {} | {} | {stored}/{total} | {:.1} | {:.1} | {:.1} | {} | {} | {baseline_fds} → {under_attack_fds} → {after_fds} | {open_http} |",
        args.backend,
        if args.split { "split" } else { "one" },
        match (args.allow, args.other_address) {
            (true, _) => "refused (allow-list)",
            (false, true) => "allowed, another address",
            (false, false) => "allowed, same address",
        },
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(f64::NAN),
        peak_rss.load(Ordering::Relaxed) / 1024,
        hwm / 1024,
    );
}
