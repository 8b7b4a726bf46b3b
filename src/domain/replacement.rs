//! `PUT /api/pipelines/{id}` (the DevOps tool's update): the body replaces every mutable field of
//! the pipeline (its config and VPS link), where `PATCH` changes only the fields it names.
//!
//! Read as a pipeline is shown (`GET` then `PUT` round-trips): `config`, `trigger_branches` (into
//! the config), `linked_domain` and `linked_app` (or `vps_integration` holding them); the fields
//! that name the pipeline (`pipeline_id`, `repository`, `workflow_file`, `status`) may be sent but
//! must be the pipeline's; those ccm sets (`created_at`, `updated_at`, `deactivated_at`, `stats`)
//! are ignored. Any other field is one of the DevOps tool's own settings (`port`, `subdomain`,
//! ...): it is kept in the config, which is where ccm keeps free-form settings.

use serde_json::{Map, Value};

use super::pipeline::{Pipeline, check_config_size, linked_field, parse_branches, type_name, validate_config};

/// What a `PUT` leaves, once checked against the pipeline it replaces.
#[derive(Debug, Clone, PartialEq)]
pub struct Replacement {
    pub config: Value,
    pub linked_domain: Option<String>,
    pub linked_app: Option<String>,
    /// The naming fields sent, each to be the pipeline's own.
    naming: Vec<(&'static str, Value)>,
}

/// The fields that name a pipeline: sent, they must be its own.
const NAMING: [&str; 4] = ["pipeline_id", "repository", "workflow_file", "status"];
/// The fields ccm sets: sent back from a `GET`, they are ignored.
const SET_BY_CCM: [&str; 4] = ["created_at", "updated_at", "deactivated_at", "stats"];

pub fn parse_replacement(body: &Value) -> Result<Replacement, String> {
    let obj = body.as_object().ok_or("Request body must be a JSON object")?;
    let mut config = match obj.get("config") {
        None | Some(Value::Null) => Map::new(),
        Some(config) => {
            validate_config(config)?;
            config.as_object().cloned().unwrap_or_default()
        }
    };
    let links = match obj.get("vps_integration") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(links)) => {
            if let Some(other) = links.keys().find(|k| *k != "linked_domain" && *k != "linked_app") {
                return Err(format!("Unknown field 'vps_integration.{other}': expected linked_domain or linked_app"));
            }
            links.clone()
        }
        Some(other) => return Err(format!("Field 'vps_integration' must be an object, got {}", type_name(other))),
    };
    let link = |name: &str| -> Result<Option<String>, String> {
        let top = linked_field(obj, name)?;
        let nested = linked_field(&links, name)?;
        match (top, nested) {
            (Some(a), Some(b)) if a != b => Err(format!("Fields '{name}' and 'vps_integration.{name}' differ")),
            (top, nested) => Ok(top.or(nested)),
        }
    };
    let (linked_domain, linked_app) = (link("linked_domain")?, link("linked_app")?);
    let mut naming = Vec::new();
    for (key, value) in obj {
        match key.as_str() {
            "config" | "vps_integration" | "linked_domain" | "linked_app" => {}
            "trigger_branches" => {
                let branches = parse_branches(value)?;
                config.insert("trigger_branches".into(), Value::from(branches));
            }
            key if SET_BY_CCM.contains(&key) => {}
            key if NAMING.contains(&key) => {
                let name = NAMING.iter().find(|n| **n == key).expect("just matched");
                naming.push((*name, value.clone()));
            }
            other => {
                if config.contains_key(other) {
                    return Err(format!("Field '{other}' is given both at the top level and in config"));
                }
                config.insert(other.to_string(), value.clone());
            }
        }
    }
    let config = Value::Object(config);
    check_config_size(&config)?;
    Ok(Replacement { config, linked_domain, linked_app, naming })
}

impl Replacement {
    /// Whether the naming fields sent are `pipeline`'s own (the repository's case aside).
    pub fn check_names(&self, pipeline: &Pipeline) -> Result<(), String> {
        for (name, sent) in &self.naming {
            let own = match *name {
                "pipeline_id" => pipeline.id.as_str(),
                "repository" => pipeline.repository.as_str(),
                "workflow_file" => pipeline.workflow_file.as_str(),
                _ => pipeline.status.as_str(),
            };
            let same = match sent.as_str() {
                Some(sent) if *name == "repository" => sent.eq_ignore_ascii_case(own),
                Some(sent) => sent == own,
                None => false,
            };
            if !same {
                return Err(format!(
                    "Field '{name}' cannot be changed by PUT: it must be '{own}' (or left out){}",
                    if *name == "status" { "; DELETE deactivates, provisioning again reactivates" } else { "" }
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pipeline() -> Pipeline {
        let now = crate::domain::clock::now();
        Pipeline {
            id: "pipe_00000000000d".into(),
            repository: "Octo/Shop".into(),
            workflow_file: ".github/workflows/deploy.yml".into(),
            status: crate::domain::status::PipelineStatus::Active,
            config: sqlx::types::Json(json!({"environment": "production"})),
            linked_domain: Some("shop.example.com".into()),
            linked_app: None,
            version: 0,
            created_at: now,
            updated_at: now,
            deactivated_at: None,
        }
    }

    #[test]
    fn replaces_the_config_and_links_keeping_the_devops_tools_fields() {
        let r = parse_replacement(&json!({"port": 8081, "subdomain": "newapp", "trigger_branches": ["main"]})).unwrap();
        assert_eq!(r.config, json!({"port": 8081, "subdomain": "newapp", "trigger_branches": ["main"]}));
        assert_eq!((r.linked_domain, r.linked_app), (None, None), "not sent: cleared");
        let r = parse_replacement(&json!({"vps_integration": {"linked_domain": "a.example", "linked_app": null}}));
        assert_eq!(r.unwrap().linked_domain.as_deref(), Some("a.example"));
    }

    #[test]
    fn a_shown_pipeline_round_trips_and_its_names_must_stay() {
        let p = pipeline();
        let shown = json!({
            "pipeline_id": p.id, "repository": "octo/shop", "workflow_file": p.workflow_file, "status": "active",
            "created_at": "2026-01-05T10:30:00Z", "updated_at": "x", "deactivated_at": null,
            "config": {"environment": "staging"}, "vps_integration": {"linked_domain": "shop.example.com"},
        });
        let r = parse_replacement(&shown).unwrap();
        assert_eq!(r.check_names(&p), Ok(()));
        assert_eq!(r.config, json!({"environment": "staging"}));
        for (field, value) in [("repository", "octo/other"), ("status", "inactive"), ("pipeline_id", "pipe_x")] {
            let mut body = shown.clone();
            body[field] = json!(value);
            let err = parse_replacement(&body).unwrap().check_names(&p).unwrap_err();
            assert!(err.starts_with(&format!("Field '{field}' cannot be changed by PUT")), "{err}");
        }
        let err = parse_replacement(&json!({"repository": 5})).unwrap().check_names(&p).unwrap_err();
        assert!(err.contains("repository"), "{err}");
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        for (body, needle) in [
            (json!([]), "must be a JSON object"),
            (json!({"config": "x"}), "'config' must be an object"),
            (json!({"port": 1, "config": {"port": 2}}), "both at the top level and in config"),
            (json!({"vps_integration": {"domain": "x"}}), "vps_integration.domain"),
            (json!({"linked_domain": "a", "vps_integration": {"linked_domain": "b"}}), "differ"),
            (json!({"trigger_branches": "main"}), "trigger_branches"),
            (json!({"blob": "x".repeat(70_000)}), "64 KB"),
        ] {
            let err = parse_replacement(&body).unwrap_err();
            assert!(err.contains(needle), "{body}: {err}");
        }
    }
}
