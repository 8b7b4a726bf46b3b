//! The SQL both databases share, each area written once as plain Rust over `db` (either pool or
//! transaction, and a statement builder): its trait and its `impl` for `SqlStore`. Where a
//! backend has a fast path for a call (see `fast_paths.rs`), the area takes it first.

pub(crate) mod actions;
pub mod alerts;
pub(crate) mod chunks;
pub(crate) mod db;
pub mod deliveries;
pub mod deployments;
pub(crate) mod filters;
pub mod gauges;
pub(crate) mod github;
pub mod insights;
pub(crate) mod installations;
pub mod job_logs;
pub(crate) mod outbox;
pub(crate) mod pipelines;
pub mod retention;
pub mod tasks;
pub mod tokens;
