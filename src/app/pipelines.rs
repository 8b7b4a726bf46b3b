//! Provisioning, changing and tearing down pipelines: what each does to a pipeline (plain
//! functions), and the optimistic saves that decide again when another request changed the
//! pipeline meanwhile. What GitHub is asked before and after (verification, backfill, cancels)
//! stays with the caller.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::types::Json;

use crate::domain::clock;
use crate::domain::pipeline::{self as rules, Pipeline, PipelineChange, ProvisionRequest};
use crate::domain::replacement::Replacement;
use crate::domain::status::PipelineStatus;
use crate::store::{NewAudit, Store, StoreError};

/// How often a write that lost an optimistic-concurrency race is decided again.
const ATTEMPTS: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("Pipeline not found: {0}")]
    NotFound(String),
    /// What the change would leave is not a valid pipeline (a config past its size limit).
    #[error("{0}")]
    Invalid(String),
    /// Provisioning a repository and workflow file that an active pipeline already follows.
    #[error("An active pipeline already exists for {} {}: {}", .0.repository, .0.workflow_file, .0.id)]
    ActiveExists(Box<Pipeline>),
    /// Every attempt lost its race to a concurrent writer.
    #[error("{0} kept losing races")]
    KeptLosingRaces(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A new active pipeline for `req`.
pub fn new_pipeline(req: &ProvisionRequest, id: String, now: DateTime<Utc>) -> Pipeline {
    Pipeline {
        id,
        repository: req.repo.clone(),
        workflow_file: req.workflow_file.clone(),
        status: PipelineStatus::Active,
        config: Json(req.config.clone()),
        linked_domain: req.linked_domain.clone(),
        linked_app: req.linked_app.clone(),
        version: 0,
        created_at: now,
        updated_at: now,
        deactivated_at: None,
    }
}

/// An inactive pipeline active again, with `req`'s config and VPS link (its id and history kept).
pub fn reactivated(mut pipeline: Pipeline, req: &ProvisionRequest, now: DateTime<Utc>) -> Pipeline {
    pipeline.status = PipelineStatus::Active;
    pipeline.config = Json(req.config.clone());
    pipeline.linked_domain = req.linked_domain.clone();
    pipeline.linked_app = req.linked_app.clone();
    pipeline.updated_at = now;
    pipeline.deactivated_at = None;
    pipeline
}

/// The pipeline with `change` applied: its config merged (RFC 7396), its VPS link replaced.
pub fn changed(mut pipeline: Pipeline, change: &PipelineChange, now: DateTime<Utc>) -> Pipeline {
    pipeline.config = Json(rules::apply_change(&pipeline.config, change));
    if let Some(domain) = &change.linked_domain {
        pipeline.linked_domain = domain.clone();
    }
    if let Some(app) = &change.linked_app {
        pipeline.linked_app = app.clone();
    }
    pipeline.updated_at = now;
    pipeline
}

/// The pipeline with its mutable fields replaced (`PUT`): its config and VPS link.
pub fn replaced(mut pipeline: Pipeline, replacement: &Replacement, now: DateTime<Utc>) -> Pipeline {
    pipeline.config = Json(replacement.config.clone());
    pipeline.linked_domain = replacement.linked_domain.clone();
    pipeline.linked_app = replacement.linked_app.clone();
    pipeline.updated_at = now;
    pipeline
}

/// The pipeline deactivated (its repository is never touched).
pub fn deactivated(mut pipeline: Pipeline, now: DateTime<Utc>) -> Pipeline {
    pipeline.status = PipelineStatus::Inactive;
    pipeline.updated_at = now;
    pipeline.deactivated_at = Some(now);
    pipeline
}

fn audit(actor: &str, action: &str, pipeline_id: &str, details: Value) -> NewAudit {
    NewAudit { actor: actor.into(), action: action.into(), pipeline_id: Some(pipeline_id.into()), details }
}

fn provision_details(req: &ProvisionRequest) -> Value {
    json!({
        "repository": req.repo,
        "workflow_file": req.workflow_file,
        "config": req.config,
        "linked_domain": req.linked_domain,
        "linked_app": req.linked_app,
    })
}

/// What provisioning did.
#[derive(Debug)]
pub struct Provisioned {
    pub pipeline: Pipeline,
    /// An inactive pipeline for the same repository and workflow file was made active again.
    pub reactivated: bool,
    /// The same provision was made before (its answer lost, say): the active pipeline it made,
    /// unchanged.
    pub existing: bool,
}

/// Whether `req` is the provision that made `pipeline` as it is: the same repository (as
/// spelled), workflow file, config and VPS link.
pub fn same_provision(pipeline: &Pipeline, req: &ProvisionRequest) -> bool {
    pipeline.repository == req.repo
        && pipeline.workflow_file == req.workflow_file
        && pipeline.config.0 == req.config
        && pipeline.linked_domain == req.linked_domain
        && pipeline.linked_app == req.linked_app
}

/// Provisions a pipeline for `req`: a new one, or the inactive one of the same repository and
/// workflow file made active again. An active one is a conflict, unless `req` is the provision
/// that made it as it is (a client retrying after a lost answer): then it is that pipeline,
/// and nothing is written.
pub async fn provision(store: &dyn Store, actor: &str, req: &ProvisionRequest) -> Result<Provisioned, PipelineError> {
    for _ in 0..ATTEMPTS {
        match store.find_pipeline(&req.repo, &req.workflow_file).await? {
            Some(existing) if existing.is_active() && same_provision(&existing, req) => {
                tracing::info!(pipeline_id = %existing.id, repo = %existing.repository, "provisioned again: unchanged");
                return Ok(Provisioned { pipeline: existing, reactivated: false, existing: true });
            }
            Some(existing) if existing.is_active() => return Err(PipelineError::ActiveExists(Box::new(existing))),
            Some(inactive) => {
                let pipeline = reactivated(inactive, req, clock::now());
                let entry = audit(actor, "pipeline.reactivated", &pipeline.id, provision_details(req));
                if let Some(saved) = store.save_pipeline(&pipeline, &entry).await? {
                    tracing::info!(pipeline_id = %saved.id, repo = %saved.repository, "pipeline reactivated");
                    return Ok(Provisioned { pipeline: saved, reactivated: true, existing: false });
                }
            }
            None => {
                let pipeline = new_pipeline(req, rules::new_pipeline_id(), clock::now());
                let entry = audit(actor, "pipeline.provisioned", &pipeline.id, provision_details(req));
                match store.create_pipeline(&pipeline, &entry).await {
                    Ok(()) => {
                        tracing::info!(pipeline_id = %pipeline.id, repo = %pipeline.repository, "pipeline provisioned");
                        return Ok(Provisioned { pipeline, reactivated: false, existing: false });
                    }
                    // Another request provisioned the same repository and workflow just now.
                    Err(StoreError::Conflict(_)) => continue,
                    Err(err) => return Err(err.into()),
                }
            }
        }
    }
    Err(PipelineError::KeptLosingRaces(format!("provision of {}", req.repo)))
}

/// Applies `change` to pipeline `id`; `details` is what the audit log records of it.
pub async fn change(
    store: &dyn Store,
    actor: &str,
    id: &str,
    change: &PipelineChange,
    details: &Value,
) -> Result<Pipeline, PipelineError> {
    for _ in 0..ATTEMPTS {
        let pipeline = store.get_pipeline(id).await?.ok_or_else(|| PipelineError::NotFound(id.into()))?;
        let pipeline = changed(pipeline, change, clock::now());
        rules::check_config_size(&pipeline.config).map_err(PipelineError::Invalid)?;
        let entry = audit(actor, "pipeline.updated", &pipeline.id, details.clone());
        if let Some(saved) = store.save_pipeline(&pipeline, &entry).await? {
            return Ok(saved);
        }
    }
    Err(PipelineError::KeptLosingRaces(format!("update of {id}")))
}

/// Replaces pipeline `id`'s config and VPS link with `replacement`'s (after checking that the
/// fields naming the pipeline, if sent, are its own); `details` is what the audit log records.
pub async fn replace(
    store: &dyn Store,
    actor: &str,
    id: &str,
    replacement: &Replacement,
    details: &Value,
) -> Result<Pipeline, PipelineError> {
    for _ in 0..ATTEMPTS {
        let pipeline = store.get_pipeline(id).await?.ok_or_else(|| PipelineError::NotFound(id.into()))?;
        replacement.check_names(&pipeline).map_err(PipelineError::Invalid)?;
        let pipeline = replaced(pipeline, replacement, clock::now());
        let entry = audit(actor, "pipeline.replaced", &pipeline.id, details.clone());
        if let Some(saved) = store.save_pipeline(&pipeline, &entry).await? {
            return Ok(saved);
        }
    }
    Err(PipelineError::KeptLosingRaces(format!("replacement of {id}")))
}

/// What a teardown did.
#[derive(Debug)]
pub enum TornDown {
    AlreadyInactive(Pipeline),
    Deactivated(Pipeline),
}

/// Deactivates pipeline `id` (an inactive one is left as it is).
pub async fn teardown(store: &dyn Store, actor: &str, id: &str) -> Result<TornDown, PipelineError> {
    for _ in 0..ATTEMPTS {
        let pipeline = store.get_pipeline(id).await?.ok_or_else(|| PipelineError::NotFound(id.into()))?;
        if !pipeline.is_active() {
            return Ok(TornDown::AlreadyInactive(pipeline));
        }
        let pipeline = deactivated(pipeline, clock::now());
        let entry = audit(actor, "pipeline.deactivated", &pipeline.id, json!({"preserve_repo": true}));
        if let Some(saved) = store.save_pipeline(&pipeline, &entry).await? {
            tracing::info!(pipeline_id = %saved.id, repo = %saved.repository, "pipeline deactivated");
            return Ok(TornDown::Deactivated(saved));
        }
    }
    Err(PipelineError::KeptLosingRaces(format!("teardown of {id}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> ProvisionRequest {
        rules::parse_provision(&json!({
            "repo": "octo/shop", "workflow_file": ".github/workflows/deploy.yml",
            "config": {"trigger_branches": ["main"]},
            "linked_domain": "shop.example.com", "linked_app": "shop",
        }))
        .unwrap()
    }

    #[test]
    fn a_reactivated_pipeline_keeps_its_id_and_history_and_takes_the_new_settings() {
        let created = clock::now() - chrono::Duration::days(3);
        let old = deactivated(new_pipeline(&request(), "pipe_00000000000a".into(), created), created);
        assert_eq!((old.status, old.deactivated_at), (PipelineStatus::Inactive, Some(created)));
        let now = clock::now();
        let again = reactivated(old.clone(), &request(), now);
        assert_eq!((again.id.as_str(), again.created_at), ("pipe_00000000000a", created));
        assert_eq!((again.status, again.deactivated_at, again.updated_at), (PipelineStatus::Active, None, now));
        assert_eq!(again.linked_domain.as_deref(), Some("shop.example.com"));
        assert_eq!(again.trigger_branches(), ["main"]);
    }

    #[test]
    fn only_the_very_same_provision_finds_the_active_pipeline() {
        let pipeline = new_pipeline(&request(), "pipe_00000000000e".into(), clock::now());
        assert!(same_provision(&pipeline, &request()));
        let differs = |change: serde_json::Value| {
            let mut body = json!({
                "repo": "octo/shop", "workflow_file": ".github/workflows/deploy.yml",
                "config": {"trigger_branches": ["main"]},
                "linked_domain": "shop.example.com", "linked_app": "shop",
            });
            for (k, v) in change.as_object().unwrap() {
                body[k] = v.clone();
            }
            !same_provision(&pipeline, &rules::parse_provision(&body).unwrap())
        };
        assert!(!differs(json!({})));
        assert!(differs(json!({"config": {"trigger_branches": ["release"]}})));
        assert!(differs(json!({"linked_app": null})));
        assert!(differs(json!({"linked_domain": "other.example.com"})));
        assert!(differs(json!({"repo": "Octo/Shop"})), "spelled otherwise: not a retry of the same request");
    }

    #[test]
    fn a_change_merges_the_config_and_replaces_the_link() {
        let pipeline = new_pipeline(&request(), "pipe_00000000000b".into(), clock::now());
        let change = rules::parse_change(
            &json!({"config": {"trigger_branches": ["release"], "note": "x"}, "linked_domain": null}),
        )
        .unwrap();
        let changed = changed(pipeline, &change, clock::now());
        assert_eq!(changed.trigger_branches(), ["release"]);
        assert_eq!(changed.config.0["note"], "x");
        assert_eq!((changed.linked_domain, changed.linked_app.as_deref()), (None, Some("shop")));
    }
}
