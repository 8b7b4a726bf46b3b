//! Pure logic: no I/O, no database, no HTTP.

pub mod alerts;
pub mod clock;
pub mod deployments;
pub mod idempotency;
pub mod insights;
pub mod issue_sync;
pub mod job_logs;
pub mod outbox;
pub mod pipeline;
pub mod registry;
pub mod replacement;
pub mod retention;
pub mod runs;
pub mod stats;
pub mod status;
pub mod tasks;
pub mod tokens;
