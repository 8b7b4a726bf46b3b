//! Backups of the embedded SQLite database: `ccm backup`, `ccm restore`, and the scheduled ones
//! `ccm serve` takes (`CCM_BACKUP_INTERVAL`) into `CCM_DATA_DIR/backups/`, rotated.
//! PostgreSQL is backed up with its own tools (`pg_dump`), which the commands say.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use clap::Args;

use crate::config::{Config, ConfigError};
use crate::metrics::Metrics;
use crate::store::sqlite_backup::{self, Backup};

/// The folder of scheduled backups, and of `ccm backup` without `--output`.
pub const BACKUP_DIR: &str = "backups";

/// What `ccm backup` and `ccm restore` answer on PostgreSQL.
pub const POSTGRES_ADVICE: &str = "ccm backup and ccm restore work on the embedded SQLite database. For PostgreSQL \
     use its own tools, which copy a live database consistently:\n  \
     pg_dump --format=custom --file ccm.dump \"$DATABASE_URL\"\n  \
     pg_restore --clean --if-exists --no-owner --dbname \"$DATABASE_URL\" ccm.dump\n\
     (README: \"Backups and data\")";

#[derive(Debug, Clone, Args)]
pub struct BackupSettings {
    /// SQLite: take a backup into CCM_DATA_DIR/backups/ this often while serving (e.g. 6h, 30m;
    /// unset or 0: never).
    #[arg(long, env = "CCM_BACKUP_INTERVAL")]
    pub backup_interval: Option<String>,

    /// SQLite: how many scheduled backups to keep; older ones are deleted.
    #[arg(long, env = "CCM_BACKUP_KEEP", default_value = "14")]
    pub backup_keep: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BackupConfig {
    /// None: no scheduled backups.
    pub interval: Option<Duration>,
    pub keep: usize,
}

impl BackupSettings {
    pub fn validate(&self) -> Result<BackupConfig, ConfigError> {
        let interval = match self.backup_interval.as_deref().map(str::trim) {
            None | Some("" | "0") => None,
            Some(raw) => {
                let every = humantime::parse_duration(raw).map_err(|e| ConfigError {
                    setting: "CCM_BACKUP_INTERVAL",
                    reason: format!("'{raw}' is not a duration such as 6h or 30m ({e})"),
                })?;
                if every < Duration::from_secs(1) {
                    return Err(ConfigError {
                        setting: "CCM_BACKUP_INTERVAL",
                        reason: format!("'{raw}' is shorter than a second"),
                    });
                }
                Some(every)
            }
        };
        let keep =
            self.backup_keep.trim().parse::<usize>().ok().filter(|n| (1..=10_000).contains(n)).ok_or_else(|| {
                ConfigError {
                    setting: "CCM_BACKUP_KEEP",
                    reason: format!("'{}' is not a number from 1 to 10000", self.backup_keep),
                }
            })?;
        Ok(BackupConfig { interval, keep })
    }
}

fn backup_name(at: DateTime<Utc>) -> String {
    sqlite_backup::backup_name(at)
}

/// `ccm backup`: a checked copy of the running (or stopped) ccm's SQLite database.
pub fn backup(config: &Config, output: Option<PathBuf>) -> anyhow::Result<Backup> {
    let Some(database) = config.database.sqlite_file() else { bail!("{POSTGRES_ADVICE}") };
    match output {
        Some(path) => sqlite_backup::backup(&database, &path),
        None => backup_into(&database, &config.data_dir.join(BACKUP_DIR)),
    }
}

/// A backup into the backups folder, named `ccm-<UTC time>.db` only once written and checked: a
/// stop half-way through leaves a `.partial` file, never one that looks like (or is rotated as)
/// a backup.
fn backup_into(database: &Path, dir: &Path) -> anyhow::Result<Backup> {
    crate::data_dir::ensure(dir)?;
    let name = backup_name(Utc::now());
    let partial = dir.join(format!("{name}.partial"));
    let mut backup = sqlite_backup::backup(database, &partial)?;
    backup.path = dir.join(name);
    std::fs::rename(&partial, &backup.path)?;
    Ok(backup)
}

/// `ccm restore`: the backup replaces the stopped ccm's database; migrations are applied by the
/// caller afterwards (opening the store).
pub fn restore(config: &Config, file: &Path, force: bool) -> anyhow::Result<()> {
    let Some(database) = config.database.sqlite_file() else { bail!("{POSTGRES_ADVICE}") };
    if !file.exists() {
        bail!("no backup at {}", file.display());
    }
    crate::data_dir::ensure(&config.data_dir)?;
    sqlite_backup::restore(file, &database, force)
}

/// Deletes the oldest scheduled backups beyond `keep`; returns what it deleted.
pub fn rotate(dir: &Path, keep: usize) -> anyhow::Result<Vec<PathBuf>> {
    let mut backups: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("ccm-") && n.ends_with(".db"))
        })
        .collect();
    // The names hold their UTC time, so their order is their age.
    backups.sort();
    let excess = backups.len().saturating_sub(keep);
    let removed: Vec<PathBuf> = backups.into_iter().take(excess).collect();
    for path in &removed {
        std::fs::remove_file(path).with_context(|| format!("deleting {}", path.display()))?;
    }
    Ok(removed)
}

/// The scheduled backups of `ccm serve` on SQLite: one every interval (the first one interval
/// after start), rotated, reported in the log and in `/metrics`.
pub fn spawn_schedule(config: &Config, metrics: Metrics) {
    let (Some(every), Some(database)) = (config.backups.interval, config.database.sqlite_file()) else {
        if config.backups.interval.is_some() {
            tracing::warn!("CCM_BACKUP_INTERVAL is ignored on PostgreSQL: back it up with pg_dump (README)");
        }
        return;
    };
    let dir = config.data_dir.join(BACKUP_DIR);
    let keep = config.backups.keep;
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let (database, dir) = (database.clone(), dir.clone());
            let taken = tokio::task::spawn_blocking(move || {
                let backup = backup_into(&database, &dir)?;
                let removed = rotate(&dir, keep)?;
                anyhow::Ok((backup, removed))
            })
            .await;
            match taken {
                Ok(Ok((backup, removed))) => {
                    metrics.backup_taken(Utc::now(), backup.bytes);
                    tracing::info!(path = %backup.path.display(), bytes = backup.bytes,
                        seconds = backup.took.as_secs_f64(), deleted = removed.len(), "scheduled backup taken");
                }
                Ok(Err(err)) => {
                    metrics.backup_failed();
                    tracing::error!(error = %format!("{err:#}"), "scheduled backup failed");
                }
                Err(err) => tracing::error!(error = %err, "scheduled backup task failed"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Database;

    fn settings(interval: Option<&str>, keep: &str) -> BackupSettings {
        BackupSettings { backup_interval: interval.map(String::from), backup_keep: keep.into() }
    }

    #[test]
    fn intervals_and_counts_are_checked() {
        let six_hours = settings(Some("6h"), "14").validate().unwrap();
        assert_eq!(six_hours, BackupConfig { interval: Some(Duration::from_secs(6 * 3600)), keep: 14 });
        assert_eq!(settings(None, "3").validate().unwrap().interval, None);
        assert_eq!(settings(Some("0"), "3").validate().unwrap().interval, None);
        assert!(settings(Some("often"), "3").validate().unwrap_err().to_string().contains("CCM_BACKUP_INTERVAL"));
        assert!(settings(Some("10ms"), "3").validate().unwrap_err().to_string().contains("shorter than a second"));
        assert!(settings(None, "0").validate().unwrap_err().to_string().contains("CCM_BACKUP_KEEP"));
    }

    #[test]
    fn the_sqlite_file_comes_from_the_url() {
        let file = |url: &str| Database::Sqlite(url.into()).sqlite_file();
        assert_eq!(file("sqlite:///var/lib/ccm/ccm.db?mode=rwc"), Some(PathBuf::from("/var/lib/ccm/ccm.db")));
        assert_eq!(file("sqlite:data/ccm.db"), Some(PathBuf::from("data/ccm.db")));
        assert_eq!(file("sqlite::memory:"), None);
        assert_eq!(Database::Postgres("postgres://h/db".into()).sqlite_file(), None);
    }

    #[test]
    fn rotation_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let names = ["ccm-20261201T000000.000Z.db", "ccm-20261203T000000.000Z.db", "ccm-20261202T000000.000Z.db"];
        for name in names.iter().chain(&["notes.txt"]) {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let removed = rotate(dir.path(), 2).unwrap();
        assert_eq!(removed, vec![dir.path().join("ccm-20261201T000000.000Z.db")]);
        let mut left: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        assert_eq!(left, ["ccm-20261202T000000.000Z.db", "ccm-20261203T000000.000Z.db", "notes.txt"]);
    }

    #[test]
    fn names_sort_by_time() {
        let earlier = backup_name("2026-12-04T09:00:00Z".parse().unwrap());
        let later = backup_name("2026-12-04T10:00:00.5Z".parse().unwrap());
        assert_eq!(earlier, "ccm-20261204T090000.000Z.db");
        assert!(earlier < later);
    }
}
