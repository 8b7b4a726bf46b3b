//! The HTTP layer: `build_app` assembles every route, used by `ccm serve` and by the tests.

pub mod access;
mod actions;
mod alerts;
mod aliases;
mod audit;
pub mod auth;
mod backups;
mod body;
pub mod client_addr;
mod dashboard;
mod deliveries;
mod deployments;
pub mod edge;
mod error;
mod events;
mod headers;
mod health;
mod import;
mod integrations;
mod job_logs;
mod jobs;
mod observe;
mod openapi;
mod paging;
pub(crate) mod pipelines;
mod prometheus;
mod report_page;
mod reports;
pub mod routes;
mod run_actions;
mod scope_hints;
mod sync;
mod tasks;
mod tokens;
mod webhooks;

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::error::{JsonPayloadError, QueryPayloadError};
use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::{App, HttpRequest, web};
use tracing_actix_web::TracingLogger;

pub use auth::{Actor, ApiTokens};
pub use error::ApiError;
pub use observe::Received;
pub use routes::Endpoint;

use crate::live::Live;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::webhook::publish::Changes;
use crate::webhook::{Ingestor, WebhookSecrets};

/// Largest JSON body the API accepts.
pub const API_BODY_LIMIT: usize = 1024 * 1024;

/// Everything a request handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub tokens: Arc<ApiTokens>,
    pub secrets: Arc<WebhookSecrets>,
    pub live: Arc<Live>,
    pub ingestor: Ingestor,
    pub changes: Changes,
    /// None when neither a GitHub App nor GHT is configured.
    pub github: Option<Arc<crate::github::GithubClient>>,
    /// This app's Prometheus registry.
    pub metrics: Metrics,
    /// The scope each pipeline's stats were last read with (see `scope_hints`).
    pub scope_hints: Arc<scope_hints::ScopeHints>,
    /// Named tokens, rate limits, `/metrics` authentication (see `access`).
    pub access: Arc<access::Access>,
    /// Issue 20: allow-lists, trusted proxies and pre-authentication limits (`edge`).
    pub edge: Arc<edge::Edge>,
    /// Issue 16: the alert evaluator and notification sender.
    pub alerts: crate::notify::Alerts,
    /// Issue 18: the SQLite backups' folder, whose newest backup the dashboard shows (None: not
    /// known, or PostgreSQL).
    pub backups: Option<std::path::PathBuf>,
}

impl AppState {
    /// Starts the background workers (batch writers, retries, live publisher) over `store`.
    /// Must run inside the async runtime.
    pub fn start(
        store: Arc<dyn Store>,
        tokens: ApiTokens,
        secrets: WebhookSecrets,
        github: Option<Arc<crate::github::GithubClient>>,
    ) -> Self {
        let metrics = Metrics::new();
        metrics.start_upkeep();
        let live = Arc::new(Live::new());
        let alerts = crate::notify::Alerts::new();
        let changes = Changes::start(store.clone(), live.clone(), alerts.evaluate.clone());
        alerts.spawn(store.clone(), live.clone(), github.clone());
        let writers = match store.backend() {
            crate::store::Backend::Sqlite => 1,
            crate::store::Backend::Postgres => 2,
        };
        let ingestor = Ingestor::start(store.clone(), changes.clone(), writers, metrics.clone());
        AppState {
            store,
            tokens: Arc::new(tokens),
            secrets: Arc::new(secrets),
            live,
            ingestor,
            changes,
            github,
            metrics,
            scope_hints: Arc::default(),
            access: access::Access::start(&access::AccessConfig::unlimited()),
            edge: Arc::default(),
            alerts,
            backups: None,
        }
    }

    /// With the folder of SQLite backups (`CCM_DATA_DIR/backups/`), for `GET /api/backups/latest`.
    pub fn with_backups(mut self, dir: std::path::PathBuf) -> Self {
        self.backups = Some(dir);
        self
    }

    /// With these alert settings (sweep, cooldown, retries, SMTP) instead of the defaults.
    pub fn with_alerts(self, settings: crate::notify::AlertSettings) -> Self {
        self.alerts.set_settings(settings);
        self
    }

    /// The same state with these access settings (`ccm serve` passes its own; without this, no
    /// rate limit and `/metrics` open). Must run inside the async runtime.
    pub fn with_access(mut self, config: &access::AccessConfig) -> Self {
        self.access = access::Access::start(config);
        self
    }

    /// With these edge settings (allow-lists, limits) instead of the defaults.
    pub fn with_edge(mut self, config: &edge::EdgeConfig) -> Self {
        self.edge = Arc::new(edge::Edge::new(config));
        self
    }

    /// The GitHub side, or the JSON error saying the App is not configured.
    pub fn github(&self) -> Result<crate::github::Github, ApiError> {
        self.github
            .as_ref()
            .map(|client| crate::github::Github { store: self.store.clone(), client: client.clone() })
            .ok_or(ApiError::GithubNotConfigured)
    }
}

/// The app serving everything (one listener).
pub fn build_app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    build_app_for(state, edge::Listener::All)
}

/// The app serving what `listener` serves (see `edge::Listener`).
pub fn build_app_for(
    state: AppState,
    listener: edge::Listener,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(web::Data::new(state))
        .app_data(listener)
        .app_data(web::JsonConfig::default().limit(API_BODY_LIMIT).error_handler(json_error))
        .app_data(web::QueryConfig::default().error_handler(query_error))
        .wrap(ErrorHandlers::new().default_handler(error::json_error_fallback))
        .wrap(from_fn(edge::guard))
        // Outside the error handlers: errors are JSON answers too.
        .wrap(from_fn(headers::add))
        .wrap(from_fn(observe::observe))
        .wrap(TracingLogger::<observe::RequestSpan>::new())
        .configure(move |cfg| match listener {
            edge::Listener::All => register(cfg, &mut Vec::new()),
            edge::Listener::Api => register_api(cfg),
            edge::Listener::Webhooks => register_webhooks(cfg),
        })
        .default_service(web::to(not_found))
}

/// Registers every route; `seen` receives each method and path.
fn register(cfg: &mut web::ServiceConfig, seen: &mut Vec<Endpoint>) {
    let mut root = routes::Routes::new(cfg, "", seen);
    health::routes(&mut root);
    webhooks::routes(&mut root);
    prometheus::routes(&mut root);
    // Before the /api scope, which would ask for a token: the document is public (and so are the
    // health and webhook aliases under /api/v1, registered above).
    openapi::routes(&mut root);
    dashboard::routes(&mut root);
    cfg.service(web::scope("/api").wrap(from_fn(access::require_token)).configure(|cfg| {
        let mut api = routes::Routes::new(cfg, "/api", seen);
        // Before pipelines: `/pipelines/{id}` would take `/pipelines/import` otherwise.
        import::routes(&mut api);
        pipelines::routes(&mut api);
        jobs::routes(&mut api);
        deployments::routes(&mut api);
        reports::routes(&mut api);
        job_logs::routes(&mut api);
        events::routes(&mut api);
        deliveries::routes(&mut api);
        actions::routes(&mut api);
        run_actions::routes(&mut api);
        integrations::routes(&mut api);
        tasks::routes(&mut api);
        sync::routes(&mut api);
        audit::routes(&mut api);
        tokens::routes(&mut api);
        alerts::routes(&mut api);
        backups::routes(&mut api);
    }));
}

/// Issue 20, split listeners: the API listener serves everything but the webhook paths (404).
fn register_api(cfg: &mut web::ServiceConfig) {
    for path in edge::WEBHOOK_PATHS {
        cfg.service(web::resource(*path).to(edge::webhook_not_served));
    }
    register(cfg, &mut Vec::new());
}

/// Issue 20, split listeners: the webhook listener serves the webhook paths and `/healthz`.
fn register_webhooks(cfg: &mut web::ServiceConfig) {
    let mut seen = Vec::new();
    let mut root = routes::Routes::new(cfg, "", &mut seen);
    health::liveness(&mut root);
    webhooks::routes(&mut root);
}

/// Every method and path the app serves, from the same registration as `build_app`.
pub fn endpoints() -> Vec<Endpoint> {
    let mut seen = Vec::new();
    let _ = App::new().configure(|cfg| register(cfg, &mut seen));
    seen
}

/// For resources whose path matched but whose methods did not.
pub(crate) async fn method_not_allowed(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed(format!("Method {} is not allowed on {}", req.method(), req.path())))
}

async fn not_found(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!("No such endpoint: {} {}", req.method(), req.path())))
}

fn json_error(err: JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    match err {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            ApiError::PayloadTooLarge(format!("Request body too large: the limit is {API_BODY_LIMIT} bytes"))
        }
        JsonPayloadError::ContentType => {
            ApiError::UnsupportedMediaType("Unsupported Content-Type: send application/json".into())
        }
        JsonPayloadError::Deserialize(e) => ApiError::BadRequest(format!("Malformed JSON body: {e}")),
        JsonPayloadError::Payload(err) if edge::limits::timed_out(&err).is_some() => {
            ApiError::RequestTimeout(edge::limits::timed_out(&err).unwrap_or_default())
        }
        other => ApiError::BadRequest(format!("Could not read the request body: {other}")),
    }
    .into()
}

fn query_error(err: QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    let detail = match &err {
        QueryPayloadError::Deserialize(e) => e.to_string(),
        other => other.to_string(),
    };
    ApiError::BadRequest(format!("Invalid query string: {detail}")).into()
}
