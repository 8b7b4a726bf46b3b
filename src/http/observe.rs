//! Per-request observability: the request's span (every log line of a request carries its
//! request id), one log line per request, the HTTP metrics and the `x-request-id` header.
//!
//! Logged: method, route pattern, path (never the query string, which may carry a token),
//! status, duration and the caller's token fingerprint. Never a header value.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};

use super::{Actor, AppState};
use crate::metrics::method_label;

/// When the request arrived (the webhook latency starts there).
#[derive(Debug, Clone, Copy)]
pub struct Received(pub Instant);

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The route label of requests that matched no route (a bounded label, unlike their paths).
const UNMATCHED: &str = "unmatched";

/// The root span of a request, in place of tracing-actix-web's default, which records the full
/// target with its query string.
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        // The fields are worked out only when the span is enabled.
        tracing::info_span!(
            "request",
            request_id = %request.extensions().get::<RequestId>().map(ToString::to_string).unwrap_or_default(),
            method = %request.method(),
            route = %request.match_pattern().unwrap_or_else(|| UNMATCHED.into()),
            actor = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(_span: Span, _outcome: &Result<ServiceResponse<B>, actix_web::Error>) {}
}

/// Logs and counts every request, and returns its id in `x-request-id`.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    req.extensions_mut().insert(Received(started));
    let request_id = req.extensions().get::<RequestId>().copied();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    // Worked out before the call: the request cannot be kept (routing needs it unshared).
    let method = method_label(req.method());
    let route = req.match_pattern().unwrap_or_else(|| UNMATCHED.into());
    // Copied only when the request's log line is written.
    let path = tracing::enabled!(tracing::Level::INFO).then(|| req.path().to_string());
    let result = next.call(req).await;
    let status = match &result {
        Ok(res) => res.status(),
        // An error a middleware returned: actix turns it into its response after this.
        Err(err) => err.as_response_error().status_code(),
    };
    let elapsed = started.elapsed();
    if let Some(path) = path {
        let actor = result.as_ref().ok().and_then(|res| res.request().extensions().get::<Actor>().map(|a| a.0.clone()));
        tracing::info!(
            parent: None,
            request_id = %request_id.map(|id| id.to_string()).unwrap_or_default(),
            method,
            route = %route,
            path = %path,
            status = status.as_u16(),
            duration_ms = (elapsed.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
            actor = actor.as_deref(),
            "http request"
        );
    }
    if let Some(state) = state {
        state.metrics.http_request(method, &route, status.as_u16(), elapsed);
    }
    let mut res = result?;
    if let Some(id) = request_id {
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let text = id.as_hyphenated().encode_lower(&mut text);
        if let Ok(value) = HeaderValue::from_str(text) {
            res.headers_mut().insert(X_REQUEST_ID, value);
        }
    }
    Ok(res)
}
