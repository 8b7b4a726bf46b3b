//! Who may do what on the API: tokens (the configured ones, admin; the named ones, with their
//! scope), the scope each route needs (set where routes are registered, `routes::required_scope`),
//! rate limits, and `/metrics` authentication.
//!
//! Every `/api` request, in order: an address refused for its failed authentications gets 429;
//! then its address's rate (429); its token (401, counted as a failure when one was sent); its
//! token's rate (429); the scope its route needs (403).

pub mod limits;
pub mod settings;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Weak};
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::ServiceRequest;
use actix_web::dev::ServiceResponse;
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, web};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, ResponseBuilder};

use super::auth::TOKEN_HEADER;
use super::{Actor, ApiError, AppState};
use crate::app::tokens::TokenRegistry;
use crate::domain::tokens::Scope;
use crate::metrics::pipelines::PipelineGauges;
use crate::metrics::scrape::GaugeCache;
pub use limits::{Limits, Rate};
pub use settings::{AccessConfig, AccessSettings, MetricsAuth};

/// How often idle rate-limit keys are forgotten.
const FORGET_EVERY: Duration = Duration::from_secs(60);

/// The access state of one process.
pub struct Access {
    pub tokens: TokenRegistry,
    pub limits: Limits,
    pub metrics: MetricsAuth,
    pub gauges: GaugeCache,
    /// CCM_METRICS_PIPELINES=true: the per-pipeline series and their cache.
    pub pipelines: Option<PipelineGauges>,
}

impl Access {
    /// Must run inside the async runtime (a task forgets idle limiter keys every minute, for as
    /// long as the `Access` lives).
    pub fn start(config: &AccessConfig) -> Arc<Self> {
        let access = Arc::new(Access {
            tokens: TokenRegistry::new(config.token_cache),
            limits: Limits::new(config.rate_limit, config.auth_failure_limit),
            metrics: config.metrics.clone(),
            gauges: GaugeCache::new(config.gauges_for),
            pipelines: config.pipeline_metrics.then(|| PipelineGauges::new(config.gauges_for)),
        });
        let weak: Weak<Access> = Arc::downgrade(&access);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(FORGET_EVERY);
            interval.tick().await;
            loop {
                interval.tick().await;
                let Some(access) = weak.upgrade() else { return };
                access.limits.forget_idle();
            }
        });
        access
    }
}

/// The address a request is counted against: the client's, as `client_addr` resolves it (the
/// forwarded client behind a trusted proxy, else the TCP peer).
pub fn client_key(req: &HttpRequest) -> IpAddr {
    super::client_addr::client_ip(req).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

fn rate_limited(what: &str, wait: Duration) -> ApiError {
    let retry_after = limits::retry_after(wait);
    ApiError::RateLimited { message: format!("{what}; retry in {retry_after} s"), retry_after }
}

/// The token a request presents: `CCM-Token`, or with `bearer`, `Authorization: Bearer`.
fn presented(req: &HttpRequest, bearer: bool) -> Option<&str> {
    if let Some(token) = req.headers().get(TOKEN_HEADER).and_then(|v| v.to_str().ok()) {
        return Some(token.trim());
    }
    if !bearer {
        return None;
    }
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (kind, token) = value.split_once(' ')?;
    kind.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The caller a token names, and its scope: a configured token (admin) or a named one.
async fn identify(state: &AppState, token: &str) -> Result<Option<(Actor, Scope)>, ApiError> {
    if let Some(actor) = state.tokens.verify(token) {
        return Ok(Some((actor, Scope::Admin)));
    }
    Ok(state.access.tokens.verify(state.store.as_ref(), token).await?.map(|t| (Actor(t.actor()), t.scope)))
}

/// The checks of an `/api` request, in order (see the module's text).
/// Leaves the caller's `Actor` in the request once its token is known.
async fn authorize(state: &AppState, req: &HttpRequest) -> Result<Actor, ApiError> {
    let limits = &state.access.limits;
    let address = client_key(req);
    if let Some(wait) = limits.blocked(address) {
        return Err(rate_limited("Too many failed authentications from this address", wait));
    }
    limits.address(address).map_err(|wait| rate_limited("Too many requests from this address", wait))?;
    let Some(token) = presented(req, false) else { return Err(ApiError::Unauthorized) };
    let Some((actor, scope)) = identify(state, token).await? else {
        if let Some(wait) = limits.failed(address) {
            return Err(rate_limited("Too many failed authentications from this address", wait));
        }
        return Err(ApiError::Unauthorized);
    };
    // Known from here on: the request log names the caller, refused or not.
    tracing::Span::current().record("actor", actor.0.as_str());
    req.extensions_mut().insert(actor.clone());
    req.extensions_mut().insert(scope);
    limits.token(&actor.0).map_err(|wait| rate_limited("Too many requests with this token", wait))?;
    let pattern = req.match_pattern();
    let needed = super::routes::required_scope(req.method(), pattern.as_deref());
    if scope < needed {
        return Err(ApiError::ScopeRequired(format!(
            "This token has scope {scope}; {} {} needs {needed}",
            req.method(),
            req.path()
        )));
    }
    Ok(actor)
}

/// Middleware for the `/api` scope: refuses requests before any handler runs (401, 403, 429),
/// and leaves the `Actor` in the request for handlers, the audit log and the request log.
pub async fn require_token(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let state = req.app_data::<web::Data<AppState>>().expect("AppState is registered by build_app").clone();
    match authorize(&state, req.request()).await {
        Ok(_) => next.call(req).await.map(ServiceResponse::map_into_left_body),
        // Answered here rather than returned as an error, so the outer middleware still sees a
        // response (its x-request-id, its log line).
        Err(err) => Ok(req.error_response(err).map_into_right_body()),
    }
}

/// Whether `req` may read `/metrics` (CCM_METRICS_TOKEN, CCM_METRICS_AUTH): 401 without the
/// token, 429 from an address refused for its failed authentications.
pub async fn metrics_allowed(state: &AppState, req: &HttpRequest) -> Result<(), ApiError> {
    if state.access.metrics == MetricsAuth::Open {
        return Ok(());
    }
    let limits = &state.access.limits;
    let address = client_key(req);
    if let Some(wait) = limits.blocked(address) {
        return Err(rate_limited("Too many failed authentications from this address", wait));
    }
    let Some(token) = presented(req, true) else { return Err(ApiError::Unauthorized) };
    let allowed = match &state.access.metrics {
        MetricsAuth::Open => true,
        MetricsAuth::Token(expected) => {
            let digest = |t: &str| -> [u8; 32] { Sha256::digest(t.as_bytes()).into() };
            bool::from(digest(expected.expose()).ct_eq(&digest(token)))
        }
        MetricsAuth::AnyToken => identify(state, token).await?.is_some(),
    };
    if allowed {
        return Ok(());
    }
    if let Some(wait) = limits.failed(address) {
        return Err(rate_limited("Too many failed authentications from this address", wait));
    }
    Err(ApiError::Unauthorized)
}

/// Documents the 403 (scope) and 429 (rate limit) of every `/api` operation that needs a token.
pub fn document(doc: &mut Document) {
    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("Error"))).build())
            .header("Retry-After", utoipa::openapi::HeaderBuilder::new().description(Some("Seconds to wait")).build())
            .build()
    };
    let forbidden = |needed: Scope| {
        ResponseBuilder::new()
            .description(format!(
                "This operation needs a token of scope `{needed}` or more (`insufficient_scope`; scopes: read < \
                 write < admin)"
            ))
            .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("Error"))).build())
            .build()
    };
    let limited = error(
        "Too many requests from this address or with this token (CCM_RATE_LIMIT), or too many failed \
         authentications from this address (`rate_limited`): retry after the seconds `Retry-After` says",
    );
    for (path, item) in doc.paths.paths.iter_mut() {
        if !path.starts_with("/api/") || super::aliases::PUBLIC_API_PATHS.contains(&path.as_str()) {
            continue;
        }
        let operations = [
            (Method::GET, &mut item.get),
            (Method::PUT, &mut item.put),
            (Method::POST, &mut item.post),
            (Method::DELETE, &mut item.delete),
            (Method::PATCH, &mut item.patch),
        ];
        for (method, operation) in operations {
            let Some(operation) = operation else { continue };
            let needed = super::routes::required_scope(&method, Some(path));
            operation.responses.responses.entry("403".into()).or_insert_with(|| forbidden(needed).into());
            operation.responses.responses.entry("429".into()).or_insert_with(|| limited.clone().into());
        }
    }
}
