//! The internet edge (issue 20): which listener serves what, allow-lists and trusted proxies,
//! and the limits on bodies read before anyone is authenticated.
//!
//! One guard middleware runs on every request of both listeners: it checks the client's address
//! against the allow-list that covers the path, then wraps the body in the read deadline and
//! minimum rate (`limits::TimedPayload`). The unverified-bytes budget is taken by the webhook
//! extractor (`webhook::receive`), the only body read before authentication.

pub mod allow;
pub mod limits;
pub(crate) mod openapi;

use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, web};
use clap::Args;
use ipnet::IpNet;

use super::client_addr::{TrustedProxies, service_client_ip};
use super::{ApiError, AppState};
use crate::config::ConfigError;
pub use allow::{Verdict, WebhookAllow, WebhookAllowSetting};
pub use limits::Limits;

/// What an HTTP listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// Everything (one listener: CCM_WEBHOOK_BIND unset).
    All,
    /// Everything but the webhook path (CCM_BIND when CCM_WEBHOOK_BIND is set).
    Api,
    /// Only the webhook path and `/healthz` (CCM_WEBHOOK_BIND).
    Webhooks,
}

/// The paths GitHub's deliveries are received on (see `webhooks::routes`).
pub const WEBHOOK_PATHS: &[&str] = &["/webhooks/github", "/api/v1/integrations/github/webhook"];

/// The path every listener answers for anyone (liveness probes).
pub const HEALTH_PATH: &str = "/healthz";

/// On the API listener of a split setup: the webhook paths are not served there.
pub(super) async fn webhook_not_served(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!(
        "No such endpoint: {} {} (webhooks are received on the webhook listener, CCM_WEBHOOK_BIND)",
        req.method(),
        req.path()
    )))
}

/// The settings of this module, flattened into `config::Settings`.
#[derive(Debug, Clone, Default, Args)]
pub struct EdgeSettings {
    /// A second address (host:port) serving only POST /webhooks/github and /healthz; CCM_BIND then
    /// serves the API, dashboard, OpenAPI and metrics, and not the webhook path. Unset: one
    /// listener serves everything.
    #[arg(long, env = "CCM_WEBHOOK_BIND")]
    pub webhook_bind: Option<String>,

    /// Seconds a request body may take to arrive before the request is answered 408
    /// [default: 15].
    #[arg(long, env = "CCM_BODY_TIMEOUT")]
    pub body_timeout: Option<String>,

    /// Bytes a second a request body must average after its first 5 seconds, else 408 (0: no
    /// minimum) [default: 1024].
    #[arg(long, env = "CCM_BODY_MIN_RATE")]
    pub body_min_rate: Option<String>,

    /// Bytes of webhook bodies held in memory, across all requests, before their signature is
    /// checked; past it deliveries are answered 503 with Retry-After [default: 67108864 (64 MiB)].
    #[arg(long, env = "CCM_UNVERIFIED_BYTES")]
    pub unverified_bytes: Option<String>,

    /// Webhook bodies waiting for the network at once before their signature is checked (a read
    /// waiting more than 50 ms for data takes a slot; one client address at most an eighth of
    /// them); a delivery that must wait when all are
    /// taken is answered 503 with Retry-After, the rest of its body unread [default: 256].
    #[arg(long, env = "CCM_UNVERIFIED_READS")]
    pub unverified_reads: Option<String>,

    /// Addresses (comma-separated CIDRs) allowed to use the API, dashboard, OpenAPI and metrics;
    /// others get 403. Unset: anyone (the API still needs its token).
    #[arg(long, env = "CCM_API_ALLOW")]
    pub api_allow: Option<String>,

    /// Addresses allowed to deliver webhooks: comma-separated CIDRs, or `github` for GitHub's
    /// published hook ranges (GET /meta, refreshed daily). Unset: anyone (deliveries are still
    /// signed).
    #[arg(long, env = "CCM_WEBHOOK_ALLOW")]
    pub webhook_allow: Option<String>,

    /// Reverse proxies (comma-separated CIDRs) whose X-Forwarded-For is believed. Unset: the TCP
    /// peer is the client.
    #[arg(long, env = "CCM_TRUSTED_PROXIES")]
    pub trusted_proxies: Option<String>,
}

/// `EdgeSettings` validated.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    pub webhook_bind: Option<std::net::SocketAddr>,
    pub body_timeout: Duration,
    pub body_min_rate: u64,
    pub unverified_bytes: usize,
    pub unverified_reads: usize,
    pub api_allow: Option<Vec<IpNet>>,
    pub webhook_allow: WebhookAllowSetting,
    pub trusted_proxies: Vec<IpNet>,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        EdgeSettings::default().validate().expect("the defaults are valid")
    }
}

fn invalid(setting: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError { setting, reason: reason.into() }
}

fn number(
    setting: &'static str,
    raw: Option<&str>,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    let Some(raw) = raw else { return Ok(default) };
    raw.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| invalid(setting, format!("'{raw}' is not a number from {} to {}", range.start(), range.end())))
}

impl EdgeSettings {
    pub fn validate(&self) -> Result<EdgeConfig, ConfigError> {
        let webhook_bind = match self.webhook_bind.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => {
                Some(std::net::ToSocketAddrs::to_socket_addrs(raw).ok().and_then(|mut a| a.next()).ok_or_else(
                    || invalid("CCM_WEBHOOK_BIND", format!("'{raw}' is not host:port, e.g. 0.0.0.0:5001")),
                )?)
            }
        };
        let body_timeout = Duration::from_secs(number("CCM_BODY_TIMEOUT", self.body_timeout.as_deref(), 15, 1..=3600)?);
        let body_min_rate = number("CCM_BODY_MIN_RATE", self.body_min_rate.as_deref(), 1024, 0..=1 << 30)?;
        let unverified_bytes =
            number("CCM_UNVERIFIED_BYTES", self.unverified_bytes.as_deref(), 64 << 20, 1..=1 << 40)? as usize;
        let unverified_reads =
            number("CCM_UNVERIFIED_READS", self.unverified_reads.as_deref(), 256, 1..=100_000)? as usize;
        let cidrs = |setting: &'static str, raw: &Option<String>| match raw.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(raw) => allow::parse_cidrs(raw).map(Some).map_err(|reason| invalid(setting, reason)),
        };
        let api_allow = cidrs("CCM_API_ALLOW", &self.api_allow)?;
        let trusted_proxies = cidrs("CCM_TRUSTED_PROXIES", &self.trusted_proxies)?.unwrap_or_default();
        let webhook_allow = WebhookAllowSetting::parse(self.webhook_allow.as_deref())
            .map_err(|reason| invalid("CCM_WEBHOOK_ALLOW", format!("{reason} (or `github`)")))?;
        Ok(EdgeConfig {
            webhook_bind,
            body_timeout,
            body_min_rate,
            unverified_bytes,
            unverified_reads,
            api_allow,
            webhook_allow,
            trusted_proxies,
        })
    }
}

/// The edge's state, shared by both listeners (in `AppState`).
#[derive(Debug)]
pub struct Edge {
    pub limits: Limits,
    pub api_allow: Option<Vec<IpNet>>,
    pub webhook_allow: Arc<WebhookAllow>,
    pub trusted_proxies: TrustedProxies,
}

impl Edge {
    pub fn new(config: &EdgeConfig) -> Self {
        Edge {
            limits: Limits::new(
                config.body_timeout,
                config.body_min_rate,
                config.unverified_bytes,
                config.unverified_reads,
            ),
            api_allow: config.api_allow.clone(),
            webhook_allow: Arc::new(WebhookAllow::new(&config.webhook_allow)),
            trusted_proxies: TrustedProxies(config.trusted_proxies.clone()),
        }
    }
}

impl Default for Edge {
    fn default() -> Self {
        Edge::new(&EdgeConfig::default())
    }
}

/// The allow-lists and the body deadline, on every request (see the module).
pub async fn guard(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if let Some(state) = req.app_data::<web::Data<AppState>>().cloned() {
        let edge = &state.edge;
        let path = req.path();
        let webhooks_here = req.app_data::<Listener>() != Some(&Listener::Api);
        if webhooks_here && WEBHOOK_PATHS.contains(&path) {
            match edge.webhook_allow.check(service_client_ip(&req)) {
                Verdict::Allowed => {}
                Verdict::Refused => {
                    state.metrics.address_refused("webhook");
                    return Err(refused(&req).into());
                }
                Verdict::NoListYet => {
                    state.metrics.address_refused("webhook");
                    return Err(ApiError::Unavailable(
                        "CCM_WEBHOOK_ALLOW=github: GitHub's hook ranges are not known yet; retry later".into(),
                    )
                    .into());
                }
            }
        } else if path != HEALTH_PATH
            && let Some(nets) = &edge.api_allow
            && !service_client_ip(&req).is_some_and(|ip| allow::contains(nets, ip))
        {
            state.metrics.address_refused("api");
            return Err(refused(&req).into());
        }
        let payload = req.parts_mut().1.take();
        let timed = edge.limits.timed(payload);
        req.set_payload(Payload::Stream { payload: Box::pin(timed) });
    }
    next.call(req).await
}

fn refused(req: &ServiceRequest) -> ApiError {
    let ip = service_client_ip(req).map(|ip| ip.to_string()).unwrap_or_else(|| "unknown".into());
    // Debug: the request is logged once anyway (`http request`, status 403), and counted.
    tracing::debug!(client = %ip, path = req.path(), "refused by the allow-list");
    ApiError::AddressRefused(format!("Address {ip} is not allowed here"))
}
