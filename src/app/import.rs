//! Importing an old CCM registry: each entry created with its original id, status and VPS link,
//! or reported as already present (its id is stored: left alone, so importing twice creates
//! nothing) or invalid with the reason. An invalid entry does not stop the others. With a GitHub
//! App, each active pipeline created gets the backfill of its recent runs, as a provisioned one
//! does. Used by `POST /api/pipelines/import` and by the start-up import of an old CCM's file.

use serde_json::json;

use super::pipeline_github::{self, BackfillStarted};
use crate::domain::registry::{self, Document};
use crate::domain::{clock, pipeline::Pipeline};
use crate::github::Github;
use crate::store::{NewAudit, Store, StoreError};

/// What became of one entry.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Created,
    AlreadyPresent,
    Invalid(String),
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::AlreadyPresent => "already_present",
            Outcome::Invalid(_) => "invalid",
        }
    }
}

#[derive(Debug)]
pub struct Imported {
    /// The entry's position in the registry (from 1).
    pub position: usize,
    /// The id the entry names, if any.
    pub pipeline_id: Option<String>,
    pub outcome: Outcome,
    /// For an active pipeline created with a GitHub App configured.
    pub backfill: Option<BackfillStarted>,
}

/// Counts of each outcome: created, already present, invalid.
pub fn counts(imported: &[Imported]) -> (i64, i64, i64) {
    let count = |kind: &str| imported.iter().filter(|i| i.outcome.as_str() == kind).count() as i64;
    (count("created"), count("already_present"), count("invalid"))
}

/// Imports every entry of `doc`, in order.
pub async fn import(
    store: &dyn Store,
    gh: Option<&Github>,
    actor: &str,
    doc: &Document,
) -> Result<Vec<Imported>, StoreError> {
    let now = clock::now();
    let mut results = Vec::with_capacity(doc.entries.len());
    for entry in &doc.entries {
        let (outcome, pipeline) = match registry::to_pipeline(entry, now) {
            Ok(pipeline) => (import_one(store, actor, &pipeline).await?, Some(pipeline)),
            Err(reason) => (Outcome::Invalid(reason), None),
        };
        let backfill = match (&outcome, gh, &pipeline) {
            // Its history, as provisioning would fetch it; none without a GitHub App.
            (Outcome::Created, Some(gh), Some(pipeline)) if pipeline.is_active() => {
                Some(pipeline_github::start_backfill(gh, pipeline).await)
            }
            _ => None,
        };
        results.push(Imported { position: entry.position, pipeline_id: entry.id(), outcome, backfill });
    }
    let (created, already_present, invalid) = counts(&results);
    tracing::info!(created, already_present, invalid, "registry imported");
    Ok(results)
}

async fn import_one(store: &dyn Store, actor: &str, p: &Pipeline) -> Result<Outcome, StoreError> {
    // Twice: a concurrent import of the same registry may create the row between check and insert.
    for _ in 0..2 {
        if let Some(existing) = store.get_pipeline(&p.id).await? {
            let same =
                existing.repository.eq_ignore_ascii_case(&p.repository) && existing.workflow_file == p.workflow_file;
            return Ok(if same {
                Outcome::AlreadyPresent
            } else {
                Outcome::Invalid(format!(
                    "pipeline_id {} is already used by {} {}",
                    p.id, existing.repository, existing.workflow_file
                ))
            });
        }
        if let Some(other) = store.find_pipeline(&p.repository, &p.workflow_file).await? {
            return Ok(Outcome::Invalid(format!(
                "{} {} already has another pipeline: {}",
                other.repository, other.workflow_file, other.id
            )));
        }
        let audit = NewAudit {
            actor: actor.into(),
            action: "pipeline.imported".into(),
            pipeline_id: Some(p.id.clone()),
            details: json!({
                "repository": p.repository,
                "workflow_file": p.workflow_file,
                "status": p.status,
                "linked_domain": p.linked_domain,
                "linked_app": p.linked_app,
            }),
        };
        match store.create_pipeline(p, &audit).await {
            Ok(()) => return Ok(Outcome::Created),
            Err(StoreError::Conflict(_)) => continue,
            Err(err) => return Err(err),
        }
    }
    Ok(Outcome::Invalid(format!("{} {} conflicts with a pipeline created meanwhile", p.repository, p.workflow_file)))
}
