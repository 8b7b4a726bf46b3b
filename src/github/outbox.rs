//! The outbox worker: claims due jobs from the `outbox_jobs` table, runs at most
//! `GITHUB_CONCURRENCY` at once, and retries failures with exponential backoff (or at the time a
//! rate limit or a pause names). A job whose worker dies is claimed again when its lease ends.
//!
//! A job's task is an `OutboxTask` (stored as a kind and a JSON payload), and `jobs::run`
//! dispatches on it. Other features queue their outbound calls with `enqueue`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::Github;
use super::client::GhError;
use super::health::Gate;
use crate::domain::clock;
use crate::domain::outbox::OutboxTask;
use crate::store::{NewOutboxJob, OutboxJob, StoreResult};

/// Queues a job and wakes the worker. With `dedupe_key`, a job with the same key that is still
/// pending or running is reused (its id is returned).
pub async fn enqueue(gh: &Github, task: OutboxTask, dedupe_key: Option<String>) -> StoreResult<i64> {
    let job =
        NewOutboxJob { task, dedupe_key, max_attempts: gh.client.config.max_attempts as i64, run_at: clock::now() };
    let id = gh.store.enqueue_job(&job).await?;
    gh.client.wake.notify_one();
    Ok(id)
}

fn to_chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::days(1))
}

/// The delay before attempt `attempts + 1`: base * 2^(attempts-1), capped, with +-20% jitter.
pub fn backoff(base: Duration, max: Duration, attempts: i64) -> Duration {
    let doublings = (attempts.max(1) - 1).min(20) as u32;
    let delay = base.saturating_mul(1u32 << doublings).min(max);
    let jitter = rand::rng().random_range(0.8..1.2);
    delay.mul_f64(jitter).min(max)
}

/// Runs one claimed job and records its outcome. A job whose task cannot be read fails at once.
async fn run_one(gh: Github, job: OutboxJob) {
    let outcome = match &job.task {
        Ok(task) => super::jobs::run(&gh, task).await,
        Err(invalid) => Err(GhError::InvalidJob(invalid.to_string())),
    };
    let config = &gh.client.config;
    let now = clock::now();
    let recorded = match outcome {
        Ok(result) => {
            tracing::debug!(job_id = job.id, kind = job.kind(), "outbox job done");
            gh.store.complete_job(job.id, job.attempts, &result).await
        }
        Err(err) => {
            let message = err.to_string();
            // Paused or rate-limited: the call never went out, the attempt is given back.
            let refund = matches!(err, GhError::Paused(_) | GhError::RateLimited(_));
            if err.is_retryable() && (refund || job.attempts < job.max_attempts) {
                let delay = now + to_chrono(backoff(config.retry_base, config.retry_max, job.attempts));
                let at: DateTime<Utc> = match err.not_before() {
                    Some(t) if refund => t,
                    Some(t) => t.max(delay),
                    None => delay,
                };
                tracing::info!(job_id = job.id, kind = job.kind(), attempt = job.attempts, retry_at = %clock::format(&at),
                    error = %message, "outbox job will be retried");
                gh.store.retry_job(job.id, job.attempts, at, &message, refund).await
            } else {
                tracing::warn!(job_id = job.id, kind = job.kind(), attempt = job.attempts, error = %message,
                    "outbox job given up");
                if let Ok(task) = &job.task {
                    super::jobs::given_up(&gh, task, &message).await;
                }
                gh.store.fail_job(job.id, job.attempts, &message).await
            }
        }
    };
    match recorded {
        Ok(true) => {}
        Ok(false) => tracing::warn!(job_id = job.id, "outbox job was taken over by another worker (lease expired)"),
        Err(err) => tracing::error!(job_id = job.id, error = %err, "recording an outbox job's outcome failed"),
    }
}

/// The worker loop; returns when `shutdown` turns true (jobs in flight get a few seconds to
/// finish; those that do not are claimed again after their lease).
pub async fn run_worker(gh: Github, mut shutdown: watch::Receiver<bool>) {
    let config = gh.client.config.clone();
    let mut running: JoinSet<()> = JoinSet::new();
    loop {
        if *shutdown.borrow() {
            break;
        }
        while running.try_join_next().is_some() {}
        let now = clock::now();
        let free = config.concurrency.saturating_sub(running.len());
        let mut wait = config.poll_interval;
        match gh.client.health.gate(now) {
            Gate::Open if free > 0 => {
                let lease_until = now + to_chrono(config.lease);
                match gh.store.claim_jobs(now, lease_until, free as i64).await {
                    Ok(jobs) => {
                        let full = jobs.len() == free;
                        for job in jobs {
                            running.spawn(run_one(gh.clone(), job));
                        }
                        if full {
                            // More may be due: look again as soon as a slot frees.
                            wait = Duration::from_millis(50);
                        }
                    }
                    Err(err) => tracing::error!(error = %err, "claiming outbox jobs failed"),
                }
            }
            Gate::Open => {}
            Gate::Paused(until) | Gate::RateLimited(until) => {
                wait = (until - now).to_std().unwrap_or_default().min(config.poll_interval);
            }
        }
        tokio::select! {
            _ = gh.client.wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            Some(_) = running.join_next(), if !running.is_empty() => {}
            _ = shutdown.changed() => {}
        }
    }
    let drain = async { while running.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(5), drain).await.is_err() {
        running.abort_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let base = Duration::from_secs(2);
        let max = Duration::from_secs(60);
        let first = backoff(base, max, 1);
        assert!(first >= Duration::from_millis(1600) && first <= Duration::from_millis(2400), "{first:?}");
        let third = backoff(base, max, 3);
        assert!(third >= Duration::from_millis(6400) && third <= Duration::from_millis(9600), "{third:?}");
        assert!(backoff(base, max, 30) <= max);
    }
}
