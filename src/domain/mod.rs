//! Pure logic: no I/O, no database, no HTTP.

pub mod clock;
pub mod idempotency;
pub mod issue_sync;
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
