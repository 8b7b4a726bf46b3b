//! Logging: human-readable on a terminal, JSON lines with `CCM_LOG_FORMAT=json`; levels from
//! `RUST_LOG`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::ConfigError;

const DEFAULT_FILTER: &str = "info,sqlx=warn,actix_server=warn";

pub fn init() -> Result<(), ConfigError> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(value) if !value.trim().is_empty() => {
            EnvFilter::try_new(&value).map_err(|e| ConfigError { setting: "RUST_LOG", reason: e.to_string() })?
        }
        _ => EnvFilter::new(DEFAULT_FILTER),
    };
    let json = match std::env::var("CCM_LOG_FORMAT").unwrap_or_default().as_str() {
        "" | "text" => false,
        "json" => true,
        other => {
            return Err(ConfigError { setting: "CCM_LOG_FORMAT", reason: format!("'{other}' is not text or json") });
        }
    };
    // Colours only on a terminal: a log file or journal gets no escape codes. NO_COLOR still wins.
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let result = if json { builder.json().flatten_event(true).try_init() } else { builder.try_init() };
    // A second init (tests) keeps the first subscriber.
    let _ = result;
    Ok(())
}
