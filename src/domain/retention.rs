//! Retention (issue 18): how long each kind of stored row is kept, and from which instant a row is
//! old enough to prune. The store deletes what these cut-offs select; the rules about what is
//! never pruned (unfinished deliveries and jobs, open runs, the newest rows the stats show) are the
//! store's statements, named by `PruneKind::keeps`.

use chrono::{DateTime, Duration, Utc};

/// The `body_encoding` of a delivery whose body was pruned: the row (its summary) stays, the body
/// is empty.
pub const PRUNED_BODY_ENCODING: &str = "pruned";

/// What the pruner deletes, in the order a sweep takes them (bodies before the deliveries that
/// would take them anyway).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PruneKind {
    /// Delivery bodies (`CCM_RETAIN_BODIES`): the delivery row stays.
    Bodies,
    /// Delivery rows (`CCM_RETAIN_DELIVERIES`).
    Deliveries,
    /// Completed executions and their jobs (`CCM_RETAIN_RUNS`).
    Runs,
    /// Stored job logs (`CCM_RETAIN_JOB_LOGS`): the log goes, its record stays (`pruned`), with
    /// the failed step and error message that explain a failure.
    JobLogs,
    /// Finished outbound GitHub jobs (`CCM_RETAIN_OUTBOX`).
    Outbox,
    /// Finished alert notifications, sent or given up (`CCM_RETAIN_OUTBOX` too: the other
    /// outbound queue).
    Notifications,
    /// Audit records (`CCM_RETAIN_AUDIT`).
    Audit,
}

impl PruneKind {
    pub const ALL: [PruneKind; 7] = [
        PruneKind::Bodies,
        PruneKind::Deliveries,
        PruneKind::Runs,
        PruneKind::JobLogs,
        PruneKind::Outbox,
        PruneKind::Notifications,
        PruneKind::Audit,
    ];

    /// The name in `ccm prune`'s report and in the `kind` label of `ccm_pruned_rows_total`.
    pub fn name(self) -> &'static str {
        match self {
            PruneKind::Bodies => "delivery_bodies",
            PruneKind::Deliveries => "deliveries",
            PruneKind::Runs => "executions",
            PruneKind::JobLogs => "job_logs",
            PruneKind::Outbox => "outbox_jobs",
            PruneKind::Notifications => "alert_notifications",
            PruneKind::Audit => "audit",
        }
    }

    /// The setting that says how long this kind is kept.
    pub fn setting(self) -> &'static str {
        match self {
            PruneKind::Bodies => "CCM_RETAIN_BODIES",
            PruneKind::Deliveries => "CCM_RETAIN_DELIVERIES",
            PruneKind::Runs => "CCM_RETAIN_RUNS",
            PruneKind::JobLogs => "CCM_RETAIN_JOB_LOGS",
            PruneKind::Outbox | PruneKind::Notifications => "CCM_RETAIN_OUTBOX",
            PruneKind::Audit => "CCM_RETAIN_AUDIT",
        }
    }

    /// The default, in days.
    pub fn default_days(self) -> u64 {
        match self {
            PruneKind::Bodies => 14,
            PruneKind::Deliveries => 90,
            PruneKind::Runs => 400,
            PruneKind::JobLogs => 30,
            PruneKind::Outbox | PruneKind::Notifications => 30,
            PruneKind::Audit => 400,
        }
    }

    /// What is kept however old it is, so that nothing unfinished is lost and no stats answer
    /// changes.
    pub fn keeps(self) -> &'static str {
        match self {
            PruneKind::Bodies | PruneKind::Deliveries => {
                "deliveries still to process (pending, failed), and each repository's newest delivery"
            }
            PruneKind::Runs => "open runs, and the ten newest completed runs of each pipeline and branch",
            PruneKind::JobLogs => "each log's record and failure reason (its state reads pruned)",
            PruneKind::Outbox => "jobs not finished (pending, running)",
            PruneKind::Notifications => "notifications not finished (pending, running)",
            PruneKind::Audit => "nothing",
        }
    }
}

/// How long each kind is kept; `None`: forever (the setting is `0` or `off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub bodies: Option<std::time::Duration>,
    pub deliveries: Option<std::time::Duration>,
    pub runs: Option<std::time::Duration>,
    pub job_logs: Option<std::time::Duration>,
    /// Finished outbound GitHub jobs and finished alert notifications.
    pub outbox: Option<std::time::Duration>,
    pub audit: Option<std::time::Duration>,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        let days = |kind: PruneKind| Some(std::time::Duration::from_secs(kind.default_days() * 86_400));
        RetentionPolicy {
            bodies: days(PruneKind::Bodies),
            deliveries: days(PruneKind::Deliveries),
            runs: days(PruneKind::Runs),
            job_logs: days(PruneKind::JobLogs),
            outbox: days(PruneKind::Outbox),
            audit: days(PruneKind::Audit),
        }
    }
}

impl RetentionPolicy {
    /// Nothing is ever pruned.
    pub const KEEP_ALL: RetentionPolicy =
        RetentionPolicy { bodies: None, deliveries: None, runs: None, job_logs: None, outbox: None, audit: None };

    pub fn keep(&self, kind: PruneKind) -> Option<std::time::Duration> {
        match kind {
            PruneKind::Bodies => self.bodies,
            PruneKind::Deliveries => self.deliveries,
            PruneKind::Runs => self.runs,
            PruneKind::JobLogs => self.job_logs,
            PruneKind::Outbox | PruneKind::Notifications => self.outbox,
            PruneKind::Audit => self.audit,
        }
    }

    /// The instant before which a row of `kind` is old enough to prune at `now`: a row exactly
    /// `keep` old stays. `None`: this kind is kept forever.
    pub fn cutoff(&self, kind: PruneKind, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let keep = Duration::from_std(self.keep(kind)?).ok()?;
        now.checked_sub_signed(keep)
    }

    /// Each kind pruned at `now`, with its cut-off, in sweep order.
    pub fn cutoffs(&self, now: DateTime<Utc>) -> Vec<(PruneKind, DateTime<Utc>)> {
        PruneKind::ALL.into_iter().filter_map(|kind| Some((kind, self.cutoff(kind, now)?))).collect()
    }

    pub fn prunes_anything(&self) -> bool {
        PruneKind::ALL.into_iter().any(|kind| self.keep(kind).is_some())
    }
}

/// A row stamped `at` is pruned at `cutoff` only when strictly older (the rule the statements
/// write as `at < cutoff`).
pub fn is_old_enough(at: DateTime<Utc>, cutoff: DateTime<Utc>) -> bool {
    at < cutoff
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn defaults_are_the_documented_days() {
        let policy = RetentionPolicy::default();
        let days = |d: u64| Some(std::time::Duration::from_secs(d * 86_400));
        assert_eq!(policy.bodies, days(14));
        assert_eq!(policy.deliveries, days(90));
        assert_eq!(policy.runs, days(400));
        assert_eq!(policy.job_logs, days(30));
        assert_eq!(policy.outbox, days(30));
        assert_eq!(policy.audit, days(400));
    }

    #[test]
    fn a_row_exactly_at_the_limit_stays() {
        let now = at("2026-12-04T12:00:00Z");
        let cutoff = RetentionPolicy::default().cutoff(PruneKind::Bodies, now).unwrap();
        assert_eq!(cutoff, at("2026-11-20T12:00:00Z"));
        assert!(!is_old_enough(at("2026-11-20T12:00:00Z"), cutoff));
        assert!(is_old_enough(at("2026-11-20T11:59:59.999999Z"), cutoff));
        assert!(!is_old_enough(at("2026-11-21T00:00:00Z"), cutoff));
    }

    #[test]
    fn a_disabled_kind_has_no_cutoff() {
        let now = at("2026-12-04T12:00:00Z");
        let policy = RetentionPolicy { audit: None, ..RetentionPolicy::default() };
        let kinds: Vec<PruneKind> = policy.cutoffs(now).into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            kinds,
            [
                PruneKind::Bodies,
                PruneKind::Deliveries,
                PruneKind::Runs,
                PruneKind::JobLogs,
                PruneKind::Outbox,
                PruneKind::Notifications
            ]
        );
        assert!(RetentionPolicy::KEEP_ALL.cutoffs(now).is_empty());
        assert!(!RetentionPolicy::KEEP_ALL.prunes_anything());
    }
}
