//! The old CCM on the same machine: it kept its pipelines in `~/.ccm/pipelines.json`, the folder
//! ccm uses. At start, when the database has no pipeline yet and that file (`CCM_PIPELINES_PATH`)
//! exists, it is imported once (the import of `app::import`, as `ccm import` does it), and what was
//! imported is logged. That it was imported is remembered in the database (the `github_state`
//! values, key `old_registry_imported`), so it is never imported again, even if every entry was
//! invalid and the database is still empty.

use std::path::Path;

use serde_json::{Value, json};

use super::import::{self, Outcome};
use crate::domain::{clock, registry};
use crate::github::Github;
use crate::store::Store;

/// Where the database remembers the import.
pub const IMPORTED_KEY: &str = "old_registry_imported";
/// The audit log's actor for the import.
pub const ACTOR: &str = "ccm:start-up";

/// What the start-up did about the old registry.
#[derive(Debug, PartialEq)]
pub enum FirstStart {
    /// Imported before (the value remembered): never again.
    ImportedBefore(String),
    /// The database has pipelines: nothing to take over.
    HasPipelines,
    /// No file at the path.
    NoFile,
    /// Imported now: created, already present, invalid.
    Imported { created: i64, already_present: i64, invalid: i64 },
}

/// Imports the old registry at `path` if the database has no pipeline and it was never imported.
/// A file that cannot be read as a registry is an error (ccm starts all the same; the import is
/// tried again at the next start).
pub async fn import_on_first_start(store: &dyn Store, gh: Option<&Github>, path: &Path) -> anyhow::Result<FirstStart> {
    if let Some(before) = store.get_state(IMPORTED_KEY).await? {
        return Ok(FirstStart::ImportedBefore(before));
    }
    let any = crate::store::PipelineFilter { limit: 1, ..Default::default() };
    if store.list_pipelines(&any).await?.total > 0 {
        return Ok(FirstStart::HasPipelines);
    }
    let raw = match std::fs::read(path) {
        Ok(raw) => raw,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(FirstStart::NoFile),
        Err(err) => anyhow::bail!("cannot read {}: {err}", path.display()),
    };
    let doc: Value =
        serde_json::from_slice(&raw).map_err(|e| anyhow::anyhow!("{} is not valid JSON: {e}", path.display()))?;
    let doc = registry::read(&doc).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    tracing::info!(path = %path.display(), entries = doc.entries.len(),
        "the database has no pipelines: importing the old CCM's registry");
    let imported = import::import(store, gh, ACTOR, &doc).await?;
    for entry in &imported {
        let id = entry.pipeline_id.as_deref().unwrap_or("?");
        match &entry.outcome {
            Outcome::Invalid(reason) => {
                tracing::warn!(entry = entry.position, pipeline_id = id, reason = %reason, "old registry: entry not imported")
            }
            outcome => tracing::info!(
                entry = entry.position,
                pipeline_id = id,
                result = outcome.as_str(),
                "old registry: pipeline"
            ),
        }
    }
    let (created, already_present, invalid) = import::counts(&imported);
    let remembered = json!({
        "path": path.display().to_string(),
        "at": clock::format(&clock::now()),
        "created": created,
        "already_present": already_present,
        "invalid": invalid,
    });
    store.set_state(IMPORTED_KEY, &remembered.to_string()).await?;
    tracing::info!(path = %path.display(), created, already_present, invalid,
        "old CCM registry imported (once: it is not imported again)");
    Ok(FirstStart::Imported { created, already_present, invalid })
}
