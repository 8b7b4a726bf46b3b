//! Per-pipeline metrics (issue 19, opt-in with CCM_METRICS_PIPELINES=true): for each active
//! pipeline its health score, 24-hour success ratio, completed runs by conclusion over 24 hours,
//! last run's duration, and its workflow's deployments by environment and state. Labelled
//! `pipeline`, `repository`, `workflow`; only active pipelines, so the series are bounded by
//! them, and a pipeline torn down leaves the exposition at the next read (the text is rendered
//! here, not kept in the registry, which never forgets a series).
//!
//! Read with four statements per refresh (active pipelines, their stats together, runs by
//! conclusion, deployments by state), at most every `interval`: scrapes in between serve the
//! same text.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::domain::insights::overview::{by_workflow, of_pipeline};
use crate::domain::pipeline::Pipeline;
use crate::domain::stats::{StatsSnapshot, health_score};
use crate::domain::status::RunStatus;
use crate::store::{ConclusionCount, DeploymentCount, Store, StoreResult};

/// The last text read, and when.
pub struct PipelineGauges {
    interval: Duration,
    last: tokio::sync::Mutex<Option<(Instant, String)>>,
}

impl PipelineGauges {
    pub fn new(interval: Duration) -> Self {
        PipelineGauges { interval, last: tokio::sync::Mutex::new(None) }
    }

    /// The exposition text of the per-pipeline metrics, read again when the last is older than
    /// the interval. A database that does not answer leaves the last text (logged).
    pub async fn text(&self, store: &dyn Store) -> String {
        let mut last = self.last.lock().await;
        if last.as_ref().is_none_or(|(at, _)| at.elapsed() >= self.interval) {
            match read(store, crate::domain::clock::now()).await {
                Ok(text) => *last = Some((Instant::now(), text)),
                Err(err) => tracing::warn!(error = %err, "metrics: the per-pipeline figures could not be read"),
            }
        }
        last.as_ref().map(|(_, text)| text.clone()).unwrap_or_default()
    }
}

async fn read(store: &dyn Store, now: DateTime<Utc>) -> StoreResult<String> {
    let pipelines = store.active_pipelines().await?;
    let scopes: Vec<_> = pipelines.iter().map(Pipeline::execution_scope).collect();
    let snapshots = store.stats_snapshots(&scopes, now).await?;
    let conclusions = store.runs_by_conclusion(now - chrono::Duration::hours(24)).await?;
    let deployments = store.deployments_by_state().await?;
    Ok(render(&pipelines, &snapshots, &conclusions, &deployments))
}

/// A label value as Prometheus' text format quotes it.
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn header(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
}

/// The exposition text: `snapshots` are the `pipelines`' stats, in order.
pub fn render(
    pipelines: &[Pipeline],
    snapshots: &[StatsSnapshot],
    conclusions: &[ConclusionCount],
    deployments: &[DeploymentCount],
) -> String {
    let labels: Vec<String> = pipelines
        .iter()
        .map(|p| {
            format!(
                "pipeline=\"{}\",repository=\"{}\",workflow=\"{}\"",
                label(&p.id),
                label(&p.repository),
                label(&p.workflow_file)
            )
        })
        .collect();
    let mut out = String::new();
    header(&mut out, "ccm_pipeline_health_score", "The pipeline's health score (0 to 100), as its stats say");
    for (l, s) in labels.iter().zip(snapshots) {
        let _ = writeln!(out, "ccm_pipeline_health_score{{{l}}} {}", health_score(s));
    }
    header(
        &mut out,
        "ccm_pipeline_success_ratio_24h",
        "Completed runs of the last 24 hours that succeeded (0 to 1); absent without runs",
    );
    for (l, s) in labels.iter().zip(snapshots).filter(|(_, s)| s.runs_24h > 0) {
        let _ = writeln!(out, "ccm_pipeline_success_ratio_24h{{{l}}} {}", s.successes_24h as f64 / s.runs_24h as f64);
    }
    header(&mut out, "ccm_pipeline_runs_completed_24h", "Runs completed in the last 24 hours, by conclusion");
    let by_workflow = by_workflow(conclusions.iter().map(|c| (&c.group, c)));
    for (p, l) in pipelines.iter().zip(&labels) {
        let scope = p.execution_scope();
        let mut by_conclusion: BTreeMap<&str, i64> = BTreeMap::new();
        for (g, c) in of_pipeline(&by_workflow, p) {
            if scope.covers(&g.repo_key, &g.workflow_path, g.branch.as_deref()) {
                *by_conclusion.entry(c.conclusion.as_str()).or_default() += c.runs;
            }
        }
        for (conclusion, runs) in by_conclusion {
            let _ = writeln!(out, "ccm_pipeline_runs_completed_24h{{{l},conclusion=\"{}\"}} {runs}", label(conclusion));
        }
    }
    header(
        &mut out,
        "ccm_pipeline_last_run_duration_seconds",
        "The duration of the pipeline's latest run, once completed",
    );
    for (l, s) in labels.iter().zip(snapshots) {
        let last = s.last_run.as_ref().filter(|r| r.status == RunStatus::Completed);
        if let Some(seconds) = last.and_then(|r| r.duration_seconds) {
            let _ = writeln!(out, "ccm_pipeline_last_run_duration_seconds{{{l}}} {seconds}");
        }
    }
    header(
        &mut out,
        "ccm_pipeline_deployments",
        "The deployments of the pipeline's workflow (or of its repository, made by no other workflow), by environment and latest state (unknown before a status)",
    );
    let mut by_repository: HashMap<&str, Vec<&DeploymentCount>> = HashMap::new();
    for d in deployments {
        by_repository.entry(d.repo_key.as_str()).or_default().push(d);
    }
    for (p, l) in pipelines.iter().zip(&labels) {
        let repo_key = p.repository.to_lowercase();
        // The repository's deployments this pipeline's workflow made or no other one did.
        let mut counts: BTreeMap<(&str, &str), i64> = BTreeMap::new();
        for d in by_repository.get(repo_key.as_str()).into_iter().flatten() {
            if d.workflow_path.as_ref().is_some_and(|w| *w != p.workflow_file) {
                continue;
            }
            let state = d.state.as_ref().map_or("unknown", |s| s.as_str());
            *counts.entry((d.environment.as_str(), state)).or_default() += d.deployments;
        }
        for ((environment, state), n) in counts {
            let _ = writeln!(
                out,
                "ccm_pipeline_deployments{{{l},environment=\"{}\",state=\"{}\"}} {n}",
                label(environment),
                label(state),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::insights::overview::RunGroup;
    use crate::domain::status::{Conclusion, DeploymentState, PipelineStatus};

    #[test]
    fn one_series_per_active_pipeline_and_label() {
        let at = Utc::now();
        let pipeline = Pipeline {
            id: "pipe_0123456789ab".into(),
            repository: "Octo/App".into(),
            workflow_file: ".github/workflows/ci.yml".into(),
            status: PipelineStatus::Active,
            config: sqlx::types::Json(serde_json::json!({})),
            linked_domain: None,
            linked_app: None,
            version: 0,
            created_at: at,
            updated_at: at,
            deactivated_at: None,
        };
        let snapshot = StatsSnapshot { runs_24h: 4, successes_24h: 3, ..Default::default() };
        let group = RunGroup {
            repo_key: "octo/app".into(),
            workflow_path: ".github/workflows/ci.yml".into(),
            branch: Some("main".into()),
        };
        let conclusions = [
            ConclusionCount { group: group.clone(), conclusion: Conclusion::Success, runs: 3 },
            ConclusionCount { group, conclusion: Conclusion::Failure, runs: 1 },
        ];
        let count = |workflow: Option<&str>, deployments| DeploymentCount {
            repo_key: "octo/app".into(),
            workflow_path: workflow.map(String::from),
            environment: "prod \"eu\"".into(),
            state: Some(DeploymentState::Success),
            deployments,
        };
        // Made by its workflow, by none known, and by another workflow (not its own).
        let deployments =
            [count(Some(".github/workflows/ci.yml"), 1), count(None, 1), count(Some(".github/workflows/pages.yml"), 5)];
        let text = render(&[pipeline], &[snapshot], &conclusions, &deployments);
        let l = "pipeline=\"pipe_0123456789ab\",repository=\"Octo/App\",workflow=\".github/workflows/ci.yml\"";
        assert!(text.contains(&format!("ccm_pipeline_health_score{{{l}}} 85\n")), "{text}");
        assert!(text.contains(&format!("ccm_pipeline_success_ratio_24h{{{l}}} 0.75\n")), "{text}");
        assert!(text.contains(&format!("ccm_pipeline_runs_completed_24h{{{l},conclusion=\"failure\"}} 1\n")), "{text}");
        assert!(
            text.contains(&format!(
                "ccm_pipeline_deployments{{{l},environment=\"prod \\\"eu\\\"\",state=\"success\"}} 2\n"
            )),
            "{text}"
        );
        assert!(!text.contains("ccm_pipeline_last_run_duration_seconds{"), "no run: no duration");
    }
}
