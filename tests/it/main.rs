//! The integration tests, linked into one binary (linking the app once instead of once per file
//! is most of what a test run costs on a small machine). Each module is one area; `helpers` is
//! the shared harness (the app on a loopback port, the fake GitHub, the `ccm` command line, the
//! payload builders and `wait_until`), `browser` drives headless Chromium for the dashboard test.
//!
//! The tests run on the harness's threads, several at once, each on its own runtime
//! (`#[actix_web::test]` or `#[tokio::test]`): none sets environment variables of this process
//! (child processes get theirs per command) or relies on running alone. Run one area with
//! `cargo test --test it webhooks::`, one test with its full name.

#[macro_use]
mod helpers;

mod alerts;
mod api_pipelines;
mod backups;
mod browser;
mod cli;
mod cli_client;
mod cli_watch;
mod conformance;
mod copy;
mod dashboard_actions;
mod dashboard_browser;
mod dashboard_http;
mod database_busy;
mod delivery_failures;
mod deployments;
mod edge;
mod github_app;
mod github_client;
mod github_recovery;
mod github_refusals;
mod idempotency;
mod import_export;
mod job_logs;
mod logs;
mod metrics;
mod metrics_auth;
mod old_registry;
mod openapi;
mod packaging;
mod pipeline_jobs;
mod pipeline_pages;
mod postgres_batches;
mod postgres_sessions;
mod rate_limits;
mod readiness;
mod replicas;
mod reports;
mod retention;
mod run_actions;
mod seed_clients;
mod seed_compat;
mod shutdown;
mod sqlite_writer;
mod stats_windows;
mod store_installations;
mod tasks_pull_requests;
mod tasks_sync;
mod tasks_visibility;
mod test_scripts;
mod tokens;
mod webhook_send;
mod webhooks;
