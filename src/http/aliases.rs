//! CommandCenter's paths, served as aliases of ccm's own endpoints so that its callers and the
//! GitHub hooks pointed at it need no change: the same handler answers both paths (each endpoint's
//! file registers its alias beside it), and the OpenAPI document describes each alias as a copy of
//! its endpoint's operation.
//!
//! CommandCenter has integrations with ids; ccm has one GitHub integration, so the `{id}` of its
//! paths names it whatever its value.

use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{OpenApi as Document, Required};

/// (alias, the endpoint it serves as); all are `POST` but the health check.
pub const ALIASES: [(&str, &str, &str); 4] = [
    ("POST", "/api/v1/integrations/github/webhook", "/webhooks/github"),
    ("GET", "/api/v1/health", "/healthz"),
    ("POST", "/api/v1/integrations/{id}/github/sync/issue-to-task", "/api/sync/issue-to-task"),
    ("POST", "/api/v1/integrations/{id}/github/sync/task-to-issue", "/api/sync/task-to-issue"),
];

/// The `/api` paths served without a token: this document and the aliases of public endpoints.
pub const PUBLIC_API_PATHS: [&str; 3] = ["/api/openapi.json", "/api/v1/integrations/github/webhook", "/api/v1/health"];

fn operation<'a>(item: &'a mut PathItem, method: &str) -> &'a mut Option<Operation> {
    match method {
        "GET" => &mut item.get,
        _ => &mut item.post,
    }
}

/// Adds each alias to the document: its endpoint's operation, named as an alias.
pub fn document(doc: &mut Document) {
    for (method, alias, original) in ALIASES {
        let Some(mut op) = doc.paths.paths.get_mut(original).and_then(|item| operation(item, method).clone()) else {
            panic!("{method} {original} is not documented, so neither is its alias {alias}");
        };
        op.operation_id = op.operation_id.map(|id| format!("{id}_commandcenter"));
        let said = op.description.take().or_else(|| op.summary.clone()).unwrap_or_default();
        op.description =
            Some(format!("Alias of `{method} {original}` (CommandCenter's path, kept for its callers). {said}"));
        if alias.contains("{id}") {
            let id = ParameterBuilder::new()
                .name("id")
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .description(Some("CommandCenter's integration id: ccm has one GitHub integration, which any id names"))
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .build();
            op.parameters.get_or_insert_with(Vec::new).insert(0, id.into());
        }
        let item = doc.paths.paths.entry(alias.to_string()).or_default();
        *operation(item, method) = Some(op);
    }
}
