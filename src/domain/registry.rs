//! The old CCM's pipeline registry (`~/.ccm/pipelines.json`): read in each of its shapes, each
//! entry checked and turned into a pipeline with its original id, and written back (export).
//!
//! Shapes read: a JSON list of pipelines; an object keyed by pipeline id (a `version` or other
//! non-pipeline field beside the entries is ignored, but an object with no entry at all is not a
//! registry); and either of these under `pipelines` in an object with an optional `version`.

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use serde_json::{Map, Value, json};
use sqlx::types::Json;

use super::pipeline::{
    Pipeline, is_pipeline_id, linked_field, type_name, validate_config, validate_repo, validate_workflow_file,
};
use super::status::PipelineStatus;

/// The registry version written by `ccm export` (the old CCM's registry was version 2.0).
pub const REGISTRY_VERSION: &str = "2.0";

/// How the entries were laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    List,
    Map,
}

/// One entry of a registry document.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// 1-based position in the document.
    pub position: usize,
    /// Its key, in a map keyed by pipeline id.
    pub key: Option<String>,
    pub value: Value,
}

impl Entry {
    /// The id the entry names (its `pipeline_id`, else its key), for reports.
    pub fn id(&self) -> Option<String> {
        match self.value.get("pipeline_id") {
            Some(Value::String(id)) => Some(id.clone()),
            _ => self.key.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub shape: Shape,
    pub entries: Vec<Entry>,
}

/// The entries of a registry document, or why it is not one.
pub fn read(doc: &Value) -> Result<Document, String> {
    match doc {
        Value::Array(items) => Ok(list(items)),
        Value::Object(obj) if obj.contains_key("pipelines") => {
            check_version(obj.get("version"))?;
            match &obj["pipelines"] {
                Value::Array(items) => Ok(list(items)),
                Value::Object(map) => Ok(keyed(map, false)),
                other => Err(format!(
                    "'pipelines' must be a list or an object keyed by pipeline id, got {}",
                    type_name(other)
                )),
            }
        }
        Value::Object(obj) => {
            if obj.get("pipeline_id").is_some_and(Value::is_string) && obj.contains_key("repository") {
                return Err("This is one pipeline, not a registry: put it in a JSON list".into());
            }
            check_version(obj.get("version"))?;
            let doc = keyed(obj, true);
            if doc.entries.is_empty() {
                return Err("No pipelines: a registry is a JSON list of pipelines, an object keyed by pipeline id, \
                            or an object with them under 'pipelines'"
                    .into());
            }
            Ok(doc)
        }
        other => Err(format!(
            "A registry is a JSON list of pipelines or an object keyed by pipeline id, got {}",
            type_name(other)
        )),
    }
}

fn list(items: &[Value]) -> Document {
    let entries =
        items.iter().enumerate().map(|(i, value)| Entry { position: i + 1, key: None, value: value.clone() }).collect();
    Document { shape: Shape::List, entries }
}

/// Entries keyed by pipeline id. At the top level, fields that are neither objects nor named like
/// a pipeline (`version`, `last_updated`, ...) are the registry's own and are skipped.
fn keyed(map: &Map<String, Value>, skip_metadata: bool) -> Document {
    let entries = map
        .iter()
        .filter(|(key, value)| !skip_metadata || value.is_object() || key.starts_with("pipe_"))
        .enumerate()
        .map(|(i, (key, value))| Entry { position: i + 1, key: Some(key.clone()), value: value.clone() })
        .collect();
    Document { shape: Shape::Map, entries }
}

/// Version 2 registries (any 2.x), or none given.
fn check_version(version: Option<&Value>) -> Result<(), String> {
    let text = match version {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::String(s)) => s.trim().trim_start_matches(['v', 'V']).to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => return Err(format!("'version' must be a string, got {}", type_name(other))),
    };
    if text == "2" || text.starts_with("2.") {
        Ok(())
    } else {
        Err(format!("Unsupported registry version '{text}': ccm reads version 2 registries"))
    }
}

/// Checks an entry and makes the pipeline it describes: its own id, status, config, VPS link and
/// timestamps (`now` where the entry has none).
pub fn to_pipeline(entry: &Entry, now: DateTime<Utc>) -> Result<Pipeline, String> {
    let obj =
        entry.value.as_object().ok_or_else(|| format!("Entry must be an object, got {}", type_name(&entry.value)))?;
    let id = match (obj.get("pipeline_id"), &entry.key) {
        (None | Some(Value::Null), Some(key)) => key.clone(),
        (Some(Value::String(id)), Some(key)) if id != key => {
            return Err(format!("Key '{key}' and pipeline_id '{id}' differ"));
        }
        (Some(Value::String(id)), _) => id.clone(),
        (None | Some(Value::Null), None) => String::new(),
        (Some(other), _) => return Err(format!("Field 'pipeline_id' must be a string, got {}", type_name(other))),
    };
    let repository = string_field(obj, "repository")?.or(string_field(obj, "repo")?);
    let workflow_file = string_field(obj, "workflow_file")?;
    let status = string_field(obj, "status")?;
    let missing: Vec<&str> = [
        ("pipeline_id", id.is_empty()),
        ("repository", repository.is_none()),
        ("workflow_file", workflow_file.is_none()),
        ("status", status.is_none()),
    ]
    .into_iter()
    .filter_map(|(name, absent)| absent.then_some(name))
    .collect();
    if !missing.is_empty() {
        return Err(format!("Missing required fields: {}", missing.join(", ")));
    }
    let (repository, workflow_file, status) =
        (repository.unwrap_or_default(), workflow_file.unwrap_or_default(), status.unwrap_or_default());
    if !is_pipeline_id(&id) {
        return Err(format!("Invalid pipeline_id '{id}': expected pipe_ and 12 lowercase hex characters"));
    }
    validate_repo(&repository)?;
    validate_workflow_file(&workflow_file)?;
    let Ok(status) = status.parse::<PipelineStatus>() else {
        return Err(format!("Invalid status '{status}': expected active or inactive"));
    };
    let config = match obj.get("config") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(config) => {
            validate_config(config)?;
            config.clone()
        }
    };
    let links = match obj.get("vps_integration") {
        None | Some(Value::Null) => obj,
        Some(Value::Object(links)) => links,
        Some(other) => return Err(format!("Field 'vps_integration' must be an object, got {}", type_name(other))),
    };
    let created_at = timestamp(obj, "created_at")?.unwrap_or(now);
    let updated_at = timestamp(obj, "updated_at")?.unwrap_or(now);
    let deactivated_at = match status {
        PipelineStatus::Inactive => Some(timestamp(obj, "deactivated_at")?.unwrap_or(updated_at)),
        PipelineStatus::Active => None,
    };
    Ok(Pipeline {
        id,
        repository,
        workflow_file,
        status,
        config: Json(config),
        linked_domain: linked_field(links, "linked_domain")?,
        linked_app: linked_field(links, "linked_app")?,
        version: 0,
        created_at,
        updated_at,
        deactivated_at,
    })
}

fn string_field(obj: &Map<String, Value>, name: &str) -> Result<Option<String>, String> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(other) => Err(format!("Field '{name}' must be a string, got {}", type_name(other))),
    }
}

/// RFC 3339, or the old CCM's Python `isoformat()` without a zone (taken as UTC).
fn timestamp(obj: &Map<String, Value>, name: &str) -> Result<Option<DateTime<Utc>>, String> {
    let Some(text) = string_field(obj, name)? else { return Ok(None) };
    if let Ok(at) = DateTime::parse_from_rfc3339(&text) {
        return Ok(Some(at.with_timezone(&Utc).trunc_subsecs(6)));
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(&text, format).ok())
        .map(|naive| Some(naive.and_utc().trunc_subsecs(6)))
        .ok_or_else(|| format!("Invalid {name} '{text}': expected a timestamp such as 2026-01-05T10:30:00Z"))
}

/// A registry document (versioned, keyed by pipeline id) holding these pipelines as the API shows
/// them: the old registry's fields, plus `updated_at` and `deactivated_at`, which import reads back.
pub fn export_document(pipelines: &[Value], exported_at: &str) -> Value {
    let map: Map<String, Value> =
        pipelines.iter().filter_map(|p| Some((p.get("pipeline_id")?.as_str()?.to_string(), p.clone()))).collect();
    json!({"version": REGISTRY_VERSION, "exported_at": exported_at, "pipelines": map})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(value: Value, key: Option<&str>) -> Entry {
        Entry { position: 1, key: key.map(str::to_string), value }
    }

    fn old_entry() -> Value {
        json!({
            "pipeline_id": "pipe_abc123def456",
            "repository": "owner/repo-name",
            "workflow_file": ".github/workflows/deploy.yml",
            "status": "inactive",
            "created_at": "2026-01-05T10:30:00.123456",
            "config": {"trigger_branches": ["main"], "environment": "production"},
            "vps_integration": {"linked_domain": "example.com", "linked_app": "my-app"}
        })
    }

    #[test]
    fn reads_every_shape() {
        let one = old_entry();
        let list = read(&json!([one])).unwrap();
        assert_eq!((list.shape, list.entries.len()), (Shape::List, 1));
        let map = read(&json!({"version": "2.0", "pipe_abc123def456": one, "last_updated": "x"})).unwrap();
        assert_eq!((map.shape, map.entries.len()), (Shape::Map, 1));
        assert_eq!(map.entries[0].key.as_deref(), Some("pipe_abc123def456"));
        let wrapped = read(&json!({"version": "2.0", "pipelines": {"pipe_abc123def456": one}})).unwrap();
        assert_eq!(wrapped.shape, Shape::Map);
        let wrapped_list = read(&json!({"pipelines": [one, 5]})).unwrap();
        assert_eq!((wrapped_list.shape, wrapped_list.entries.len()), (Shape::List, 2));
        assert_eq!(read(&json!({"version": "2.0", "pipelines": {}})).unwrap().entries.len(), 0);
        assert_eq!(read(&json!([])).unwrap().entries.len(), 0);
    }

    #[test]
    fn refuses_what_is_not_a_registry() {
        assert!(read(&json!("x")).unwrap_err().contains("got a string"));
        assert!(read(&json!({"pipelines": 3})).unwrap_err().contains("'pipelines' must be"));
        assert!(read(&json!({})).unwrap_err().starts_with("No pipelines"));
        assert!(read(&json!({"version": "2.0", "last_updated": "x"})).unwrap_err().starts_with("No pipelines"));
        assert!(
            read(&json!({"version": "3.0", "pipelines": []})).unwrap_err().contains("Unsupported registry version")
        );
        assert!(read(&old_entry()).unwrap_err().contains("one pipeline"));
    }

    #[test]
    fn keeps_id_status_links_and_times() {
        let now = crate::domain::clock::now();
        let p = to_pipeline(&entry(old_entry(), None), now).unwrap();
        assert_eq!(p.id, "pipe_abc123def456");
        assert_eq!(p.status, PipelineStatus::Inactive);
        assert_eq!(p.linked_domain.as_deref(), Some("example.com"));
        assert_eq!(p.linked_app.as_deref(), Some("my-app"));
        assert_eq!(crate::domain::clock::format(&p.created_at), "2026-01-05T10:30:00Z");
        assert_eq!(p.created_at.timestamp_subsec_micros(), 123456);
        assert_eq!(p.deactivated_at, Some(now));
        assert_eq!(p.config.0["environment"], "production");
    }

    #[test]
    fn a_map_key_supplies_or_must_match_the_id() {
        let mut value = old_entry();
        value.as_object_mut().unwrap().remove("pipeline_id");
        let p = to_pipeline(&entry(value.clone(), Some("pipe_00000000000a")), Utc::now()).unwrap();
        assert_eq!(p.id, "pipe_00000000000a");
        let err = to_pipeline(&entry(old_entry(), Some("pipe_00000000000a")), Utc::now()).unwrap_err();
        assert_eq!(err, "Key 'pipe_00000000000a' and pipeline_id 'pipe_abc123def456' differ");
    }

    #[test]
    fn says_why_an_entry_is_invalid() {
        let now = Utc::now();
        let check = |value: Value| to_pipeline(&entry(value, None), now).unwrap_err();
        assert_eq!(check(json!(5)), "Entry must be an object, got a number");
        assert_eq!(check(json!({})), "Missing required fields: pipeline_id, repository, workflow_file, status");
        let mut bad = old_entry();
        bad["pipeline_id"] = json!("pipe_xyz");
        assert!(check(bad).starts_with("Invalid pipeline_id 'pipe_xyz'"));
        let mut bad = old_entry();
        bad["status"] = json!("paused");
        assert_eq!(check(bad), "Invalid status 'paused': expected active or inactive");
        let mut bad = old_entry();
        bad["repository"] = json!("no-slash");
        assert!(check(bad).starts_with("Invalid repo 'no-slash'"));
        let mut bad = old_entry();
        bad["created_at"] = json!("yesterday");
        assert!(check(bad).starts_with("Invalid created_at 'yesterday'"));
    }

    #[test]
    fn export_is_read_back() {
        let doc = export_document(&[old_entry()], "2026-01-06T00:00:00Z");
        let read_back = read(&doc).unwrap();
        assert_eq!(read_back.shape, Shape::Map);
        let p = to_pipeline(&read_back.entries[0], Utc::now()).unwrap();
        assert_eq!((p.id.as_str(), p.status.as_str()), ("pipe_abc123def456", "inactive"));
    }
}
