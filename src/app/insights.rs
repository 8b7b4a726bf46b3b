//! Reports and the overview (issue 19): the store's few reads, handed to the pure calculations
//! of `domain::insights`.

use chrono::{DateTime, Utc};

use crate::domain::insights::overview::{self, Overview};
use crate::domain::insights::{PipelineReport, ReportInputs, Window, build_report};
use crate::domain::pipeline::Pipeline;
use crate::store::{Store, StoreResult};

/// `pipeline`'s report over the `days` UTC days ending on the day of `now`.
pub async fn pipeline_report(
    store: &dyn Store,
    pipeline: &Pipeline,
    days: u32,
    now: DateTime<Utc>,
) -> StoreResult<PipelineReport> {
    let window = Window::ending_at(now, days);
    let scope = pipeline.execution_scope();
    let from = window.read_from();
    let (runs, jobs, history) = tokio::try_join!(
        store.report_runs(&scope, from),
        store.report_jobs(&scope, from),
        store.report_deployments(&pipeline.repository, &pipeline.workflow_file, window.start()),
    )?;
    let inputs = ReportInputs {
        runs,
        jobs,
        deployments: history.deployments,
        statuses: history.statuses,
        first_commits: history.first_commits,
    };
    Ok(build_report(pipeline, &window, now, &inputs))
}

/// The overview of the active pipelines over the `days` UTC days ending on the day of `now`: the
/// first `limit` pipelines ranked, with their health scores, and the flakiest jobs.
pub async fn overview(store: &dyn Store, days: u32, limit: usize, now: DateTime<Utc>) -> StoreResult<Overview> {
    let window = Window::ending_at(now, days);
    let from = window.start();
    let (pipelines, groups, outcomes) =
        tokio::try_join!(store.active_pipelines(), store.run_groups(from), store.flaky_outcomes(from))?;
    let ranked = overview::rank(&pipelines, &groups);
    let pipelines_with_runs = ranked.len() as i64;
    let mut listed: Vec<_> = ranked.into_iter().take(limit).collect();
    // The health scores of the listed pipelines only, read together.
    let scopes: Vec<_> = listed
        .iter()
        .filter_map(|insight| pipelines.iter().find(|p| p.id == insight.pipeline_id))
        .map(Pipeline::execution_scope)
        .collect();
    let snapshots = store.stats_snapshots(&scopes, now).await?;
    for (insight, snapshot) in listed.iter_mut().zip(&snapshots) {
        insight.health_score = crate::domain::stats::health_score(snapshot);
    }
    Ok(Overview {
        success: true,
        days,
        from: window.first_day,
        to: window.last_day,
        generated_at: now,
        pipelines_with_runs,
        pipelines: listed,
        flakiest_jobs: overview::flakiest_jobs(&pipelines, &outcomes),
    })
}
