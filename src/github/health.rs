//! The outbound calls' health: counts, the last error, the rate-limit budget, and the breaker
//! that pauses calls after repeated failures and lets them resume by themselves.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::clock;

/// What one call's response said about the rate limit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RateHeaders {
    pub limit: Option<i64>,
    pub remaining: Option<i64>,
    pub reset: Option<DateTime<Utc>>,
    pub retry_after: Option<Duration>,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct RateBudget {
    pub limit: Option<i64>,
    pub remaining: Option<i64>,
    #[serde(with = "clock::serde_secs::option")]
    pub reset_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Default)]
struct State {
    successes: u64,
    errors: u64,
    consecutive_failures: u32,
    last_error: Option<(DateTime<Utc>, String)>,
    last_success_at: Option<DateTime<Utc>>,
    paused_until: Option<DateTime<Utc>>,
    rate_limited_until: Option<DateTime<Utc>>,
    budget: RateBudget,
    /// Calls sent, by response status (`error`: no response).
    calls: std::collections::BTreeMap<String, u64>,
}

/// Why calls may not be made now, and until when.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Gate {
    Open,
    Paused(DateTime<Utc>),
    RateLimited(DateTime<Utc>),
}

pub struct Health {
    pause_after: u32,
    pause_base: Duration,
    pause_max: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HealthSnapshot {
    pub success_count: u64,
    pub error_count: u64,
    /// Percent of calls that succeeded; null before the first call.
    pub success_rate: Option<f64>,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    #[serde(with = "clock::serde_secs::option")]
    pub last_error_at: Option<DateTime<Utc>>,
    #[serde(with = "clock::serde_secs::option")]
    pub last_success_at: Option<DateTime<Utc>>,
    pub paused: bool,
    #[serde(with = "clock::serde_secs::option")]
    pub paused_until: Option<DateTime<Utc>>,
    pub rate_limited: bool,
    #[serde(with = "clock::serde_secs::option")]
    pub rate_limited_until: Option<DateTime<Utc>>,
    pub rate_limit: RateBudget,
}

fn to_chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl Health {
    pub fn new(pause_after: u32, pause_base: Duration, pause_max: Duration) -> Self {
        Health { pause_after: pause_after.max(1), pause_base, pause_max, state: Mutex::new(State::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a call may go out now.
    pub fn gate(&self, now: DateTime<Utc>) -> Gate {
        let state = self.lock();
        match (state.paused_until, state.rate_limited_until) {
            (Some(p), r) if p > now && r.is_none_or(|r| r <= p) => Gate::Paused(p),
            (_, Some(r)) if r > now => Gate::RateLimited(r),
            (Some(p), _) if p > now => Gate::Paused(p),
            _ => Gate::Open,
        }
    }

    /// Takes in the rate-limit headers of any response.
    pub fn observe_rate(&self, headers: &RateHeaders, now: DateTime<Utc>) {
        let mut state = self.lock();
        if headers.limit.is_some() {
            state.budget.limit = headers.limit;
        }
        if headers.remaining.is_some() {
            state.budget.remaining = headers.remaining;
        }
        if headers.reset.is_some() {
            state.budget.reset_at = headers.reset;
        }
        if headers.remaining == Some(0)
            && let Some(reset) = headers.reset
            && reset > now
        {
            state.rate_limited_until = Some(state.rate_limited_until.map_or(reset, |r| r.max(reset)));
        }
    }

    /// A call that went out: its response status, or `error` when none came back.
    pub fn record_call(&self, status: Option<u16>) {
        let status = status.map_or_else(|| "error".to_string(), |s| s.to_string());
        *self.lock().calls.entry(status).or_default() += 1;
    }

    /// Calls sent since start, by response status.
    pub fn calls_by_status(&self) -> Vec<(String, u64)> {
        self.lock().calls.iter().map(|(status, n)| (status.clone(), *n)).collect()
    }

    pub fn record_success(&self, now: DateTime<Utc>) {
        let mut state = self.lock();
        state.successes += 1;
        state.consecutive_failures = 0;
        state.paused_until = None;
        state.last_success_at = Some(now);
    }

    /// A failure: counts towards the pause.
    pub fn record_failure(&self, message: &str, now: DateTime<Utc>) {
        let mut state = self.lock();
        state.errors += 1;
        state.consecutive_failures += 1;
        state.last_error = Some((now, message.to_string()));
        if state.consecutive_failures >= self.pause_after {
            let doublings = (state.consecutive_failures - self.pause_after).min(20);
            let pause = self.pause_base.saturating_mul(1 << doublings).min(self.pause_max);
            let until = now + to_chrono(pause);
            state.paused_until = Some(until);
            tracing::warn!(
                consecutive_failures = state.consecutive_failures,
                paused_until = %clock::format(&until),
                "GitHub calls paused after repeated failures"
            );
        }
    }

    /// A refusal (a 4xx that is not a rate limit, credentials that cannot be used): an error, but
    /// not a failure of GitHub, so it neither counts towards the pause nor ends one.
    pub fn record_refusal(&self, message: &str, now: DateTime<Utc>) {
        let mut state = self.lock();
        state.errors += 1;
        state.last_error = Some((now, message.to_string()));
    }

    /// A rate-limit refusal: calls wait until `until`; it is an error but not a failure of
    /// GitHub, so it does not count towards the pause.
    pub fn record_rate_limited(&self, message: &str, until: DateTime<Utc>, now: DateTime<Utc>) {
        let mut state = self.lock();
        state.errors += 1;
        state.last_error = Some((now, message.to_string()));
        state.rate_limited_until = Some(state.rate_limited_until.map_or(until, |r| r.max(until)));
    }

    pub fn snapshot(&self, now: DateTime<Utc>) -> HealthSnapshot {
        let state = self.lock();
        let total = state.successes + state.errors;
        let paused_until = state.paused_until.filter(|p| *p > now);
        let rate_limited_until = state.rate_limited_until.filter(|r| *r > now);
        HealthSnapshot {
            success_count: state.successes,
            error_count: state.errors,
            success_rate: (total > 0).then(|| ((state.successes as f64 / total as f64) * 1000.0).round() / 10.0),
            consecutive_failures: state.consecutive_failures,
            last_error: state.last_error.as_ref().map(|(_, m)| m.clone()),
            last_error_at: state.last_error.as_ref().map(|(at, _)| *at),
            last_success_at: state.last_success_at,
            paused: paused_until.is_some(),
            paused_until,
            rate_limited: rate_limited_until.is_some(),
            rate_limited_until,
            rate_limit: state.budget.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_after_five_failures_and_resumes_on_success() {
        let health = Health::new(5, Duration::from_secs(30), Duration::from_secs(600));
        let now = clock::now();
        for _ in 0..4 {
            health.record_failure("boom", now);
        }
        assert_eq!(health.gate(now), Gate::Open);
        health.record_failure("boom", now);
        assert_eq!(health.gate(now), Gate::Paused(now + chrono::Duration::seconds(30)));
        health.record_failure("boom", now);
        assert_eq!(health.gate(now), Gate::Paused(now + chrono::Duration::seconds(60)));
        // The pause ends by itself.
        assert_eq!(health.gate(now + chrono::Duration::seconds(61)), Gate::Open);
        health.record_success(now);
        assert_eq!(health.gate(now), Gate::Open);
        let snap = health.snapshot(now);
        assert_eq!((snap.success_count, snap.error_count, snap.consecutive_failures), (1, 6, 0));
        assert_eq!(snap.success_rate, Some(14.3));
        assert_eq!(snap.last_error.as_deref(), Some("boom"));
    }

    #[test]
    fn refusals_never_pause_calls() {
        let health = Health::new(5, Duration::from_secs(30), Duration::from_secs(600));
        let now = clock::now();
        for _ in 0..20 {
            health.record_refusal("GitHub answered 403: Resource not accessible by integration", now);
        }
        assert_eq!(health.gate(now), Gate::Open);
        let snap = health.snapshot(now);
        assert_eq!((snap.error_count, snap.consecutive_failures, snap.paused), (20, 0, false));
        assert!(snap.last_error.unwrap().contains("403"));
    }

    #[test]
    fn exhausted_budget_closes_the_gate_until_reset() {
        let health = Health::new(5, Duration::from_secs(30), Duration::from_secs(600));
        let now = clock::now();
        let reset = now + chrono::Duration::seconds(20);
        health.observe_rate(
            &RateHeaders { limit: Some(5000), remaining: Some(0), reset: Some(reset), retry_after: None },
            now,
        );
        assert_eq!(health.gate(now), Gate::RateLimited(reset));
        assert_eq!(health.gate(reset), Gate::Open);
        assert_eq!(health.snapshot(now).rate_limit.remaining, Some(0));
    }
}
