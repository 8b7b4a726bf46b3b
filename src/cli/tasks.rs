//! `ccm tasks ...`: research tasks (synced with GitHub issues) from the command line.

use clap::{ArgGroup, Args, Subcommand};
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::client::{Client, ClientArgs, segment, with_query};
use super::emit;
use super::error::CliError;
use super::table::{Table, fields, text};

use crate::domain::status::{TaskPriority, TaskStatus};

fn statuses() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(TaskStatus::texts())
}

fn priorities() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(TaskPriority::texts())
}

#[derive(Debug, Args)]
pub struct TasksArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: TasksCommand,
}

#[derive(Debug, Subcommand)]
pub enum TasksCommand {
    /// List tasks, newest first.
    List {
        #[arg(long, value_parser = statuses())]
        status: Option<String>,
        #[arg(long, value_parser = priorities())]
        priority: Option<String>,
        /// Only tasks linked to issues of this repository (owner/name).
        #[arg(long)]
        repository: Option<String>,
        /// At most this many (1-1000) [server default: 100].
        #[arg(long)]
        limit: Option<i64>,
        #[arg(long)]
        offset: Option<i64>,
    },
    /// A task with its issue and pull requests.
    Show { id: String },
    /// Create a task.
    Create {
        #[arg(long)]
        title: String,
        #[arg(long)]
        description: Option<String>,
        #[arg(long, value_parser = statuses())]
        status: Option<String>,
        #[arg(long, value_parser = priorities())]
        priority: Option<String>,
        /// A label (repeat for several).
        #[arg(long = "label")]
        labels: Vec<String>,
    },
    /// Change a task; a linked issue follows.
    Update(UpdateArgs),
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("change").required(true).multiple(true)
    .args(["title", "description", "status", "priority", "labels", "clear_labels"])))]
pub struct UpdateArgs {
    id: String,
    #[arg(long)]
    title: Option<String>,
    #[arg(long)]
    description: Option<String>,
    #[arg(long, value_parser = statuses())]
    status: Option<String>,
    #[arg(long, value_parser = priorities())]
    priority: Option<String>,
    /// Replace the labels (repeat for several).
    #[arg(long = "label", conflicts_with = "clear_labels")]
    labels: Vec<String>,
    /// Remove every label.
    #[arg(long)]
    clear_labels: bool,
}

pub async fn run(args: TasksArgs) -> Result<(), CliError> {
    let client = Client::new(&args.client)?;
    let json_mode = args.client.json;
    match args.command {
        TasksCommand::List { status, priority, repository, limit, offset } => {
            let path = with_query(
                "/api/tasks",
                &[
                    ("status", status),
                    ("priority", priority),
                    ("repository", repository),
                    ("limit", limit.map(|n| n.to_string())),
                    ("offset", offset.map(|n| n.to_string())),
                ],
            );
            emit(json_mode, &client.get(&path).await?, list_table);
        }
        TasksCommand::Show { id } => {
            emit(json_mode, &client.get(&format!("/api/tasks/{}", segment(&id))).await?, |a| details(&a["task"]));
        }
        TasksCommand::Create { title, description, status, priority, labels } => {
            let mut body = json!({"title": title, "labels": labels});
            for (name, value) in [("description", description), ("status", status), ("priority", priority)] {
                if let Some(value) = value {
                    body[name] = json!(value);
                }
            }
            let answer = client.post("/api/tasks", &body).await?;
            emit(json_mode, &answer, |a| format!("Task created.\n{}", task_fields(&a["task"])));
        }
        TasksCommand::Update(u) => {
            let mut body = Map::new();
            for (name, value) in
                [("title", u.title), ("description", u.description), ("status", u.status), ("priority", u.priority)]
            {
                if let Some(value) = value {
                    body.insert(name.into(), json!(value));
                }
            }
            if u.clear_labels || !u.labels.is_empty() {
                body.insert("labels".into(), json!(u.labels));
            }
            let path = format!("/api/tasks/{}", segment(&u.id));
            let answer = client.send(Method::PATCH, &path, Some(&Value::Object(body))).await?;
            emit(json_mode, &answer, updated);
        }
    }
    Ok(())
}

fn issue(task: &Value) -> String {
    let issue = &task["issue"];
    if issue.is_null() {
        return "-".into();
    }
    let deleted = if issue["deleted"] == true { " (deleted)" } else { "" };
    format!("{}#{}{deleted}", text(&issue["repository"]), text(&issue["number"]))
}

fn labels(task: &Value) -> String {
    let labels: Vec<String> = task["labels"].as_array().into_iter().flatten().map(text).collect();
    if labels.is_empty() { "-".into() } else { labels.join(", ") }
}

fn list_table(answer: &Value) -> String {
    let mut table = Table::new(&["ID", "STATUS", "PRIORITY", "TITLE", "ISSUE", "UPDATED"]);
    let tasks = answer["tasks"].as_array().cloned().unwrap_or_default();
    for t in &tasks {
        table.row(vec![
            text(&t["id"]),
            text(&t["status"]),
            text(&t["priority"]),
            text(&t["title"]),
            issue(t),
            text(&t["updated_at"]),
        ]);
    }
    format!("{}{} of {} tasks\n", table.render(), tasks.len(), text(&answer["count"]))
}

fn task_fields(t: &Value) -> String {
    fields(&[
        ("id", text(&t["id"])),
        ("title", text(&t["title"])),
        ("status", text(&t["status"])),
        ("priority", text(&t["priority"])),
        ("labels", labels(t)),
        ("issue", issue(t)),
        ("origin", text(&t["origin"])),
        ("sync pending", text(&t["sync"]["pending"])),
        ("created", text(&t["created_at"])),
        ("updated", text(&t["updated_at"])),
    ])
}

fn details(task: &Value) -> String {
    let mut out = task_fields(task);
    let description = text(&task["description"]);
    if description != "-" {
        out.push_str(&format!("\n{description}\n"));
    }
    let pulls = task["pull_requests"].as_array().cloned().unwrap_or_default();
    if !pulls.is_empty() {
        let mut table = Table::new(&["PULL REQUEST", "STATE", "TITLE", "RUNS"]);
        for pr in &pulls {
            let state = if pr["merged"] == true { "merged".to_string() } else { text(&pr["state"]) };
            let runs = pr["executions"].as_array().map(Vec::len).unwrap_or(0);
            table.row(vec![
                format!("{}#{}", text(&pr["repository"]), text(&pr["number"])),
                state,
                text(&pr["title"]),
                runs.to_string(),
            ]);
        }
        out.push_str(&format!("\n{}", table.render()));
    }
    out
}

fn updated(answer: &Value) -> String {
    let sync = &answer["issue_sync"];
    let note = match (sync["queued"].as_bool(), sync["reason"].as_str()) {
        (Some(true), _) => format!("The issue update is queued (job {}).\n", text(&sync["job_id"])),
        (Some(false), Some(reason)) => format!("The issue was not updated: {reason}.\n"),
        _ => String::new(),
    };
    format!("Task updated.\n{}{note}", task_fields(&answer["task"]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_the_linked_issue() {
        let task = json!({"issue": {"repository": "o/r", "number": 7, "deleted": false}});
        assert_eq!(issue(&task), "o/r#7");
        assert_eq!(issue(&json!({"issue": null})), "-");
        assert_eq!(labels(&json!({"labels": ["a", "priority: high"]})), "a, priority: high");
    }
}
