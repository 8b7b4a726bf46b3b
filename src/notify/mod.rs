//! Alerts at work (issue 16): the evaluator, which applies the alert rules after each batch of
//! deliveries (woken by the live publisher, after the batch's commit) and on a periodic sweep for
//! the time-based kinds; and the sender, which delivers the queued notifications (the durable
//! `alert_notifications` table, claimed with `FOR UPDATE SKIP LOCKED` on PostgreSQL) with retries
//! and backoff. Several replicas may run both: an alert opens once (a unique key in the
//! database) and a notification is claimed by one replica at a time.

mod breaker;
mod evaluate;
pub mod send;
mod wake;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::Notify;

use crate::live::Live;
use crate::store::Store;

pub use send::{SendOutcome, Sender};
pub use wake::{Touched, Wake};

/// SMTP settings for email channels (`CCM_SMTP_URL`, `CCM_SMTP_FROM`).
#[derive(Clone)]
pub struct SmtpSettings {
    /// `smtps://host` (TLS), `smtp://host?tls=required` (STARTTLS), or plain `smtp://host` (a
    /// local relay); may hold credentials (`smtps://user:password@host`).
    pub url: crate::secret::Secret,
    pub from: String,
    /// PEM certificates trusted for the server besides the system's (`CCM_SMTP_CA_FILE`: a relay
    /// with a certificate of a private CA).
    pub ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("url", &self.url)
            .field("from", &self.from)
            .field("ca_pem", &self.ca_pem.as_ref().map(|pem| format!("{} bytes", pem.len())))
            .finish()
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
    /// Wakes the evaluator (the live publisher does after each batch, with the pipelines it
    /// touched).
    pub evaluate: Arc<Wake>,
    /// Wakes the sender (the evaluator does, after queuing).
    pub send: Arc<Notify>,
    pub settings: Arc<RwLock<AlertSettings>>,
    /// Evaluations done by this process (each pass of the evaluator, whatever it found).
    pub evaluations: Arc<std::sync::atomic::AtomicU64>,
}

impl Alerts {
    pub fn new() -> Self {
        Alerts {
            evaluate: Arc::new(Wake::default()),
            send: Arc::new(Notify::new()),
            settings: Arc::new(RwLock::new(AlertSettings::default())),
            evaluations: Arc::default(),
        }
    }

    pub fn settings(&self) -> AlertSettings {
        self.settings.read().expect("alert settings").clone()
    }

    pub fn set_settings(&self, settings: AlertSettings) {
        *self.settings.write().expect("alert settings") = settings;
        self.evaluate.everything();
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

/// The alert settings as `ccm serve` reads them (README: "Alerts").
#[derive(Clone, Default, clap::Args)]
pub struct NotifySettings {
    /// How often the time-based alert rules are evaluated (e.g. 30s, 1m).
    #[arg(long, env = "CCM_ALERT_SWEEP")]
    pub alert_sweep: Option<String>,

    /// At most one firing notification per rule and pipeline this often (default 10m; resolved
    /// notifications always go out).
    #[arg(long, env = "CCM_ALERT_COOLDOWN")]
    pub alert_cooldown: Option<String>,

    /// How long a notification is retried before it is given up (default 48h, at least 24h).
    #[arg(long, env = "CCM_ALERT_RETRY_FOR")]
    pub alert_retry_for: Option<String>,

    /// SMTP server of email channels: smtps://user:password@host (TLS),
    /// smtp://user:password@host?tls=required (STARTTLS) or smtp://host (plain, a local relay).
    #[arg(long, env = "CCM_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<crate::secret::Secret>,

    /// The From address of alert e-mails.
    #[arg(long, env = "CCM_SMTP_FROM")]
    pub smtp_from: Option<String>,

    /// A PEM file of CA certificates to trust for the SMTP server besides the system's (a relay
    /// whose certificate a private CA signed); needs a TLS URL.
    #[arg(long, env = "CCM_SMTP_CA_FILE")]
    pub smtp_ca_file: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for NotifySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifySettings")
            .field("alert_sweep", &self.alert_sweep)
            .field("alert_cooldown", &self.alert_cooldown)
            .field("alert_retry_for", &self.alert_retry_for)
            .field("smtp_url", &self.smtp_url)
            .field("smtp_from", &self.smtp_from)
            .field("smtp_ca_file", &self.smtp_ca_file)
            .finish()
    }
}

impl NotifySettings {
    pub fn validate(&self) -> Result<AlertSettings, crate::config::ConfigError> {
        let duration = |setting: &'static str, raw: Option<&str>, default: Duration, min: Duration| {
            let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else { return Ok(default) };
            let value = humantime::parse_duration(raw).map_err(|e| crate::config::ConfigError {
                setting,
                reason: format!("'{raw}' is not a duration such as 30s or 10m ({e})"),
            })?;
            if value < min {
                return Err(crate::config::ConfigError {
                    setting,
                    reason: format!("'{raw}' is shorter than {}", humantime::format_duration(min)),
                });
            }
            Ok(value)
        };
        let defaults = AlertSettings::default();
        let sweep = duration("CCM_ALERT_SWEEP", self.alert_sweep.as_deref(), defaults.sweep, Duration::from_secs(1))?;
        let cooldown =
            duration("CCM_ALERT_COOLDOWN", self.alert_cooldown.as_deref(), defaults.cooldown, Duration::ZERO)?;
        let retry_for = duration(
            "CCM_ALERT_RETRY_FOR",
            self.alert_retry_for.as_deref(),
            defaults.retry_for,
            Duration::from_secs(24 * 3600),
        )?;
        let smtp = match (&self.smtp_url, self.smtp_from.as_deref().map(str::trim).filter(|f| !f.is_empty())) {
            (None, None) => None,
            (Some(url), Some(from)) => {
                let text = url.expose();
                if !(text.starts_with("smtp://") || text.starts_with("smtps://")) {
                    return Err(crate::config::ConfigError {
                        setting: "CCM_SMTP_URL",
                        reason: "must start with smtp:// or smtps://".into(),
                    });
                }
                let ca_pem = match &self.smtp_ca_file {
                    Some(path) => Some(read_smtp_ca(path, text)?),
                    None => None,
                };
                Some(SmtpSettings { url: url.clone(), from: from.to_string(), ca_pem })
            }
            (Some(_), None) => {
                return Err(crate::config::ConfigError {
                    setting: "CCM_SMTP_FROM",
                    reason: "is needed with CCM_SMTP_URL".into(),
                });
            }
            (None, Some(_)) => {
                return Err(crate::config::ConfigError {
                    setting: "CCM_SMTP_URL",
                    reason: "is needed with CCM_SMTP_FROM".into(),
                });
            }
        };
        if smtp.is_none() && self.smtp_ca_file.is_some() {
            return Err(crate::config::ConfigError {
                setting: "CCM_SMTP_CA_FILE",
                reason: "is used with CCM_SMTP_URL and CCM_SMTP_FROM".into(),
            });
        }
        Ok(AlertSettings { sweep, cooldown, retry_for, smtp, ..defaults })
    }
}

const CERTIFICATE: &[u8] = b"-----BEGIN CERTIFICATE-----";

/// The certificates of `CCM_SMTP_CA_FILE`, checked: readable, PEM, and for a TLS `url`.
fn read_smtp_ca(path: &std::path::Path, url: &str) -> Result<Vec<u8>, crate::config::ConfigError> {
    let error = |reason: String| crate::config::ConfigError { setting: "CCM_SMTP_CA_FILE", reason };
    if send::tls_mode(url).is_none() {
        return Err(error("needs a TLS CCM_SMTP_URL: smtps://host, or smtp://host?tls=required for STARTTLS".into()));
    }
    let pem = std::fs::read(path).map_err(|e| error(format!("cannot be read ({e})")))?;
    // lettre reads the CERTIFICATE sections and skips the rest: a file of none is no error to it.
    if !pem.windows(CERTIFICATE.len()).any(|w| w == CERTIFICATE) {
        return Err(error("holds no PEM certificate (no -----BEGIN CERTIFICATE----- section)".into()));
    }
    lettre::transport::smtp::client::Certificate::from_pem(&pem)
        .map_err(|e| error(format!("holds no PEM certificate lettre can read ({e})")))?;
    Ok(pem)
}

#[cfg(test)]
mod tests {
    use super::NotifySettings;

    fn with_ca(url: Option<&str>, ca_file: &std::path::Path) -> NotifySettings {
        NotifySettings {
            smtp_url: url.map(Into::into),
            smtp_from: url.map(|_| "ccm@example.com".to_string()),
            smtp_ca_file: Some(ca_file.to_path_buf()),
            ..Default::default()
        }
    }

    /// The setting a start-up refusal names, and its reason.
    fn refusal(settings: &NotifySettings) -> (&'static str, String) {
        let err = settings.validate().expect_err("refused at start-up");
        (err.setting, err.reason)
    }

    #[test]
    fn a_ca_file_is_refused_without_a_tls_smtp_url() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "not read: refused before").unwrap();
        let (setting, reason) = refusal(&with_ca(Some("smtp://relay.internal:25"), &ca));
        assert_eq!(setting, "CCM_SMTP_CA_FILE");
        assert!(reason.starts_with("needs a TLS CCM_SMTP_URL"), "{reason}");
        let (setting, reason) = refusal(&with_ca(None, &ca));
        assert_eq!((setting, reason.as_str()), ("CCM_SMTP_CA_FILE", "is used with CCM_SMTP_URL and CCM_SMTP_FROM"));
    }

    #[test]
    fn an_unreadable_ca_file_is_refused_naming_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let (setting, reason) = refusal(&with_ca(Some("smtps://user:secret@mail.example.com"), &missing));
        assert_eq!(setting, "CCM_SMTP_CA_FILE");
        assert!(reason.starts_with("cannot be read ("), "{reason}");
        assert!(!reason.contains("secret"), "the URL's password stays out of the error: {reason}");
    }

    #[test]
    fn a_ca_file_without_a_certificate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").unwrap();
        let (setting, reason) = refusal(&with_ca(Some("smtp://mail.example.com?tls=required"), &ca));
        assert_eq!(setting, "CCM_SMTP_CA_FILE");
        assert!(reason.starts_with("holds no PEM certificate"), "{reason}");
        std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n").unwrap();
        let (setting, reason) = refusal(&with_ca(Some("smtp://mail.example.com?tls=required"), &ca));
        assert_eq!(setting, "CCM_SMTP_CA_FILE");
        assert!(reason.starts_with("holds no PEM certificate lettre can read"), "{reason}");
    }
}
