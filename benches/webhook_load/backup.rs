//! `--backup`: `ccm backup` of the SQLite database taken when the measured window starts, while
//! the load goes on; how long it took, what it wrote, and how the load fared meanwhile.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use crate::send::{Answer, percentile};

pub struct BackupRun {
    /// Seconds since the load started.
    pub started: f64,
    pub ended: f64,
    pub bytes: u64,
    /// What `ccm backup` printed.
    pub said: String,
}

/// Runs `command` (a `ccm backup --output output`) at `at`.
pub async fn run(mut command: Command, at: Instant, start: Instant, output: PathBuf) -> BackupRun {
    tokio::time::sleep_until(at.into()).await;
    let started = start.elapsed().as_secs_f64();
    let out = tokio::task::spawn_blocking(move || command.output()).await.unwrap().expect("run ccm backup");
    let ended = start.elapsed().as_secs_f64();
    assert!(out.status.success(), "ccm backup failed: {}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::metadata(&output).map(|m| m.len()).expect("the backup file");
    BackupRun { started, ended, bytes, said: String::from_utf8_lossy(&out.stdout).trim().to_string() }
}

/// The backup's figures beside the load's during it and during the rest of the window.
pub fn print(run: &BackupRun, answers: &[Answer], from: f64, to: f64) {
    println!(
        "backup: {} ({:.1} MB, from {:.1} s to {:.1} s of the load)",
        run.said,
        run.bytes as f64 / 1e6,
        run.started,
        run.ended
    );
    let during = |a: &Answer| a.at >= run.started && a.at < run.ended;
    let figures = |keep: &dyn Fn(&Answer) -> bool, seconds: f64| {
        let mut ms: Vec<f64> = answers.iter().filter(|a| a.ok && keep(a)).map(|a| a.ms).collect();
        ms.sort_by(f64::total_cmp);
        format!(
            "{:.0}/s, p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms",
            ms.len() as f64 / seconds.max(1e-9),
            percentile(&ms, 0.5),
            percentile(&ms, 0.99),
            ms.last().copied().unwrap_or(f64::NAN)
        )
    };
    let took = run.ended - run.started;
    let rest = (to - from - took).max(0.0);
    println!("| while the backup ran | {} |", figures(&during, took));
    println!(
        "| the rest of the measured window | {} |",
        figures(&|a: &Answer| a.at >= from && a.at < to && !during(a), rest)
    );
}
