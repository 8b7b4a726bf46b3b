//! `ccm alerts list|ack` and `ccm notify test CHANNEL` (issue 16).

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::client::{Client, ClientArgs, segment};
use super::emit;
use super::error::CliError;
use super::table::{Table, text};
use crate::domain::status::AlertState;

#[derive(Debug, Args)]
pub struct AlertsArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: AlertsCommand,
}

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// List alerts, newest first.
    List {
        /// firing, acknowledged or resolved (default: all).
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(AlertState::texts()))]
        state: Option<String>,
        /// Only this pipeline's.
        #[arg(long)]
        pipeline: Option<String>,
        /// At most this many (1 to 500).
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Acknowledge a firing alert (a write token is needed).
    Ack {
        /// The alert's id.
        id: i64,
    },
}

#[derive(Debug, Args)]
pub struct NotifyArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: NotifyCommand,
}

#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Send a test notification on a channel (by name or id) and show the receiver's answer.
    Test {
        /// The channel's name or id.
        channel: String,
    },
}

pub async fn run(args: AlertsArgs) -> Result<(), CliError> {
    let client = Client::new(&args.client)?;
    let json_mode = args.client.json;
    match args.command {
        AlertsCommand::List { state, pipeline, limit } => {
            let mut query = vec![("limit", limit.to_string())];
            if let Some(state) = state {
                query.push(("state", state));
            }
            if let Some(pipeline) = pipeline {
                query.push(("pipeline_id", pipeline));
            }
            let query = serde_urlencoded::to_string(&query).expect("a query string");
            emit(json_mode, &client.get(&format!("/api/alerts?{query}")).await?, list_table);
        }
        AlertsCommand::Ack { id } => {
            let answer = client.post(&format!("/api/alerts/{}/ack", segment(&id.to_string())), &json!({})).await?;
            emit(json_mode, &answer, |a| {
                let alert = &a["alert"];
                format!("Alert {} is {} ({})\n", text(&alert["id"]), text(&alert["state"]), text(&alert["summary"]))
            });
        }
    }
    Ok(())
}

pub async fn notify(args: NotifyArgs) -> Result<(), CliError> {
    let client = Client::new(&args.client)?;
    let json_mode = args.client.json;
    match args.command {
        NotifyCommand::Test { channel } => {
            let id = match channel.parse::<i64>() {
                Ok(id) => id,
                Err(_) => channel_id(&client, &channel).await?,
            };
            let answer = client
                .post(&format!("/api/notification-channels/{}/test", segment(&id.to_string())), &json!({}))
                .await?;
            emit(json_mode, &answer, |a| {
                if a["success"] == true {
                    format!("Channel {channel}: the receiver accepted the test ({})\n", text(&a["status"]))
                } else {
                    format!("Channel {channel}: the test failed: {}\n", text(&a["error"]))
                }
            });
            if answer["success"] != true {
                return Err(CliError::Server {
                    status: 502,
                    message: format!("the test notification on channel {channel} failed"),
                    body: Value::Null,
                });
            }
        }
    }
    Ok(())
}

async fn channel_id(client: &Client, name: &str) -> Result<i64, CliError> {
    let list = client.get("/api/notification-channels").await?;
    list["channels"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == name)
        .and_then(|c| c["id"].as_i64())
        .ok_or_else(|| CliError::Server {
            status: 404,
            message: format!("No notification channel named '{name}'"),
            body: Value::Null,
        })
}

fn list_table(answer: &Value) -> String {
    let mut table = Table::new(&["ID", "STATE", "KIND", "PIPELINE", "STARTED", "RESOLVED", "SUMMARY"]);
    let alerts = answer["alerts"].as_array().cloned().unwrap_or_default();
    for a in &alerts {
        table.row(vec![
            text(&a["id"]),
            text(&a["state"]),
            text(&a["kind"]),
            text(&a["pipeline_id"]),
            text(&a["started_at"]),
            text(&a["resolved_at"]),
            text(&a["summary"]),
        ]);
    }
    format!("{}{} of {} alerts\n", table.render(), alerts.len(), text(&answer["total"]))
}
