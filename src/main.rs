use std::process::ExitCode;

use clap::{Parser, Subcommand};

use ccm::cli;
use ccm::config::Settings;
use ccm::github::register::{RegisterOptions, RegisteredApp};

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
    /// Write a consistent, checked copy of the SQLite database (while ccm runs, or not), mode 0600.
    Backup(BackupArgs),
    /// Replace a stopped ccm's SQLite database with a backup, then apply migrations.
    Restore(RestoreArgs),
    /// Delete what is older than the CCM_RETAIN_* settings now (or, with --dry-run, count it).
    Prune(PruneArgs),
    /// Copy every table of a ccm database into an empty one: SQLite to PostgreSQL, or back.
    ///
    /// The target is migrated first and must hold no rows; the source must be at this ccm's
    /// migration version. Stop the ccm serving the source first: what it writes after the copy
    /// began is not copied. Prints each table's rows at both ends; exits 1 when one differs.
    #[command(after_help = LOGGING_HELP)]
    Copy(cli::copy::CopyArgs),
    /// The GitHub App.
    #[command(subcommand)]
    App(AppCommand),
    /// Webhook tools.
    #[command(subcommand)]
    Webhook(WebhookCommand),
    #[command(flatten)]
    Client(cli::ClientCommand),
}

#[derive(Subcommand)]
enum WebhookCommand {
    /// Sign a JSON file with the webhook secret and post it the way GitHub does.
    Send(cli::webhook_send::SendArgs),
}

#[derive(Subcommand)]
enum AppCommand {
    /// Create ccm's GitHub App from app-manifest.json: serves a local page whose form sends the
    /// manifest to GitHub, then stores the App's id, private key and webhook secret in
    /// CCM_DATA_DIR.
    Register(RegisterArgs),
}

#[derive(clap::Args)]
struct BackupArgs {
    /// The file to write (it must not exist) [default: CCM_DATA_DIR/backups/ccm-<UTC time>.db].
    #[arg(long, short)]
    output: Option<std::path::PathBuf>,
    #[command(flatten)]
    settings: Settings,
}

#[derive(clap::Args)]
struct RestoreArgs {
    /// The backup to restore (a file `ccm backup` wrote).
    file: std::path::PathBuf,
    /// Replace a database that already holds data.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    settings: Settings,
}

#[derive(clap::Args)]
struct PruneArgs {
    /// Say how many rows of each kind would go, and delete nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    settings: Settings,
}

#[derive(clap::Args)]
struct RegisterArgs {
    /// Create the App in this organization (default: your personal account).
    #[arg(long)]
    org: Option<String>,
    /// Where GitHub reaches ccm (the App's homepage; webhooks go to PUBLIC_URL/webhooks/github).
    /// Default: http://CCM_BIND.
    #[arg(long, env = "CCM_PUBLIC_URL")]
    public_url: Option<String>,
    /// The App's name on GitHub (default: from app-manifest.json).
    #[arg(long)]
    name: Option<String>,
    /// Address of the local registration page; GitHub sends the browser back to it.
    #[arg(long, default_value = "127.0.0.1:8765")]
    listen: String,
    /// GitHub's web site (default: derived from GITHUB_API_URL).
    #[arg(long)]
    github_url: Option<String>,
    /// Replace an App already registered in CCM_DATA_DIR.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    settings: Settings,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(err) = ccm::telemetry::init() {
        eprintln!("ccm: {err}");
        return ExitCode::from(2);
    }
    // Client commands need no server settings; the others validate them all before anything.
    let settings = match &cli.command {
        Command::Serve(s) | Command::Migrate(s) => Some(s),
        Command::App(AppCommand::Register(args)) => Some(&args.settings),
        Command::Backup(args) => Some(&args.settings),
        Command::Restore(args) => Some(&args.settings),
        Command::Prune(args) => Some(&args.settings),
        Command::Webhook(_) | Command::Client(_) | Command::Copy(_) => None,
    };
    let config = match settings.map(Settings::validate).transpose() {
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
    let command = match cli.command {
        Command::Client(command) => return runtime.block_on(cli::run(command)),
        other => other,
    };
    let result = runtime.block_on(async {
        let config = || config.clone().expect("validated above for server commands");
        match command {
            Command::Serve(_) => ccm::server::serve(config()).await,
            Command::Migrate(_) => {
                ccm::server::open_store(&config()).await?;
                tracing::info!("migrations applied");
                Ok(())
            }
            Command::Backup(args) => {
                let config = config();
                let done = tokio::task::spawn_blocking(move || ccm::backups::backup(&config, args.output)).await??;
                println!(
                    "backup written and checked: {} ({} bytes, {:.1} s)",
                    done.path.display(),
                    done.bytes,
                    done.took.as_secs_f64()
                );
                Ok(())
            }
            Command::Restore(args) => {
                let config = config();
                let settings = config.clone();
                tokio::task::spawn_blocking(move || ccm::backups::restore(&settings, &args.file, args.force)).await??;
                ccm::server::open_store(&config).await?;
                println!("restored and migrated: start ccm serve again");
                Ok(())
            }
            Command::Prune(args) => prune(&config(), args.dry_run).await,
            Command::Copy(args) => cli::copy::run(args).await,
            Command::App(AppCommand::Register(args)) => register(args, &config()).await,
            Command::Webhook(WebhookCommand::Send(args)) => cli::webhook_send::run(args).await,
            Command::Client(_) => unreachable!("run above"),
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

async fn prune(config: &ccm::config::Config, dry_run: bool) -> anyhow::Result<()> {
    use ccm::retention;
    let store = ccm::server::open_store(config).await?;
    let policy = &config.retention.policy;
    let now = ccm::domain::clock::now();
    if dry_run {
        print!("{}", retention::render(&retention::dry_run(store.as_ref(), policy, now).await?, true));
        return Ok(());
    }
    if store.enable_incremental_vacuum().await? {
        println!("the SQLite database was switched to auto_vacuum=incremental (a one-time VACUUM)");
    }
    let report = retention::sweep(store.as_ref(), policy, now, None, None).await?;
    print!("{}", retention::render(&report, false));
    Ok(())
}

async fn register(args: RegisterArgs, config: &ccm::config::Config) -> anyhow::Result<()> {
    let public_url = match args.public_url.filter(|u| !u.trim().is_empty()) {
        Some(url) => {
            anyhow::ensure!(
                url.starts_with("https://") || url.starts_with("http://"),
                "--public-url must be an http(s) URL"
            );
            url
        }
        None => {
            let url = format!("http://{}", config.bind);
            eprintln!(
                "ccm: no --public-url: using {url}; GitHub cannot deliver webhooks there, change it in the App's settings later"
            );
            url
        }
    };
    let options = RegisterOptions {
        data_dir: config.data_dir.clone(),
        api_url: config.github.api_url.clone(),
        web_url: args.github_url,
        public_url,
        org: args.org,
        name: args.name,
        listen: args.listen,
        force: args.force,
    };
    let app: RegisteredApp = ccm::github::register::run(options, |url| {
        println!("Open {url} in a browser and press \"Create the GitHub App\".");
        println!("(On a remote machine: ssh -L PORT:127.0.0.1:PORT to it first, with the page's port.)");
    })
    .await?;
    println!("GitHub App registered: id {}{}", app.app_id, app.slug.map(|s| format!(" ({s})")).unwrap_or_default());
    if let Some(url) = app.html_url {
        println!("Install it on your repositories: {url}/installations/new");
    }
    println!("Its files are in {}; `ccm serve` uses them.", config.data_dir.display());
    Ok(())
}
