//! Insights (issue 19): a pipeline's report (performance, quality, deployments with the DORA
//! four, recommendations) and the overview across pipelines, computed from the rows the store
//! reads, without I/O. Each part is a pure function over `samples`, so that every figure is
//! checked here against a hand-computed answer.
//!
//! Days are UTC calendar days; a run belongs to the day it was created (GitHub's `created_at`,
//! the same for every attempt of a run), so a run crossing midnight counts on the day it began.

pub mod dora;
pub mod figures;
pub mod overview;
pub mod performance;
pub mod quality;
pub mod recommendations;
pub mod report;
pub mod samples;
pub mod window;

pub use report::{PipelineReport, ReportInputs, build_report};
pub use samples::{JobSample, RunSample};
pub use window::Window;
