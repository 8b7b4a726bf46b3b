//! ccm: a webhook-driven CI/CD manager, served as a self-hosted GitHub App.

pub mod app;
pub mod backups;
pub mod cli;
pub mod config;
pub mod data_dir;
pub mod domain;
pub mod github;
pub mod http;
pub mod live;
pub mod metrics;
pub mod notify;
pub mod retention;
pub mod secret;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod webhook;
