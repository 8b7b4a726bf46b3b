//! `ccm pipelines watch`: the live dashboard. It reads the pipelines and their stats, then follows
//! the server's event stream, redrawing the frame after each change; when the stream drops it
//! reconnects with `Last-Event-ID`, so the events sent meanwhile still arrive.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use clap::Args;
use serde_json::Value;

use super::client::{Client, segment};
use super::dashboard::{Connection, Dashboard, render};
use super::error::CliError;
use super::sse::SseReader;

/// The server sends a keep-alive every 15 s: this long without a byte means the stream is dead.
const IDLE: Duration = Duration::from_secs(45);
/// Reconnection delay when the server names none, and the most it grows to.
const RETRY: Duration = Duration::from_secs(3);
const MAX_RETRY: Duration = Duration::from_secs(30);

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Only this pipeline.
    pub id: Option<String>,
    /// Exit after this many live events (for scripts and tests).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_events: Option<u64>,
    /// Exit after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Seconds between re-reads of the pipelines and their stats (new pipelines, VPS links, the
    /// sliding 24-hour window).
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub refresh: u64,
}

pub async fn run(client: &Client, args: WatchArgs) -> Result<(), CliError> {
    let screen = Screen { tty: std::io::stdout().is_terminal() };
    let deadline = async {
        match args.timeout {
            Some(secs) => tokio::time::sleep(Duration::from_secs(secs)).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        result = watch(client, &args, &screen) => result,
        _ = tokio::signal::ctrl_c() => {
            screen.done();
            Ok(())
        }
        _ = deadline => Ok(()),
    }
}

/// Why a connection ended: the command is done, the connection dropped (the server gone or
/// failing for now: reconnect), or an error that reconnecting cannot fix.
enum Ended {
    Done,
    Dropped(CliError),
    Fatal(CliError),
}

fn ended(err: CliError) -> Ended {
    match err {
        CliError::Unreachable { .. } | CliError::Other(_) => Ended::Dropped(err),
        CliError::Server { status, .. } if status >= 500 => Ended::Dropped(err),
        fatal => Ended::Fatal(fatal),
    }
}

fn dropped(reason: &str) -> Ended {
    Ended::Dropped(CliError::Other(anyhow::anyhow!("{reason}")))
}

/// A short reason for the status line.
fn reason(err: &CliError) -> String {
    match err {
        CliError::Unreachable { detail, .. } => detail.clone(),
        CliError::Server { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

async fn watch(client: &Client, args: &WatchArgs, screen: &Screen) -> Result<(), CliError> {
    let events_path = match &args.id {
        Some(id) => format!("/api/pipelines/{}/events", segment(id)),
        None => "/api/events".to_string(),
    };
    let mut dash = Dashboard::new(client.base());
    let mut reader = SseReader::default();
    let mut seen = 0u64;
    let mut failures = 0u32;
    loop {
        let result = match client.stream(&events_path, reader.last_id()).await {
            Ok(response) => {
                failures = 0;
                follow(client, args, screen, &mut dash, &mut reader, &mut seen, response).await
            }
            Err(err) => ended(err),
        };
        let err = match result {
            Ended::Done => return Ok(()),
            Ended::Fatal(err) => return Err(err),
            // Nothing could be shown yet: say so rather than wait for a server that may never come.
            Ended::Dropped(err) if dash.connection == Connection::Connecting => return Err(err),
            Ended::Dropped(err) => err,
        };
        failures += 1;
        let base = reader.retry().unwrap_or(RETRY);
        let wait = base.saturating_mul(1 << (failures - 1).min(5)).min(MAX_RETRY);
        dash.connection = Connection::Reconnecting { reason: reason(&err), retry_in_secs: wait.as_secs() };
        if !screen.draw(&dash) {
            return Ok(());
        }
        tokio::time::sleep(wait).await;
        reader.reset();
    }
}

/// Shows the state, then applies the stream's events until it ends (or enough were seen).
async fn follow(
    client: &Client,
    args: &WatchArgs,
    screen: &Screen,
    dash: &mut Dashboard,
    reader: &mut SseReader,
    seen: &mut u64,
    mut response: reqwest::Response,
) -> Ended {
    // Subscribed first, read second: a change in between arrives as an event.
    if let Err(err) = load(client, args.id.as_deref(), dash).await {
        return ended(err);
    }
    dash.connection = Connection::Live;
    if !screen.draw(dash) {
        return Ended::Done;
    }
    let refresh = Duration::from_secs(args.refresh);
    let mut refresh = tokio::time::interval_at(tokio::time::Instant::now() + refresh, refresh);
    let mut last_data = tokio::time::Instant::now();
    loop {
        let mut reload = false;
        let mut finished = false;
        tokio::select! {
            chunk = tokio::time::timeout_at(last_data + IDLE, response.chunk()) => {
                last_data = tokio::time::Instant::now();
                let bytes = match chunk {
                    Err(_) => return dropped(&format!("no data for {} s", IDLE.as_secs())),
                    Ok(Err(err)) => return ended(client.failed(err)),
                    Ok(Ok(None)) => return dropped("the server closed the stream"),
                    Ok(Ok(Some(bytes))) => bytes,
                };
                let events = reader.feed(&bytes);
                if events.is_empty() {
                    continue; // a keep-alive, the retry delay, part of an event: nothing to show
                }
                for event in events {
                    let data = serde_json::from_str(&event.data).unwrap_or(Value::Null);
                    reload |= dash.apply(&event.kind, &data);
                    *seen += 1;
                    if args.max_events.is_some_and(|max| *seen >= max) {
                        finished = true;
                        break;
                    }
                }
            }
            _ = refresh.tick() => reload = true,
        }
        if reload && let Err(err) = load(client, args.id.as_deref(), dash).await {
            return ended(err);
        }
        if !screen.draw(dash) || finished {
            return Ended::Done;
        }
    }
}

/// Reads the pipelines (or the one) and the stats of each: all of them with their stats in one
/// listing, or the one and its stats.
async fn load(client: &Client, id: Option<&str>, dash: &mut Dashboard) -> Result<(), CliError> {
    let (pipelines, stats) = match id {
        Some(id) => {
            let path = format!("/api/pipelines/{}", segment(id));
            let stats_path = format!("{path}/stats");
            let (mut details, mut stats) = futures_util::try_join!(client.get(&path), client.get(&stats_path))?;
            (vec![details["pipeline"].take()], vec![stats["stats"].take()])
        }
        None => {
            let pipelines = super::pipelines::all(client, true).await?;
            let stats = pipelines.iter().map(|p| p["stats"].clone()).collect();
            (pipelines, stats)
        }
    };
    for p in &pipelines {
        dash.set_pipeline(p);
    }
    for s in &stats {
        dash.set_stats(s);
    }
    Ok(())
}

struct Screen {
    tty: bool,
}

impl Screen {
    /// Draws a frame: in place on a terminal (home, clear), else one frame after another.
    /// Returns false once standard output is gone (a closed pipe).
    fn draw(&self, dash: &Dashboard) -> bool {
        let frame = render(dash, crate::domain::clock::now());
        let mut out = std::io::stdout().lock();
        let written = if self.tty { write!(out, "\x1b[H\x1b[2J{frame}") } else { writeln!(out, "{frame}") };
        written.and_then(|_| out.flush()).is_ok()
    }

    fn done(&self) {
        if self.tty {
            let _ = writeln!(std::io::stdout());
        }
    }
}
