//! The pipeline API's request descriptions and response bodies.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::app::pipeline_github::{BackfillStarted, RunCancels};
use crate::domain::clock::serde_secs;
use crate::domain::stats::Stats;
use crate::domain::status::PipelineStatus;
use crate::store::{Execution, Pipeline};

// A pipeline as the API shows it (the old registry's structure, plus timestamps), serialized
// straight from the stored row: a listing of a thousand pipelines builds no `Value` tree.
#[derive(Serialize, ToSchema)]
#[schema(as = Pipeline)]
pub struct PipelineView<'a> {
    #[schema(example = "pipe_3f9a0c1b2d4e", pattern = "^pipe_[0-9a-f]{12}$")]
    pub pipeline_id: &'a str,
    pub repository: &'a str,
    pub workflow_file: &'a str,
    /// active or inactive
    #[schema(value_type = String)]
    pub status: PipelineStatus,
    #[serde(with = "serde_secs")]
    #[schema(value_type = String, example = "2026-01-05T10:30:00Z")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "serde_secs")]
    #[schema(value_type = String)]
    pub updated_at: DateTime<Utc>,
    #[serde(with = "serde_secs::option")]
    #[schema(value_type = Option<String>)]
    pub deactivated_at: Option<DateTime<Utc>>,
    #[schema(value_type = Object)]
    pub config: &'a Value,
    pub vps_integration: VpsIntegration<'a>,
    /// Only in `GET /api/pipelines?include=stats`: the pipeline's stats, as
    /// `GET /api/pipelines/{id}/stats` gives them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<Stats>,
}

impl<'a> PipelineView<'a> {
    pub fn new(p: &'a Pipeline) -> Self {
        PipelineView {
            pipeline_id: &p.id,
            repository: &p.repository,
            workflow_file: &p.workflow_file,
            status: p.status,
            created_at: p.created_at,
            updated_at: p.updated_at,
            deactivated_at: p.deactivated_at,
            config: &p.config.0,
            vps_integration: VpsIntegration::new(p),
            stats: None,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct VpsIntegration<'a> {
    pub linked_domain: Option<&'a str>,
    pub linked_app: Option<&'a str>,
}

impl<'a> VpsIntegration<'a> {
    fn new(p: &'a Pipeline) -> Self {
        VpsIntegration { linked_domain: p.linked_domain.as_deref(), linked_app: p.linked_app.as_deref() }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Provisioned<'a> {
    pub success: bool,
    #[schema(pattern = "^pipe_[0-9a-f]{12}$")]
    pub pipeline_id: &'a str,
    #[schema(value_type = String)]
    pub status: PipelineStatus,
    #[serde(with = "serde_secs")]
    #[schema(value_type = String)]
    pub created_at: DateTime<Utc>,
    pub repository: &'a str,
    pub workflow_file: &'a str,
    /// The pipeline existed, inactive: same id, history kept.
    pub reactivated: bool,
    /// The same provision was made before (a retry after a lost answer): this is the active
    /// pipeline it made, unchanged.
    pub existing: bool,
    pub vps_integration: VpsIntegration<'a>,
    /// Checked with GitHub (false without a GitHub App).
    pub repository_verified: bool,
    /// Why the repository was not verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backfill: Option<BackfillStarted>,
}

impl<'a> Provisioned<'a> {
    /// `github`: the backfill started, or why the repository was not verified.
    pub fn new(
        p: &'a Pipeline,
        (reactivated, existing): (bool, bool),
        verified: bool,
        github: Result<BackfillStarted, &'static str>,
    ) -> Self {
        let (backfill, message) = match github {
            Ok(backfill) => (Some(backfill), None),
            Err(message) => (None, Some(message)),
        };
        Provisioned {
            success: true,
            pipeline_id: &p.id,
            status: p.status,
            created_at: p.created_at,
            repository: &p.repository,
            workflow_file: &p.workflow_file,
            reactivated,
            existing,
            vps_integration: VpsIntegration::new(p),
            repository_verified: verified,
            message,
            backfill,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PipelineList<'a> {
    pub success: bool,
    pub pipelines: Vec<PipelineView<'a>>,
    /// All pipelines matching the filters.
    pub count: i64,
    pub limit: i64,
    pub offset: i64,
    /// Pass as `after` to get the next page (keyset paging); null when this page is not full.
    pub next: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PipelineDetails<'a> {
    pub success: bool,
    pub pipeline: PipelineView<'a>,
    /// Each environment's latest deployment of the repository (`deployment` events).
    pub environments: Vec<crate::domain::deployments::Deployment>,
    /// Newest first.
    pub executions: Vec<ExecutionWithFailure>,
    pub executions_count: i64,
    pub limit: i64,
    pub offset: i64,
}

/// An execution, and for a failed one its first failed job and why (once its jobs are known).
#[derive(Serialize, ToSchema)]
pub struct ExecutionWithFailure {
    #[serde(flatten)]
    pub execution: Execution,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<crate::domain::job_logs::FailureReason>,
}

#[derive(Serialize, ToSchema)]
pub struct PipelineUpdated<'a> {
    pub success: bool,
    pub pipeline: PipelineView<'a>,
}

#[derive(Serialize, ToSchema)]
pub struct StatsResponse {
    pub success: bool,
    pub stats: Stats,
}

#[derive(Serialize, ToSchema)]
pub struct TornDown<'a> {
    pub success: bool,
    pub pipeline_id: &'a str,
    /// inactive
    #[schema(value_type = String)]
    pub status: PipelineStatus,
    pub already_inactive: bool,
    pub message: &'static str,
    /// Runs asked to be cancelled (absent when the pipeline was already inactive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runs_cancel_requested: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel_jobs: Option<Vec<i64>>,
    // Absent when the pipeline was already inactive, else null or why cancels are missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub cancel_error: Option<Option<String>>,
}

impl<'a> TornDown<'a> {
    pub fn already_inactive(pipeline_id: &'a str) -> Self {
        TornDown {
            success: true,
            pipeline_id,
            status: PipelineStatus::Inactive,
            already_inactive: true,
            message: "Pipeline already inactive, repository preserved",
            runs_cancel_requested: None,
            cancel_jobs: None,
            cancel_error: None,
        }
    }

    pub fn deactivated(pipeline_id: &'a str, cancels: RunCancels) -> Self {
        TornDown {
            success: true,
            pipeline_id,
            status: PipelineStatus::Inactive,
            already_inactive: false,
            message: "Pipeline deactivated, repository preserved",
            runs_cancel_requested: Some(cancels.requested),
            cancel_jobs: cancels.jobs,
            cancel_error: Some(cancels.error),
        }
    }
}
