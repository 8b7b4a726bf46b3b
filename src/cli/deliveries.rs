//! `ccm deliveries ...`: the webhook deliveries ccm stored, and replaying one.

use crate::domain::status::DeliveryStatus;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::client::{Client, ClientArgs, segment, with_query};
use super::emit;
use super::error::CliError;
use super::table::{Table, fields, text};

#[derive(Debug, Args)]
pub struct DeliveriesArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: DeliveriesCommand,
}

#[derive(Debug, Subcommand)]
pub enum DeliveriesCommand {
    /// List deliveries, newest first.
    List {
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(DeliveryStatus::texts()))]
        status: Option<String>,
        /// Only this event (X-GitHub-Event), e.g. workflow_run.
        #[arg(long)]
        event: Option<String>,
        /// Only this repository (owner/name).
        #[arg(long)]
        repository: Option<String>,
        /// At most this many (1-1000) [server default: 100].
        #[arg(long)]
        limit: Option<i64>,
        #[arg(long)]
        offset: Option<i64>,
    },
    /// A delivery with its headers and body.
    Show {
        /// The delivery's GUID (X-GitHub-Delivery).
        id: String,
    },
    /// Process a stored delivery again.
    Replay { id: String },
}

pub async fn run(args: DeliveriesArgs) -> Result<(), CliError> {
    let client = Client::new(&args.client)?;
    let json_mode = args.client.json;
    match args.command {
        DeliveriesCommand::List { status, event, repository, limit, offset } => {
            let path = with_query(
                "/api/deliveries",
                &[
                    ("status", status),
                    ("event", event),
                    ("repository", repository),
                    ("limit", limit.map(|n| n.to_string())),
                    ("offset", offset.map(|n| n.to_string())),
                ],
            );
            emit(json_mode, &client.get(&path).await?, list_table);
        }
        DeliveriesCommand::Show { id } => {
            let answer = client.get(&format!("/api/deliveries/{}", segment(&id))).await?;
            emit(json_mode, &answer, |a| details(&a["delivery"]));
        }
        DeliveriesCommand::Replay { id } => {
            let answer = client.post(&format!("/api/deliveries/{}/replay", segment(&id)), &json!({})).await?;
            emit(json_mode, &answer, |a| {
                let error = &a["delivery"]["last_error"];
                let error = if error.is_null() { String::new() } else { format!(" ({})", text(error)) };
                format!("Delivery {} replayed: {}{error}\n", text(&a["delivery_id"]), text(&a["status"]))
            });
        }
    }
    Ok(())
}

fn list_table(answer: &Value) -> String {
    let mut table = Table::new(&["DELIVERY", "EVENT", "ACTION", "REPOSITORY", "STATUS", "ATTEMPTS", "RECEIVED"]);
    let deliveries = answer["deliveries"].as_array().cloned().unwrap_or_default();
    for d in &deliveries {
        table.row(vec![
            text(&d["delivery_id"]),
            text(&d["event"]),
            text(&d["action"]),
            text(&d["repository"]),
            text(&d["status"]),
            text(&d["attempts"]),
            text(&d["received_at"]),
        ]);
    }
    format!("{}{} of {} deliveries\n", table.render(), deliveries.len(), text(&answer["count"]))
}

fn details(d: &Value) -> String {
    let mut out = fields(&[
        ("delivery", text(&d["delivery_id"])),
        ("event", format!("{} {}", text(&d["event"]), text(&d["action"]))),
        ("repository", text(&d["repository"])),
        ("status", text(&d["status"])),
        ("attempts", text(&d["attempts"])),
        ("last error", text(&d["last_error"])),
        ("received", text(&d["received_at"])),
        ("processed", text(&d["processed_at"])),
        ("next attempt", text(&d["next_attempt_at"])),
        ("body size", format!("{} bytes", text(&d["body_size"]))),
    ]);
    if let Some(headers) = d["headers"].as_object() {
        out.push_str("\nHeaders:\n");
        for (name, value) in headers {
            out.push_str(&format!("  {name}: {}\n", text(value)));
        }
    }
    let body = serde_json::to_string_pretty(&d["body"]).unwrap_or_default();
    out.push_str(&format!("\nBody:\n{body}\n"));
    out
}
