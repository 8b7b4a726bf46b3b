//! Validation of what callers send about pipelines, and pipeline ids.

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde_json::{Map, Value};
use sqlx::types::Json;

use super::status::PipelineStatus;

#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    pub id: String,
    pub repository: String,
    pub workflow_file: String,
    pub status: PipelineStatus,
    pub config: Json<Value>,
    pub linked_domain: Option<String>,
    pub linked_app: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deactivated_at: Option<DateTime<Utc>>,
}

impl Pipeline {
    pub fn is_active(&self) -> bool {
        self.status == PipelineStatus::Active
    }

    /// The branches the pipeline's stats are restricted to (`config.trigger_branches`); empty
    /// means every branch.
    pub fn trigger_branches(&self) -> Vec<String> {
        self.config
            .get("trigger_branches")
            .and_then(Value::as_array)
            .map(|branches| branches.iter().filter_map(|b| b.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }

    pub fn execution_scope(&self) -> ExecutionScope {
        ExecutionScope {
            repository: self.repository.clone(),
            workflow_path: self.workflow_file.clone(),
            branches: self.trigger_branches(),
        }
    }
}

/// Which executions belong to a pipeline: its repository (case-insensitive), its workflow file,
/// and, when non-empty, only these branches.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionScope {
    pub repository: String,
    pub workflow_path: String,
    pub branches: Vec<String>,
}

impl ExecutionScope {
    /// Whether `execution` is one of these: the rule of the pipeline's executions list.
    pub fn contains(&self, execution: &super::runs::Execution) -> bool {
        self.covers(&execution.repository, &execution.workflow_path, execution.branch.as_deref())
    }

    /// Whether the runs of this repository, workflow file and branch are among these (the same
    /// rule as `contains`, for rows grouped by them).
    pub fn covers(&self, repository: &str, workflow_path: &str, branch: Option<&str>) -> bool {
        repository.eq_ignore_ascii_case(&self.repository)
            && workflow_path == self.workflow_path
            && (self.branches.is_empty() || branch.is_some_and(|b| self.branches.iter().any(|s| s == b)))
    }
}

/// `pipe_` and 12 lowercase hex characters (48 bits) from the OS-seeded CSPRNG.
pub fn new_pipeline_id() -> String {
    let mut bytes = [0u8; 6];
    rand::rng().fill_bytes(&mut bytes);
    format!("pipe_{}", hex::encode(bytes))
}

/// `pipe_` and 12 lowercase hex characters, as the OpenAPI document describes pipeline ids.
pub const PIPELINE_ID_PATTERN: &str = "^pipe_[0-9a-f]{12}$";

/// Most branches `trigger_branches` may list.
pub const MAX_TRIGGER_BRANCHES: usize = 50;
/// Largest config, serialized as JSON.
pub const MAX_CONFIG_BYTES: usize = 64 * 1024;

pub fn is_pipeline_id(id: &str) -> bool {
    id.strip_prefix("pipe_")
        .is_some_and(|hex| hex.len() == 12 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

/// `POST /api/pipelines/provision`. `repo` and `workflow_file` are required (absent, null and
/// empty all count as missing); unknown fields are refused.
#[derive(Debug, Clone, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)] // read by utoipa (additionalProperties: false), as `parse_provision` refuses them
pub struct ProvisionRequest {
    /// owner/name
    #[schema(
        example = "myorg/myrepo",
        max_length = 140,
        pattern = r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]*[A-Za-z0-9_-][A-Za-z0-9._-]*$"
    )]
    pub repo: String,
    /// `.github/workflows/<file>.yml` or `.yaml`
    #[schema(
        example = ".github/workflows/deploy.yml",
        max_length = 218,
        pattern = r"^\.github/workflows/[^./\\\x00-\x1f\x7f-\x9f][^/\\\x00-\x1f\x7f-\x9f]*\.ya?ml$"
    )]
    pub workflow_file: String,
    #[schema(schema_with = request_config_schema, required = false)]
    pub config: Value,
    #[schema(example = "example.com", max_length = 255)]
    pub linked_domain: Option<String>,
    #[schema(example = "example-app", max_length = 255)]
    pub linked_app: Option<String>,
}

/// The fields a provision body may hold.
const PROVISION_FIELDS: [&str; 5] = ["repo", "workflow_file", "config", "linked_domain", "linked_app"];

/// Checks a provision body, naming every missing required field at once, as the old CCM did.
pub fn parse_provision(body: &Value) -> Result<ProvisionRequest, String> {
    let obj = body.as_object().ok_or("Request body must be a JSON object")?;
    if let Some(unknown) = obj.keys().find(|k| !PROVISION_FIELDS.contains(&k.as_str())) {
        return Err(format!("Unknown field '{unknown}': expected {}", PROVISION_FIELDS.join(", ")));
    }
    let mut missing = Vec::new();
    let mut required = |name: &'static str| -> Result<Option<String>, String> {
        let value = required_string(obj, name)?;
        if value.is_none() {
            missing.push(name);
        }
        Ok(value)
    };
    let repo = required("repo")?;
    let workflow_file = required("workflow_file")?;
    if !missing.is_empty() {
        return Err(format!("Missing required fields: {}", missing.join(", ")));
    }
    let (repo, workflow_file) = (repo.unwrap_or_default(), workflow_file.unwrap_or_default());
    validate_repo(&repo)?;
    validate_workflow_file(&workflow_file)?;
    let config = match obj.get("config") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(config) => {
            validate_config(config)?;
            config.clone()
        }
    };
    Ok(ProvisionRequest {
        repo,
        workflow_file,
        config,
        linked_domain: linked_field(obj, "linked_domain")?,
        linked_app: linked_field(obj, "linked_app")?,
    })
}

/// A pipeline's config in a request, as the document describes it: an object of any keys, whose
/// `trigger_branches` (when given) lists at most 50 branch names. At most 64 KB as JSON.
pub fn request_config_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
    let branch = ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(Some(255));
    let branches = ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(branch)
        .max_items(Some(MAX_TRIGGER_BRANCHES))
        .description(Some("Only these branches' runs count in the stats (at most 50)"));
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
        .description(Some(
            "Free-form settings (any other key is kept as given), at most 64 KB as JSON; \
             `trigger_branches` limits the runs the stats count.",
        ))
        .property("trigger_branches", branches)
        .additional_properties(Some(utoipa::openapi::schema::AdditionalProperties::FreeForm(true)))
        .examples([serde_json::json!({"trigger_branches": ["production", "main"], "environment": "production"})])
        .build()
}

/// `PATCH /api/pipelines/{id}`: at least one field; unknown fields are refused.
// Validated: `None` leaves a field as it is; for the links, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)] // read by utoipa (additionalProperties: false), as `parse_change` refuses them
#[schema(min_properties = 1)]
pub struct PipelineChange {
    /// An RFC 7396 merge patch applied to the config (`null` removes a key).
    #[schema(rename = "config", schema_with = request_config_schema, required = false)]
    pub config_patch: Option<Value>,
    /// Replaces `config.trigger_branches` (at most 50).
    #[schema(nullable = false, max_items = 50)]
    pub trigger_branches: Option<Vec<String>>,
    /// `null` clears the link.
    #[schema(value_type = Option<String>, max_length = 255)]
    pub linked_domain: Option<Option<String>>,
    /// `null` clears the link.
    #[schema(value_type = Option<String>, max_length = 255)]
    pub linked_app: Option<Option<String>>,
}

pub fn parse_change(body: &Value) -> Result<PipelineChange, String> {
    let obj = body.as_object().ok_or("Request body must be a JSON object")?;
    let mut change = PipelineChange::default();
    for (key, value) in obj {
        match key.as_str() {
            "config" => {
                validate_config(value)?;
                change.config_patch = Some(value.clone());
            }
            "trigger_branches" => change.trigger_branches = Some(parse_branches(value)?),
            "linked_domain" => change.linked_domain = Some(linked_field(obj, "linked_domain")?),
            "linked_app" => change.linked_app = Some(linked_field(obj, "linked_app")?),
            other => {
                return Err(format!(
                    "Unknown field '{other}': expected config, trigger_branches, linked_domain or linked_app"
                ));
            }
        }
    }
    if obj.is_empty() {
        return Err("Nothing to change: send config, trigger_branches, linked_domain or linked_app".into());
    }
    Ok(change)
}

/// Applies a change to a config, returning the new config.
pub fn apply_change(config: &Value, change: &PipelineChange) -> Value {
    let mut config = config.clone();
    if let Some(patch) = &change.config_patch {
        merge_patch(&mut config, patch);
    }
    if let Some(branches) = &change.trigger_branches
        && let Value::Object(map) = &mut config
    {
        map.insert("trigger_branches".into(), Value::from(branches.clone()));
    }
    config
}

fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(patch) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let map = target.as_object_mut().expect("just made an object");
            for (key, value) in patch {
                if value.is_null() {
                    map.remove(key);
                } else {
                    merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// A required string field: absent, `null` and blank count as missing; given, it is taken as it is
/// (not trimmed: a stray space is an invalid value, not a different repository).
fn required_string(obj: &Map<String, Value>, name: &str) -> Result<Option<String>, String> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("Field '{name}' must be a string, got {}", type_name(other))),
    }
}

/// A string field that may be absent, `null` or empty (all meaning "not given").
fn optional_string(obj: &Map<String, Value>, name: &str) -> Result<Option<String>, String> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(other) => Err(format!("Field '{name}' must be a string, got {}", type_name(other))),
    }
}

pub(crate) fn linked_field(obj: &Map<String, Value>, name: &str) -> Result<Option<String>, String> {
    let too_long = obj.get(name).and_then(Value::as_str).is_some_and(|raw| raw.chars().count() > 255);
    let value = optional_string(obj, name)?;
    if too_long || value.as_ref().is_some_and(|v| v.len() > 255 || v.chars().any(char::is_control)) {
        return Err(format!("Field '{name}' must be at most 255 printable characters"));
    }
    Ok(value)
}

pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `owner/name` as GitHub allows them: owner of letters, digits and hyphens (at most 39),
/// name of letters, digits, `.`, `_` and `-` (at most 100, not only dots).
pub fn validate_repo(repo: &str) -> Result<(), String> {
    let invalid = || format!("Invalid repo '{repo}': expected owner/name, for example octo-org/my-app");
    let (owner, name) = repo.split_once('/').ok_or_else(invalid)?;
    let owner_ok = !owner.is_empty()
        && owner.len() <= 39
        && owner.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !owner.starts_with('-');
    let name_ok = !name.is_empty()
        && name.len() <= 100
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        // GitHub refuses names made of dots only.
        && !name.bytes().all(|b| b == b'.');
    if owner_ok && name_ok { Ok(()) } else { Err(invalid()) }
}

/// A workflow file directly under `.github/workflows/`, ending in `.yml` or `.yaml`.
pub fn validate_workflow_file(path: &str) -> Result<(), String> {
    let file = path.strip_prefix(".github/workflows/").unwrap_or("");
    let ok = (file.ends_with(".yml") || file.ends_with(".yaml"))
        && !file.starts_with('.')
        && !file.contains('/')
        && !file.contains('\\')
        && file.len() <= 200
        && !file.chars().any(char::is_control);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "Invalid workflow_file '{path}': expected a file directly under .github/workflows/ ending in .yml or .yaml"
        ))
    }
}

pub(crate) fn validate_config(config: &Value) -> Result<(), String> {
    let obj =
        config.as_object().ok_or_else(|| format!("Field 'config' must be an object, got {}", type_name(config)))?;
    if let Some(branches) = obj.get("trigger_branches")
        && !branches.is_null()
    {
        parse_branches(branches)?;
    }
    check_config_size(config)
}

/// A config (as given, or as a change leaves it) is at most `MAX_CONFIG_BYTES` as JSON.
pub fn check_config_size(config: &Value) -> Result<(), String> {
    let size = serde_json::to_vec(config).map_or(usize::MAX, |json| json.len());
    if size > MAX_CONFIG_BYTES {
        return Err(format!("Field 'config' is {size} bytes as JSON: the limit is {MAX_CONFIG_BYTES} bytes (64 KB)"));
    }
    Ok(())
}

pub(crate) fn parse_branches(value: &Value) -> Result<Vec<String>, String> {
    let err = || "Field 'trigger_branches' must be an array of branch names".to_string();
    let items = value.as_array().ok_or_else(err)?;
    if items.len() > MAX_TRIGGER_BRANCHES {
        return Err(format!(
            "Field 'trigger_branches' lists {} branches: the limit is {MAX_TRIGGER_BRANCHES}",
            items.len()
        ));
    }
    items
        .iter()
        .map(|b| match b.as_str() {
            Some(s) if !s.trim().is_empty() && s.len() <= 255 => Ok(s.to_string()),
            _ => Err(err()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_are_pipe_and_twelve_hex() {
        let id = new_pipeline_id();
        assert!(is_pipeline_id(&id), "{id}");
        assert_ne!(new_pipeline_id(), id);
        assert!(!is_pipeline_id("pipe_ABC123DEF456"));
        assert!(!is_pipeline_id("pipe_abc"));
    }

    #[test]
    fn names_every_missing_field() {
        assert_eq!(parse_provision(&json!({})).unwrap_err(), "Missing required fields: repo, workflow_file");
        assert_eq!(
            parse_provision(&json!({"repo": "o/r", "workflow_file": ""})).unwrap_err(),
            "Missing required fields: workflow_file"
        );
        assert_eq!(
            parse_provision(&json!({"repo": null, "workflow_file": ".github/workflows/a.yml"})).unwrap_err(),
            "Missing required fields: repo"
        );
    }

    #[test]
    fn rejects_wrong_types_and_shapes() {
        assert_eq!(
            parse_provision(&json!({"repo": 5, "workflow_file": "x"})).unwrap_err(),
            "Field 'repo' must be a string, got a number"
        );
        assert!(parse_provision(&json!([])).is_err());
        for repo in ["noslash", "/r", "o/", "o/r/x", "-o/r", "o/..", "o o/r"] {
            assert!(validate_repo(repo).is_err(), "{repo}");
        }
        for wf in [".github/workflows/a.txt", "deploy.yml", ".github/workflows/sub/a.yml", ".github/workflows/.yml"] {
            assert!(validate_workflow_file(wf).is_err(), "{wf}");
        }
        let bad_config = json!({"repo": "o/r", "workflow_file": ".github/workflows/a.yaml", "config": "x"});
        assert_eq!(parse_provision(&bad_config).unwrap_err(), "Field 'config' must be an object, got a string");
        let bad_branches =
            json!({"repo": "o/r", "workflow_file": ".github/workflows/a.yaml", "config": {"trigger_branches": "main"}});
        assert!(parse_provision(&bad_branches).unwrap_err().contains("trigger_branches"));
    }

    #[test]
    fn accepts_the_seed_body() {
        let req = parse_provision(&json!({
            "repo": "owner/repository-name",
            "workflow_file": ".github/workflows/deploy.yml",
            "config": {"trigger_branches": ["production", "main"], "environment": "production"},
            "linked_domain": "example.com",
            "linked_app": ""
        }))
        .unwrap();
        assert_eq!(req.repo, "owner/repository-name");
        assert_eq!(req.linked_domain.as_deref(), Some("example.com"));
        assert_eq!(req.linked_app, None);
        assert_eq!(req.config["environment"], "production");
    }

    #[test]
    fn changes_merge_into_config() {
        let change = parse_change(&json!({
            "config": {"environment": "staging", "auto_deploy": null},
            "trigger_branches": ["main"],
            "linked_domain": null
        }))
        .unwrap();
        assert_eq!(change.linked_domain, Some(None));
        let config = apply_change(&json!({"environment": "production", "auto_deploy": true}), &change);
        assert_eq!(config, json!({"environment": "staging", "trigger_branches": ["main"]}));
        assert!(parse_change(&json!({"status": "x"})).unwrap_err().contains("Unknown field 'status'"));
        assert!(parse_change(&json!({})).is_err());
    }
}
