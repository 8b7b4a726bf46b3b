//! One error type for the whole API, rendered as `{"success": false, "error": "...", "code": "..."}`.

use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::{StatusCode, header};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("Invalid CCM-Token")]
    Unauthorized,
    /// A webhook delivery whose signature is missing or wrong.
    #[error("{0}")]
    SignatureRejected(&'static str),
    #[error("{0}")]
    NotFound(String),
    /// A token whose scope is below the route's (see `http::access`).
    #[error("{0}")]
    ScopeRequired(String),
    /// Past a rate limit (see `http::access::limits`).
    #[error("{message}")]
    RateLimited { message: String, retry_after: u32 },
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{message}")]
    Conflict { message: String, pipeline_id: Option<String> },
    /// An `Idempotency-Key` sent again with another request.
    #[error("{0}")]
    IdempotencyKeyReused(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Unavailable(String),
    /// The database is busy (a lock held past the busy timeout, a statement past its timeout):
    /// the same request is likely to succeed a moment later.
    #[error("The database is busy; retry in a moment")]
    DatabaseBusy,
    /// A feature that needs GitHub, without an App (or GHT) configured.
    #[error(
        "The GitHub App is not configured: set GITHUB_APP_ID and GITHUB_PRIVATE_KEY (or run `ccm app register`), \
         or GHT"
    )]
    GithubNotConfigured,
    /// GitHub failed or refused a call the request needed.
    #[error("{0}")]
    Github(String),
    // Issue 20, the internet edge: see `http::edge`.
    /// The client's address is not in the allow-list covering the path (403).
    #[error("{0}")]
    AddressRefused(String),
    /// A request body that did not arrive in time, or too slowly (408).
    #[error("{0}")]
    RequestTimeout(String),
    /// A `Range` outside the body (416); `len` is the body's length, for `Content-Range`.
    #[error("{message}")]
    RangeNotSatisfiable { message: String, len: u64 },
    /// Anything unexpected. Its text goes to the log (inside the request's span, with its
    /// request id), never to the caller.
    #[error("Internal server error")]
    Internal(#[source] anyhow::Error),
}

impl From<StoreError> for ApiError {
    /// A database that cannot be reached, or is busy, is a 503 (retry later); anything else is
    /// internal.
    fn from(err: StoreError) -> Self {
        if err.is_busy() {
            tracing::warn!(error = %err, "database busy");
            return ApiError::DatabaseBusy;
        }
        match &err {
            StoreError::Database(
                sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed,
            )
            | StoreError::Sqlite(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error {
                    code:
                        rusqlite::ErrorCode::DatabaseBusy
                        | rusqlite::ErrorCode::DatabaseLocked
                        | rusqlite::ErrorCode::CannotOpen
                        | rusqlite::ErrorCode::SystemIoFailure,
                    ..
                },
                _,
            )) => {
                tracing::error!(error = %err, "database unavailable");
                ApiError::Unavailable("Database unavailable, retry later".into())
            }
            _ => ApiError::Internal(err.into()),
        }
    }
}

impl From<crate::github::GhError> for ApiError {
    fn from(err: crate::github::GhError) -> Self {
        use crate::github::GhError;
        match err {
            GhError::NotConfigured => ApiError::GithubNotConfigured,
            GhError::Paused(_) | GhError::RateLimited(_) => {
                ApiError::Unavailable(format!("GitHub: {err}; try again later"))
            }
            other => ApiError::Github(format!("GitHub call failed: {other}")),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        ApiError::Internal(err)
    }
}

/// Every error response: `success` is false, `error` says what is wrong, `code` is stable for
/// programs.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub(crate) struct ErrorBody {
    #[schema(example = false)]
    success: bool,
    #[schema(example = "Pipeline not found: pipe_3f9a0c1b2d4e")]
    error: String,
    /// bad_request, unauthorized, invalid_signature, insufficient_scope, rate_limited, not_found,
    /// method_not_allowed, conflict, idempotency_key_reused,
    /// payload_too_large, unsupported_media_type, unavailable, database_busy,
    /// github_not_configured, github_error, internal, address_refused, request_timeout or
    /// range_not_satisfiable.
    #[schema(example = "not_found")]
    code: &'static str,
    /// With `conflict`: the pipeline the conflict is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pipeline_id: Option<String>,
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized => "unauthorized",
            ApiError::SignatureRejected(_) => "invalid_signature",
            ApiError::NotFound(_) => "not_found",
            ApiError::ScopeRequired(_) => "insufficient_scope",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::Conflict { .. } => "conflict",
            ApiError::IdempotencyKeyReused(_) => "idempotency_key_reused",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::DatabaseBusy => "database_busy",
            ApiError::GithubNotConfigured => "github_not_configured",
            ApiError::Github(_) => "github_error",
            ApiError::Internal(_) => "internal",
            ApiError::AddressRefused(_) => "address_refused",
            ApiError::RequestTimeout(_) => "request_timeout",
            ApiError::RangeNotSatisfiable { .. } => "range_not_satisfiable",
        }
    }
}

impl ApiError {
    /// Seconds after which the same request is worth sending again (`Retry-After`), for the
    /// answers that say "not now".
    pub fn retry_after(&self) -> Option<u32> {
        match self {
            ApiError::DatabaseBusy => Some(1),
            ApiError::Unavailable(_) => Some(5),
            ApiError::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized | ApiError::SignatureRejected(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::ScopeRequired(_) => StatusCode::FORBIDDEN,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::IdempotencyKeyReused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable(_) | ApiError::DatabaseBusy | ApiError::GithubNotConfigured => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Github(_) => StatusCode::BAD_GATEWAY,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::AddressRefused(_) => StatusCode::FORBIDDEN,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(err) = self {
            tracing::error!(error = format!("{err:#}"), "request failed");
        }
        let pipeline_id = match self {
            ApiError::Conflict { pipeline_id, .. } => pipeline_id.clone(),
            _ => None,
        };
        let mut response = HttpResponse::build(self.status_code());
        if let Some(seconds) = self.retry_after() {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        if let ApiError::RangeNotSatisfiable { len, .. } = self {
            response.insert_header((header::CONTENT_RANGE, format!("bytes */{len}")));
        }
        response.json(ErrorBody { success: false, error: self.to_string(), code: self.code(), pipeline_id })
    }
}

/// Gives the errors actix produces itself (unknown route, wrong method, oversized body...)
/// the same JSON shape as ours. Responses that are already JSON pass through untouched.
pub fn json_error_fallback<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = res
        .response()
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let (method, path) = (res.request().method().clone(), res.request().path().to_string());
    let error = match status {
        StatusCode::NOT_FOUND => ApiError::NotFound(format!("No such endpoint: {method} {path}")),
        StatusCode::METHOD_NOT_ALLOWED => {
            ApiError::MethodNotAllowed(format!("Method {method} is not allowed on {path}"))
        }
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge("Request body too large".into()),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ApiError::UnsupportedMediaType("Unsupported Content-Type: send application/json".into())
        }
        StatusCode::UNAUTHORIZED => ApiError::Unauthorized,
        s if s.is_server_error() => ApiError::Internal(anyhow::anyhow!("{s} from {method} {path}")),
        s => ApiError::BadRequest(s.canonical_reason().unwrap_or("Bad request").to_string()),
    };
    let mut response = error.error_response();
    *response.status_mut() = status;
    let (req, _) = res.into_parts();
    Ok(ErrorHandlerResponse::Response(ServiceResponse::new(req, response).map_into_right_body()))
}

/// Parses a closed status enum from a request (`status`, `priority`, ...), or a 400 that names
/// the field, the values it takes and the value sent.
pub(crate) fn parse_choice<T>(value: &str, field: &str) -> Result<T, ApiError>
where
    T: std::str::FromStr<Err = crate::domain::status::UnknownValue>,
{
    value.parse().map_err(|err: crate::domain::status::UnknownValue| {
        ApiError::BadRequest(format!("{field} must be one of {}, got '{value}'", err.expected))
    })
}
