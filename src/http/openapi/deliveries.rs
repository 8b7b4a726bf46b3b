//! Shapes of the deliveries, GitHub integration and audit bodies.
#![allow(dead_code)] // Types that only describe JSON built elsewhere.

use serde_json::Value;
use utoipa::ToSchema;

pub use crate::github::health::RateBudget;
pub use crate::store::OutboxCounts;

#[derive(ToSchema)]
pub struct Delivery {
    pub delivery_id: String,
    pub event: String,
    pub action: Option<String>,
    pub installation_id: Option<i64>,
    pub repository: Option<String>,
    pub hook_id: Option<i64>,
    pub received_at: String,
    /// pending, processed, ignored, failed or parked
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub processed_at: Option<String>,
    pub next_attempt_at: Option<String>,
    pub body_size: i64,
}

#[derive(ToSchema)]
pub struct DeliveryList {
    pub success: bool,
    /// Newest first.
    pub deliveries: Vec<Delivery>,
    pub count: i64,
    pub limit: i64,
    pub offset: i64,
}

/// A delivery with the headers kept (never a secret) and its body.
#[derive(ToSchema)]
pub struct DeliveryWithBody {
    pub delivery_id: String,
    pub event: String,
    pub action: Option<String>,
    pub installation_id: Option<i64>,
    pub repository: Option<String>,
    pub hook_id: Option<i64>,
    pub received_at: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub processed_at: Option<String>,
    pub next_attempt_at: Option<String>,
    pub body_size: i64,
    #[schema(value_type = Object)]
    pub headers: Value,
    /// The payload (as a string when it is not JSON).
    pub body: Value,
}

#[derive(ToSchema)]
pub struct DeliveryDetails {
    pub success: bool,
    pub delivery: DeliveryWithBody,
}

#[derive(ToSchema)]
pub struct Replayed {
    pub success: bool,
    pub delivery_id: String,
    /// The status after processing again.
    pub status: String,
    pub delivery: Option<Delivery>,
}

/// The outbound calls since this process started, the pause, the rate-limit budget and the
/// outbox queue. Without a GitHub App only `configured`, `message` and `outbox` are present.
#[derive(ToSchema)]
pub struct GithubHealth {
    pub configured: bool,
    pub message: Option<String>,
    pub outbox: OutboxCounts,
    /// app or token
    pub mode: Option<String>,
    pub api_url: Option<String>,
    pub concurrency: Option<i64>,
    pub success_count: Option<i64>,
    pub error_count: Option<i64>,
    /// Percent; null before the first call.
    pub success_rate: Option<f64>,
    pub consecutive_failures: Option<i64>,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    pub last_success_at: Option<String>,
    pub paused: Option<bool>,
    pub paused_until: Option<String>,
    pub rate_limited: Option<bool>,
    pub rate_limited_until: Option<String>,
    pub rate_limit: Option<RateBudget>,
}

#[derive(ToSchema)]
pub struct GithubHealthResponse {
    pub success: bool,
    pub github: GithubHealth,
}

#[derive(ToSchema)]
pub struct OutboxJob {
    pub id: i64,
    pub kind: String,
    /// pending, running, done or failed
    pub status: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub next_attempt_at: String,
    pub last_error: Option<String>,
    pub result: Option<Value>,
    pub created_at: String,
    pub finished_at: Option<String>,
}

#[derive(ToSchema)]
pub struct OutboxJobResponse {
    pub success: bool,
    pub job: OutboxJob,
}

#[derive(ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub at: String,
    /// `token:` and the first 8 hex characters of the token's SHA-256
    #[schema(example = "token:1a2b3c4d")]
    pub actor: String,
    #[schema(example = "pipeline.provisioned")]
    pub action: String,
    pub pipeline_id: Option<String>,
    #[schema(value_type = Object)]
    pub details: Value,
}

#[derive(ToSchema)]
pub struct AuditList {
    pub success: bool,
    /// Newest first.
    pub entries: Vec<AuditEntry>,
    pub count: i64,
    pub limit: i64,
    pub offset: i64,
}
