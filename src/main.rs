use std::process::ExitCode;

use clap::{Parser, Subcommand};

use ccm::config::Settings;

/// ccm: a webhook-driven CI/CD manager. It receives GitHub's webhooks, serves the CCM pipeline
/// API (CCM-Token header) and keeps its data in SQLite (default) or PostgreSQL.
///
/// Logging: RUST_LOG sets the levels (e.g. info, ccm=debug); CCM_LOG_FORMAT=json writes one JSON
/// object a line instead of text.
#[derive(Parser)]
#[command(name = "ccm", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The logging settings, which every command reads; shown under each command's settings.
const LOGGING_HELP: &str = "Logging:
  RUST_LOG        Log levels, e.g. info or ccm=debug
  CCM_LOG_FORMAT  text (default) or json (one JSON object a line)";

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (applies migrations first).
    #[command(after_help = LOGGING_HELP)]
    Serve(Settings),
    /// Apply database migrations and exit.
    #[command(after_help = LOGGING_HELP)]
    Migrate(Settings),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(err) = ccm::telemetry::init() {
        eprintln!("ccm: {err}");
        return ExitCode::from(2);
    }
    let settings = match &cli.command {
        Command::Serve(s) | Command::Migrate(s) => s,
    };
    let config = match settings.validate() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("ccm: {err}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("ccm: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(_) => ccm::server::serve(config).await,
            Command::Migrate(_) => {
                ccm::server::open_store(&config).await?;
                tracing::info!("migrations applied");
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("ccm: {err:#}");
            ExitCode::FAILURE
        }
    }
}
