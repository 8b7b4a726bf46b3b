//! Response shapes shared by several endpoints, and those of the operational endpoints.
#![allow(dead_code)] // Types that only describe JSON built elsewhere.

use utoipa::ToSchema;

/// `/healthz` and `/readyz`.
#[derive(ToSchema)]
pub struct HealthStatus {
    #[schema(example = true)]
    pub success: bool,
    /// `ok` (healthz) or `ready` (readyz).
    #[schema(example = "ok")]
    pub status: String,
}

/// A delivery stored (and, when it could be, processed) before the answer.
#[derive(ToSchema)]
pub struct DeliveryAccepted {
    pub success: bool,
    pub delivery_id: String,
    pub event: String,
    /// processed, ignored, failed, parked or pending (stored, processed in the background).
    pub status: String,
    /// The delivery id was already stored: nothing was done again.
    pub duplicate: bool,
}
