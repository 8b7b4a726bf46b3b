//! `ccm pipelines logs`: a run's jobs, why the failed ones failed, and the end of each log
//! (`GET /api/pipelines/{id}/logs`).

use clap::Args;
use serde_json::Value;

use super::client::{Client, segment, with_query};
use super::emit;
use super::error::CliError;
use super::table::text;

#[derive(Debug, Args)]
pub struct LogsArgs {
    pub id: String,
    /// A run (GitHub's run id) [default: the latest].
    #[arg(long = "run")]
    pub run_id: Option<i64>,
    /// The run's attempt [default: 1].
    #[arg(long, requires = "run_id")]
    pub attempt: Option<i64>,
    /// Only this job (its id or name).
    #[arg(long)]
    pub job: Option<String>,
    /// Lines of each log's end to show.
    #[arg(long, default_value_t = 20)]
    pub tail: u32,
}

pub async fn run(client: &Client, json_mode: bool, args: LogsArgs) -> Result<(), CliError> {
    let path = with_query(
        &format!("/api/pipelines/{}/logs", segment(&args.id)),
        &[
            ("run_id", args.run_id.map(|r| r.to_string())),
            ("attempt", args.attempt.map(|a| a.to_string())),
            ("job", args.job),
            ("tail", Some(args.tail.max(1).to_string())),
        ],
    );
    emit(json_mode, &client.get(&path).await?, render);
    Ok(())
}

fn render(answer: &Value) -> String {
    let run = &answer["execution"];
    let mut out = format!(
        "Run {} attempt {} ({}), {}\n",
        text(&run["run_id"]),
        text(&run["run_attempt"]),
        text(&run["branch"]),
        if run["conclusion"].is_null() { text(&run["status"]) } else { text(&run["conclusion"]) }
    );
    for job in answer["jobs"].as_array().into_iter().flatten() {
        let outcome = if job["conclusion"].is_null() { text(&job["status"]) } else { text(&job["conclusion"]) };
        out.push_str(&format!("\n== {} ({outcome})\n", text(&job["name"])));
        if !job["failed_step"].is_null() {
            out.push_str(&format!("failed step: {}\n", text(&job["failed_step"])));
        }
        if let Some(message) = job["error_message"].as_str() {
            out.push_str(&format!("error: {}\n", message.replace('\n', "\n       ")));
        }
        match job["log_tail"].as_str() {
            Some(tail) => {
                if job["log"]["truncated"] == true {
                    out.push_str("(the log was longer than CCM_JOB_LOG_MAX_MB: its beginning is not kept)\n");
                }
                out.push_str(tail);
                if !tail.ends_with('\n') {
                    out.push('\n');
                }
            }
            None => out.push_str(&format!("{}\n", text(&job["log_missing"]))),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_failed_job_shows_its_reason_and_its_log_end() {
        let answer = json!({
            "execution": {"run_id": 7, "run_attempt": 1, "branch": "main", "status": "completed", "conclusion": "failure"},
            "jobs": [
                {"name": "test", "status": "completed", "conclusion": "failure", "failed_step": "Run tests",
                 "error_message": "boom\nat line 3", "log": {"truncated": true}, "log_tail": "last line\n"},
                {"name": "docs", "status": "completed", "conclusion": "success", "failed_step": null,
                 "error_message": null, "log": null, "log_tail": null, "log_missing": "No log of job 9: expired on GitHub"},
            ]
        });
        assert_eq!(
            render(&answer),
            "Run 7 attempt 1 (main), failure\n\n== test (failure)\nfailed step: Run tests\nerror: boom\n       at line 3\n\
             (the log was longer than CCM_JOB_LOG_MAX_MB: its beginning is not kept)\nlast line\n\n\
             == docs (success)\nNo log of job 9: expired on GitHub\n"
        );
    }
}
