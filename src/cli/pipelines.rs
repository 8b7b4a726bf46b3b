//! `ccm pipelines ...`: the pipeline API from the command line.

use crate::domain::status::PipelineStatus;
use clap::{ArgGroup, Args, Subcommand};
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::client::{Client, ClientArgs, segment, with_query};
use super::confirm;
use super::error::CliError;
use super::table::{Table, duration_of, fields, run_state, text, workflow_name};
use super::{emit, json_object};

#[derive(Debug, Args)]
pub struct PipelinesArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: PipelinesCommand,
}

#[derive(Debug, Subcommand)]
pub enum PipelinesCommand {
    /// List pipelines, newest first.
    List {
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(PipelineStatus::texts()))]
        status: Option<String>,
        /// Only this repository (owner/name).
        #[arg(long)]
        repository: Option<String>,
        /// At most this many (1-1000) [server default: 1000].
        #[arg(long)]
        limit: Option<i64>,
        #[arg(long)]
        offset: Option<i64>,
    },
    /// A pipeline's config, VPS link and latest runs.
    Show {
        id: String,
        /// How many runs to show.
        #[arg(long, default_value_t = 10)]
        runs: i64,
    },
    /// A pipeline's stats and health score.
    Stats { id: String },
    /// A pipeline's report: runs per day and their trend, slowest and flaky jobs, failing steps,
    /// deployments (DORA) and recommendations.
    Report {
        id: String,
        /// UTC days ending today (1-90) [server default: 14].
        #[arg(long)]
        days: Option<i64>,
    },
    /// Provision a pipeline (or reactivate a torn-down one).
    Provision(ProvisionArgs),
    /// Change a pipeline's config (a merge patch), trigger branches or VPS link.
    Update(UpdateArgs),
    /// Deactivate a pipeline; its repository is never deleted. Asks first on a terminal; a script
    /// (no terminal) must pass --yes, or nothing is done.
    Teardown {
        id: String,
        /// Confirm ahead: do not ask (needed without a terminal).
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Start the pipeline's workflow (workflow_dispatch; needs the GitHub App).
    Trigger {
        id: String,
        /// The branch or tag [default: the first trigger branch].
        #[arg(long = "ref")]
        git_ref: Option<String>,
        /// A workflow input, NAME=VALUE (repeat for several).
        #[arg(long = "input", value_parser = name_value)]
        inputs: Vec<(String, String)>,
    },
    /// Re-run the last successful run (needs the GitHub App).
    Rollback {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Cancel a run that has not completed (needs the GitHub App).
    Cancel {
        id: String,
        /// GitHub's run id (the pipeline's `executions`).
        run_id: i64,
        #[arg(long, default_value_t = 1)]
        attempt: i64,
    },
    /// Re-run a completed run, or with --failed-jobs only its failed jobs (needs the GitHub App).
    Rerun {
        id: String,
        run_id: i64,
        #[arg(long, default_value_t = 1)]
        attempt: i64,
        /// Only the failed (and cancelled) jobs and the jobs that depend on them.
        #[arg(long)]
        failed_jobs: bool,
    },
    /// A run's jobs (the latest run's by default), why the failed ones failed, and the end of
    /// each log (needs the GitHub App to have fetched them).
    Logs(super::logs::LogsArgs),
    /// A live dashboard of the pipelines (or of one), redrawn as events arrive. Ctrl-C quits.
    Watch(super::watch::WatchArgs),
}

#[derive(Debug, Args)]
pub struct ProvisionArgs {
    /// The repository, owner/name.
    #[arg(long, alias = "repository")]
    repo: String,
    /// The workflow file, .github/workflows/<file>.yml
    #[arg(long, alias = "workflow")]
    workflow_file: String,
    /// A branch whose runs count for the pipeline (repeat for several): config.trigger_branches.
    #[arg(long = "branch")]
    branches: Vec<String>,
    /// config.environment, e.g. production.
    #[arg(long)]
    environment: Option<String>,
    /// The VPS domain the pipeline deploys (linked_domain).
    #[arg(long = "domain", alias = "linked-domain")]
    linked_domain: Option<String>,
    /// The VPS app the pipeline deploys (linked_app).
    #[arg(long = "app", alias = "linked-app")]
    linked_app: Option<String>,
    /// The whole config as a JSON object; --branch and --environment are set on top of it.
    #[arg(long, value_parser = json_object)]
    config: Option<Map<String, Value>>,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("change").required(true).multiple(true)
    .args(["branches", "environment", "linked_domain", "clear_domain", "linked_app", "clear_app", "config"])))]
pub struct UpdateArgs {
    id: String,
    /// Replace the trigger branches (repeat for several).
    #[arg(long = "branch")]
    branches: Vec<String>,
    /// Set config.environment.
    #[arg(long)]
    environment: Option<String>,
    /// Link the pipeline to this VPS domain.
    #[arg(long = "domain", alias = "linked-domain", conflicts_with = "clear_domain")]
    linked_domain: Option<String>,
    /// Remove the linked domain.
    #[arg(long)]
    clear_domain: bool,
    /// Link the pipeline to this VPS app.
    #[arg(long = "app", alias = "linked-app", conflicts_with = "clear_app")]
    linked_app: Option<String>,
    /// Remove the linked app.
    #[arg(long)]
    clear_app: bool,
    /// A JSON merge patch for the config (a null value removes a key).
    #[arg(long, value_parser = json_object)]
    config: Option<Map<String, Value>>,
}

fn name_value(raw: &str) -> Result<(String, String), String> {
    match raw.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => Ok((name.trim().to_string(), value.to_string())),
        _ => Err(format!("expected NAME=VALUE, got '{raw}'")),
    }
}

pub async fn run(args: PipelinesArgs) -> Result<(), CliError> {
    let client = Client::new(&args.client)?;
    let json_mode = args.client.json;
    match args.command {
        PipelinesCommand::List { status, repository, limit, offset } => {
            let path = with_query(
                "/api/pipelines",
                &[
                    ("status", status),
                    ("repository", repository),
                    ("limit", limit.map(|n| n.to_string())),
                    ("offset", offset.map(|n| n.to_string())),
                ],
            );
            emit(json_mode, &client.get(&path).await?, list_table);
        }
        PipelinesCommand::Show { id, runs } => {
            let path = with_query(&format!("/api/pipelines/{}", segment(&id)), &[("limit", Some(runs.to_string()))]);
            emit(json_mode, &client.get(&path).await?, details);
        }
        PipelinesCommand::Stats { id } => {
            emit(json_mode, &client.get(&format!("/api/pipelines/{}/stats", segment(&id))).await?, stats);
        }
        PipelinesCommand::Report { id, days } => {
            let path = with_query(
                &format!("/api/pipelines/{}/report", segment(&id)),
                &[("days", days.map(|d| d.to_string()))],
            );
            emit(json_mode, &client.get(&path).await?, super::report::summary);
        }
        PipelinesCommand::Provision(p) => {
            let mut config = p.config.unwrap_or_default();
            if !p.branches.is_empty() {
                config.insert("trigger_branches".into(), json!(p.branches));
            }
            if let Some(environment) = p.environment {
                config.insert("environment".into(), json!(environment));
            }
            let body = json!({
                "repo": p.repo,
                "workflow_file": p.workflow_file,
                "config": config,
                "linked_domain": p.linked_domain,
                "linked_app": p.linked_app,
            });
            emit(json_mode, &client.post("/api/pipelines/provision", &body).await?, provisioned);
        }
        PipelinesCommand::Update(u) => {
            let mut body = Map::new();
            let mut config = u.config.unwrap_or_default();
            if let Some(environment) = u.environment {
                config.insert("environment".into(), json!(environment));
            }
            if !config.is_empty() {
                body.insert("config".into(), Value::Object(config));
            }
            if !u.branches.is_empty() {
                body.insert("trigger_branches".into(), json!(u.branches));
            }
            if u.clear_domain || u.linked_domain.is_some() {
                body.insert("linked_domain".into(), json!(u.linked_domain));
            }
            if u.clear_app || u.linked_app.is_some() {
                body.insert("linked_app".into(), json!(u.linked_app));
            }
            let path = format!("/api/pipelines/{}", segment(&u.id));
            let answer = client.send(Method::PATCH, &path, Some(&Value::Object(body))).await?;
            emit(json_mode, &answer, |a| format!("Pipeline updated.\n{}", pipeline_fields(&a["pipeline"])));
        }
        PipelinesCommand::Teardown { id, yes } => {
            if !yes {
                let what = format!("The teardown of {id}");
                confirm::can_ask(&what)?;
                // Which pipeline, as the old CLI said it: an unknown id fails here, before asking.
                let shown = client.get(&format!("/api/pipelines/{}?limit=1", segment(&id))).await?;
                let p = &shown["pipeline"];
                let question = format!(
                    "Deactivate pipeline {} ({} {}, {})? The repository will be preserved.",
                    text(&p["pipeline_id"]),
                    text(&p["repository"]),
                    text(&p["workflow_file"]),
                    text(&p["status"])
                );
                confirm::ask(question, &what).await?;
            }
            let path = format!("/api/pipelines/{}?preserve_repo=true", segment(&id));
            let answer = client.send(Method::DELETE, &path, None).await?;
            emit(json_mode, &answer, |a| format!("{}: {}\n", text(&a["pipeline_id"]), text(&a["message"])));
        }
        PipelinesCommand::Trigger { id, git_ref, inputs } => {
            let inputs: Map<String, Value> = inputs.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
            let mut body = json!({"inputs": inputs});
            if let Some(git_ref) = git_ref {
                body["ref"] = json!(git_ref);
            }
            let answer = client.post(&format!("/api/pipelines/{}/trigger", segment(&id)), &body).await?;
            emit(json_mode, &answer, queued);
        }
        PipelinesCommand::Rollback { id, reason } => {
            let body = reason.map(|r| json!({"reason": r})).unwrap_or_else(|| json!({}));
            let answer = client.post(&format!("/api/pipelines/{}/rollback", segment(&id)), &body).await?;
            emit(json_mode, &answer, queued);
        }
        PipelinesCommand::Cancel { id, run_id, attempt } => {
            let path = format!("/api/pipelines/{}/executions/{run_id}/{attempt}/cancel", segment(&id));
            emit(json_mode, &client.post(&path, &json!({})).await?, queued);
        }
        PipelinesCommand::Rerun { id, run_id, attempt, failed_jobs } => {
            let action = if failed_jobs { "rerun-failed-jobs" } else { "rerun" };
            let path = format!("/api/pipelines/{}/executions/{run_id}/{attempt}/{action}", segment(&id));
            emit(json_mode, &client.post(&path, &json!({})).await?, queued);
        }
        PipelinesCommand::Logs(args) => super::logs::run(&client, json_mode, args).await?,
        PipelinesCommand::Watch(watch) => super::watch::run(&client, watch).await?,
    }
    Ok(())
}

/// Every pipeline, page after page (newest first), following the `next` cursor: a pipeline
/// provisioned meanwhile cannot shift a page and list another twice.
pub async fn all(client: &Client, with_stats: bool) -> Result<Vec<Value>, CliError> {
    const PAGE: usize = 1000; // the API's largest page
    let mut pipelines: Vec<Value> = Vec::new();
    let mut after: Option<String> = None;
    let include = with_stats.then(|| "stats".to_string());
    loop {
        let path = with_query(
            "/api/pipelines",
            &[("limit", Some(PAGE.to_string())), ("after", after.take()), ("include", include.clone())],
        );
        let mut answer = client.get(&path).await?;
        if let Value::Array(page) = answer["pipelines"].take() {
            pipelines.extend(page);
        }
        match answer["next"].as_str() {
            Some(next) => after = Some(next.to_string()),
            None => return Ok(pipelines),
        }
    }
}

fn list_table(answer: &Value) -> String {
    let mut table = Table::new(&["ID", "REPOSITORY", "WORKFLOW", "STATUS", "DOMAIN", "APP", "CREATED"]);
    let pipelines = answer["pipelines"].as_array().cloned().unwrap_or_default();
    for p in &pipelines {
        table.row(vec![
            text(&p["pipeline_id"]),
            text(&p["repository"]),
            workflow_name(&p["workflow_file"]),
            text(&p["status"]),
            text(&p["vps_integration"]["linked_domain"]),
            text(&p["vps_integration"]["linked_app"]),
            text(&p["created_at"]),
        ]);
    }
    format!("{}{} of {} pipelines\n", table.render(), pipelines.len(), text(&answer["count"]))
}

fn pipeline_fields(p: &Value) -> String {
    fields(&[
        ("id", text(&p["pipeline_id"])),
        ("repository", text(&p["repository"])),
        ("workflow", text(&p["workflow_file"])),
        ("status", text(&p["status"])),
        ("domain", text(&p["vps_integration"]["linked_domain"])),
        ("app", text(&p["vps_integration"]["linked_app"])),
        ("config", p["config"].to_string()),
        ("created", text(&p["created_at"])),
        ("updated", text(&p["updated_at"])),
        ("deactivated", text(&p["deactivated_at"])),
    ])
}

fn details(answer: &Value) -> String {
    let mut runs = Table::new(&["RUN", "ATTEMPT", "RESULT", "BRANCH", "STARTED", "DURATION", "COMMIT"]);
    let executions = answer["executions"].as_array().cloned().unwrap_or_default();
    for e in &executions {
        runs.row(vec![
            text(&e["run_id"]),
            text(&e["run_attempt"]),
            run_state(e) + if e["rolled_back"] == true { " (rolled back)" } else { "" },
            text(&e["branch"]),
            text(&e["started_at"]),
            duration_of(&e["duration_seconds"]),
            text(&e["head_sha"]).chars().take(7).collect(),
        ]);
    }
    let runs = if executions.is_empty() {
        "Runs: none yet.\n".to_string()
    } else {
        format!("Runs ({} of {}):\n{}", executions.len(), text(&answer["executions_count"]), runs.render())
    };
    format!("{}\n{runs}", pipeline_fields(&answer["pipeline"]))
}

fn stats(answer: &Value) -> String {
    let s = &answer["stats"];
    let m = &s["metrics_24h"];
    let last = &s["last_run"];
    let last_run = if last.is_null() {
        "none yet".to_string()
    } else {
        format!(
            "{} on {} at {} ({})",
            text(&last["status"]),
            text(&last["branch"]),
            text(&last["timestamp"]),
            duration_of(&last["duration_seconds"])
        )
    };
    let mut pairs = vec![
        ("pipeline", text(&s["pipeline_id"])),
        ("repository", text(&s["repository"])),
        ("workflow", text(&s["workflow_file"])),
        ("status", text(&s["status"])),
        ("health score", format!("{}/100", text(&s["health_score"]))),
        ("last run", last_run),
        (
            "last 24h",
            if m["run_count"] == 0 {
                "no completed runs".to_string()
            } else {
                format!(
                    "{} runs, {} succeeded ({}%), average {}",
                    text(&m["run_count"]),
                    text(&m["success_count"]),
                    text(&m["success_rate"]),
                    duration_of(&m["avg_duration_seconds"])
                )
            },
        ),
        ("active runs", text(&s["active_runs"])),
        ("queued", text(&s["queue_length"])),
    ];
    if !s["current_stage"].is_null() {
        pairs.push(("current stage", format!("{} ({}%)", text(&s["current_stage"]), text(&s["progress_percentage"]))));
    }
    let failure = &last["failure"];
    if !failure.is_null() {
        let step = failure["failed_step"].as_str().map(|step| format!(", step \"{step}\"")).unwrap_or_default();
        pairs.push(("failed job", format!("{}{step}", text(&failure["job_name"]))));
        if let Some(message) = failure["error_message"].as_str() {
            pairs.push(("error", message.lines().next().unwrap_or_default().to_string()));
        }
    }
    pairs.push(("last delivery", text(&s["last_delivery_at"])));
    if s["backfill_in_progress"] == true {
        pairs.push(("backfill", "in progress".into()));
    }
    fields(&pairs)
}

fn provisioned(a: &Value) -> String {
    let verb = if a["reactivated"] == true { "reactivated" } else { "provisioned" };
    let mut out = format!(
        "Pipeline {verb}: {}\n{}",
        text(&a["pipeline_id"]),
        fields(&[
            ("repository", text(&a["repository"])),
            ("workflow", text(&a["workflow_file"])),
            ("status", text(&a["status"])),
            ("domain", text(&a["vps_integration"]["linked_domain"])),
            ("app", text(&a["vps_integration"]["linked_app"])),
        ])
    );
    if a["repository_verified"] == false {
        out.push_str("The repository was not verified (no GitHub App configured).\n");
    }
    out
}

fn queued(a: &Value) -> String {
    format!("{} (job {})\n", text(&a["message"]), text(&a["job_id"]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_inputs() {
        assert_eq!(name_value("version=1.2=3").unwrap(), ("version".into(), "1.2=3".into()));
        assert!(name_value("=x").is_err() && name_value("novalue").is_err());
    }

    #[test]
    fn lists_pipelines_as_a_table() {
        let answer = json!({"count": 1, "pipelines": [{
            "pipeline_id": "pipe_abc123def456", "repository": "o/r", "workflow_file": ".github/workflows/deploy.yml",
            "status": "active", "created_at": "2026-01-05T10:30:00Z",
            "vps_integration": {"linked_domain": "example.com", "linked_app": null}
        }]});
        let out = list_table(&answer);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("ID                 REPOSITORY  WORKFLOW"), "{out}");
        assert!(lines[1].contains("pipe_abc123def456") && lines[1].contains("deploy.yml"), "{out}");
        assert!(lines[1].contains("example.com  -"), "{out}");
        assert_eq!(lines[2], "1 of 1 pipelines");
    }
}
