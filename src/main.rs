use std::process::ExitCode;

use clap::{Parser, Subcommand};

use ccm::cli;
use ccm::config::Settings;

/// ccm: a webhook-driven CI/CD manager. It receives GitHub's webhooks, serves the CCM pipeline
/// API (CCM-Token header) and keeps its data in SQLite (default) or PostgreSQL.
///
/// Logging: RUST_LOG (e.g. info, ccm=debug); CCM_LOG_FORMAT=json for JSON lines.
#[derive(Parser)]
#[command(name = "ccm", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (applies migrations first).
    Serve(Settings),
    /// Apply database migrations and exit.
    Migrate(Settings),
    /// Webhook tools.
    Webhook {
        #[command(subcommand)]
        command: WebhookCommand,
    },
}

#[derive(Subcommand)]
enum WebhookCommand {
    /// Sign a JSON file with the webhook secret and post it the way GitHub does.
    Send(cli::webhook_send::SendArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(err) = ccm::telemetry::init() {
        eprintln!("ccm: {err}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("ccm: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Serve(settings) | Command::Migrate(settings) if let Err(err) = settings.validate() => {
            eprintln!("ccm: {err}");
            return ExitCode::from(2);
        }
        Command::Serve(settings) => runtime.block_on(ccm::server::serve(settings.validate().expect("checked above"))),
        Command::Migrate(settings) => runtime.block_on(async {
            ccm::server::open_store(&settings.validate().expect("checked above")).await?;
            tracing::info!("migrations applied");
            Ok(())
        }),
        Command::Webhook { command: WebhookCommand::Send(args) } => runtime.block_on(cli::webhook_send::run(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("ccm: {err:#}");
            ExitCode::FAILURE
        }
    }
}
