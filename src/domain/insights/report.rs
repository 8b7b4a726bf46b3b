//! A pipeline's report: its parts assembled from what the store read.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::dora::{EnvironmentDora, dora};
use super::performance::{Performance, long_queues, performance};
use super::quality::{Quality, quality};
use super::recommendations::{LONG_QUEUE_SECONDS, Recommendation, recommendations};
use super::samples::{JobSample, RunSample};
use super::window::Window;
use crate::domain::clock::serde_secs;
use crate::domain::deployments::{Deployment, DeploymentStatus, FirstCommit};
use crate::domain::pipeline::Pipeline;

/// What a report is computed from.
#[derive(Debug, Clone, Default)]
pub struct ReportInputs {
    /// The pipeline's run attempts created since `Window::read_from`.
    pub runs: Vec<RunSample>,
    /// Their jobs.
    pub jobs: Vec<JobSample>,
    /// The pipeline's deployments created in the window, and some before it (what a rollback
    /// returns to).
    pub deployments: Vec<Deployment>,
    /// Their statuses.
    pub statuses: Vec<DeploymentStatus>,
    /// The first commits of the pushes whose heads they deployed.
    pub first_commits: Vec<FirstCommit>,
}

/// Deployments per environment.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DeploymentReport {
    /// Environments with deployments created in the report's days, by name.
    pub environments: Vec<EnvironmentDora>,
}

/// `GET /api/pipelines/{id}/report`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PipelineReport {
    pub success: bool,
    pub pipeline_id: String,
    pub repository: String,
    pub workflow_file: String,
    pub days: u32,
    /// The first UTC day of the report.
    #[schema(value_type = String, format = Date, example = "2026-03-01")]
    pub from: NaiveDate,
    /// The last: today (UTC).
    #[schema(value_type = String, format = Date, example = "2026-03-14")]
    pub to: NaiveDate,
    #[serde(with = "serde_secs")]
    #[schema(value_type = String)]
    pub generated_at: DateTime<Utc>,
    pub performance: Performance,
    pub quality: Quality,
    pub deployment: DeploymentReport,
    /// The largest estimated gain first.
    pub recommendations: Vec<Recommendation>,
}

/// The report of `pipeline` over `window`, at `now`.
pub fn build_report(pipeline: &Pipeline, window: &Window, now: DateTime<Utc>, inputs: &ReportInputs) -> PipelineReport {
    let in_window: Vec<&RunSample> = inputs.runs.iter().filter(|r| window.contains(r.created_at)).collect();
    let performance = performance(window, &inputs.runs, &inputs.jobs);
    let quality = quality(&in_window, &inputs.jobs);
    let long = long_queues(&inputs.runs, &inputs.jobs, window, LONG_QUEUE_SECONDS);
    let recommendations = recommendations(window, &performance, &quality, &long);
    PipelineReport {
        success: true,
        pipeline_id: pipeline.id.clone(),
        repository: pipeline.repository.clone(),
        workflow_file: pipeline.workflow_file.clone(),
        days: window.days,
        from: window.first_day,
        to: window.last_day,
        generated_at: now,
        deployment: DeploymentReport {
            environments: dora(window, &inputs.deployments, &inputs.statuses, &inputs.runs, &inputs.first_commits),
        },
        performance,
        quality,
        recommendations,
    }
}
