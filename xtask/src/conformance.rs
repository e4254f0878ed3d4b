//! `cargo xtask conformance`: checks that the spec, its examples, the seed page's parameter tables and the generated
//! Rust types agree, and prints one table row per kind of check. The document's own validity (every `$ref`
//! resolves, operationIds are unique, the OpenAPI 3.0 meta-schema) is openapi-spec-validator's (CI; spec/README.md,
//! "Checking a server against the spec"); whether the generated code is fresh is `cargo xtask codegen --check`'s.
//!
//! The checks that need the generated types (example round-trips, the JSON Schema schemars derives) run in the
//! `conformance-dump` binary of the workspace tests package, started with cargo: xtask itself does not depend on
//! the api crate, so `cargo xtask codegen` still builds when the committed generated code does not compile.
//!
//! # Normalisation
//!
//! OpenAPI 3.0 schemas are not JSON Schema. Before the examples are validated (draft 2020-12, formats checked),
//! each schema under `components/schemas` is translated:
//! - `#/components/schemas/X` references become `#/$defs/X`, and siblings of a `$ref` are dropped (OpenAPI 3.0
//!   ignores them; JSON Schema 2020-12 would apply them);
//! - `nullable: true` adds `"null"` to `type` (and to `enum`), or wraps a type-less schema in `anyOf` with null;
//! - boolean `exclusiveMinimum`/`exclusiveMaximum` become the numeric form of 2020-12;
//! - a `oneOf` whose variants are told apart by a required one-value enum property (`StorageKind`) becomes an
//!   `allOf` of one `if`/`then` per tag: equivalent, since the tags are distinct, and a validation error then
//!   names the missing or misspelt property instead of "not valid under any of the schemas";
//! - OpenAPI-only keywords (`discriminator`, `xml`, `externalDocs`, `example`) are dropped;
//! - members upstream's examples carry without the spec declaring them ([`UNDECLARED_MEMBERS`]: the 9.1
//!   example's `ServiceMetadata`, which the generated types ignore) are dropped, and fail as stale when declared;
//! - objects with `properties` and no `additionalProperties` are closed, so an example with a misspelt property
//!   fails instead of passing silently (the spec's only `allOf` is the one-part `nullable` wrapper of the progress
//!   response, which closing cannot break; an `allOf` of two or more parts would, so then the objects stay open).
//!
//! Before the spec's schemas are compared with schemars's (generated with its OpenAPI 3.0 settings), both sides are
//! reduced to a summary that keeps what the Rust types must get right and drops what schemars cannot know:
//! properties with their type, format or referenced schema; required sets; enum values in order; the variants of a
//! `oneOf` (schemars writes `anyOf` for an untagged enum), keyed by their tag when they are a tagged union
//! (`spec_support::union_tag`, the one test of that shape). Descriptions, titles and defaults are dropped; so is `nullable`, which schemars sets on every `Option`
//! field while the spec expresses optionality by leaving the property out of `required`; a lone `allOf` around a
//! `$ref` (schemars's way to put `nullable` beside a reference, and the spec's way for the progress 200) is
//! unwrapped.
//!
//! The same summaries compare each JSON success response of the spec with the schema of the Rust type the
//! generated client returns for it (named in the dump, tied there to the client's signature); for these whole
//! bodies `nullable` is kept and compared, since `null` is a whole answer there (`Option<BackupProgressInfo>`).
//! `SecretString` is the hand-written replacement `sf_backup_api::SecretString` (codegen's `with_replacement`);
//! its schemars impl is compared with the spec's `SecretString` like any generated type.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::{Map, Value, json};

use spec_support::{
    Example, SCHEMA_PREFIX, SPEC_PATH, UNDECLARED_MEMBERS, load_examples, read, resolve,
    round_trips, tag_value, union_tag, without_undeclared_members, workspace_root,
};

/// The seed page's parameter tables, transcribed by hand, relative to the workspace root.
pub const SEED_PARAMETERS_PATH: &str = "spec/conformance/seed-parameters.json";
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The outcome of one kind of check: how many things it looked at, and what was wrong with them.
#[derive(Debug)]
pub struct Check {
    /// Short name shown in the table.
    pub name: &'static str,
    /// What one counted item is, e.g. `$ref`.
    pub unit: &'static str,
    /// How many items were checked.
    pub checked: usize,
    /// One line per problem; empty when the check passed.
    pub failures: Vec<String>,
}

impl Check {
    fn new(name: &'static str, unit: &'static str) -> Self {
        Check {
            name,
            unit,
            checked: 0,
            failures: Vec::new(),
        }
    }

    fn fail(&mut self, problem: impl Into<String>) {
        self.failures.push(problem.into());
    }

    /// Whether nothing was wrong.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Runs every check, prints the table, and fails when any check failed.
pub fn run() -> Result<(), String> {
    let root = workspace_root();
    let spec_text = read(&root.join(SPEC_PATH))?;
    let seed = read(&root.join(SEED_PARAMETERS_PATH))?;
    let examples = load_examples()?;

    let mut checks = spec_checks(&spec_text, &seed, &examples);
    let doc: Option<Value> = serde_yaml_ng::from_str(&spec_text).ok();
    match (doc, generated_types_dump(&root)) {
        (Some(doc), Ok(dump)) => {
            checks.push(check_round_trips(&examples, &dump));
            checks.push(check_schemars_agreement(&doc, &dump));
        }
        (_, Err(error)) => {
            let mut check = Check::new("generated types", "dump");
            check.fail(error);
            checks.push(check);
        }
        (None, Ok(_)) => {} // The document check already reports unreadable YAML.
    }
    print!("{}", table(&checks));
    let failed = checks.iter().filter(|c| !c.passed()).count();
    if failed == 0 {
        Ok(())
    } else {
        Err(format!(
            "{failed} of {} conformance checks failed",
            checks.len()
        ))
    }
}

/// The table printed by `run`: one row per check, then each failure.
pub fn table(checks: &[Check]) -> String {
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut out = format!("{:width$}  result  checked\n", "check");
    for check in checks {
        let result = if check.passed() { "ok" } else { "FAILED" };
        out.push_str(&format!(
            "{:width$}  {result:6}  {} {}{}\n",
            check.name,
            check.checked,
            check.unit,
            if check.checked == 1 { "" } else { "s" },
        ));
    }
    for check in checks.iter().filter(|c| !c.passed()) {
        out.push_str(&format!("\n{}:\n", check.name));
        for failure in &check.failures {
            out.push_str(&format!("  - {failure}\n"));
        }
    }
    out
}

/// The checks that need only the spec text, the seed transcription and the examples.
pub fn spec_checks(spec_text: &str, seed: &str, examples: &[Example]) -> Vec<Check> {
    let mut document = Check::new("OpenAPI 3.0 document", "operation");
    let doc: Value = match serde_yaml_ng::from_str(spec_text) {
        Ok(doc) => doc,
        Err(e) => {
            document.fail(format!("{SPEC_PATH} is not valid YAML: {e}"));
            return vec![document];
        }
    };
    check_document(&doc, &mut document);
    let seed = serde_json::from_str::<Value>(seed);
    let mut checks = vec![document];
    checks.push(match seed {
        Ok(seed) => check_seed_parameters(&doc, &seed),
        Err(e) => {
            let mut check = Check::new("parameters match the seed page", "table row");
            check.fail(format!("{SEED_PARAMETERS_PATH}: {e}"));
            check
        }
    });
    checks.push(check_examples_validate(&doc, examples));
    checks
}

fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                found.push((method.to_uppercase(), path.clone(), operation));
            }
        }
    }
    found
}

fn check_document(doc: &Value, check: &mut Check) {
    match doc["openapi"].as_str() {
        Some(v) if v.starts_with("3.0.") => {}
        other => check.fail(format!("`openapi` is {other:?}, not 3.0.x")),
    }
    if let Err(e) = serde_json::from_value::<openapiv3::OpenAPI>(doc.clone()) {
        check.fail(format!("not an OpenAPI 3.0 document: {e}"));
    }
    check.checked = operations(doc).len();
    if check.checked == 0 {
        check.fail("the document has no operation");
    }
}

/// The facts the seed page's tables give about a parameter, read from the spec in the fixture's vocabulary.
fn parameter_facts(doc: &Value, parameter: &Value) -> Map<String, Value> {
    let schema = resolve(doc, &parameter["schema"]);
    let mut facts = Map::new();
    facts.insert("name".into(), parameter["name"].clone());
    facts.insert("in".into(), parameter["in"].clone());
    facts.insert(
        "required".into(),
        Value::Bool(parameter["required"].as_bool().unwrap_or(false)),
    );
    for key in ["type", "format", "default", "minimum", "maximum"] {
        if let Some(value) = schema.get(key) {
            facts.insert(key.into(), value.clone());
        }
    }
    facts
}

fn check_seed_parameters(doc: &Value, seed: &Value) -> Check {
    let mut check = Check::new("parameters match the seed page", "table row");
    let Some(expected_ops) = seed["operations"].as_object() else {
        check.fail(format!("{SEED_PARAMETERS_PATH} has no `operations` object"));
        return check;
    };
    let spec_ops = operations(doc);
    for (_, path, operation) in &spec_ops {
        let id = operation["operationId"].as_str().unwrap_or("");
        if !expected_ops.contains_key(id) {
            check.fail(format!(
                "operation {id} ({path}) is not in {SEED_PARAMETERS_PATH}: transcribe its parameter table"
            ));
        }
    }
    for (id, expected) in expected_ops {
        let Some((method, path, operation)) = spec_ops
            .iter()
            .find(|(_, _, op)| op["operationId"].as_str() == Some(id))
        else {
            check.fail(format!("operation {id} is missing from the spec"));
            continue;
        };
        if expected["method"].as_str() != Some(method) || expected["path"].as_str() != Some(path) {
            check.fail(format!(
                "{id}: the spec has {method} {path}, the seed page {} {}",
                expected["method"], expected["path"]
            ));
        }
        let item_params = doc["paths"][path.as_str()]["parameters"].as_array();
        let actual: Vec<Map<String, Value>> = item_params
            .into_iter()
            .flatten()
            .chain(operation["parameters"].as_array().into_iter().flatten())
            .map(|p| parameter_facts(doc, resolve(doc, p)))
            .collect();
        // Parameters the spec adds beyond upstream on purpose carry a `reason` (a row of spec/README.md's table);
        // apart from that they are compared like every other row.
        // Facts the spec states beyond the seed page because the service enforces them (a row's `service`: e.g.
        // the `maximum` of a parameter the service binds as a 32-bit integer) carry a `reason` too.
        let rows = |key: &str| -> Vec<Map<String, Value>> {
            expected[key]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_object)
                .cloned()
                .collect()
        };
        let mut unexplained = Vec::new();
        let mut without_reason = |facts: &mut Map<String, Value>, name: Option<&Value>| {
            let reason = facts.remove("reason");
            if reason
                .as_ref()
                .and_then(Value::as_str)
                .is_none_or(|r| r.trim().is_empty())
            {
                unexplained.push(show(name));
            }
        };
        let mut wanted = Vec::new();
        for mut row in rows("parameters") {
            if let Some(Value::Object(mut service)) = row.remove("service") {
                without_reason(&mut service, row.get("name"));
                row.extend(service);
            }
            wanted.push(row);
        }
        for mut deviation in rows("deviation_parameters") {
            let name = deviation.get("name").cloned();
            without_reason(&mut deviation, name.as_ref());
            wanted.push(deviation);
        }
        for name in unexplained {
            check.fail(format!(
                "{id}: parameter {name}: a deviation or service fact names no reason"
            ));
        }
        for want in &wanted {
            check.checked += 1;
            let name = want
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("(unnamed)");
            let Some(have) = actual
                .iter()
                .find(|a| a.get("name").and_then(Value::as_str) == Some(name))
            else {
                check.fail(format!("{id}: parameter {name} is missing from the spec"));
                continue;
            };
            let keys: BTreeSet<&String> = want.keys().chain(have.keys()).collect();
            for key in keys {
                if want.get(key) != have.get(key) {
                    check.fail(format!(
                        "{id}: parameter {name}: `{key}` is {} in the spec but {} on the seed page",
                        show(have.get(key)),
                        show(want.get(key))
                    ));
                }
            }
        }
        for have in &actual {
            if !wanted.iter().any(|w| w.get("name") == have.get("name")) {
                check.fail(format!(
                    "{id}: parameter {} is in the spec but not on the seed page",
                    show(have.get("name"))
                ));
            }
        }
        let body = resolve(doc, &operation["requestBody"]);
        let body_facts = (!body.is_null()).then(|| {
            let schema = body["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .map(|r| r.trim_start_matches(SCHEMA_PREFIX).to_owned());
            json!({ "schema": schema, "required": body["required"].as_bool().unwrap_or(false) })
        });
        let want_body = expected.get("body").cloned();
        if body_facts.is_some() || want_body.is_some() {
            check.checked += 1;
            if body_facts != want_body {
                check.fail(format!(
                    "{id}: request body is {} in the spec but {} on the seed page",
                    show(body_facts.as_ref()),
                    show(want_body.as_ref())
                ));
            }
        }
    }
    check
}

fn show(value: Option<&Value>) -> String {
    value.map_or_else(|| "absent".to_owned(), Value::to_string)
}

/// The spec's `components/schemas`, translated to JSON Schema 2020-12 `$defs` (see the module docs).
pub fn json_schema_defs(doc: &Value) -> Map<String, Value> {
    let close_objects = !spec_uses_all_of(doc);
    doc.pointer("/components/schemas")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(name, schema)| (name.clone(), to_json_schema(schema, close_objects)))
        .collect()
}

/// Whether an `allOf` combines two or more schemas anywhere: closing the objects would then reject the properties
/// each part contributes to the other. A one-part `allOf` (the spec's `nullable` wrapper around a `$ref`) is the
/// referenced schema itself and closes safely.
fn spec_uses_all_of(value: &Value) -> bool {
    match value {
        Value::Object(map) => {
            map.get("allOf")
                .and_then(Value::as_array)
                .is_some_and(|parts| parts.len() > 1)
                || map.values().any(spec_uses_all_of)
        }
        Value::Array(items) => items.iter().any(spec_uses_all_of),
        _ => false,
    }
}

fn to_json_schema(schema: &Value, close_objects: bool) -> Value {
    let Some(map) = schema.as_object() else {
        return schema.clone();
    };
    if let Some(target) = map.get("$ref").and_then(Value::as_str) {
        let target = match target.strip_prefix(SCHEMA_PREFIX) {
            Some(name) => format!("#/$defs/{name}"),
            None => target.to_owned(),
        };
        return json!({ "$ref": target });
    }
    let mut out = Map::new();
    for (key, value) in map {
        match key.as_str() {
            "discriminator" | "xml" | "externalDocs" | "example" | "nullable" => {}
            "properties" => {
                let properties = value
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), to_json_schema(v, close_objects)))
                    .collect();
                out.insert(key.clone(), Value::Object(properties));
            }
            "items" | "not" | "additionalProperties" if value.is_object() => {
                out.insert(key.clone(), to_json_schema(value, close_objects));
            }
            "oneOf" | "anyOf" | "allOf" => {
                let variants: Vec<Value> = value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|v| to_json_schema(v, close_objects))
                    .collect();
                if key == "oneOf"
                    && let Some(tag) = union_tag(&variants)
                {
                    out.insert("allOf".into(), tagged_union(&tag, variants));
                    continue;
                }
                out.insert(key.clone(), Value::Array(variants));
            }
            "exclusiveMinimum" | "exclusiveMaximum" => {
                let bound = if key == "exclusiveMinimum" {
                    "minimum"
                } else {
                    "maximum"
                };
                if value.as_bool() == Some(true)
                    && let Some(limit) = map.get(bound)
                {
                    out.insert(key.clone(), limit.clone());
                }
            }
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    for (key, bound) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        if out.get(key).is_some_and(Value::is_number) && map.get(key).is_some_and(Value::is_boolean)
        {
            out.remove(bound);
        }
    }
    if close_objects && out.contains_key("properties") && !out.contains_key("additionalProperties")
    {
        out.insert("additionalProperties".into(), Value::Bool(false));
    }
    if map.get("nullable").and_then(Value::as_bool) == Some(true) {
        return nullable(out);
    }
    Value::Object(out)
}

/// `oneOf` over variants with distinct tags, as one `if`/`then` per tag plus the set of tags, so a validation error
/// names the property of the variant the instance claims to be instead of "not valid under any of the schemas".
fn tagged_union(tag: &str, variants: Vec<Value>) -> Value {
    let tags: Vec<Value> = variants
        .iter()
        .map(|v| v["properties"][tag]["enum"][0].clone())
        .collect();
    let mut parts = vec![json!({
        "type": "object",
        "required": [tag],
        "properties": { tag: { "enum": tags } },
    })];
    for (variant, value) in variants.into_iter().zip(&tags) {
        parts.push(json!({
            "if": { "properties": { tag: { "const": value } }, "required": [tag] },
            "then": variant,
        }));
    }
    Value::Array(parts)
}

fn nullable(mut schema: Map<String, Value>) -> Value {
    match schema.get("type").cloned() {
        Some(Value::String(t)) => {
            schema.insert("type".into(), json!([t, "null"]));
            if let Some(Value::Array(values)) = schema.get_mut("enum") {
                values.push(Value::Null);
            }
            Value::Object(schema)
        }
        _ => json!({ "anyOf": [Value::Object(schema), { "type": "null" }] }),
    }
}

/// Whether `member` is declared by `schema` or by one of its `oneOf` variants.
fn declares(doc: &Value, schema: &str, member: &str) -> bool {
    let schema = &doc["components"]["schemas"][schema];
    schema["properties"].get(member).is_some()
        || schema["oneOf"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|variant| variant["properties"].get(member).is_some())
}

/// Whether any object in `value`, at any depth, has a member named `member`.
fn carries(value: &Value, member: &str) -> bool {
    match value {
        Value::Object(map) => map.contains_key(member) || map.values().any(|v| carries(v, member)),
        Value::Array(items) => items.iter().any(|v| carries(v, member)),
        _ => false,
    }
}

fn check_examples_validate(doc: &Value, examples: &[Example]) -> Check {
    let mut check = Check::new("examples validate against the spec", "example");
    let defs = json_schema_defs(doc);
    for (schema, member) in UNDECLARED_MEMBERS {
        if declares(doc, schema, member) {
            check.fail(format!(
                "{schema} declares {member} in the spec now: remove it from UNDECLARED_MEMBERS"
            ));
        }
        if !examples.is_empty() && !examples.iter().any(|e| carries(&e.body, member)) {
            check.fail(format!(
                "UNDECLARED_MEMBERS lists {schema}.{member}, but no example carries it: remove the entry"
            ));
        }
    }
    for example in examples {
        check.checked += 1;
        let body = without_undeclared_members(&example.body);
        if !defs.contains_key(&example.schema) {
            check.fail(format!(
                "{}: schema {} is not in components/schemas",
                example.file, example.schema
            ));
            continue;
        }
        let mut root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$defs": defs,
        });
        if example.nullable {
            // The response's own schema, translated like the components: `nullable` + `allOf: [$ref]`.
            match nullable_response_schema(doc, example) {
                Ok(schema) => {
                    root["anyOf"] = to_json_schema(schema, false)["anyOf"].clone();
                }
                Err(problem) => {
                    check.fail(format!("{}: {problem}", example.file));
                    continue;
                }
            }
        } else {
            root["$ref"] = json!(format!("#/$defs/{}", example.schema));
        }
        let validator = match jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&root)
        {
            Ok(validator) => validator,
            Err(e) => {
                check.fail(format!(
                    "{}: the translated schema {} is invalid: {e}",
                    example.file, example.schema
                ));
                continue;
            }
        };
        for error in validator.iter_errors(&body) {
            check.fail(format!(
                "{} ({} shape) does not match {}: at `{}`: {error}",
                example.file,
                example.source,
                example.schema,
                error.instance_path()
            ));
        }
    }
    check
}

/// The schema of the response an example marked `nullable` is the body of, which must be `nullable: true` around
/// exactly its `schema`: a `null` example is valid only where the spec says so.
fn nullable_response_schema<'a>(doc: &'a Value, example: &Example) -> Result<&'a Value, String> {
    let method = example.method();
    let path = example.target().split('?').next().unwrap_or_default();
    let status = example.status;
    let (_, template, operation) = operations(doc)
        .into_iter()
        .find(|(m, template, _)| m == method && path_matches(template, path))
        .ok_or(format!("no operation of the spec is {method} {path}"))?;
    let response = resolve(doc, &operation["responses"][status.to_string()]);
    let schema = &response["content"]["application/json"]["schema"];
    let wraps = schema["allOf"].as_array().is_some_and(|parts| {
        parts.len() == 1
            && parts[0]["$ref"].as_str() == Some(&format!("{SCHEMA_PREFIX}{}", example.schema))
    });
    if schema["nullable"].as_bool() == Some(true) && wraps {
        Ok(schema)
    } else {
        Err(format!(
            "marked nullable, but the {status} response of {method} {template} is {schema}, not `nullable: true` \
             with `allOf: [$ref {}]`",
            example.schema
        ))
    }
}

/// Whether a concrete path fits a template such as `/Partitions/{partitionId}/$/Backup`.
fn path_matches(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| t == p || (t.starts_with('{') && t.ends_with('}') && !p.is_empty()))
}

/// Builds and runs the `conformance-dump` binary of the tests package: the schemars schemas of the generated
/// types and every example re-serialised through them.
fn generated_types_dump(root: &Path) -> Result<Value, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(root)
        .args([
            "run",
            "--quiet",
            "--locked",
            "--package",
            "sf-backup-workspace-tests",
            "--bin",
            "conformance-dump",
        ])
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "conformance-dump failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| format!("conformance-dump output: {e}"))
}

/// Every example, deserialised into its generated type and serialised back (by the dump), equals its file once
/// members whose value is `null` are dropped from both sides ([`without_null_members`](spec_support::without_null_members)) and the
/// [`UNDECLARED_MEMBERS`] from the file's side (the types ignore them).
pub fn check_round_trips(examples: &[Example], dump: &Value) -> Check {
    let mut check = Check::new("examples round-trip through the types", "example");
    for example in examples {
        check.checked += 1;
        let result = &dump["examples"][&example.file];
        match (result.get("value"), result.get("error")) {
            (Some(value), _) if round_trips(&example.body, value) => {}
            (Some(value), _) => check.fail(format!(
                "{} changes through {}: {} became {value}",
                example.file, example.schema, example.body
            )),
            (None, Some(error)) => check.fail(format!(
                "{} does not deserialise into {}: {}",
                example.file,
                example.schema,
                error.as_str().unwrap_or_default()
            )),
            (None, None) => check.fail(format!(
                "{}: the dump has no result for it (is {} in the dump's type list?)",
                example.file, example.schema
            )),
        }
    }
    check
}

/// The JSON Schema schemars derives for each generated type agrees with the spec's schema of the same name.
pub fn check_schemars_agreement(doc: &Value, dump: &Value) -> Check {
    let mut check = Check::new("schemars schemas agree with the spec", "schema");
    let spec = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let derived = dump["schemas"].as_object().cloned().unwrap_or_default();
    for (name, schema) in &spec {
        check.checked += 1;
        let Some(rust) = derived.get(name) else {
            check.fail(format!(
                "{name}: no generated type's schema in the dump (add the type to the dump's list)"
            ));
            continue;
        };
        let (want, have) = (summarise(schema), summarise(rust));
        if want != have {
            for difference in differences(&want, &have, name) {
                check.fail(difference);
            }
        }
    }
    for name in derived.keys().filter(|n| !spec.contains_key(*n)) {
        check.fail(format!(
            "{name}: a generated type with no schema of that name in the spec"
        ));
    }
    // The success bodies: here `nullable` is the point (the progress 200 is `Option<BackupProgressInfo>`), so it
    // is compared, beside the summary of what it wraps.
    let derived = dump["responses"].as_object().cloned().unwrap_or_default();
    let mut seen = BTreeSet::new();
    for (method, path, operation) in operations(doc) {
        let id = operation["operationId"].as_str().unwrap_or_default();
        for (status, response) in operation["responses"].as_object().into_iter().flatten() {
            let schema = &resolve(doc, response)["content"]["application/json"]["schema"];
            if !status.starts_with('2') || schema.is_null() {
                continue;
            }
            check.checked += 1;
            let key = format!("{id} {status}");
            seen.insert(key.clone());
            let Some(rust) = derived.get(&key) else {
                check.fail(format!(
                    "{method} {path} {status}: the dump has no `responses` entry {key:?} (name the generated \
                     client's body type there)"
                ));
                continue;
            };
            let shape = |s: &Value| {
                json!({
                    "nullable": s["nullable"].as_bool().unwrap_or(false),
                    "body": summarise(s),
                })
            };
            for difference in differences(&shape(schema), &shape(rust), &key) {
                check.fail(difference);
            }
        }
    }
    for key in derived.keys().filter(|k| !seen.contains(*k)) {
        check.fail(format!(
            "{key}: the dump names a response body the spec does not declare"
        ));
    }
    check
}

/// The string formats typify turns into a type of their own (`uuid::Uuid`, `chrono::DateTime`, …) or that the spec
/// uses for a replacement (`password`: `SecretString`); any other string format is a plain `String`.
const STRING_FORMATS_WITH_A_TYPE: [&str; 7] = [
    "date",
    "date-time",
    "uuid",
    "ip",
    "ipv4",
    "ipv6",
    "password",
];

/// The parts of a schema the Rust types must get right (see the module docs).
pub fn summarise(schema: &Value) -> Value {
    let Some(map) = schema.as_object() else {
        return schema.clone();
    };
    if let Some(Value::Array(parts)) = map.get("allOf")
        && parts.len() == 1
    {
        return summarise(&parts[0]);
    }
    if let Some(target) = map.get("$ref").and_then(Value::as_str) {
        let name = target.rsplit('/').next().unwrap_or(target);
        return json!({ "ref": name });
    }
    if let Some(values) = map.get("enum") {
        return json!({ "enum": values });
    }
    if let Some(Value::Array(variants)) = map.get("oneOf").or_else(|| map.get("anyOf")) {
        if let Some(tag) = union_tag(variants) {
            let tagged: Map<String, Value> = variants
                .iter()
                .map(|v| {
                    (
                        tag_value(v, &tag).unwrap_or_default().to_owned(),
                        summarise(v),
                    )
                })
                .collect();
            return json!({ format!("tagged by {tag}"): tagged });
        }
        let mut union: Vec<Value> = variants.iter().map(summarise).collect();
        union.sort_by_key(Value::to_string);
        return json!({ "one of": union });
    }
    if map.contains_key("properties") || map.get("type") == Some(&json!("object")) {
        let properties: Map<String, Value> = map
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), summarise(v)))
            .collect();
        let required: BTreeSet<&str> = map
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        return json!({ "properties": properties, "required": required });
    }
    // What typify makes of a format decides the Rust type, so the summary keeps the format as the Rust type has
    // it: an integer without one is i64 (schemars: int64), and a string format typify has no type for (the
    // `duration` of LastQuorumLossDuration) is a plain String.
    let format = match (map.get("type").and_then(Value::as_str), map.get("format")) {
        (Some("integer"), None) => Some(json!("int64")),
        (Some("string"), Some(f))
            if !STRING_FORMATS_WITH_A_TYPE.contains(&f.as_str().unwrap_or("")) =>
        {
            None
        }
        (_, f) => f.cloned(),
    };
    json!({ "type": map.get("type"), "format": format })
}

/// Names each place where two summaries differ, with its path.
fn differences(want: &Value, have: &Value, at: &str) -> Vec<String> {
    match (want, have) {
        (Value::Object(w), Value::Object(h)) if w.keys().eq(h.keys()) => w
            .iter()
            .flat_map(|(k, v)| differences(v, &h[k], &format!("{at}.{k}")))
            .collect(),
        (Value::Object(w), Value::Object(h)) => {
            let only = |a: &Map<String, Value>, b: &Map<String, Value>| {
                a.keys()
                    .filter(|k| !b.contains_key(*k))
                    .cloned()
                    .collect::<Vec<_>>()
            };
            vec![format!(
                "{at}: only in the spec: {:?}; only in the Rust type: {:?}",
                only(w, h),
                only(h, w)
            )]
        }
        _ if want == have => Vec::new(),
        _ => vec![format!("{at}: the spec says {want}, the Rust type {have}")],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> std::path::PathBuf {
        workspace_root()
    }

    fn spec() -> String {
        read(&root().join(SPEC_PATH)).unwrap()
    }

    fn seed() -> String {
        read(&root().join(SEED_PARAMETERS_PATH)).unwrap()
    }

    fn examples() -> Vec<Example> {
        load_examples().unwrap()
    }

    fn doc(text: &str) -> Value {
        serde_yaml_ng::from_str(text).unwrap()
    }

    /// The failures of the named check, after asserting that every other check passed.
    fn only_failure(checks: &[Check], name: &str) -> Vec<String> {
        for check in checks.iter().filter(|c| c.name != name) {
            assert!(
                check.passed(),
                "{} failed too: {:?}",
                check.name,
                check.failures
            );
        }
        let check = checks.iter().find(|c| c.name == name).unwrap();
        assert!(!check.passed(), "{name} passed on broken input");
        check.failures.clone()
    }

    #[test]
    fn the_committed_spec_passes_every_spec_check_with_real_counts() {
        let checks = spec_checks(&spec(), &seed(), &examples());
        for check in &checks {
            assert!(check.passed(), "{}: {:?}", check.name, check.failures);
        }
        let counts: std::collections::BTreeMap<&str, usize> =
            checks.iter().map(|c| (c.name, c.checked)).collect();
        assert_eq!(counts["OpenAPI 3.0 document"], 8);
        assert_eq!(
            counts["parameters match the seed page"], 38,
            "35 parameters (2 of them deliberate deviations) and 3 bodies"
        );
        assert_eq!(
            counts["examples validate against the spec"], 37,
            "19 documented, 18 service shapes"
        );
    }

    #[test]
    fn a_document_that_is_not_openapi_3_0_fails() {
        let broken = spec().replacen("openapi: 3.0.3", "openapi: 3.1.0", 1);
        let failures = only_failure(
            &spec_checks(&broken, &seed(), &examples()),
            "OpenAPI 3.0 document",
        );
        assert!(
            failures.iter().any(|f| f.contains("not 3.0.x")),
            "{failures:?}"
        );
    }

    #[test]
    fn each_parameter_fact_is_compared_with_the_seed_page() {
        for (from, to, expected) in [
            (
                "        default: 10\n",
                "        default: 15\n",
                "BackupTimeout: `default` is 15",
            ),
            (
                "        maximum: 4294967295\n",
                "",
                "timeout: `maximum` is absent",
            ),
            (
                "        minimum: 1\n",
                "        minimum: 0\n",
                "timeout: `minimum` is 0",
            ),
            (
                "        format: int64\n        minimum: 1\n",
                "        format: int32\n        minimum: 1\n",
                "timeout: `format`",
            ),
            (
                "        maximum: 2147483647\n        default: 10\n",
                "        default: 10\n",
                "BackupTimeout: `maximum` is absent in the spec but 2147483647",
            ),
            (
                "      name: BackupTimeout\n      in: query\n",
                "      name: BackupTimeout\n      in: header\n",
                "`in` is \"header\"",
            ),
            (
                "      name: api-version\n      in: query\n      required: true\n",
                "      name: api-version\n      in: query\n      required: false\n",
                "api-version: `required`",
            ),
            (
                "      default: \"6.4\"\n",
                "      default: \"6.5\"\n",
                "api-version: `default`",
            ),
            (
                "        format: uuid\n    BackupTimeout:",
                "    BackupTimeout:",
                "partitionId: `format` is absent",
            ),
            (
                "      name: timeout\n",
                "      name: Timeout\n",
                "parameter timeout is missing",
            ),
            (
                "        required: false\n        content:",
                "        required: true\n        content:",
                "request body",
            ),
        ] {
            let broken = spec().replacen(from, to, 1);
            assert_ne!(broken, spec(), "{from:?} is not in the spec");
            let failures = only_failure(
                &spec_checks(&broken, &seed(), &examples()),
                "parameters match the seed page",
            );
            assert!(
                failures.iter().any(|f| f.contains(expected)),
                "{expected}: {failures:?}"
            );
        }
    }

    #[test]
    fn a_deviation_parameter_needs_its_row_and_a_reason() {
        let mut seed: Value = serde_json::from_str(&seed()).unwrap();
        let list = &mut seed["operations"]["GetPartitionBackupList"];
        let deviations = list["deviation_parameters"].clone();
        list.as_object_mut().unwrap().remove("deviation_parameters");
        let failures = only_failure(
            &spec_checks(&spec(), &seed.to_string(), &examples()),
            "parameters match the seed page",
        );
        assert!(
            failures
                .iter()
                .any(|f| f.contains("ContinuationToken") && f.contains("not on the seed page")),
            "{failures:?}"
        );
        let mut unexplained = deviations;
        unexplained[0]["reason"] = json!(" ");
        seed["operations"]["GetPartitionBackupList"]["deviation_parameters"] = unexplained;
        let failures = only_failure(
            &spec_checks(&spec(), &seed.to_string(), &examples()),
            "parameters match the seed page",
        );
        assert!(failures[0].contains("names no reason"), "{failures:?}");
    }

    #[test]
    fn an_operation_missing_from_the_transcription_fails() {
        let mut seed: Value = serde_json::from_str(&seed()).unwrap();
        seed["operations"]
            .as_object_mut()
            .unwrap()
            .remove("GetPartitionBackupProgress");
        let failures = only_failure(
            &spec_checks(&spec(), &seed.to_string(), &examples()),
            "parameters match the seed page",
        );
        assert!(
            failures[0].contains("GetPartitionBackupProgress"),
            "{failures:?}"
        );
    }

    #[test]
    fn broken_examples_fail_validation_and_are_named() {
        type Mutation = fn(&mut Value);
        let cases: [(&str, Mutation, &str); 10] = [
            (
                "fabric-error-integer-code-service.json",
                |b| {
                    b["Error"]["Code"] = json!(1.5);
                },
                "Code",
            ),
            (
                "fabric-error-integer-code-service.json",
                |b| {
                    b["Error"]["Code"] = json!(true);
                },
                "Code",
            ),
            (
                // A null the service does not write where the spec does not allow one.
                "backup-progress-pending-service.json",
                |b| {
                    b["BackupId"] = Value::Null;
                },
                "BackupId",
            ),
            (
                "backup-progress-success-service.json",
                |b| {
                    b["LsnOfLastBackupRecord"] = json!(36.5);
                },
                "LsnOfLastBackupRecord",
            ),
            (
                "backup-partition-azure-blob-store.json",
                |b| {
                    b["BackupStorage"]
                        .as_object_mut()
                        .unwrap()
                        .remove("ContainerName");
                },
                "ContainerName",
            ),
            (
                "backup-partition-azure-blob-store.json",
                |b| {
                    b["BackupStorage"]["StorageKind"] = json!("AzureBlob");
                },
                "StorageKind",
            ),
            (
                "backup-partition-file-share.json",
                |b| {
                    b["BackupStorage"]["PrimaryUserNmae"] = json!("x");
                },
                "PrimaryUserNmae",
            ),
            (
                "backup-partition-managed-identity-azure-blob-store.json",
                |b| {
                    b["BackupStorage"]["ManagedIdentityType"] = json!("Vmss");
                },
                "ManagedIdentityType",
            ),
            (
                "backup-progress-info.json",
                |b| {
                    b["BackupId"] = json!("not-a-uuid");
                },
                "BackupId",
            ),
            (
                "fabric-error.json",
                |b| {
                    b["Error"].as_object_mut().unwrap().remove("Code");
                },
                "Code",
            ),
        ];
        for (file, mutate, named) in cases {
            let mut examples = examples();
            let example = examples.iter_mut().find(|e| e.file == file).unwrap();
            mutate(&mut example.body);
            let failures = only_failure(
                &spec_checks(&spec(), &seed(), &examples),
                "examples validate against the spec",
            );
            assert!(
                failures.iter().all(|f| f.starts_with(file))
                    && failures.iter().any(|f| f.contains(named)),
                "{file} / {named}: {failures:?}"
            );
        }
    }

    #[test]
    fn a_null_body_is_valid_only_where_the_spec_declares_the_response_nullable() {
        let mut examples = examples();
        let error = examples
            .iter_mut()
            .find(|e| e.file == "fabric-error.json")
            .unwrap();
        error.nullable = true;
        error.body = Value::Null;
        let failures = only_failure(
            &spec_checks(&spec(), &seed(), &examples),
            "examples validate against the spec",
        );
        assert!(
            failures.len() == 1 && failures[0].contains("fabric-error.json: marked nullable"),
            "{failures:?}"
        );
        let strict = spec_support::replace_once(&spec(), "                nullable: true\n                allOf:\n                  - $ref: \"#/components/schemas/BackupProgressInfo\"\n",
            "                $ref: \"#/components/schemas/BackupProgressInfo\"\n").unwrap();
        let failures = only_failure(
            &spec_checks(&strict, &seed(), &self::examples()),
            "examples validate against the spec",
        );
        assert!(
            failures.len() == 1 && failures[0].starts_with("backup-progress-not-requested.json"),
            "{failures:?}"
        );
    }

    #[test]
    fn the_service_nulls_are_declared_and_any_other_null_fails() {
        // The spec declares the three members the service writes as `null`: its shapes validate as written.
        let nulls = examples()
            .into_iter()
            .filter(|e| e.source == "service code" && e.schema == "BackupProgressInfo")
            .filter(|e| {
                e.body
                    .as_object()
                    .is_some_and(|m| m.values().any(Value::is_null))
            })
            .count();
        assert!(nulls > 0, "no service-code example writes a null member");
        for check in spec_checks(&spec(), &seed(), &examples()) {
            assert!(check.passed(), "{}: {:?}", check.name, check.failures);
        }
        // Taking one declaration back makes those examples fail again.
        let undeclared = spec_support::replace_once(
            &spec(),
            "          type: string\n          nullable: true\n        EpochOfLastBackupRecord:",
            "          type: string\n        EpochOfLastBackupRecord:",
        )
        .unwrap();
        let failures = only_failure(
            &spec_checks(&undeclared, &seed(), &examples()),
            "examples validate against the spec",
        );
        assert!(
            !failures.is_empty() && failures.iter().all(|f| f.contains("BackupLocation")),
            "{failures:?}"
        );
        // A null where the spec declares none still fails, whatever the example's source.
        let mut examples = examples();
        let documented = examples
            .iter_mut()
            .find(|e| e.file == "backup-progress-info.json")
            .unwrap();
        documented.body["BackupState"] = Value::Null;
        let failures = only_failure(
            &spec_checks(&spec(), &seed(), &examples),
            "examples validate against the spec",
        );
        assert!(
            failures.len() == 1 && failures[0].contains("backup-progress-info.json"),
            "{failures:?}"
        );
    }

    #[test]
    fn the_progress_response_must_be_nullable_like_the_generated_type() {
        let strict = spec().replacen(
            "                nullable: true\n                allOf:\n                  - $ref: \"#/components/schemas/BackupProgressInfo\"\n",
            "                $ref: \"#/components/schemas/BackupProgressInfo\"\n",
            1,
        );
        let check = check_schemars_agreement(&doc(&strict), &dump());
        assert!(
            check.failures.len() == 1
                && check.failures[0].starts_with("GetPartitionBackupProgress 200.nullable"),
            "{:?}",
            check.failures
        );
        let mut no_responses = dump();
        no_responses["responses"] = json!({});
        let check = check_schemars_agreement(&doc(&spec()), &no_responses);
        assert!(
            check.failures.len() == 6
                && check
                    .failures
                    .iter()
                    .all(|f| f.contains("no `responses` entry")),
            "{:?}",
            check.failures
        );
    }

    #[test]
    fn undeclared_members_fail_when_stale() {
        assert_eq!(
            without_undeclared_members(&json!({"Items": [{"ServiceMetadata": {}, "Name": "x"}]})),
            json!({"Items": [{"Name": "x"}]})
        );
        // Declared in the spec: the allowance must go.
        // In the first variant (Stateful) only.
        let declared = spec().replacen(
            "            IsServiceGroup:\n",
            "            ServiceMetadata:\n              type: object\n            IsServiceGroup:\n",
            1,
        );
        let failures = only_failure(
            &spec_checks(&declared, &seed(), &examples()),
            "examples validate against the spec",
        );
        assert!(
            failures
                .iter()
                .any(|f| f.contains("declares ServiceMetadata")),
            "{failures:?}"
        );
        // Carried by no example: stale as well.
        let mut examples = examples();
        for example in &mut examples {
            example.body = without_undeclared_members(&example.body);
        }
        let check = spec_checks(&spec(), &seed(), &examples)
            .into_iter()
            .find(|c| c.name == "examples validate against the spec")
            .unwrap();
        assert!(
            check
                .failures
                .iter()
                .any(|f| f.contains("no example carries it")),
            "{:?}",
            check.failures
        );
    }

    /// The round-trip failures of `examples` through the real generated types.
    fn round_trip_failures(examples: &[Example]) -> Vec<String> {
        check_round_trips(
            examples,
            &sf_backup_workspace_tests::generated_types_dump_of(examples),
        )
        .failures
    }

    #[test]
    fn round_trips_forgive_null_members_and_nothing_else() {
        assert_eq!(
            spec_support::without_null_members(
                &json!({"a": null, "b": {"c": null, "d": 0}, "e": [null]})
            ),
            json!({"b": {"d": 0}, "e": [null]})
        );
        assert!(round_trip_failures(&examples()).is_empty());
        let mut examples = examples();
        let mut edit = |file: &str, change: &dyn Fn(&mut Example)| {
            change(examples.iter_mut().find(|e| e.file == file).unwrap());
        };
        // A member the types drop is a change, not a null; a whole `null` decodes only where it is nullable; the
        // types reject a FabricError without its `Error`.
        edit("backup-progress-pending-service.json", &|e| {
            e.body["Unknown"] = json!(1)
        });
        edit("backup-progress-not-requested.json", &|e| {
            e.nullable = false
        });
        edit("fabric-error.json", &|e| {
            e.body = json!({ "Message": "no Error object" })
        });
        let failures = round_trip_failures(&examples);
        assert!(
            failures.len() == 3
                && failures
                    .iter()
                    .any(|f| f.starts_with("backup-progress-pending-service.json changes through"))
                && failures
                    .iter()
                    .any(|f| f.contains("backup-progress-not-requested.json does not deserialise"))
                && failures
                    .iter()
                    .any(|f| f.contains("fabric-error.json does not deserialise")),
            "{failures:?}"
        );
    }

    #[test]
    fn normalisation_translates_nullable_refs_and_exclusive_bounds() {
        let schema = json!({
            "type": "object",
            "properties": {
                "a": { "type": "string", "nullable": true, "enum": ["x"] },
                "b": { "$ref": "#/components/schemas/B", "description": "ignored in 3.0" },
                "c": { "type": "integer", "minimum": 1, "exclusiveMinimum": true },
                "d": { "oneOf": [{ "type": "string" }], "nullable": true, "discriminator": { "propertyName": "k" } }
            }
        });
        assert_eq!(
            to_json_schema(&schema, true),
            json!({
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "a": { "type": ["string", "null"], "enum": ["x", null] },
                    "b": { "$ref": "#/$defs/B" },
                    "c": { "type": "integer", "exclusiveMinimum": 1 },
                    "d": { "anyOf": [{ "oneOf": [{ "type": "string" }] }, { "type": "null" }] }
                }
            })
        );
    }

    /// The dump as the tests package produces it, from the real generated types.
    fn dump() -> Value {
        sf_backup_workspace_tests::generated_types_dump()
    }

    #[test]
    fn the_generated_types_agree_with_the_committed_spec() {
        let schemars = check_schemars_agreement(&doc(&spec()), &dump());
        assert!(schemars.passed(), "{:?}", schemars.failures);
        assert_eq!(
            schemars.checked, 42,
            "36 components (34 generated types, Int64Text, SecretString) and the six 200 bodies"
        );
        let round_trips = check_round_trips(&examples(), &dump());
        assert!(round_trips.passed(), "{:?}", round_trips.failures);
        assert_eq!(round_trips.checked, 37);
    }

    #[test]
    fn a_spec_schema_the_types_disagree_with_fails_schemars_agreement() {
        for (from, to, expected) in [
            // A property the Rust type does not have.
            (
                "        DataLossVersion:\n",
                "        DataLossVersions:\n",
                "Epoch.properties",
            ),
            // A required set that differs.
            (
                "          required:\n            - StorageKind\n            - Path\n",
                "          required:\n            - StorageKind\n",
                "FileShare.required",
            ),
            // An enum value.
            (
                "        - VMSS\n",
                "        - Vmss\n",
                "ManagedIdentityType.enum",
            ),
            // A storage kind tag.
            (
                "                - DsmsAzureBlobStore\n",
                "                - DsmsBlobStore\n",
                "tagged by StorageKind",
            ),
            // A format.
            (
                "          type: string\n          format: date-time\n",
                "          type: string\n",
                "TimeStampUtc",
            ),
        ] {
            let broken = spec().replacen(from, to, 1);
            assert_ne!(broken, spec(), "{from:?} is not in the spec");
            let check = check_schemars_agreement(&doc(&broken), &dump());
            assert!(
                check.failures.iter().any(|f| f.contains(expected)),
                "{expected}: {:?}",
                check.failures
            );
        }
        let extra = spec().replacen(
            "    Epoch:\n",
            "    Extra:\n      type: string\n    Epoch:\n",
            1,
        );
        let check = check_schemars_agreement(&doc(&extra), &dump());
        assert_eq!(check.failures.len(), 1, "{:?}", check.failures);
        assert!(
            check.failures[0].starts_with("Extra: no generated type"),
            "{:?}",
            check.failures
        );
    }

    #[test]
    fn a_failed_check_shows_in_the_table() {
        let mut broken = Check::new("examples validate against the spec", "example");
        broken.checked = 1;
        broken.fail("x.json does not match X");
        let mut ok = Check::new("OpenAPI 3.0 document", "operation");
        ok.checked = 3;
        let text = table(&[ok, broken]);
        assert!(
            text.contains("OpenAPI 3.0 document                ok      3 operations"),
            "{text}"
        );
        assert!(
            text.contains("examples validate against the spec  FAILED  1 example\n"),
            "{text}"
        );
        assert!(text.contains("  - x.json does not match X"), "{text}");
    }
}
