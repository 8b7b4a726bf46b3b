//! Checks a JSON value against an OpenAPI 3.1 schema: the subset utoipa writes (`$ref`, `type`
//! and type lists, `properties`, `required`, `items`, `oneOf`/`anyOf`/`allOf`). Strict about
//! properties: a key the schema does not list is an error (an undocumented field), unless the
//! schema lists no properties at all (a free-form object).

use serde_json::Value;

/// The schema a `$ref` names (`#/components/schemas/Name`).
pub fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    doc.pointer(pointer)
}

/// Every way `value` departs from `schema`, each with its JSON path.
pub fn errors(doc: &Value, schema: &Value, value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    check(doc, schema, value, "$", &mut found);
    found
}

fn type_matches(name: &str, value: &Value) -> bool {
    match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        other => panic!("unknown type {other} in the document"),
    }
}

fn check(doc: &Value, schema: &Value, value: &Value, at: &str, found: &mut Vec<String>) {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let target = resolve(doc, reference).unwrap_or_else(|| panic!("{reference} does not resolve"));
        return check(doc, target, value, at, found);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            let matching = options.iter().filter(|s| errors_at(doc, s, value, at).is_empty()).count();
            if matching == 0 || (key == "oneOf" && matching > 1) {
                found.push(format!("{at}: {matching} of the {key} options match {value}"));
            }
            return;
        }
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        return check(doc, &merged(doc, all), value, at, found);
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() && !types.iter().any(|t| type_matches(t, value)) {
        found.push(format!("{at}: {value} is not of type {types:?}"));
        return;
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate() {
            check(doc, items, item, &format!("{at}[{i}]"), found);
        }
    }
    let Some(object) = value.as_object() else { return };
    for name in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
        let name = name.as_str().unwrap();
        if !object.contains_key(name) {
            found.push(format!("{at}: required property {name} is missing"));
        }
    }
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, item) in object {
            match properties.get(name) {
                Some(property) => check(doc, property, item, &format!("{at}.{name}"), found),
                None => found.push(format!("{at}: property {name} is not documented")),
            }
        }
    }
}

/// The members of an `allOf` as one schema: the value is one object holding every member's
/// properties (as `#[serde(flatten)]` writes it), so a key is documented when a member lists it,
/// and every member's required keys are required.
fn merged(doc: &Value, members: &[Value]) -> Value {
    let mut schema = serde_json::Map::new();
    let (mut properties, mut required) = (serde_json::Map::new(), Vec::new());
    for member in members {
        let mut member = match member.get("$ref").and_then(Value::as_str) {
            Some(reference) => resolve(doc, reference).unwrap_or_else(|| panic!("{reference} does not resolve")),
            None => member,
        };
        let nested;
        if let Some(all) = member.get("allOf").and_then(Value::as_array) {
            nested = merged(doc, all);
            member = &nested;
        }
        if let Some(t) = member.get("type") {
            schema.insert("type".into(), t.clone());
        }
        properties.extend(member.get("properties").and_then(Value::as_object).cloned().unwrap_or_default());
        required.extend(member.get("required").and_then(Value::as_array).cloned().unwrap_or_default());
    }
    if !properties.is_empty() {
        schema.insert("properties".into(), Value::Object(properties));
    }
    schema.insert("required".into(), Value::Array(required));
    Value::Object(schema)
}

fn errors_at(doc: &Value, schema: &Value, value: &Value, at: &str) -> Vec<String> {
    let mut found = Vec::new();
    check(doc, schema, value, at, &mut found);
    found
}

#[test]
fn the_checker_itself_catches_departures() {
    let doc = serde_json::json!({"components": {"schemas": {
        "Thing": {"type": "object", "required": ["id"], "properties": {
            "id": {"type": "integer"}, "tags": {"type": "array", "items": {"type": "string"}},
            "next": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/Thing"}]}}}}}});
    let thing = serde_json::json!({"$ref": "#/components/schemas/Thing"});
    assert!(errors(&doc, &thing, &serde_json::json!({"id": 1, "tags": ["a"], "next": {"id": 2}})).is_empty());
    assert!(errors(&doc, &thing, &serde_json::json!({"id": 1, "next": null})).is_empty());
    assert_eq!(errors(&doc, &thing, &serde_json::json!({"tags": ["a"]})).len(), 1);
    assert_eq!(errors(&doc, &thing, &serde_json::json!({"id": "1"})).len(), 1);
    let extended = serde_json::json!({"allOf": [{"$ref": "#/components/schemas/Thing"},
        {"type": "object", "required": ["more"], "properties": {"more": {"type": "string"}}}]});
    assert!(errors(&doc, &extended, &serde_json::json!({"id": 1, "more": "x"})).is_empty());
    assert_eq!(errors(&doc, &extended, &serde_json::json!({"id": 1})).len(), 1, "a member's required key");
    assert_eq!(errors(&doc, &extended, &serde_json::json!({"more": "x"})).len(), 1, "the other member's");
    assert_eq!(errors(&doc, &extended, &serde_json::json!({"id": 1, "more": "x", "other": 0})).len(), 1);
    assert_eq!(errors(&doc, &thing, &serde_json::json!({"id": 1, "tags": [3]})).len(), 1);
    assert_eq!(errors(&doc, &thing, &serde_json::json!({"id": 1, "extra": true})).len(), 1);
    assert_eq!(errors(&doc, &thing, &serde_json::json!({"id": 1, "next": {"id": "x"}})).len(), 1);
}
