//! GitHub settings: the App's credentials (or a personal access token), the API URL and the
//! timings of the outbound queue and the background checks.

use std::path::Path;
use std::time::Duration;

use clap::Args;
use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

/// Files `ccm app register` writes into CCM_DATA_DIR.
pub const APP_FILE: &str = "github-app.json";
pub const PRIVATE_KEY_FILE: &str = "github-app.pem";
pub const WEBHOOK_SECRET_FILE: &str = "github-webhook-secret";

pub const DEFAULT_API_URL: &str = "https://api.github.com";

#[derive(Debug, Clone, Args)]
pub struct GithubSettings {
    /// The GitHub App's id. Unset: read from CCM_DATA_DIR/github-app.json (written by
    /// `ccm app register`), if present.
    #[arg(long = "github-app-id", env = "GITHUB_APP_ID")]
    pub app_id: Option<String>,

    /// The App's private key, PEM text (literal `\n` sequences are accepted).
    #[arg(long = "github-private-key", env = "GITHUB_PRIVATE_KEY", hide_env_values = true)]
    pub private_key: Option<Secret>,

    /// A file holding the App's private key (PEM). Default: CCM_DATA_DIR/github-app.pem when it
    /// exists.
    #[arg(long = "github-private-key-path", env = "GITHUB_PRIVATE_KEY_PATH")]
    pub private_key_path: Option<std::path::PathBuf>,

    /// GitHub's REST API; another value serves GitHub Enterprise Server
    /// (https://HOST/api/v3) and tests.
    #[arg(long = "github-api-url", env = "GITHUB_API_URL", default_value = DEFAULT_API_URL)]
    pub api_url: String,

    /// A personal access token, used for the REST calls when no App is configured (the lesser
    /// option: no installation scoping, no missed-delivery recovery).
    #[arg(long = "ght", env = "GHT", hide_env_values = true)]
    pub token: Option<Secret>,

    /// Most outbound GitHub calls in flight at once.
    #[arg(long = "github-concurrency", env = "GITHUB_CONCURRENCY", default_value = "4")]
    pub concurrency: String,

    /// Attempts of a queued GitHub call before it is given up.
    #[arg(long = "github-max-attempts", env = "GITHUB_MAX_ATTEMPTS", default_value = "8")]
    pub max_attempts: String,

    /// Seconds between missed-delivery recovery scans (one also runs at start).
    #[arg(long = "github-recovery-interval", env = "GITHUB_RECOVERY_INTERVAL", default_value = "300")]
    pub recovery_interval: String,

    /// Seconds a run may stay queued or in progress without an event before it is re-read
    /// from the REST API.
    #[arg(long = "github-stuck-run-after", env = "GITHUB_STUCK_RUN_AFTER", default_value = "1800")]
    pub stuck_run_after: String,

    /// Hours of history a new pipeline's backfill reads (at least 24).
    #[arg(long = "github-backfill-hours", env = "GITHUB_BACKFILL_HOURS", default_value = "24")]
    pub backfill_hours: String,

    /// Most pages (of 100 runs) a backfill reads.
    #[arg(long = "github-backfill-max-pages", env = "GITHUB_BACKFILL_MAX_PAGES", default_value = "3")]
    pub backfill_max_pages: String,

    /// Fetch and keep the logs of the completed jobs of pipelines' workflows (true or false).
    #[arg(long = "job-logs", env = "CCM_JOB_LOGS", default_value = "true")]
    pub job_logs: String,

    /// Megabytes kept of one job's log: a longer log keeps its last lines and says it was cut.
    #[arg(long = "job-log-max-mb", env = "CCM_JOB_LOG_MAX_MB", default_value = "5")]
    pub job_log_max_mb: String,

    /// Megabytes (compressed) all stored job logs may take; past it the oldest are dropped.
    #[arg(long = "job-log-budget-mb", env = "CCM_JOB_LOG_BUDGET_MB", default_value = "1024")]
    pub job_log_budget_mb: String,
}

impl Default for GithubSettings {
    /// No credentials, default timings (as with no GitHub variables set).
    fn default() -> Self {
        GithubSettings {
            app_id: None,
            private_key: None,
            private_key_path: None,
            api_url: DEFAULT_API_URL.into(),
            token: None,
            concurrency: "4".into(),
            max_attempts: "8".into(),
            recovery_interval: "300".into(),
            stuck_run_after: "1800".into(),
            backfill_hours: "24".into(),
            backfill_max_pages: "3".into(),
            job_logs: "true".into(),
            job_log_max_mb: "5".into(),
            job_log_budget_mb: "1024".into(),
        }
    }
}

pub use crate::secret::Secret;

/// How ccm authenticates to GitHub.
#[derive(Debug, Clone, PartialEq)]
pub enum Credentials {
    App { app_id: u64, private_key: Secret },
    Token(Secret),
}

/// The non-secret part of what `ccm app register` stores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppFile {
    pub app_id: u64,
    #[serde(default)]
    pub slug: Option<String>,
    #[serde(default)]
    pub html_url: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
}

#[derive(Debug, Clone)]
pub struct GithubConfig {
    /// Without a trailing slash.
    pub api_url: String,
    pub credentials: Option<Credentials>,
    pub concurrency: usize,
    pub max_attempts: u32,
    /// First retry delay; doubled at each attempt up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// Consecutive failures after which outbound calls pause.
    pub pause_after_failures: u32,
    /// First pause; doubled while failures continue, up to `retry_max`.
    pub pause_base: Duration,
    /// How often the outbox worker looks for due jobs when nothing wakes it.
    pub poll_interval: Duration,
    /// A claimed job not finished within this time is claimed again (the worker died).
    pub lease: Duration,
    pub recovery_interval: Duration,
    /// Most pages (of 100 deliveries) one missed-delivery scan reads; the next scan resumes
    /// where it stopped.
    pub recovery_max_pages: usize,
    pub stuck_run_after: Duration,
    pub backfill_hours: i64,
    pub backfill_max_pages: u32,
    pub request_timeout: Duration,
    pub job_logs: JobLogSettings,
}

/// What is kept of jobs' logs (`CCM_JOB_LOGS`, `CCM_JOB_LOG_MAX_MB`, `CCM_JOB_LOG_BUDGET_MB`).
#[derive(Debug, Clone, PartialEq)]
pub struct JobLogSettings {
    pub enabled: bool,
    /// Bytes kept of one log (its tail).
    pub max_bytes: usize,
    /// Bytes all stored logs may take on disk.
    pub budget_bytes: i64,
    /// How often completed jobs are looked for and arrived logs announced.
    pub sweep_interval: Duration,
    /// How far back a job's completion may be for its log to be fetched.
    pub window: Duration,
}

impl Default for JobLogSettings {
    fn default() -> Self {
        JobLogSettings {
            enabled: true,
            max_bytes: 5 << 20,
            budget_bytes: 1 << 30,
            sweep_interval: Duration::from_secs(5),
            window: Duration::from_secs(24 * 3600),
        }
    }
}

impl GithubConfig {
    /// Defaults, no credentials: GitHub features off.
    pub fn unconfigured() -> Self {
        GithubConfig {
            api_url: DEFAULT_API_URL.into(),
            credentials: None,
            concurrency: 4,
            max_attempts: 8,
            retry_base: Duration::from_secs(2),
            retry_max: Duration::from_secs(600),
            pause_after_failures: 5,
            pause_base: Duration::from_secs(30),
            poll_interval: Duration::from_secs(5),
            lease: Duration::from_secs(300),
            recovery_interval: Duration::from_secs(300),
            recovery_max_pages: 100,
            stuck_run_after: Duration::from_secs(1800),
            backfill_hours: 24,
            backfill_max_pages: 3,
            request_timeout: Duration::from_secs(30),
            job_logs: JobLogSettings::default(),
        }
    }

    pub fn mode(&self) -> Option<&'static str> {
        match self.credentials {
            Some(Credentials::App { .. }) => Some("app"),
            Some(Credentials::Token(_)) => Some("token"),
            None => None,
        }
    }
}

fn invalid(setting: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError { setting, reason: reason.into() }
}

fn number<T: std::str::FromStr + PartialOrd>(
    setting: &'static str,
    raw: &str,
    min: T,
    max: T,
    describe: &str,
) -> Result<T, ConfigError> {
    raw.trim()
        .parse::<T>()
        .ok()
        .filter(|n| *n >= min && *n <= max)
        .ok_or_else(|| invalid(setting, format!("'{raw}' is not {describe}")))
}

/// Accepts PEM text with real newlines or with literal `\n` (as one-line environment values
/// often carry it), and checks it is an RSA private key. Never echoes the key.
pub fn parse_private_key(setting: &'static str, pem: &str) -> Result<Secret, ConfigError> {
    let pem = if pem.contains("\\n") { pem.replace("\\n", "\n") } else { pem.to_string() };
    let pem = pem.trim().to_string() + "\n";
    jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes())
        .map_err(|_| invalid(setting, "is not an RSA private key in PEM form"))?;
    Ok(Secret(pem))
}

impl GithubSettings {
    pub fn validate(&self, data_dir: &Path) -> Result<GithubConfig, ConfigError> {
        let mut config = GithubConfig::unconfigured();

        let api_url = self.api_url.trim().trim_end_matches('/');
        let parsed = reqwest::Url::parse(api_url).ok();
        if !(api_url.starts_with("https://") || api_url.starts_with("http://"))
            || parsed.as_ref().and_then(|u| u.host_str()).is_none()
        {
            return Err(invalid("GITHUB_API_URL", format!("'{api_url}' is not an http(s) URL")));
        }
        config.api_url = api_url.to_string();

        config.concurrency = number("GITHUB_CONCURRENCY", &self.concurrency, 1, 64, "a number from 1 to 64")?;
        config.max_attempts = number("GITHUB_MAX_ATTEMPTS", &self.max_attempts, 1, 100, "a number from 1 to 100")?;
        let recovery: u64 = number(
            "GITHUB_RECOVERY_INTERVAL",
            &self.recovery_interval,
            10,
            86_400,
            "a number of seconds from 10 to 86400",
        )?;
        config.recovery_interval = Duration::from_secs(recovery);
        let stuck: u64 = number(
            "GITHUB_STUCK_RUN_AFTER",
            &self.stuck_run_after,
            60,
            604_800,
            "a number of seconds from 60 to 604800",
        )?;
        config.stuck_run_after = Duration::from_secs(stuck);
        config.backfill_hours =
            number("GITHUB_BACKFILL_HOURS", &self.backfill_hours, 24, 24 * 30, "a number of hours from 24 to 720")?;
        config.backfill_max_pages =
            number("GITHUB_BACKFILL_MAX_PAGES", &self.backfill_max_pages, 1, 20, "a number from 1 to 20")?;

        config.job_logs.enabled = match self.job_logs.trim() {
            "true" | "1" | "on" | "yes" => true,
            "false" | "0" | "off" | "no" => false,
            other => return Err(invalid("CCM_JOB_LOGS", format!("'{other}' is not true or false"))),
        };
        let max_mb: usize =
            number("CCM_JOB_LOG_MAX_MB", &self.job_log_max_mb, 1, 1024, "a number of megabytes from 1 to 1024")?;
        config.job_logs.max_bytes = max_mb << 20;
        let budget_mb: i64 = number(
            "CCM_JOB_LOG_BUDGET_MB",
            &self.job_log_budget_mb,
            1,
            1 << 24,
            "a number of megabytes from 1 to 16777216",
        )?;
        config.job_logs.budget_bytes = budget_mb << 20;

        let app_file = data_dir.join(APP_FILE);
        let app_id = match self.app_id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(raw) => Some(number("GITHUB_APP_ID", raw, 1u64, u64::MAX, "a positive number")?),
            None if app_file.exists() => {
                let text = std::fs::read_to_string(&app_file)
                    .map_err(|e| invalid("GITHUB_APP_ID", format!("cannot read {APP_FILE} in CCM_DATA_DIR: {e}")))?;
                let file: AppFile = serde_json::from_str(&text)
                    .map_err(|e| invalid("GITHUB_APP_ID", format!("{APP_FILE} in CCM_DATA_DIR is malformed: {e}")))?;
                Some(file.app_id)
            }
            None => None,
        };

        let key = match (
            self.private_key.as_ref().map(Secret::expose).filter(|k| !k.trim().is_empty()),
            &self.private_key_path,
        ) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "GITHUB_PRIVATE_KEY",
                    "set either GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_PATH, not both",
                ));
            }
            (Some(pem), None) => Some(parse_private_key("GITHUB_PRIVATE_KEY", pem)?),
            (None, Some(path)) => {
                let pem = std::fs::read_to_string(path)
                    .map_err(|e| invalid("GITHUB_PRIVATE_KEY_PATH", format!("cannot read {}: {e}", path.display())))?;
                Some(parse_private_key("GITHUB_PRIVATE_KEY_PATH", &pem)?)
            }
            (None, None) => {
                let default = data_dir.join(PRIVATE_KEY_FILE);
                if app_id.is_some() && default.exists() {
                    let pem = std::fs::read_to_string(&default).map_err(|e| {
                        invalid(
                            "GITHUB_PRIVATE_KEY_PATH",
                            format!("cannot read {PRIVATE_KEY_FILE} in CCM_DATA_DIR: {e}"),
                        )
                    })?;
                    Some(parse_private_key("GITHUB_PRIVATE_KEY_PATH", &pem)?)
                } else {
                    None
                }
            }
        };

        let token = self.token.as_ref().map(|t| t.expose().trim()).filter(|t| !t.is_empty());
        if let Some(token) = token
            && token.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(invalid("GHT", "contains whitespace or control characters"));
        }

        config.credentials = match (app_id, key) {
            (Some(app_id), Some(private_key)) => Some(Credentials::App { app_id, private_key }),
            (Some(_), None) => {
                return Err(invalid(
                    "GITHUB_PRIVATE_KEY",
                    "GITHUB_APP_ID is set but no private key: set GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_PATH",
                ));
            }
            (None, Some(_)) => {
                return Err(invalid("GITHUB_APP_ID", "a private key is set but GITHUB_APP_ID is not"));
            }
            (None, None) => token.map(|t| Credentials::Token(Secret(t.to_string()))),
        };
        Ok(config)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const TEST_KEY: &str = include_str!("../../tests/fixtures/test-app-key.pem");

    fn settings() -> GithubSettings {
        GithubSettings::default()
    }

    #[test]
    fn unconfigured_by_default() {
        let dir = tempfile::tempdir().unwrap();
        let config = settings().validate(dir.path()).unwrap();
        assert!(config.credentials.is_none());
        assert_eq!(config.api_url, "https://api.github.com");
    }

    #[test]
    fn app_from_settings_or_files_and_token_as_fallback() {
        let dir = tempfile::tempdir().unwrap();
        let s = GithubSettings {
            app_id: Some("42".into()),
            private_key: Some(TEST_KEY.replace('\n', "\\n").into()),
            ..settings()
        };
        let config = s.validate(dir.path()).unwrap();
        assert!(matches!(config.credentials, Some(Credentials::App { app_id: 42, .. })));
        assert!(!format!("{config:?}").contains("PRIVATE KEY"));

        std::fs::write(dir.path().join(APP_FILE), r#"{"app_id": 7}"#).unwrap();
        std::fs::write(dir.path().join(PRIVATE_KEY_FILE), TEST_KEY).unwrap();
        let config = settings().validate(dir.path()).unwrap();
        assert!(matches!(config.credentials, Some(Credentials::App { app_id: 7, .. })));

        let other = tempfile::tempdir().unwrap();
        let config = GithubSettings { token: Some("ghp_x".into()), ..settings() }.validate(other.path()).unwrap();
        assert_eq!(config.mode(), Some("token"));
    }

    #[test]
    fn errors_name_the_setting_and_never_echo_keys() {
        let dir = tempfile::tempdir().unwrap();
        let err = GithubSettings { app_id: Some("x".into()), ..settings() }.validate(dir.path()).unwrap_err();
        assert!(err.to_string().starts_with("invalid GITHUB_APP_ID:"), "{err}");
        let err = GithubSettings { app_id: Some("1".into()), private_key: Some("secret-junk".into()), ..settings() }
            .validate(dir.path())
            .unwrap_err();
        assert!(err.to_string().starts_with("invalid GITHUB_PRIVATE_KEY:") && !err.to_string().contains("secret-junk"));
        let err = GithubSettings { app_id: Some("1".into()), ..settings() }.validate(dir.path()).unwrap_err();
        assert!(err.to_string().starts_with("invalid GITHUB_PRIVATE_KEY:"), "{err}");
        let err = GithubSettings { api_url: "ftp://x".into(), ..settings() }.validate(dir.path()).unwrap_err();
        assert!(err.to_string().starts_with("invalid GITHUB_API_URL:"));
        let err = GithubSettings { concurrency: "0".into(), ..settings() }.validate(dir.path()).unwrap_err();
        assert!(err.to_string().starts_with("invalid GITHUB_CONCURRENCY:"));
        let err = GithubSettings { backfill_hours: "2".into(), ..settings() }.validate(dir.path()).unwrap_err();
        assert!(err.to_string().starts_with("invalid GITHUB_BACKFILL_HOURS:"));
    }
}
