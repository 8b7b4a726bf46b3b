//! Retention (issue 18): the settings saying how long each kind of row is kept, the sweep that
//! prunes what is older in small batches (each its own short transaction, so ingest never waits
//! long for SQLite's single writer), the background pruner `ccm serve` runs (one replica at a time
//! on PostgreSQL, under a lease in the database) and `ccm prune [--dry-run]`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::Args;

use crate::config::ConfigError;
use crate::domain::retention::{PruneKind, RetentionPolicy};
use crate::metrics::Metrics;
use crate::store::{Pruned, Store};

/// Rows a batch prunes: one short transaction each.
pub const BATCH: u32 = 500;

/// The pause between two batches, which leaves the database (SQLite's writer) to ingest.
const BETWEEN_BATCHES: Duration = Duration::from_millis(20);

/// How long a pruner's lease lasts; it is taken again before each kind.
const LEASE: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Args)]
pub struct RetentionSettings {
    /// Keep delivery bodies this long (the delivery's row and summary stay); 0 or off: forever.
    #[arg(long, env = "CCM_RETAIN_BODIES", default_value = "14d")]
    pub retain_bodies: String,
    /// Keep deliveries this long; 0 or off: forever.
    #[arg(long, env = "CCM_RETAIN_DELIVERIES", default_value = "90d")]
    pub retain_deliveries: String,
    /// Keep completed workflow runs (executions) and their jobs this long; the roll-ups the stats
    /// read stay. 0 or off: forever.
    #[arg(long, env = "CCM_RETAIN_RUNS", default_value = "400d")]
    pub retain_runs: String,
    /// Keep stored job logs this long (the log's record and failure reason stay, `pruned`);
    /// 0 or off: forever.
    #[arg(long, env = "CCM_RETAIN_JOB_LOGS", default_value = "30d")]
    pub retain_job_logs: String,
    /// Keep finished outbound GitHub jobs and finished alert notifications this long; 0 or off:
    /// forever.
    #[arg(long, env = "CCM_RETAIN_OUTBOX", default_value = "30d")]
    pub retain_outbox: String,
    /// Keep audit records this long; 0 or off: forever.
    #[arg(long, env = "CCM_RETAIN_AUDIT", default_value = "400d")]
    pub retain_audit: String,
    /// How often `ccm serve` prunes (the first sweep a minute after start, or sooner with a
    /// shorter interval); 0 or off: never (`ccm prune` still does).
    #[arg(long, env = "CCM_PRUNE_INTERVAL", default_value = "1h")]
    pub prune_interval: String,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            retain_bodies: "14d".into(),
            retain_deliveries: "90d".into(),
            retain_runs: "400d".into(),
            retain_job_logs: "30d".into(),
            retain_outbox: "30d".into(),
            retain_audit: "400d".into(),
            prune_interval: "1h".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RetentionConfig {
    pub policy: RetentionPolicy,
    /// None: `ccm serve` does not prune.
    pub interval: Option<Duration>,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig { policy: RetentionPolicy::default(), interval: Some(Duration::from_secs(3600)) }
    }
}

/// A duration setting: `None` for `0` or `off`.
fn duration(setting: &'static str, raw: &str) -> Result<Option<Duration>, ConfigError> {
    let raw = raw.trim();
    if matches!(raw.to_ascii_lowercase().as_str(), "0" | "off" | "never" | "") {
        return Ok(None);
    }
    let every = humantime::parse_duration(raw).map_err(|e| ConfigError {
        setting,
        reason: format!("'{raw}' is not a duration such as 14d, 90days or 12h, nor 0/off ({e})"),
    })?;
    if every < Duration::from_secs(1) {
        return Err(ConfigError { setting, reason: format!("'{raw}' is shorter than a second") });
    }
    Ok(Some(every))
}

impl RetentionSettings {
    pub fn validate(&self) -> Result<RetentionConfig, ConfigError> {
        Ok(RetentionConfig {
            policy: RetentionPolicy {
                bodies: duration("CCM_RETAIN_BODIES", &self.retain_bodies)?,
                deliveries: duration("CCM_RETAIN_DELIVERIES", &self.retain_deliveries)?,
                runs: duration("CCM_RETAIN_RUNS", &self.retain_runs)?,
                job_logs: duration("CCM_RETAIN_JOB_LOGS", &self.retain_job_logs)?,
                outbox: duration("CCM_RETAIN_OUTBOX", &self.retain_outbox)?,
                audit: duration("CCM_RETAIN_AUDIT", &self.retain_audit)?,
            },
            interval: duration("CCM_PRUNE_INTERVAL", &self.prune_interval)?,
        })
    }
}

/// What a sweep (or a dry run) found for one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindReport {
    pub kind: PruneKind,
    pub cutoff: DateTime<Utc>,
    pub pruned: Pruned,
}

/// How many rows of each kind a sweep at `now` would prune.
pub async fn dry_run(
    store: &dyn Store,
    policy: &RetentionPolicy,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<KindReport>> {
    let mut report = Vec::new();
    for (kind, cutoff) in policy.cutoffs(now) {
        let rows = store.prunable(kind, cutoff).await?;
        report.push(KindReport { kind, cutoff, pruned: Pruned { rows, jobs: 0 } });
    }
    Ok(report)
}

/// Prunes everything older than each kind's cut-off at `now`, `BATCH` rows a transaction, then
/// gives SQLite's freed pages back. With a lease `holder` (the background pruner), the lease is
/// taken again before each kind; lost, the sweep stops.
pub async fn sweep(
    store: &dyn Store,
    policy: &RetentionPolicy,
    now: DateTime<Utc>,
    metrics: Option<&Metrics>,
    holder: Option<&str>,
) -> anyhow::Result<Vec<KindReport>> {
    let mut report = Vec::new();
    for (kind, cutoff) in policy.cutoffs(now) {
        if let Some(holder) = holder
            && !take_lease(store, holder).await?
        {
            break;
        }
        let mut total = Pruned::default();
        loop {
            let batch = store.prune_batch(kind, cutoff, BATCH).await?;
            total.rows += batch.rows;
            total.jobs += batch.jobs;
            if let Some(metrics) = metrics {
                metrics.rows_pruned(kind.name(), batch.rows);
                if batch.jobs > 0 {
                    metrics.rows_pruned("jobs", batch.jobs);
                }
            }
            if batch.rows < u64::from(BATCH) {
                break;
            }
            tokio::time::sleep(BETWEEN_BATCHES).await;
        }
        if total.rows > 0 {
            tracing::info!(kind = kind.name(), rows = total.rows, jobs = total.jobs, before = %cutoff, "pruned");
        }
        report.push(KindReport { kind, cutoff, pruned: total });
    }
    store.reclaim_space().await?;
    Ok(report)
}

async fn take_lease(store: &dyn Store, holder: &str) -> anyhow::Result<bool> {
    let now = Utc::now();
    let until = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
    Ok(store.take_retention_lease(holder, now, until).await?)
}

/// The background pruner of `ccm serve`: a sweep every interval, by whichever replica holds the
/// lease.
pub fn spawn_pruner(config: &RetentionConfig, store: Arc<dyn Store>, metrics: Metrics) {
    let Some(every) = config.interval.filter(|_| config.policy.prunes_anything()) else { return };
    let policy = config.policy;
    let holder = uuid::Uuid::new_v4().to_string();
    tokio::spawn(async move {
        let first = every.min(Duration::from_secs(60));
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + first, every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match take_lease(store.as_ref(), &holder).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::debug!("another replica is pruning");
                    continue;
                }
                Err(err) => {
                    tracing::warn!(error = %format!("{err:#}"), "retention: cannot take the pruner's lease");
                    continue;
                }
            }
            let swept =
                sweep(store.as_ref(), &policy, crate::domain::clock::now(), Some(&metrics), Some(&holder)).await;
            metrics.prune_swept(Utc::now(), swept.is_ok());
            if let Err(err) = swept {
                tracing::error!(error = %format!("{err:#}"), "retention sweep failed; the next one tries again");
            }
            if let Err(err) = store.release_retention_lease(&holder).await {
                tracing::warn!(error = %err, "retention: cannot release the pruner's lease");
            }
        }
    });
}

/// `ccm prune [--dry-run]`'s report, one line a kind.
pub fn render(report: &[KindReport], dry_run: bool) -> String {
    if report.is_empty() {
        return "nothing to prune: every CCM_RETAIN_* setting is 0/off\n".into();
    }
    let verb = if dry_run { "would prune" } else { "pruned" };
    let mut out = String::new();
    for line in report {
        out.push_str(&format!(
            "{verb} {:>9} {:<16} older than {} ({}; kept: {})\n",
            line.pruned.rows,
            line.kind.name(),
            crate::domain::clock::format(&line.cutoff),
            line.kind.setting(),
            line.kind.keeps(),
        ));
        if line.pruned.jobs > 0 {
            out.push_str(&format!("{verb} {:>9} {:<16} of those executions\n", line.pruned.jobs, "jobs"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_with_humantime_and_turn_off() {
        let config = RetentionSettings::default().validate().unwrap();
        assert_eq!(config.policy, RetentionPolicy::default());
        assert_eq!(config.interval, Some(Duration::from_secs(3600)));
        let off = RetentionSettings {
            retain_bodies: "off".into(),
            retain_audit: "0".into(),
            retain_runs: "30days".into(),
            ..RetentionSettings::default()
        }
        .validate()
        .unwrap();
        assert_eq!(off.policy.bodies, None);
        assert_eq!(off.policy.audit, None);
        assert_eq!(off.policy.runs, Some(Duration::from_secs(30 * 86_400)));
        let bad = RetentionSettings { retain_deliveries: "a while".into(), ..RetentionSettings::default() };
        assert!(bad.validate().unwrap_err().to_string().contains("CCM_RETAIN_DELIVERIES"));
    }

    #[test]
    fn the_report_names_each_kind_and_its_setting() {
        let cutoff = "2026-11-20T12:00:00Z".parse().unwrap();
        let report = [KindReport { kind: PruneKind::Runs, cutoff, pruned: Pruned { rows: 3, jobs: 7 } }];
        let text = render(&report, true);
        assert!(text.contains("would prune         3 executions"), "{text}");
        assert!(text.contains("CCM_RETAIN_RUNS"), "{text}");
        assert!(text.contains("7 jobs"), "{text}");
        assert!(render(&[], false).contains("0/off"));
    }
}
