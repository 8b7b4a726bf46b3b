//! Use cases: what a request asks of ccm, between the HTTP handlers (which parse and answer) and
//! the store (which reads and writes). The rules are plain functions, unit-tested without a
//! database; the use cases apply them to stored rows, retrying when a concurrent writer got there
//! first.

pub mod import;
pub mod insights;
pub mod old_registry;
pub mod pipeline_github;
pub mod pipelines;
pub mod runs;
pub mod tasks;
pub mod tokens;
