//! The settings of API access: rate limits, the token cache, `/metrics` authentication.

use std::time::Duration;

use clap::Args;

use super::limits::Rate;
use crate::config::ConfigError;
use crate::secret::Secret;

/// Read by `ccm serve` (see README, "Tokens, scopes and rate limits").
#[derive(Debug, Clone, Args)]
pub struct AccessSettings {
    /// Requests on /api per token and per client address: N/sec, N/min or N/hour, or off.
    #[arg(long, env = "CCM_RATE_LIMIT", default_value = "600/min")]
    pub rate_limit: String,

    /// Failed authentications per client address (N/sec, N/min or N/hour, or off); past it the
    /// address is answered 429 before its token is looked at.
    #[arg(long, env = "CCM_AUTH_FAILURE_LIMIT", default_value = "10/min")]
    pub auth_failure_limit: String,

    /// Seconds a named token, once verified, is trusted without reading the database again: a
    /// token revoked on another replica keeps working that long (0: read every time).
    #[arg(long, env = "CCM_TOKEN_CACHE_SECONDS", default_value = "5")]
    pub token_cache_seconds: String,

    /// A token `GET /metrics` requires (CCM-Token or Authorization: Bearer). Unset: see
    /// CCM_METRICS_AUTH.
    #[arg(long, env = "CCM_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<Secret>,

    /// true: `GET /metrics` requires any API token (read scope or more); false: it is open.
    #[arg(long, env = "CCM_METRICS_AUTH", default_value = "false")]
    pub metrics_auth: String,

    /// true: `GET /metrics` adds per-pipeline series (health, 24-hour success ratio, runs by
    /// conclusion, last run duration, deployments) for every active pipeline.
    #[arg(long, env = "CCM_METRICS_PIPELINES", default_value = "false")]
    pub metrics_pipelines: String,
}

impl Default for AccessSettings {
    fn default() -> Self {
        AccessSettings {
            rate_limit: "600/min".into(),
            auth_failure_limit: "10/min".into(),
            token_cache_seconds: "5".into(),
            metrics_token: None,
            metrics_auth: "false".into(),
            metrics_pipelines: "false".into(),
        }
    }
}

/// Who may read `/metrics`.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricsAuth {
    Open,
    /// CCM_METRICS_TOKEN.
    Token(Secret),
    /// Any API token (CCM_METRICS_AUTH=true).
    AnyToken,
}

/// The access settings, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessConfig {
    /// Per token and per client address; `None`: off.
    pub rate_limit: Option<Rate>,
    pub auth_failure_limit: Option<Rate>,
    pub token_cache: Duration,
    pub metrics: MetricsAuth,
    /// How long `/metrics` serves the database gauges it read before reading them again.
    pub gauges_for: Duration,
    /// CCM_METRICS_PIPELINES: the per-pipeline series (`metrics::pipelines`).
    pub pipeline_metrics: bool,
}

/// How long the database gauges are served before `/metrics` reads them again.
pub const GAUGES_FOR: Duration = Duration::from_secs(5);

impl AccessConfig {
    /// No rate limit, metrics open: what an app built in code (tests, benchmarks) gets unless
    /// it says otherwise. `ccm serve` uses the settings, whose defaults limit.
    pub fn unlimited() -> Self {
        AccessConfig {
            rate_limit: None,
            auth_failure_limit: None,
            token_cache: Duration::from_secs(5),
            metrics: MetricsAuth::Open,
            gauges_for: GAUGES_FOR,
            pipeline_metrics: false,
        }
    }
}

impl AccessSettings {
    pub fn validate(&self) -> Result<AccessConfig, ConfigError> {
        let invalid = |setting: &'static str, reason: String| ConfigError { setting, reason };
        let rate_limit = Rate::parse_setting(&self.rate_limit).map_err(|e| invalid("CCM_RATE_LIMIT", e))?;
        let auth_failure_limit =
            Rate::parse_setting(&self.auth_failure_limit).map_err(|e| invalid("CCM_AUTH_FAILURE_LIMIT", e))?;
        let token_cache = self
            .token_cache_seconds
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| *n <= 3600)
            .map(Duration::from_secs)
            .ok_or_else(|| {
                invalid(
                    "CCM_TOKEN_CACHE_SECONDS",
                    format!("'{}' is not a number of seconds from 0 to 3600", self.token_cache_seconds),
                )
            })?;
        let boolean = |setting: &'static str, raw: &str| match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" | "" => Ok(false),
            other => Err(invalid(setting, format!("'{other}' is not true or false"))),
        };
        let metrics_auth = boolean("CCM_METRICS_AUTH", &self.metrics_auth)?;
        let pipeline_metrics = boolean("CCM_METRICS_PIPELINES", &self.metrics_pipelines)?;
        let metrics = match &self.metrics_token {
            Some(token) if token.expose().trim().chars().count() < crate::config::MIN_SECRET_LEN => {
                return Err(invalid(
                    "CCM_METRICS_TOKEN",
                    format!(
                        "the token has {} characters: it must have at least {}",
                        token.expose().trim().chars().count(),
                        crate::config::MIN_SECRET_LEN
                    ),
                ));
            }
            Some(token) => MetricsAuth::Token(token.expose().trim().into()),
            None if metrics_auth => MetricsAuth::AnyToken,
            None => MetricsAuth::Open,
        };
        Ok(AccessConfig {
            rate_limit,
            auth_failure_limit,
            token_cache,
            metrics,
            gauges_for: GAUGES_FOR,
            pipeline_metrics,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_errors() {
        let config = AccessSettings::default().validate().unwrap();
        assert_eq!(config.rate_limit.unwrap().to_string(), "600/min");
        assert_eq!(config.auth_failure_limit.unwrap().to_string(), "10/min");
        assert_eq!((config.token_cache, config.metrics), (Duration::from_secs(5), MetricsAuth::Open));
        let off = AccessSettings { rate_limit: "off".into(), metrics_auth: "true".into(), ..Default::default() };
        let off = off.validate().unwrap();
        assert_eq!((off.rate_limit, off.metrics), (None, MetricsAuth::AnyToken));
        for (settings, name) in [
            (AccessSettings { rate_limit: "lots".into(), ..Default::default() }, "CCM_RATE_LIMIT"),
            (AccessSettings { auth_failure_limit: "0/min".into(), ..Default::default() }, "CCM_AUTH_FAILURE_LIMIT"),
            (AccessSettings { token_cache_seconds: "-1".into(), ..Default::default() }, "CCM_TOKEN_CACHE_SECONDS"),
            (AccessSettings { metrics_auth: "maybe".into(), ..Default::default() }, "CCM_METRICS_AUTH"),
            (AccessSettings { metrics_pipelines: "sometimes".into(), ..Default::default() }, "CCM_METRICS_PIPELINES"),
            (AccessSettings { metrics_token: Some("short-secret".into()), ..Default::default() }, "CCM_METRICS_TOKEN"),
        ] {
            let err = settings.validate().unwrap_err().to_string();
            assert!(err.starts_with(&format!("invalid {name}:")) && !err.contains("short-secret"), "{err}");
        }
    }
}
