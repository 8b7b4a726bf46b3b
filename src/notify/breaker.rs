//! The `github_paused` rule's answer across replicas. Each process pauses its own outbound GitHub
//! calls (its breaker is in memory), so a replica whose calls fail would see the alert fire while
//! the others resolved it, turn by turn. Instead each replica reports its breaker to the database
//! (when it changes, else once a heartbeat) and the rule asks whether any replica seen lately is
//! paused; a stopped replica stops counting once it has not been seen for a while.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::store::Store;

/// How long a replica's report counts; it reports again a third of this after its last report.
fn freshness(sweep: Duration) -> chrono::Duration {
    let fresh = sweep.saturating_mul(3).max(Duration::from_secs(90));
    chrono::Duration::from_std(fresh).unwrap_or(chrono::Duration::MAX)
}

/// Reports no longer kept (replicas long gone).
const FORGET_AFTER: chrono::Duration = chrono::Duration::days(1);

pub(super) struct BreakerReport {
    replica: String,
    /// What was reported last, and when.
    last: Option<(Option<DateTime<Utc>>, DateTime<Utc>)>,
}

impl BreakerReport {
    pub fn new() -> Self {
        BreakerReport { replica: uuid::Uuid::new_v4().to_string(), last: None }
    }

    /// Reports this replica's breaker (paused until `paused_until`, or not) if it changed or a
    /// heartbeat has passed, then answers whether any replica's calls are paused at `now`.
    pub async fn paused_anywhere(
        &mut self,
        store: &dyn Store,
        paused_until: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        sweep: Duration,
    ) -> anyhow::Result<bool> {
        let fresh = freshness(sweep);
        let due = match self.last {
            Some((reported, at)) => reported != paused_until || now - at >= fresh / 3,
            None => true,
        };
        if due {
            store.report_github_breaker(&self.replica, paused_until, now, now - FORGET_AFTER).await?;
            self.last = Some((paused_until, now));
        }
        Ok(store.github_paused_anywhere(now, now - fresh).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_outlives_three_sweeps_and_never_less_than_ninety_seconds() {
        assert_eq!(freshness(Duration::from_secs(30)), chrono::Duration::seconds(90));
        assert_eq!(freshness(Duration::from_secs(1)), chrono::Duration::seconds(90));
        assert_eq!(freshness(Duration::from_secs(60)), chrono::Duration::seconds(180));
    }
}
