//! The overview across pipelines (`GET /api/insights`): pipelines ranked by failures and the
//! minutes lost to them and to re-runs, and the flakiest jobs across pipelines. Computed from
//! rows grouped by repository, workflow file and branch (one statement per table), matched to
//! each active pipeline's scope here. It counts the run attempts *started* in its days (read from
//! the runs' index alone, across every pipeline), where a report counts the runs created in them:
//! the two differ only by re-runs of runs created before the period.

use std::collections::HashMap;

use serde::Serialize;
use utoipa::ToSchema;

use super::figures::{minutes, percent};
use super::quality::{CommitOutcomes, FlakyJob, flaky_jobs};
use crate::domain::pipeline::Pipeline;

/// How many flaky jobs the overview lists.
pub const FLAKIEST_JOBS: usize = 10;

/// Where grouped rows come from: a repository (lowercase), a workflow file and a branch.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RunGroup {
    pub repo_key: String,
    pub workflow_path: String,
    pub branch: Option<String>,
}

/// The completed attempts (skipped ones left out) of one group started in the overview's days.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupFigures {
    pub runs: i64,
    pub failures: i64,
    /// The seconds failed runs ran.
    pub failed_seconds: i64,
    /// Attempts after the first.
    pub reruns: i64,
    pub rerun_seconds: i64,
}

/// One job on one commit of a group, where it both failed and passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupOutcomes {
    pub group: RunGroup,
    pub outcomes: CommitOutcomes,
}

/// A pipeline's figures in the overview.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PipelineInsight {
    pub pipeline_id: String,
    pub repository: String,
    pub workflow_file: String,
    pub runs: i64,
    pub failures: i64,
    /// Percent, one decimal.
    pub failure_rate: Option<f64>,
    /// Minutes failed runs ran (one decimal).
    pub minutes_lost_to_failures: f64,
    /// Attempts after the first, and the minutes they ran.
    pub reruns: i64,
    pub minutes_in_reruns: f64,
    /// The pipeline's health score now (as its stats say).
    pub health_score: u8,
}

/// A flaky job and its pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PipelineFlakyJob {
    pub pipeline_id: String,
    pub repository: String,
    #[serde(flatten)]
    pub job: FlakyJob,
}

/// `GET /api/insights`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Overview {
    pub success: bool,
    pub days: u32,
    #[schema(value_type = String, format = Date, example = "2026-03-08")]
    pub from: chrono::NaiveDate,
    #[schema(value_type = String, format = Date, example = "2026-03-14")]
    pub to: chrono::NaiveDate,
    #[serde(with = "crate::domain::clock::serde_secs")]
    #[schema(value_type = String)]
    pub generated_at: chrono::DateTime<chrono::Utc>,
    /// Active pipelines with completed runs in these days.
    pub pipelines_with_runs: i64,
    /// The first `limit` of them: most failures first, then most minutes lost to failures, then
    /// most re-runs.
    pub pipelines: Vec<PipelineInsight>,
    /// Across active pipelines, most flaky commits first (at most 10).
    pub flakiest_jobs: Vec<PipelineFlakyJob>,
}

/// Each pipeline's figures summed over the groups its scope covers, for pipelines with runs in the
/// days: most failures first, then most minutes lost, then most re-runs (by id at a tie). Health
/// scores are 100 here; the caller reads them for the pipelines it keeps.
pub fn rank(pipelines: &[Pipeline], groups: &HashMap<RunGroup, GroupFigures>) -> Vec<PipelineInsight> {
    let by_workflow = by_workflow(groups.iter());
    let mut ranked: Vec<PipelineInsight> = pipelines
        .iter()
        .filter_map(|p| {
            let scope = p.execution_scope();
            let mut total = GroupFigures::default();
            for (g, f) in of_pipeline(&by_workflow, p) {
                if scope.covers(&g.repo_key, &g.workflow_path, g.branch.as_deref()) {
                    total.runs += f.runs;
                    total.failures += f.failures;
                    total.failed_seconds += f.failed_seconds;
                    total.reruns += f.reruns;
                    total.rerun_seconds += f.rerun_seconds;
                }
            }
            (total.runs > 0).then(|| PipelineInsight {
                pipeline_id: p.id.clone(),
                repository: p.repository.clone(),
                workflow_file: p.workflow_file.clone(),
                runs: total.runs,
                failures: total.failures,
                failure_rate: percent(total.failures, total.runs),
                minutes_lost_to_failures: minutes(total.failed_seconds),
                reruns: total.reruns,
                minutes_in_reruns: minutes(total.rerun_seconds),
                health_score: 100,
            })
        })
        .collect();
    ranked.sort_by(|a, b| {
        b.failures
            .cmp(&a.failures)
            .then(b.minutes_lost_to_failures.total_cmp(&a.minutes_lost_to_failures))
            .then(b.reruns.cmp(&a.reruns))
            .then(a.pipeline_id.cmp(&b.pipeline_id))
    });
    ranked
}

/// The flakiest jobs across pipelines (at most 10): per pipeline and job, the commits on which it
/// both failed and passed; most such commits first, then most minutes lost.
pub fn flakiest_jobs(pipelines: &[Pipeline], outcomes: &[GroupOutcomes]) -> Vec<PipelineFlakyJob> {
    let by_workflow = by_workflow(outcomes.iter().map(|o| (&o.group, &o.outcomes)));
    let mut all: Vec<PipelineFlakyJob> = pipelines
        .iter()
        .flat_map(|p| {
            let scope = p.execution_scope();
            let mine = of_pipeline(&by_workflow, p)
                .iter()
                .filter(|(g, _)| scope.covers(&g.repo_key, &g.workflow_path, g.branch.as_deref()))
                .map(|(_, o)| *o);
            flaky_jobs(mine).into_iter().map(move |job| PipelineFlakyJob {
                pipeline_id: p.id.clone(),
                repository: p.repository.clone(),
                job,
            })
        })
        .collect();
    all.sort_by(|a, b| {
        b.job
            .flaky_commits
            .cmp(&a.job.flaky_commits)
            .then(b.job.minutes_lost.total_cmp(&a.job.minutes_lost))
            .then(a.pipeline_id.cmp(&b.pipeline_id))
            .then(a.job.name.cmp(&b.job.name))
    });
    all.truncate(FLAKIEST_JOBS);
    all
}

/// Rows by repository (lowercase) and workflow file, so that each pipeline finds its own without
/// reading every other's (10,000 pipelines by 60,000 groups would be 600 million comparisons).
pub type ByWorkflow<'a, T> = HashMap<(String, String), Vec<(&'a RunGroup, &'a T)>>;

pub fn by_workflow<'a, T>(rows: impl Iterator<Item = (&'a RunGroup, &'a T)>) -> ByWorkflow<'a, T> {
    let mut map: ByWorkflow<'a, T> = HashMap::new();
    for (group, row) in rows {
        map.entry((group.repo_key.clone(), group.workflow_path.clone())).or_default().push((group, row));
    }
    map
}

/// The rows of `pipeline`'s repository and workflow file (its branches still to be checked).
pub fn of_pipeline<'m, 'a, T>(map: &'m ByWorkflow<'a, T>, pipeline: &Pipeline) -> &'m [(&'a RunGroup, &'a T)] {
    let key = (pipeline.repository.to_lowercase(), pipeline.workflow_file.clone());
    map.get(&key).map_or(&[], Vec::as_slice)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::status::PipelineStatus;

    fn pipeline(id: &str, repository: &str, branches: &[&str]) -> Pipeline {
        let at = chrono::Utc::now();
        Pipeline {
            id: id.into(),
            repository: repository.into(),
            workflow_file: ".github/workflows/ci.yml".into(),
            status: PipelineStatus::Active,
            config: sqlx::types::Json(serde_json::json!({"trigger_branches": branches})),
            linked_domain: None,
            linked_app: None,
            version: 0,
            created_at: at,
            updated_at: at,
            deactivated_at: None,
        }
    }

    fn group(repo: &str, branch: &str) -> RunGroup {
        RunGroup {
            repo_key: repo.into(),
            workflow_path: ".github/workflows/ci.yml".into(),
            branch: Some(branch.into()),
        }
    }

    #[test]
    fn pipelines_rank_by_failures_over_the_groups_they_cover() {
        let pipelines = [
            pipeline("pipe_a", "Octo/A", &[]),
            pipeline("pipe_b", "Octo/B", &["main"]),
            pipeline("pipe_c", "Octo/C", &[]),
        ];
        let groups: HashMap<RunGroup, GroupFigures> = [
            (
                group("octo/a", "main"),
                GroupFigures { runs: 4, failures: 1, failed_seconds: 120, reruns: 1, rerun_seconds: 60 },
            ),
            (
                group("octo/a", "dev"),
                GroupFigures { runs: 2, failures: 1, failed_seconds: 60, reruns: 0, rerun_seconds: 0 },
            ),
            (
                group("octo/b", "main"),
                GroupFigures { runs: 5, failures: 3, failed_seconds: 30, reruns: 2, rerun_seconds: 90 },
            ),
            // pipe_b follows main only.
            (
                group("octo/b", "dev"),
                GroupFigures { runs: 9, failures: 9, failed_seconds: 900, reruns: 0, rerun_seconds: 0 },
            ),
        ]
        .into_iter()
        .collect();
        let ranked = rank(&pipelines, &groups);
        let figures: Vec<(&str, i64, i64, f64, f64)> = ranked
            .iter()
            .map(|p| (p.pipeline_id.as_str(), p.runs, p.failures, p.minutes_lost_to_failures, p.minutes_in_reruns))
            .collect();
        assert_eq!(figures, [("pipe_b", 5, 3, 0.5, 1.5), ("pipe_a", 6, 2, 3.0, 1.0)], "pipe_c has no runs");
        assert_eq!(ranked[0].failure_rate, Some(60.0));
    }

    #[test]
    fn the_flakiest_jobs_name_their_pipeline() {
        let pipelines = [pipeline("pipe_a", "Octo/A", &[]), pipeline("pipe_b", "Octo/B", &[])];
        let outcome = |repo: &str, job: &str, seconds| GroupOutcomes {
            group: group(repo, "main"),
            outcomes: CommitOutcomes { job: job.into(), passed: 1, failed: 1, failed_seconds: seconds },
        };
        let list = [outcome("octo/a", "e2e", 60), outcome("octo/a", "e2e", 60), outcome("octo/b", "unit", 600)];
        let flaky = flakiest_jobs(&pipelines, &list);
        let names: Vec<(&str, &str, i64)> =
            flaky.iter().map(|f| (f.pipeline_id.as_str(), f.job.name.as_str(), f.job.flaky_commits)).collect();
        assert_eq!(names, [("pipe_a", "e2e", 2), ("pipe_b", "unit", 1)]);
    }
}
