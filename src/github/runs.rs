//! Workflow runs and jobs as the REST API returns them, turned into execution and job records.

use crate::domain::status::{Conclusion, RunStatus};
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::store::{ExecutionRecord, JobRecord};

fn time(run: &Value, key: &str) -> Option<DateTime<Utc>> {
    run.get(key)
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn text(run: &Value, key: &str) -> Option<String> {
    run.get(key).and_then(Value::as_str).map(str::to_string)
}

/// A workflow run object (`GET .../actions/runs/{id}`, the `workflow_runs` of a listing) as an
/// execution record; `None` when required fields are missing.
pub fn execution_from_run(fallback_repo: &str, run: &Value) -> Option<ExecutionRecord> {
    let run_id = run.get("id")?.as_i64()?;
    let created_at = time(run, "created_at")?;
    let updated_at = time(run, "updated_at").unwrap_or(created_at);
    let status = RunStatus::parse(&text(run, "status")?);
    let path = text(run, "path")?;
    // Reusable or dynamic workflows carry `@ref` after the path.
    let workflow_path = path.split('@').next().unwrap_or(&path).to_string();
    let completed_at = (status == RunStatus::Completed).then_some(updated_at);
    Some(ExecutionRecord {
        run_id,
        run_attempt: run.get("run_attempt").and_then(Value::as_i64).unwrap_or(1),
        repository: run.pointer("/repository/full_name").and_then(Value::as_str).unwrap_or(fallback_repo).to_string(),
        workflow_path,
        workflow_name: text(run, "name"),
        status,
        conclusion: text(run, "conclusion").as_deref().map(Conclusion::parse),
        branch: text(run, "head_branch"),
        head_sha: text(run, "head_sha"),
        event: text(run, "event"),
        run_number: run.get("run_number").and_then(Value::as_i64),
        actor: run.pointer("/actor/login").and_then(Value::as_str).map(str::to_string),
        html_url: text(run, "html_url"),
        created_at,
        started_at: time(run, "run_started_at").unwrap_or(created_at),
        updated_at,
        completed_at,
    })
}

/// A job object (`GET .../actions/runs/{id}/attempts/{n}/jobs`) as a job record; `None` when
/// required fields are missing.
pub fn job_from_rest(repo: &str, job: &Value) -> Option<JobRecord> {
    let status = RunStatus::parse(&text(job, "status")?);
    let completed_at = time(job, "completed_at");
    let started_at = time(job, "started_at");
    Some(JobRecord {
        job_id: job.get("id")?.as_i64()?,
        run_id: job.get("run_id")?.as_i64()?,
        run_attempt: job.get("run_attempt").and_then(Value::as_i64).unwrap_or(1),
        repository: repo.to_string(),
        name: text(job, "name")?,
        conclusion: (status == RunStatus::Completed)
            .then(|| text(job, "conclusion").as_deref().map(Conclusion::parse))
            .flatten(),
        status,
        runner_name: text(job, "runner_name").filter(|r| !r.is_empty()),
        html_url: text(job, "html_url"),
        started_at,
        completed_at,
        updated_at: completed_at
            .or(started_at)
            .or_else(|| time(job, "created_at"))
            .unwrap_or_else(crate::domain::clock::now),
        steps: job.get("steps").cloned().filter(Value::is_array).unwrap_or_else(|| Value::Array(vec![])),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_rest_run() {
        let run = json!({
            "id": 30433642, "run_attempt": 2, "run_number": 562, "name": "Deploy",
            "path": ".github/workflows/deploy.yml@refs/heads/main", "status": "completed",
            "conclusion": "success", "head_branch": "main", "head_sha": "acb5820ced9479c074f688cc328bf03f341a511d",
            "event": "push", "actor": {"login": "octocat"}, "html_url": "https://github.com/o/r/actions/runs/30433642",
            "created_at": "2026-01-05T10:00:00Z", "run_started_at": "2026-01-05T10:01:00Z",
            "updated_at": "2026-01-05T10:04:12Z", "repository": {"full_name": "Octo/Repo"}
        });
        let record = execution_from_run("o/r", &run).unwrap();
        assert_eq!(record.repository, "Octo/Repo");
        assert_eq!(record.workflow_path, ".github/workflows/deploy.yml");
        assert_eq!(record.run_attempt, 2);
        assert_eq!(record.duration_seconds(), Some(192));
        assert!(execution_from_run("o/r", &json!({"id": 1})).is_none());
    }

    #[test]
    fn reads_a_rest_job() {
        let job = json!({
            "id": 399444496, "run_id": 29679449, "run_attempt": 1, "name": "build", "status": "completed",
            "conclusion": "failure", "runner_name": "", "html_url": "https://github.com/o/r/runs/399444496",
            "created_at": "2026-01-05T10:00:00Z", "started_at": "2026-01-05T10:00:10Z",
            "completed_at": "2026-01-05T10:01:00Z",
            "steps": [{"name": "Run tests", "status": "completed", "conclusion": "failure", "number": 1}]
        });
        let record = job_from_rest("o/r", &job).unwrap();
        assert_eq!((record.job_id, record.run_id, record.name.as_str()), (399444496, 29679449, "build"));
        assert_eq!(record.conclusion, Some(Conclusion::Failure));
        assert_eq!(record.runner_name, None, "an empty runner name is none");
        assert_eq!(record.updated_at, record.completed_at.unwrap());
        assert_eq!(record.steps.as_array().unwrap().len(), 1);
        assert!(job_from_rest("o/r", &json!({"id": 1})).is_none());
    }
}
