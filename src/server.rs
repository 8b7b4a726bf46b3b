//! Start-up: data folder, database, tokens, then the HTTP server.

use std::sync::Arc;

use anyhow::Context;

use crate::config::{Config, Database};
use crate::data_dir;
use crate::http::edge::Listener;
use crate::http::{ApiTokens, AppState, build_app_for};
use crate::store::{self, Store};
use crate::webhook::WebhookSecrets;

/// Opens the configured database (creating the SQLite file privately) and applies migrations.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    if let Database::Sqlite(_) = &config.database {
        data_dir::ensure(&config.data_dir)?;
        if let Some(path) = config.database.sqlite_file() {
            data_dir::ensure_private_file(&path)?;
        }
    }
    let kind = match config.database {
        Database::Sqlite(_) => "sqlite",
        Database::Postgres(_) => "postgres",
    };
    store::connect_with(config.database.url(), &config.db_options())
        .await
        .with_context(|| format!("opening the {kind} database (DATABASE_URL)"))
}

/// The configured tokens, or the generated one kept in the data folder.
pub fn api_tokens(config: &Config) -> anyhow::Result<ApiTokens> {
    if !config.api_tokens.is_empty() {
        let tokens: Vec<&str> = config.api_tokens.iter().map(|t| t.expose()).collect();
        return Ok(ApiTokens::new(&tokens));
    }
    data_dir::ensure(&config.data_dir)?;
    let (token, path) = data_dir::load_or_create_api_token(&config.data_dir)?;
    tracing::info!(path = %path.display(), "CCM_API_TOKEN is unset: using the token stored in this file");
    Ok(ApiTokens::new(&[token]))
}

/// The configured webhook secrets, or the one `ccm app register` stored in the data folder.
pub fn webhook_secrets(config: &Config) -> anyhow::Result<WebhookSecrets> {
    if !config.webhook_secrets.is_empty() {
        let secrets: Vec<&str> = config.webhook_secrets.iter().map(|s| s.expose()).collect();
        return Ok(WebhookSecrets::new(&secrets));
    }
    let path = config.data_dir.join(crate::github::config::WEBHOOK_SECRET_FILE);
    if path.exists() {
        let secret = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        tracing::info!(path = %path.display(), "GITHUB_WEBHOOK_SECRET is unset: using the secret stored in this file");
        return Ok(WebhookSecrets::new(&[secret.trim()]));
    }
    tracing::warn!(
        "no webhook secret: set GITHUB_WEBHOOK_SECRET (or run `ccm app register`); \
         POST /webhooks/github refuses every delivery with 503 until then"
    );
    Ok(WebhookSecrets::default())
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    // Held while serving: `ccm restore` refuses to replace a database in use.
    let _restore_guard = match config.database.sqlite_file() {
        Some(path) => {
            data_dir::ensure(&config.data_dir)?;
            Some(crate::store::sqlite_backup::DatabaseLock::shared(&path)?)
        }
        None => None,
    };
    let store = open_store(&config).await?;
    let github = crate::github::GithubClient::new(config.github.clone())?;
    let workers = github.as_ref().map(|client| {
        crate::github::recovery::Workers::spawn(
            crate::github::Github { store: store.clone(), client: client.clone() },
            true,
        )
    });
    let gh = github.as_ref().map(|client| crate::github::Github { store: store.clone(), client: client.clone() });
    take_over_old_registry(store.as_ref(), gh.as_ref(), &config.pipelines_path).await;
    match config.github.mode() {
        Some(mode) => tracing::info!(mode, api_url = %config.github.api_url, "GitHub integration on"),
        None => tracing::warn!(
            "no GitHub App configured (GITHUB_APP_ID/GITHUB_PRIVATE_KEY, `ccm app register`) nor GHT: \
             repositories are not verified and GitHub actions are unavailable"
        ),
    }
    let state = AppState::start(store, api_tokens(&config)?, webhook_secrets(&config)?, github)
        .with_access(&config.access)
        .with_edge(&config.edge)
        .with_alerts(config.alerts.clone())
        .with_backups(config.data_dir.join(crate::backups::BACKUP_DIR));
    state.live.set_max_streams(config.max_event_streams);
    let workers = match (workers, &gh) {
        (Some(workers), Some(gh)) => Some(workers.with_log_sweep(gh.clone(), log_announcer(&state.live))),
        (workers, _) => workers,
    };
    crate::backups::spawn_schedule(&config, state.metrics.clone());
    crate::retention::spawn_pruner(&config.retention, state.store.clone(), state.metrics.clone());
    state.edge.webhook_allow.clone().spawn_refresh(state.store.clone(), config.github.api_url.clone());
    let live = state.live.clone();
    // Issue 20: with CCM_WEBHOOK_BIND, a second server (same state, same ingestor) serves only
    // the webhook path and /healthz, and CCM_BIND everything else.
    let (main_role, webhook_bind) = match config.edge.webhook_bind {
        Some(addr) => (Listener::Api, Some(addr)),
        None => (Listener::All, None),
    };
    let server = listen(state.clone(), main_role, config.bind, "CCM_BIND")?;
    let webhook_server =
        webhook_bind.map(|addr| listen(state.clone(), Listener::Webhooks, addr, "CCM_WEBHOOK_BIND")).transpose()?;
    let handles: Vec<_> = std::iter::once(server.handle()).chain(webhook_server.as_ref().map(|s| s.handle())).collect();
    tokio::spawn(async move {
        stop_signal().await;
        tracing::info!("stopping: closing event streams and finishing the requests in flight");
        // Event streams never finish by themselves: without this, a stop waits out the timeout.
        live.close();
        futures_util::future::join_all(handles.iter().map(|h| h.stop(true))).await;
    });
    tracing::info!(
        bind = %config.bind,
        webhook_bind = webhook_bind.map(|a| a.to_string()),
        database = match config.database { Database::Sqlite(_) => "sqlite", Database::Postgres(_) => "postgres" },
        ready_ms = started.elapsed().as_millis() as u64,
        "ccm is ready"
    );
    let served = match webhook_server {
        None => server.await.context("HTTP server"),
        Some(webhooks) => {
            let (api, webhooks) = futures_util::future::join(server, webhooks).await;
            api.context("HTTP server (CCM_BIND)").and(webhooks.context("HTTP server (CCM_WEBHOOK_BIND)"))
        }
    };
    if let Some(workers) = workers {
        workers.stop().await;
    }
    served
}

/// Publishes each job log that arrived as a live `log` event of its pipeline.
pub fn log_announcer(live: &std::sync::Arc<crate::live::Live>) -> crate::github::logs::Announce {
    let live = live.clone();
    Box::new(move |arrived: &crate::store::ArrivedLog| {
        live.publish("log", Some(arrived.pipeline_id.clone()), &arrived.summary)
    })
}

/// One HTTP server serving `role` on `addr` (`setting` names it in errors).
fn listen(
    state: AppState,
    role: Listener,
    addr: std::net::SocketAddr,
    setting: &str,
) -> anyhow::Result<actix_web::dev::Server> {
    http_server(state, role, Socket::Address(addr), None).with_context(|| format!("binding {addr} ({setting})"))
}

/// Where an HTTP server listens: an address it binds (with actix's backlog of 1,024), or a
/// listener bound already (the tests' free ports).
pub enum Socket {
    Address(std::net::SocketAddr),
    Bound(std::net::TcpListener),
}

/// The HTTP server `ccm serve` runs for `role`, with its connection timeouts; `workers`: actix's
/// default (one per core) when `None`.
pub fn http_server(
    state: AppState,
    role: Listener,
    socket: Socket,
    workers: Option<usize>,
) -> std::io::Result<actix_web::dev::Server> {
    // Where the webhook path is served (reachable from the internet), zero: once a request whose
    // body was not read is answered (a refused delivery, a 401, a 413), the connection is closed
    // at once and what the client still sends is refused by the kernel (a reset), not read.
    // actix would otherwise read and throw away the rest for a while: 25 MB bodies from refused
    // senders then cost ccm the copy of every byte. A client still sending sees the reset, maybe
    // before the answer. The API's own listener (private) lingers a second, so that its clients
    // read the answer (a 413, a 401) even while still sending.
    let linger = match role {
        Listener::Api => std::time::Duration::from_secs(1),
        Listener::All | Listener::Webhooks => std::time::Duration::ZERO,
    };
    let mut server = actix_web::HttpServer::new(move || build_app_for(state.clone(), role))
        // The request head must arrive within this (actix's default, stated); the body has its own
        // deadline (CCM_BODY_TIMEOUT, `http::edge`).
        .client_request_timeout(std::time::Duration::from_secs(5))
        .client_disconnect_timeout(linger)
        .keep_alive(std::time::Duration::from_secs(5));
    if let Some(workers) = workers {
        server = server.workers(workers);
    }
    let server = match socket {
        Socket::Address(addr) => server.bind(addr)?,
        Socket::Bound(listener) => server.listen(listener)?,
    };
    Ok(server.shutdown_timeout(10).disable_signals().run())
}

/// The old CCM's registry, imported once into an empty database (see `app::old_registry`). A file
/// that cannot be imported is logged, and ccm starts all the same.
async fn take_over_old_registry(store: &dyn Store, gh: Option<&crate::github::Github>, path: &std::path::Path) {
    use crate::app::old_registry::{FirstStart, import_on_first_start};
    match import_on_first_start(store, gh, path).await {
        Ok(FirstStart::Imported { .. }) => {}
        Ok(FirstStart::ImportedBefore(when)) => {
            tracing::debug!(remembered = %when, "the old CCM's registry was imported before")
        }
        Ok(FirstStart::HasPipelines | FirstStart::NoFile) => {}
        Err(err) => tracing::error!(path = %path.display(), error = format!("{err:#}"),
            "the old CCM's registry could not be imported: fix or move the file (CCM_PIPELINES_PATH), \
             or import it with `ccm import`; ccm starts without it"),
    }
}

/// SIGINT (Ctrl-C) or SIGTERM (systemd, docker stop).
async fn stop_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM; stop with Ctrl-C");
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
