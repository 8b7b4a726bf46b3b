//! Shapes of the pipeline API's bodies (built with `json!` by the handlers).
#![allow(dead_code)] // Types that only describe JSON built elsewhere.

use serde_json::Value;
use utoipa::ToSchema;

pub use crate::domain::stats::{LastRun, Metrics24h};
pub use crate::store::{Execution, Job};

/// `POST /api/pipelines/provision`. `repo` and `workflow_file` are required (absent, null and
/// empty all count as missing).
#[derive(ToSchema)]
pub struct ProvisionRequest {
    /// owner/name
    #[schema(example = "myorg/myrepo")]
    pub repo: String,
    /// `.github/workflows/<file>.yml` or `.yaml`
    #[schema(example = ".github/workflows/deploy.yml")]
    pub workflow_file: String,
    pub config: Option<PipelineConfig>,
    #[schema(example = "example.com")]
    pub linked_domain: Option<String>,
    #[schema(example = "example-app")]
    pub linked_app: Option<String>,
}

/// Free-form settings (any other key is kept as given); `trigger_branches` limits the runs the
/// stats count.
#[derive(ToSchema)]
pub struct PipelineConfig {
    #[schema(example = json!(["production", "main"]))]
    pub trigger_branches: Option<Vec<String>>,
    #[schema(example = "production")]
    pub environment: Option<String>,
}

/// `PATCH /api/pipelines/{id}`: at least one field; unknown fields are refused.
#[derive(ToSchema)]
pub struct PipelineChange {
    /// An RFC 7396 merge patch applied to the config (`null` removes a key).
    #[schema(value_type = Object)]
    pub config: Option<Value>,
    pub trigger_branches: Option<Vec<String>>,
    /// `null` clears the link.
    pub linked_domain: Option<String>,
    /// `null` clears the link.
    pub linked_app: Option<String>,
}

#[derive(ToSchema)]
pub struct VpsIntegration {
    pub linked_domain: Option<String>,
    pub linked_app: Option<String>,
}

#[derive(ToSchema)]
pub struct Pipeline {
    #[schema(example = "pipe_3f9a0c1b2d4e")]
    pub pipeline_id: String,
    pub repository: String,
    pub workflow_file: String,
    /// active or inactive
    pub status: String,
    #[schema(example = "2026-01-05T10:30:00Z")]
    pub created_at: String,
    pub updated_at: String,
    pub deactivated_at: Option<String>,
    #[schema(value_type = Object)]
    pub config: Value,
    pub vps_integration: VpsIntegration,
    /// Only in `GET /api/pipelines?include=stats`: the pipeline's stats, as
    /// `GET /api/pipelines/{id}/stats` gives them.
    pub stats: Option<Stats>,
}

/// The backfill of a verified repository's recent runs (with a GitHub App).
#[derive(ToSchema)]
pub struct BackfillStarted {
    /// running, or failed when it could not be queued
    pub status: String,
    pub job_id: Option<i64>,
    pub error: Option<String>,
}

#[derive(ToSchema)]
pub struct Provisioned {
    pub success: bool,
    pub pipeline_id: String,
    pub status: String,
    pub created_at: String,
    pub repository: String,
    pub workflow_file: String,
    /// The pipeline existed, inactive: same id, history kept.
    pub reactivated: bool,
    pub vps_integration: VpsIntegration,
    /// Checked with GitHub (false without a GitHub App).
    pub repository_verified: bool,
    /// Why the repository was not verified.
    pub message: Option<String>,
    pub backfill: Option<BackfillStarted>,
}

#[derive(ToSchema)]
pub struct PipelineList {
    pub success: bool,
    pub pipelines: Vec<Pipeline>,
    /// All pipelines matching the filters.
    pub count: i64,
    pub limit: i64,
    pub offset: i64,
    /// Pass as `after` to get the next page (keyset paging); null when this page is not full.
    pub next: Option<String>,
}

/// `POST /api/pipelines/import`: an old CCM registry (`~/.ccm/pipelines.json`): a list of
/// pipelines, or an object keyed by pipeline id, with or without a `version` (2.x), at the top
/// level or under `pipelines`. At most 1000 entries a request.
#[derive(ToSchema)]
pub struct ImportRequest {
    #[schema(example = "2.0")]
    pub version: Option<String>,
    /// A list of pipelines or an object keyed by pipeline id.
    pub pipelines: Value,
}

/// What an import did with each entry.
#[derive(ToSchema)]
pub struct ImportReport {
    pub success: bool,
    pub created: i64,
    pub already_present: i64,
    pub invalid: i64,
    pub results: Vec<ImportResult>,
}

#[derive(ToSchema)]
pub struct ImportResult {
    /// The entry's position in the registry (from 0).
    pub entry: i64,
    pub pipeline_id: Option<String>,
    /// `created`, `already_present` (the id is stored: left as it is) or `invalid`.
    #[schema(example = "created")]
    pub result: String,
    /// Why an entry is invalid.
    pub reason: Option<String>,
    /// For an active pipeline created with a GitHub App configured: the backfill of its
    /// repository's recent runs (not verified first; a repository the App cannot read ends
    /// the backfill as failed, with its error in the pipeline's stats).
    pub backfill: Option<BackfillStarted>,
}

#[derive(ToSchema)]
pub struct PipelineDetails {
    pub success: bool,
    pub pipeline: Pipeline,
    /// Newest first.
    pub executions: Vec<Execution>,
    pub executions_count: i64,
    pub limit: i64,
    pub offset: i64,
}

#[derive(ToSchema)]
pub struct PipelineUpdated {
    pub success: bool,
    pub pipeline: Pipeline,
}

#[derive(ToSchema)]
pub struct Stats {
    pub pipeline_id: String,
    pub status: String,
    pub repository: String,
    pub workflow_file: String,
    pub trigger_branches: Vec<String>,
    pub last_run: Option<LastRun>,
    pub metrics_24h: Metrics24h,
    /// 0 to 100 (see the README).
    pub health_score: u8,
    pub active_runs: i64,
    pub queue_length: i64,
    /// The job running now in the latest run.
    pub current_stage: Option<String>,
    pub progress_percentage: u8,
    pub last_delivery_at: Option<String>,
    pub backfill_in_progress: bool,
}

#[derive(ToSchema)]
pub struct StatsResponse {
    pub success: bool,
    pub stats: Stats,
}

#[derive(ToSchema)]
pub struct TornDown {
    pub success: bool,
    pub pipeline_id: String,
    /// inactive
    pub status: String,
    pub already_inactive: bool,
    pub message: String,
    /// Runs asked to be cancelled (absent when the pipeline was already inactive).
    pub runs_cancel_requested: Option<i64>,
    pub cancel_jobs: Option<Vec<i64>>,
    pub cancel_error: Option<String>,
}

/// `POST /api/pipelines/{id}/trigger`; an empty body is `{}`.
#[derive(ToSchema)]
pub struct TriggerRequest {
    /// A branch or tag; defaults to the first of the pipeline's trigger branches.
    #[schema(rename = "ref")]
    #[schema(example = "main")]
    pub git_ref: Option<String>,
    /// At most 25 inputs, each a string, a number or a boolean.
    #[schema(value_type = Object)]
    pub inputs: Option<Value>,
}

#[derive(ToSchema)]
pub struct TriggerQueued {
    pub success: bool,
    pub pipeline_id: String,
    #[schema(rename = "ref")]
    pub git_ref: String,
    /// The outbox job (`GET /api/integrations/github/jobs/{id}`).
    pub job_id: i64,
    /// queued
    pub status: String,
    pub message: String,
}

/// `POST /api/pipelines/{id}/rollback`; an empty body is `{}`.
#[derive(ToSchema)]
pub struct RollbackRequest {
    #[schema(example = "bad release")]
    pub reason: Option<String>,
}

#[derive(ToSchema)]
pub struct ExecutionSummary {
    pub id: i64,
    pub run_id: i64,
    pub run_attempt: i64,
    pub status: String,
    pub conclusion: Option<String>,
    pub branch: Option<String>,
    pub head_sha: Option<String>,
    pub html_url: Option<String>,
}

#[derive(ToSchema)]
pub struct RollbackQueued {
    pub success: bool,
    pub pipeline_id: String,
    pub job_id: i64,
    pub status: String,
    pub reason: String,
    /// The successful run re-run.
    pub previous_execution: ExecutionSummary,
    /// The run marked as rolled back, if a later one exists.
    pub rolled_back_execution: Option<ExecutionSummary>,
    pub message: String,
}

#[derive(ToSchema)]
pub struct Push {
    #[schema(rename = "ref")]
    pub git_ref: String,
    pub before: String,
    pub after: String,
    pub pusher: Option<String>,
    pub commits_count: i64,
    pub received_at: String,
}

#[derive(ToSchema)]
pub struct Pushes {
    pub success: bool,
    pub repository: String,
    /// Newest first.
    pub pushes: Vec<Push>,
}

/// `GET /api/pipelines/{id}/executions/{run_id}/{attempt}/jobs`.
#[derive(ToSchema)]
pub struct ExecutionJobs {
    pub success: bool,
    pub pipeline_id: String,
    pub execution: Execution,
    /// In start order.
    pub jobs: Vec<Job>,
    pub count: i64,
}
