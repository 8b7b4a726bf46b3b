//! Settings: one struct read from flags and environment variables, validated once at start.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use clap::builder::TypedValueParser;

use crate::secret::{Secret, redacted_url};

/// The shortest token or secret a comma-separated list may hold.
pub const MIN_SECRET_LEN: usize = 16;

/// Settings shared by `ccm serve` and `ccm migrate`. Secret values are `Secret`s: `Debug` shows
/// none of them.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address and port to listen on.
    #[arg(long, env = "CCM_BIND", default_value = "127.0.0.1:5000")]
    pub bind: String,

    /// PostgreSQL URL (postgres://user:pass@host/db). Unset: the embedded SQLite file
    /// CCM_DATA_DIR/ccm.db. A sqlite: URL names another SQLite file.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<Secret>,

    /// Folder for the SQLite database, the generated API token and the App's files
    /// [default: ~/.ccm].
    // Parsed as any OS string so that an empty value reaches `validate` (one line naming
    // CCM_DATA_DIR) instead of clap's multi-line "a value is required for '--data-dir'".
    #[arg(long, env = "CCM_DATA_DIR", value_parser = clap::builder::OsStringValueParser::new().map(PathBuf::from))]
    pub data_dir: Option<PathBuf>,

    /// The old CCM's pipeline registry: imported once at start when the database has no pipeline
    /// [default: CCM_DATA_DIR/pipelines.json].
    #[arg(long, env = "CCM_PIPELINES_PATH", value_parser = clap::builder::OsStringValueParser::new().map(PathBuf::from))]
    pub pipelines_path: Option<PathBuf>,

    /// API token(s) callers send in the CCM-Token header; several separated by commas, so a
    /// token can be rotated without downtime. Unset: one is generated into CCM_DATA_DIR/api-token.
    #[arg(long = "api-token", env = "CCM_API_TOKEN", hide_env_values = true)]
    pub api_token: Option<Secret>,

    /// Secret(s) GitHub signs webhook deliveries with (X-Hub-Signature-256); several separated by
    /// commas while rotating. Unset: the file CCM_DATA_DIR/github-webhook-secret (written by
    /// `ccm app register`); with neither, every delivery is refused with 503.
    #[arg(long = "webhook-secret", env = "GITHUB_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<Secret>,

    /// Most database connections this process opens.
    #[arg(long, env = "CCM_DB_MAX_CONNECTIONS", default_value = "10")]
    pub db_max_connections: String,

    /// Most event streams (/api/events, /api/pipelines/{id}/events) open at once; past it a new
    /// one is answered 503.
    #[arg(long, env = "CCM_MAX_EVENT_STREAMS", default_value = "256")]
    pub max_event_streams: String,

    /// PostgreSQL: seconds a statement may run before the server cancels it (0: no limit).
    #[arg(long, env = "CCM_PG_STATEMENT_TIMEOUT", default_value = "30")]
    pub pg_statement_timeout: String,

    /// PostgreSQL: seconds a connection may stay idle inside a transaction before the server
    /// closes it (0: no limit).
    #[arg(long, env = "CCM_PG_IDLE_IN_TRANSACTION_TIMEOUT", default_value = "60")]
    pub pg_idle_in_transaction_timeout: String,

    #[command(flatten)]
    pub github: crate::github::GithubSettings,

    #[command(flatten)]
    pub backups: crate::backups::BackupSettings,

    /// Issue 18: how long each kind of stored row is kept.
    #[command(flatten)]
    pub retention: crate::retention::RetentionSettings,

    #[command(flatten)]
    pub access: crate::http::access::AccessSettings,
    /// Issue 20: second listener, allow-lists, trusted proxies, body limits.
    #[command(flatten)]
    pub edge: crate::http::edge::EdgeSettings,
    /// Issue 16: alert evaluation, notification retries, SMTP.
    #[command(flatten)]
    pub alerts: crate::notify::NotifySettings,
}

/// Where the data lives. `Debug` hides a PostgreSQL URL's password.
#[derive(Clone, PartialEq)]
pub enum Database {
    Sqlite(String),
    Postgres(String),
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(url) => f.debug_tuple("Sqlite").field(url).finish(),
            Database::Postgres(url) => f.debug_tuple("Postgres").field(&redacted_url(url)).finish(),
        }
    }
}

impl Database {
    pub fn url(&self) -> &str {
        match self {
            Database::Sqlite(url) | Database::Postgres(url) => url,
        }
    }

    /// The SQLite database's file, or None on PostgreSQL (or an in-memory database).
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        let Database::Sqlite(url) = self else { return None };
        let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
        let path = path.split('?').next().unwrap_or(path);
        (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
    }
}

/// Settings after validation.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub database: Database,
    pub data_dir: PathBuf,
    /// The old CCM's registry, imported at the first start.
    pub pipelines_path: PathBuf,
    /// Empty when CCM_API_TOKEN is unset (a token file is used instead).
    pub api_tokens: Vec<Secret>,
    pub db_max_connections: u32,
    pub max_event_streams: usize,
    /// PostgreSQL's `statement_timeout` and `idle_in_transaction_session_timeout`.
    pub pg_statement_timeout: Duration,
    pub pg_idle_in_transaction_timeout: Duration,
    /// Empty when GITHUB_WEBHOOK_SECRET is unset.
    pub webhook_secrets: Vec<Secret>,
    pub github: crate::github::GithubConfig,
    pub backups: crate::backups::BackupConfig,
    pub retention: crate::retention::RetentionConfig,
    /// Rate limits, the token cache, `/metrics` authentication.
    pub access: crate::http::access::AccessConfig,
    /// Issue 20: second listener, allow-lists, trusted proxies, body limits.
    pub edge: crate::http::edge::EdgeConfig,
    /// Issue 16: alert evaluation, notification retries, SMTP.
    pub alerts: crate::notify::AlertSettings,
}

/// A setting that cannot be used; the message names it.
#[derive(Debug, thiserror::Error)]
#[error("invalid {setting}: {reason}")]
pub struct ConfigError {
    pub setting: &'static str,
    pub reason: String,
}

fn invalid(setting: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError { setting, reason: reason.into() }
}

impl Settings {
    pub fn validate(&self) -> Result<Config, ConfigError> {
        let bind = self
            .bind
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(|| invalid("CCM_BIND", format!("'{}' is not host:port, e.g. 127.0.0.1:5000", self.bind)))?;

        let data_dir = match &self.data_dir {
            Some(dir) if dir.as_os_str().is_empty() => return Err(invalid("CCM_DATA_DIR", "is empty")),
            Some(dir) => dir.clone(),
            None => crate::data_dir::default_dir()
                .ok_or_else(|| invalid("CCM_DATA_DIR", "is unset and the home folder is unknown"))?,
        };

        let pipelines_path = match &self.pipelines_path {
            Some(path) if path.as_os_str().is_empty() => return Err(invalid("CCM_PIPELINES_PATH", "is empty")),
            Some(path) => path.clone(),
            None => data_dir.join("pipelines.json"),
        };

        let database = match self.database_url.as_ref().map(|url| url.expose().trim()) {
            None | Some("") => Database::Sqlite(sqlite_url(&data_dir.join("ccm.db"))),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Database::Postgres(url.to_string())
            }
            Some(url) if url.starts_with("sqlite:") => Database::Sqlite(url.to_string()),
            // Never echo the URL: it may hold a password.
            Some(_) => return Err(invalid("DATABASE_URL", "must start with postgres://, postgresql:// or sqlite:")),
        };

        let api_tokens = match &self.api_token {
            None => Vec::new(),
            Some(raw) => {
                let tokens = secret_list("CCM_API_TOKEN", "token", raw.expose())?;
                if tokens.iter().any(|t| t.expose().chars().any(|c| c.is_control() || c.is_whitespace())) {
                    return Err(invalid("CCM_API_TOKEN", "a token contains whitespace or control characters"));
                }
                tokens
            }
        };

        let db_max_connections =
            self.db_max_connections.trim().parse::<u32>().ok().filter(|n| (1..=1000).contains(n)).ok_or_else(|| {
                invalid(
                    "CCM_DB_MAX_CONNECTIONS",
                    format!("'{}' is not a number from 1 to 1000", self.db_max_connections),
                )
            })?;

        let max_event_streams =
            self.max_event_streams.trim().parse::<usize>().ok().filter(|n| (1..=100_000).contains(n)).ok_or_else(
                || {
                    invalid(
                        "CCM_MAX_EVENT_STREAMS",
                        format!("'{}' is not a number from 1 to 100000", self.max_event_streams),
                    )
                },
            )?;
        let seconds = |setting: &'static str, raw: &str| {
            raw.trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n <= 86_400)
                .map(Duration::from_secs)
                .ok_or_else(|| invalid(setting, format!("'{raw}' is not a number of seconds from 0 to 86400")))
        };
        let pg_statement_timeout = seconds("CCM_PG_STATEMENT_TIMEOUT", &self.pg_statement_timeout)?;
        let pg_idle_in_transaction_timeout =
            seconds("CCM_PG_IDLE_IN_TRANSACTION_TIMEOUT", &self.pg_idle_in_transaction_timeout)?;

        let webhook_secrets = match &self.webhook_secret {
            None => Vec::new(),
            Some(raw) => secret_list("GITHUB_WEBHOOK_SECRET", "secret", raw.expose())?,
        };

        let github = self.github.validate(&data_dir)?;
        let backups = self.backups.validate()?;
        let retention = self.retention.validate()?;
        let access = self.access.validate()?;
        let edge = self.edge.validate()?;
        let alerts = self.alerts.validate()?;

        Ok(Config {
            bind,
            database,
            data_dir,
            pipelines_path,
            api_tokens,
            db_max_connections,
            max_event_streams,
            pg_statement_timeout,
            pg_idle_in_transaction_timeout,
            webhook_secrets,
            github,
            backups,
            retention,
            access,
            edge,
            alerts,
        })
    }
}

impl Config {
    /// How the store opens its connections.
    pub fn db_options(&self) -> crate::store::DbOptions {
        crate::store::DbOptions {
            statement_timeout: self.pg_statement_timeout,
            idle_in_transaction_timeout: self.pg_idle_in_transaction_timeout,
            ..crate::store::DbOptions::new(self.db_max_connections)
        }
    }
}

/// A comma-separated list of secrets (several while rotating), trimmed, without empty items; each
/// at least `MIN_SECRET_LEN` characters. The error says which one is short, never what it is.
fn secret_list(setting: &'static str, what: &str, raw: &str) -> Result<Vec<Secret>, ConfigError> {
    let items: Vec<&str> = raw.split(',').map(str::trim).filter(|t| !t.is_empty()).collect();
    if items.is_empty() {
        return Err(invalid(setting, format!("is set but holds no {what}")));
    }
    if let Some((i, short)) = items.iter().enumerate().find(|(_, t)| t.chars().count() < MIN_SECRET_LEN) {
        let place =
            if items.len() > 1 { format!("{what} {} of {}", i + 1, items.len()) } else { format!("the {what}") };
        return Err(invalid(
            setting,
            format!(
                "{place} has {} characters: each must have at least {MIN_SECRET_LEN} \
                 (generate one with `openssl rand -hex 32`)",
                short.chars().count()
            ),
        ));
    }
    Ok(items.into_iter().map(Secret::from).collect())
}

pub fn sqlite_url(path: &std::path::Path) -> String {
    format!("sqlite://{}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            bind: "127.0.0.1:5000".into(),
            database_url: None,
            data_dir: Some("/tmp/ccm-test".into()),
            pipelines_path: None,
            api_token: None,
            webhook_secret: None,
            db_max_connections: "10".into(),
            max_event_streams: "256".into(),
            pg_statement_timeout: "30".into(),
            pg_idle_in_transaction_timeout: "60".into(),
            github: Default::default(),
            backups: crate::backups::BackupSettings { backup_interval: None, backup_keep: "14".into() },
            retention: Default::default(),
            access: Default::default(),
            edge: Default::default(),
            alerts: Default::default(),
        }
    }

    #[test]
    fn defaults_to_sqlite_in_the_data_dir() {
        let config = settings().validate().unwrap();
        assert_eq!(config.database, Database::Sqlite("sqlite:///tmp/ccm-test/ccm.db".into()));
        assert_eq!(config.bind.port(), 5000);
        assert!(config.api_tokens.is_empty());
        assert_eq!(config.pipelines_path, PathBuf::from("/tmp/ccm-test/pipelines.json"));
        let db = config.db_options();
        assert_eq!(
            (db.statement_timeout, db.idle_in_transaction_timeout),
            (Duration::from_secs(30), Duration::from_secs(60))
        );
    }

    #[test]
    fn errors_name_the_setting() {
        let err = Settings { bind: "nope".into(), ..settings() }.validate().unwrap_err();
        assert!(err.to_string().starts_with("invalid CCM_BIND:"), "{err}");
        let err = Settings { database_url: Some("mysql://u:secret@h/db".into()), ..settings() }.validate().unwrap_err();
        assert!(err.to_string().starts_with("invalid DATABASE_URL:") && !err.to_string().contains("secret"));
        let err = Settings { api_token: Some(" , ".into()), ..settings() }.validate().unwrap_err();
        assert!(err.to_string().starts_with("invalid CCM_API_TOKEN:"));
        let err = Settings { db_max_connections: "0".into(), ..settings() }.validate().unwrap_err();
        assert!(err.to_string().starts_with("invalid CCM_DB_MAX_CONNECTIONS:"));
        let err = Settings { pg_statement_timeout: "soon".into(), ..settings() }.validate().unwrap_err();
        assert!(err.to_string().starts_with("invalid CCM_PG_STATEMENT_TIMEOUT:"), "{err}");
        let err = Settings { pg_idle_in_transaction_timeout: "-1".into(), ..settings() }.validate().unwrap_err();
        assert!(err.to_string().starts_with("invalid CCM_PG_IDLE_IN_TRANSACTION_TIMEOUT:"), "{err}");
        let err = Settings { data_dir: Some("".into()), ..settings() }.validate().unwrap_err();
        assert!(err.to_string().starts_with("invalid CCM_DATA_DIR:"));
        let err = Settings { max_event_streams: "0".into(), ..settings() }.validate().unwrap_err();
        assert!(err.to_string().starts_with("invalid CCM_MAX_EVENT_STREAMS:"));
    }

    #[test]
    fn splits_rotated_tokens_and_refuses_short_ones() {
        let (old, new) = ("old-token-0123456789", "new-token-9876543210");
        let config = Settings { api_token: Some(format!("{old}, {new}").into()), ..settings() }.validate().unwrap();
        assert_eq!(config.api_tokens, vec![Secret::from(old), Secret::from(new)]);
        let err = Settings { api_token: Some(format!("{old},short").into()), ..settings() }.validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid CCM_API_TOKEN: token 2 of 2 has 5 characters: each must have at least 16 \
             (generate one with `openssl rand -hex 32`)"
        );
        let err = Settings { webhook_secret: Some("tiny".into()), ..settings() }.validate().unwrap_err();
        assert!(err.to_string().starts_with("invalid GITHUB_WEBHOOK_SECRET: the secret has 4 characters"), "{err}");
        assert!(!err.to_string().contains("tiny"));
    }

    #[test]
    fn debug_shows_no_secret() {
        let settings = Settings {
            api_token: Some("api-token-must-not-leak-1".into()),
            webhook_secret: Some("webhook-secret-must-not-leak-2".into()),
            database_url: Some("postgres://ccm:db-password-must-not-leak-3@db/ccm".into()),
            github: crate::github::GithubSettings {
                app_id: Some("42".into()),
                private_key: Some(crate::github::config::tests::TEST_KEY.into()),
                token: Some("ghp_must_not_leak_4".into()),
                ..Default::default()
            },
            access: crate::http::access::AccessSettings {
                metrics_token: Some("metrics-token-must-not-leak-5".into()),
                ..Default::default()
            },
            ..settings()
        };
        let config = settings.validate().unwrap();
        for shown in [format!("{settings:?}"), format!("{config:?}"), format!("{settings:#?}"), format!("{config:#?}")]
        {
            for secret in ["must-not-leak", "must_not_leak", "PRIVATE KEY"] {
                assert!(!shown.contains(secret), "{shown}");
            }
        }
        assert!(format!("{config:?}").contains("postgres://ccm:***@db/ccm"), "{config:?}");
    }
}
