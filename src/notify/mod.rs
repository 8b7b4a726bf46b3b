//! Alerts at work (issue 16): the evaluator, which applies the alert rules after each batch of
//! deliveries (woken by the live publisher, after the batch's commit) and on a periodic sweep for
//! the time-based kinds; and the sender, which delivers the queued notifications (the durable
//! `alert_notifications` table, claimed with `FOR UPDATE SKIP LOCKED` on PostgreSQL) with retries
//! and backoff. Several replicas may run both: an alert opens once (a unique key in the
//! database) and a notification is claimed by one replica at a time.

mod evaluate;
pub mod send;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::Notify;

use crate::live::Live;
use crate::store::Store;

pub use send::{SendOutcome, Sender};

/// SMTP settings for email channels (`CCM_SMTP_URL`, `CCM_SMTP_FROM`).
#[derive(Clone)]
pub struct SmtpSettings {
    /// `smtps://host` (TLS), `smtp://host?tls=required` (STARTTLS), or plain `smtp://host` (a
    /// local relay); may hold credentials (`smtps://user:password@host`).
    pub url: crate::secret::Secret,
    pub from: String,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings").field("url", &self.url).field("from", &self.from).finish()
    }
}

/// How alerts are evaluated and delivered.
#[derive(Debug, Clone)]
pub struct AlertSettings {
    /// The periodic sweep (time-based kinds: run_stuck, hook_silent; global kinds).
    pub sweep: Duration,
    /// At most one firing notification per rule and pipeline per cooldown (`resolved` always
    /// goes out).
    pub cooldown: Duration,
    /// How long a notification is retried before it is given up.
    pub retry_for: Duration,
    /// The first retry's delay (doubling after each failure, at most 10 minutes).
    pub retry_base: Duration,
    /// How often the sender looks for due notifications when not woken.
    pub poll: Duration,
    pub smtp: Option<SmtpSettings>,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            sweep: Duration::from_secs(30),
            cooldown: Duration::from_secs(600),
            retry_for: Duration::from_secs(48 * 3600),
            retry_base: Duration::from_secs(5),
            poll: Duration::from_secs(1),
            smtp: None,
        }
    }
}

/// The alert workers of this process.
#[derive(Clone)]
pub struct Alerts {
    /// Wakes the evaluator (the live publisher does, after each batch).
    pub evaluate: Arc<Notify>,
    /// Wakes the sender (the evaluator does, after queuing).
    pub send: Arc<Notify>,
    pub settings: Arc<RwLock<AlertSettings>>,
}

impl Alerts {
    pub fn new() -> Self {
        Alerts {
            evaluate: Arc::new(Notify::new()),
            send: Arc::new(Notify::new()),
            settings: Arc::new(RwLock::new(AlertSettings::default())),
        }
    }

    pub fn settings(&self) -> AlertSettings {
        self.settings.read().expect("alert settings").clone()
    }

    pub fn set_settings(&self, settings: AlertSettings) {
        *self.settings.write().expect("alert settings") = settings;
        self.evaluate.notify_one();
    }

    /// Spawns the evaluator and the sender. Must run inside the async runtime.
    pub fn spawn(&self, store: Arc<dyn Store>, live: Arc<Live>, github: Option<Arc<crate::github::GithubClient>>) {
        tokio::spawn(evaluate::run(self.clone(), store.clone(), live, github));
        tokio::spawn(send::run(self.clone(), store));
    }
}

impl Default for Alerts {
    fn default() -> Self {
        Self::new()
    }
}
