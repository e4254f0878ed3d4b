//! What xtask (codegen, spec-diff, conformance) and the workspace tests both know about the spec, its examples and
//! this tree, each written once: the paths, the spec's parsing, `$ref` resolution, tagged-union detection, the
//! schemas codegen replaces with hand-written types, the examples index, and what a round trip forgives.
//!
//! No dependency on the generated crate: xtask must build when the committed generated code does not.
#![forbid(unsafe_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The spec, relative to the workspace root.
pub const SPEC_PATH: &str = "spec/servicefabric-backup.openapi.yaml";
/// The generated file, relative to the workspace root.
pub const GENERATED_PATH: &str = "crates/sf-backup-api/src/generated.rs";
/// The examples and their `index.json`, relative to the workspace root.
pub const EXAMPLES_DIR: &str = "spec/examples";
/// The header line of the generated file that records which spec bytes it came from.
pub const HASH_PREFIX: &str = "// Spec SHA-256: ";
/// How a local reference to a schema starts.
pub const SCHEMA_PREFIX: &str = "#/components/schemas/";

/// A schema that codegen replaces with a hand-written type of the api crate: no type of its name is generated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Replacement {
    /// The schema's name under `components/schemas`.
    pub schema: &'static str,
    /// The path the generated code names (inside the api crate).
    pub path: &'static str,
    /// The path other crates name.
    pub public_path: &'static str,
}

/// Every schema codegen replaces (`with_replacement`): the secrets, which must not print through `Debug`.
pub const REPLACEMENTS: [Replacement; 1] = [Replacement {
    schema: "SecretString",
    path: "crate::SecretString",
    public_path: "sf_backup_api::SecretString",
}];

/// The workspace root (this crate lives in `xtask/spec-support`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("spec-support lives two folders below the workspace root")
        .to_path_buf()
}

/// A file's text, or an error naming the file.
pub fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// The spec text as committed in the working tree.
pub fn spec_text() -> Result<String, String> {
    read(&workspace_root().join(SPEC_PATH))
}

/// The spec as a JSON value; `label` names the text in the error.
pub fn parse_spec(text: &str, label: &str) -> Result<Value, String> {
    serde_yaml_ng::from_str(text).map_err(|e| format!("{label} is not valid YAML: {e}"))
}

/// `text` with `from` replaced by `to`, when `from` occurs exactly once: a spec edit that cannot silently miss.
pub fn replace_once(text: &str, from: &str, to: &str) -> Result<String, String> {
    match text.matches(from).count() {
        1 => Ok(text.replacen(from, to, 1)),
        n => Err(format!("expected exactly one {from:?}, found {n}")),
    }
}

/// `spec` with the edits of `tests/fixtures/replayed-update.json`: a spec update (an optional request property, a
/// backup state) that once went through the whole regeneration flow without anything naming the hand-written code
/// it needs. Replayed by the workspace tests (`tests/regeneration.rs`) and by spec-diff's tests.
pub fn replayed_update(spec: &str) -> Result<String, String> {
    let path = workspace_root().join("tests/fixtures/replayed-update.json");
    let fixture: Value =
        serde_json::from_str(&read(&path)?).map_err(|e| format!("{}: {e}", path.display()))?;
    fixture["edits"].as_array().into_iter().flatten().try_fold(
        spec.to_owned(),
        |spec, edit| match (edit["from"].as_str(), edit["to"].as_str()) {
            (Some(from), Some(to)) => replace_once(&spec, from, to),
            _ => Err(format!(
                "{}: an edit without `from` and `to`",
                path.display()
            )),
        },
    )
}

/// The schema name a `{$ref: "#/components/schemas/X"}` names.
pub fn ref_name(schema: &Value) -> Option<&str> {
    schema["$ref"].as_str()?.strip_prefix(SCHEMA_PREFIX)
}

/// Follows a chain of local `$ref`s to the value they name (`Null` when one does not resolve or the chain loops).
pub fn resolve<'a>(doc: &'a Value, mut value: &'a Value) -> &'a Value {
    for _ in 0..32 {
        match value["$ref"].as_str().and_then(|r| r.strip_prefix('#')) {
            Some(pointer) => match doc.pointer(pointer) {
                Some(target) => value = target,
                None => return &Value::Null,
            },
            None => return value,
        }
    }
    &Value::Null
}

/// The tag of a tagged union, the shape typify turns into `#[serde(tag = "...")]`: a property that every variant
/// (each an inline object) requires and declares as a one-value string enum, with distinct values. `None` for any
/// other `oneOf` (typify makes it an untagged enum).
pub fn union_tag(variants: &[Value]) -> Option<String> {
    let first = variants.first()?;
    let tag = first["required"]
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .find(|name| {
            variants.iter().all(|v| {
                v.get("$ref").is_none()
                    && v["required"]
                        .as_array()
                        .is_some_and(|r| r.iter().any(|n| n == name))
                    && tag_value(v, name).is_some()
            })
        })?;
    let values: BTreeSet<&str> = variants.iter().filter_map(|v| tag_value(v, tag)).collect();
    (values.len() == variants.len()).then(|| tag.to_owned())
}

/// The one value of a variant's `tag` property, if it is a one-value string enum.
pub fn tag_value<'a>(variant: &'a Value, tag: &str) -> Option<&'a str> {
    let values = variant["properties"][tag]["enum"].as_array()?;
    (values.len() == 1).then(|| values[0].as_str())?
}

/// Members upstream's own examples carry although the spec does not declare them: (schema, member). The 9.1
/// GetServiceInfoList example writes `"ServiceMetadata": {"ArmMetadata": {}}` in each ServiceInfo; nothing in the
/// 8.2 spec defines it and nothing here reads it, so the generated types ignore it (serde skips unknown members).
/// Dropped, at any depth, from examples before they are validated and before a round trip is compared;
/// `cargo xtask conformance` fails when an entry is stale.
pub const UNDECLARED_MEMBERS: [(&str, &str); 1] = [("ServiceInfo", "ServiceMetadata")];

/// `value` without the [`UNDECLARED_MEMBERS`] members, at any depth.
pub fn without_undeclared_members(value: &Value) -> Value {
    filter_members(value, &|name, _| {
        !UNDECLARED_MEMBERS.iter().any(|(_, m)| *m == name)
    })
}

/// `value` with every object member whose value is `null` removed, at any depth; a `null` that is not a member
/// (a whole body) stays. The service writes absent values as explicit nulls (`"FailureError": null`); the
/// generated types read a null member and a missing one as the same `None` and write neither
/// (`skip_serializing_if`). Both mean "no value" on the wire, and nothing but nulls is forgiven.
pub fn without_null_members(value: &Value) -> Value {
    filter_members(value, &|_, v| !v.is_null())
}

fn filter_members(value: &Value, keep: &dyn Fn(&str, &Value) -> bool) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, v)| keep(k, v))
                .map(|(k, v)| (k.clone(), filter_members(v, keep)))
                .collect(),
        ),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| filter_members(v, keep)).collect())
        }
        other => other.clone(),
    }
}

/// Whether `back`, an example decoded into its generated type and encoded again, is `original` as the round trip
/// promises: equal once null members are dropped from both and the undeclared members from the original.
pub fn round_trips(original: &Value, back: &Value) -> bool {
    without_null_members(back) == without_null_members(&without_undeclared_members(original))
}

/// The values of an index entry's `source`: the REST page's shapes (including bodies written for this project in
/// them), or what the service's code sends (docs/service-behaviour.md#two-dialects).
pub const SOURCES: [&str; 2] = ["documented", "service code"];

/// One example, as `spec/examples/index.json` lists it, with its body.
#[derive(Clone, Debug)]
pub struct Example {
    /// The JSON file under `spec/examples/`.
    pub file: String,
    /// The schema under `components/schemas` the body is an instance of.
    pub schema: String,
    /// The body may be `null`: a whole response body whose schema is `nullable` around `schema` (the progress
    /// 200); it decodes as `Option<schema>`.
    pub nullable: bool,
    /// The example's heading.
    pub title: String,
    /// The request line, e.g. `GET http://localhost:19080/Partitions/.../$/GetBackupProgress?api-version=6.4`.
    pub request: String,
    /// The response status the body comes with (or the documented request's answer).
    pub status: u16,
    /// Where the shape comes from: one of [`SOURCES`].
    pub source: String,
    /// For service shapes: the note's section and the service source file that justify the shape; for
    /// documented ones, the upstream example file.
    pub reference: Option<String>,
    /// The body.
    pub body: Value,
}

impl Example {
    /// The request's method, e.g. `POST`.
    pub fn method(&self) -> &str {
        self.request
            .split_once(' ')
            .map_or("", |(method, _)| method)
    }

    /// The request's target (path and query), e.g. `/Partitions/.../$/Backup?api-version=6.4`.
    pub fn target(&self) -> &str {
        let url = self.request.split_once(' ').map_or("", |(_, url)| url);
        let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
        after_scheme.find('/').map_or("", |i| &after_scheme[i..])
    }

    /// A snapshot-friendly name: the file name without `.json`.
    pub fn name(&self) -> &str {
        self.file.trim_end_matches(".json")
    }
}

/// Reads `index.json` and every example it lists, in its order; fails on a file it does not list, an entry
/// without the required members, or an unknown `source`.
pub fn load_examples() -> Result<Vec<Example>, String> {
    let dir = workspace_root().join(EXAMPLES_DIR);
    let index: Value = serde_json::from_str(&read(&dir.join("index.json"))?)
        .map_err(|e| format!("{EXAMPLES_DIR}/index.json: {e}"))?;
    let entries = index
        .as_array()
        .ok_or(format!("{EXAMPLES_DIR}/index.json is not an array"))?;
    let listed: BTreeSet<&str> = entries.iter().filter_map(|e| e["file"].as_str()).collect();
    for entry in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let name = entry.map_err(|e| e.to_string())?.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".json") && name != "index.json" && !listed.contains(name.as_ref()) {
            return Err(format!("{EXAMPLES_DIR}/{name} is not listed in index.json"));
        }
    }
    entries
        .iter()
        .map(|entry| {
            let text = |key: &str| {
                entry[key]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or(format!("index.json entry without `{key}`: {entry}"))
            };
            let (file, source) = (text("file")?, text("source")?);
            if !SOURCES.contains(&source.as_str()) {
                return Err(format!(
                    "index.json entry {file}: `source` is {source:?}, not one of {SOURCES:?}"
                ));
            }
            let body = serde_json::from_str(&read(&dir.join(&file))?)
                .map_err(|e| format!("{EXAMPLES_DIR}/{file}: {e}"))?;
            Ok(Example {
                schema: text("schema")?,
                nullable: entry["nullable"].as_bool().unwrap_or(false),
                title: text("title")?,
                request: text("request")?,
                status: entry["status"]
                    .as_u64()
                    .and_then(|s| u16::try_from(s).ok())
                    .ok_or(format!("index.json entry {file}: no `status`"))?,
                source,
                reference: entry["reference"].as_str().map(str::to_owned),
                body,
                file,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_union_is_tagged_only_when_every_variant_has_a_distinct_one_value_tag() {
        let variant =
            |kind: &str| json!({"required": ["Kind"], "properties": {"Kind": {"enum": [kind]}}});
        assert_eq!(
            union_tag(&[variant("A"), variant("B")]).as_deref(),
            Some("Kind")
        );
        assert_eq!(
            union_tag(&[variant("A"), variant("A")]),
            None,
            "the same tag twice"
        );
        assert_eq!(
            union_tag(&[variant("A"), json!({"$ref": "#/components/schemas/B"})]),
            None
        );
        assert_eq!(union_tag(&[variant("A"), json!({"type": "string"})]), None);
    }

    #[test]
    fn a_round_trip_forgives_nulls_and_undeclared_members_only() {
        let original = json!({"A": null, "B": 1, "Items": [{"ServiceMetadata": {}, "C": null}]});
        assert!(round_trips(&original, &json!({"B": 1, "Items": [{}]})));
        assert!(!round_trips(&original, &json!({"B": 2, "Items": [{}]})));
        assert!(
            !round_trips(&json!({"B": "1"}), &json!({"B": 1})),
            "a JSON type is not forgiven"
        );
    }

    #[test]
    fn resolve_follows_chains_and_stops_at_loops() {
        let doc = json!({"a": {"$ref": "#/b"}, "b": {"$ref": "#/c"}, "c": 3, "x": {"$ref": "#/x"}});
        assert_eq!(resolve(&doc, &doc["a"]), &json!(3));
        assert_eq!(resolve(&doc, &doc["x"]), &Value::Null);
    }

    #[test]
    fn every_example_loads() {
        let examples = load_examples().unwrap();
        assert!(examples.iter().any(|e| e.nullable && e.body.is_null()));
        assert!(
            examples
                .iter()
                .all(|e| !e.method().is_empty() && e.target().starts_with('/'))
        );
    }
}
