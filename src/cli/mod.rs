//! Client commands: they talk to a running ccm (or to any webhook receiver) over HTTP.

mod alerts;
pub mod client;
mod confirm;
pub mod copy;
mod dashboard;
mod deliveries;
pub mod error;
mod logs;
mod pipelines;
mod registry;
mod report;
mod sse;
mod table;
mod tasks;
mod tokens;
mod watch;
pub mod webhook_send;

use std::io::Write;
use std::process::ExitCode;

use clap::Subcommand;
use serde_json::{Map, Value};

use error::CliError;

/// The settings and exit codes of the client commands, shown under their help.
const CLIENT_HELP: &str = "Settings:
  CCM_URL        The ccm server [default: http://127.0.0.1:5000]
  CCM_API_TOKEN  The API token sent as CCM-Token; unset: the one `ccm serve` keeps in CCM_DATA_DIR/api-token
  CCM_DATA_DIR   ccm's data folder [default: ~/.ccm]

Exit codes: 0 success, 1 the server answered with an error (its message on stderr), 2 usage error,
3 the server cannot be reached.";

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Pipelines on a running ccm: list, show, stats, report, provision, update, teardown, trigger,
    /// rollback, cancel, rerun, logs, watch.
    #[command(after_help = CLIENT_HELP)]
    Pipelines(pipelines::PipelinesArgs),
    /// Research tasks on a running ccm: list, show, create, update.
    #[command(after_help = CLIENT_HELP)]
    Tasks(tasks::TasksArgs),
    /// Webhook deliveries a running ccm received: list, show, replay.
    #[command(after_help = CLIENT_HELP)]
    Deliveries(deliveries::DeliveriesArgs),
    /// Import the old CCM's pipeline registry (~/.ccm/pipelines.json) into a running ccm.
    ///
    /// Each pipeline keeps its id, status, config and VPS link. Safe to run again: pipelines
    /// already present are skipped. An invalid entry is reported and does not stop the others
    /// (the exit code is then 1).
    #[command(after_help = CLIENT_HELP)]
    Import(registry::ImportArgs),
    /// Write every pipeline of a running ccm as an old-CCM registry (a backup `ccm import` reads).
    #[command(after_help = CLIENT_HELP)]
    Export(registry::ExportArgs),
    /// Named API tokens and their scopes on a running ccm: create, list, revoke (admin token).
    #[command(after_help = CLIENT_HELP)]
    Tokens(tokens::TokensArgs),
    /// Alerts on a running ccm: list, ack.
    #[command(after_help = CLIENT_HELP)]
    Alerts(alerts::AlertsArgs),
    /// Notification channels on a running ccm: test (admin token).
    #[command(after_help = CLIENT_HELP)]
    Notify(alerts::NotifyArgs),
}

/// Runs a client command; errors go to stderr and decide the exit code.
pub async fn run(command: ClientCommand) -> ExitCode {
    let json = match &command {
        ClientCommand::Pipelines(args) => args.client.json,
        ClientCommand::Tasks(args) => args.client.json,
        ClientCommand::Deliveries(args) => args.client.json,
        ClientCommand::Import(args) => args.client.json,
        ClientCommand::Export(args) => args.client.json,
        ClientCommand::Tokens(args) => args.client.json,
        ClientCommand::Alerts(args) => args.client.json,
        ClientCommand::Notify(args) => args.client.json,
    };
    let result = match command {
        ClientCommand::Pipelines(args) => pipelines::run(args).await,
        ClientCommand::Tasks(args) => tasks::run(args).await,
        ClientCommand::Deliveries(args) => deliveries::run(args).await,
        ClientCommand::Import(args) => registry::import(args).await,
        ClientCommand::Export(args) => registry::export(args).await,
        ClientCommand::Tokens(args) => tokens::run(args).await,
        ClientCommand::Alerts(args) => alerts::run(args).await,
        ClientCommand::Notify(args) => alerts::notify(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // Scripts get the server's JSON error too (its `code`), on stdout like any answer.
            if let CliError::Server { body, .. } = &err
                && json
                && !body.is_null()
            {
                emit(true, body, |_| String::new());
            }
            eprintln!("ccm: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}

/// Prints the server's answer: as JSON for scripts, else as `human` renders it.
fn emit(json: bool, answer: &Value, human: impl FnOnce(&Value) -> String) {
    let text = if json { serde_json::to_string_pretty(answer).expect("JSON prints") + "\n" } else { human(answer) };
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// A `--config` value: a JSON object.
fn json_object(raw: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("expected a JSON object, e.g. '{\"environment\": \"production\"}'".into()),
        Err(e) => Err(format!("not JSON: {e}")),
    }
}
