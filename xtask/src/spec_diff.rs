//! `cargo xtask spec-diff <OLD> <NEW>`: what a change of the OpenAPI fragment does to the generated Rust API.
//!
//! Both documents are reduced to a small model of what progenitor/typify turn into Rust (operations and their
//! positional parameters, object schemas, closed string enums, tagged `oneOf` unions, open untagged enums), and
//! the two models are compared. Every change is classified by the policy in [`POLICY`].
//!
//! `nullable` follows typify 0.8 (measured on this fragment): an inline `nullable: true` schema, and the
//! `nullable: true` + one-part `allOf: [$ref X]` wrapper, are `Option<…>` of what they wrap, and an optional
//! property of that type is not wrapped twice; a nullable *named* schema is a newtype around `Option<…>`. Schemas
//! codegen replaces with hand-written types ([`REPLACEMENTS`]) are named by their replacement.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::codegen::{GENERATED_PATH, SPEC_PATH, spec_sha256};
use spec_support::{HASH_PREFIX, REPLACEMENTS, resolve, tag_value, union_tag};

/// The classification policy, printed at the top of every report.
pub const POLICY: &str = "\
policy: Rust semver over the generated code, for code in other crates. codegen marks every generated struct and
  enum #[non_exhaustive], so other crates match enums with a `_` arm and build structs with builder(), a
  constructor or Default: a new enum value, storage kind or optional property is additive. The variants of a
  tagged enum (BackupStorageDescription, PartitionInformation, ...) are not: other crates build and match them
  with every field, so a property added to a variant is breaking.
  breaking  = code that compiled against the old generated API may stop compiling, or a payload the old API
              decoded now decodes into a different Rust value (or not at all); a known value that decoded as
              the open enum's String(..) and now has a variant of its own is the one exception: additive
  additive  = existing code keeps compiling and decoding the same; something new becomes available
  docs-only = only rustdoc (or text the generator ignores) changes";

/// Where [`Report::decisions_text`] points a maintainer.
const DECISIONS_HINT: &str = "  then: `cargo test -p sf-backup-workspace-tests --test regeneration` names each request property \
     sf-backup does not send and each backup state it does not know (spec/README.md, \"Regenerating\", step 6)\n";

/// What a change does to users of the generated API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Impact {
    /// Code may stop compiling, or decoding changes.
    Breaking,
    /// Only new things appear.
    Additive,
    /// Only documentation changes.
    DocsOnly,
}

impl Impact {
    /// The label used in both report formats.
    pub fn label(self) -> &'static str {
        match self {
            Impact::Breaking => "breaking",
            Impact::Additive => "additive",
            Impact::DocsOnly => "docs-only",
        }
    }
}

/// One classified change.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    /// How it affects users.
    pub impact: Impact,
    /// What part of the spec: `api-version`, `operation X`, `schema Y`, ...
    pub subject: String,
    /// The change itself, e.g. `storage kind added: DsmsAzureBlobStore`.
    pub what: String,
    /// One line in Rust terms.
    pub reason: String,
}

/// The result of comparing two fragments.
#[derive(Debug)]
pub struct Report {
    /// Where the old fragment came from.
    pub old: String,
    /// Where the new fragment came from.
    pub new: String,
    /// Sorted by impact, then subject, then change.
    pub changes: Vec<Change>,
}

impl Report {
    /// Whether any change is breaking.
    pub fn has_breaking(&self) -> bool {
        self.changes.iter().any(|c| c.impact == Impact::Breaking)
    }

    fn count(&self, impact: Impact) -> usize {
        self.changes.iter().filter(|c| c.impact == impact).count()
    }

    /// One line: how many changes of each impact.
    pub fn summary_line(&self) -> String {
        format!(
            "{} breaking, {} additive, {} docs-only",
            self.count(Impact::Breaking),
            self.count(Impact::Additive),
            self.count(Impact::DocsOnly)
        )
    }

    /// The plain-text report.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "spec-diff {} -> {}\n{POLICY}\n\nsummary: {}\n",
            self.old,
            self.new,
            self.summary_line()
        );
        for impact in [Impact::Breaking, Impact::Additive, Impact::DocsOnly] {
            let group: Vec<&Change> = self.changes.iter().filter(|c| c.impact == impact).collect();
            if group.is_empty() {
                continue;
            }
            let _ = write!(out, "\n{} ({})\n", impact.label(), group.len());
            for c in group {
                let _ = write!(out, "  {}: {}\n    {}\n", c.subject, c.what, c.reason);
            }
        }
        if self.changes.is_empty() {
            out.push_str("\nno changes\n");
        }
        out.push_str(&self.decisions_text());
        out
    }

    /// The changes a regeneration does not carry into the hand-written crates: a new property (the facade and the
    /// CLI build request bodies themselves) and a new enum value (the facade branches on some enums).
    pub fn decisions(&self) -> Vec<&Change> {
        self.changes
            .iter()
            .filter(|c| {
                c.what.starts_with("enum value added")
                    || (c.what.contains("property ") && c.what.contains(" added ("))
            })
            .collect()
    }

    /// [`Report::decisions`] with where to look, or nothing when there are none.
    pub fn decisions_text(&self) -> String {
        let decisions = self.decisions();
        if decisions.is_empty() {
            return String::new();
        }
        let mut out = format!(
            "\ndecide by hand ({}): the facade and the CLI do not follow a regeneration by themselves\n",
            decisions.len()
        );
        for c in decisions {
            let _ = writeln!(out, "  {}: {}", c.subject, c.what);
        }
        out.push_str(DECISIONS_HINT);
        out
    }

    /// The JSON report.
    pub fn to_json(&self) -> Value {
        json!({
            "old": self.old,
            "new": self.new,
            "summary": {
                "breaking": self.count(Impact::Breaking),
                "additive": self.count(Impact::Additive),
                "docs-only": self.count(Impact::DocsOnly),
            },
            "decide_by_hand": self.decisions().iter().map(|c| format!("{}: {}", c.subject, c.what)).collect::<Vec<_>>(),
            "changes": self.changes.iter().map(|c| json!({
                "impact": c.impact.label(),
                "subject": c.subject,
                "what": c.what,
                "reason": c.reason,
            })).collect::<Vec<_>>(),
        })
    }
}

/// Output format of the command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Human-readable text.
    Text,
    /// `serde_json` pretty-printed.
    Json,
}

/// Runs `spec-diff` with the arguments after the task name.
pub fn run(args: &[&str]) -> Result<(), String> {
    let mut format = Format::Text;
    let mut deny_breaking = false;
    let mut sides = Vec::new();
    let mut rest = args.iter();
    while let Some(&arg) = rest.next() {
        match arg {
            "--deny-breaking" => deny_breaking = true,
            "--format" => {
                format = match rest.next().copied() {
                    Some("text") => Format::Text,
                    Some("json") => Format::Json,
                    other => return Err(format!("--format takes `text` or `json`, not {other:?}")),
                }
            }
            _ if arg.starts_with("--") => return Err(format!("unknown option {arg}")),
            _ => sides.push(arg),
        }
    }
    let [old, new] = sides.as_slice() else {
        return Err("spec-diff takes exactly two sides: <OLD> <NEW> (a path or git:<rev>)".into());
    };
    let root = crate::codegen::workspace_root();
    let report = diff_texts(old, &load_side(&root, old)?, new, &load_side(&root, new)?)?;
    match format {
        Format::Text => print!("{}", report.to_text()),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report.to_json()).expect("a Value always serializes")
        ),
    }
    if deny_breaking && report.has_breaking() {
        return Err(format!(
            "--deny-breaking: {} breaking change(s)",
            report.count(Impact::Breaking)
        ));
    }
    Ok(())
}

/// Reads one side: `git:<rev>` is the committed spec at that revision, anything else a path (relative paths are
/// taken from the current directory, as a shell user expects).
pub fn load_side(root: &Path, side: &str) -> Result<String, String> {
    match side.strip_prefix("git:") {
        Some(rev) => git_show(root, rev),
        None => std::fs::read_to_string(side).map_err(|e| format!("cannot read {side}: {e}")),
    }
}

fn git_show(root: &Path, rev: &str) -> Result<String, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["show", &format!("{rev}:{SPEC_PATH}")])
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "git show {rev}:{SPEC_PATH} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    String::from_utf8(out.stdout).map_err(|_| format!("{rev}:{SPEC_PATH} is not UTF-8"))
}

/// Compares two fragment texts; the labels only name the sides in the report.
pub fn diff_texts(
    old_label: &str,
    old: &str,
    new_label: &str,
    new: &str,
) -> Result<Report, String> {
    let parse = |label: &str, text: &str| -> Result<Api, String> {
        let doc: Value =
            serde_yaml_ng::from_str(text).map_err(|e| format!("{label} is not valid YAML: {e}"))?;
        Ok(Api::from_doc(&doc))
    };
    let mut changes = diff(&parse(old_label, old)?, &parse(new_label, new)?);
    changes.sort();
    changes.dedup();
    Ok(Report {
        old: old_label.into(),
        new: new_label.into(),
        changes,
    })
}

/// The note `cargo xtask codegen` prints when the spec no longer matches the hash in the generated file's header.
/// `None` when they match. Never fails: without git it says so.
pub fn codegen_notice(root: &Path, generated: &str, spec: &str) -> Option<String> {
    let recorded = generated
        .lines()
        .find_map(|l| l.strip_prefix(HASH_PREFIX))?
        .trim();
    if recorded == spec_sha256(spec) {
        return None;
    }
    let mut note = format!(
        "{SPEC_PATH} changed since {GENERATED_PATH} was generated (header hash {recorded}).\n"
    );
    match find_base(root, recorded) {
        Ok((rev, base, exact)) => {
            if exact {
                let _ = writeln!(
                    note,
                    "base: the spec at {rev}, whose hash matches the header"
                );
            } else {
                let _ = writeln!(
                    note,
                    "base: the spec at {rev} (no recent commit of the spec has the header's hash, so this is an \
                     approximation)"
                );
            }
            match diff_texts(&format!("git:{rev}"), &base, SPEC_PATH, spec) {
                Ok(report) => {
                    let _ = writeln!(note, "spec-diff: {}", report.summary_line());
                    for c in &report.changes {
                        let _ =
                            writeln!(note, "  [{}] {}: {}", c.impact.label(), c.subject, c.what);
                    }
                    note.push_str(&report.decisions_text());
                    let _ = write!(note, "details: cargo xtask spec-diff git:{rev} {SPEC_PATH}");
                }
                Err(e) => {
                    let _ = write!(note, "spec-diff unavailable: {e}");
                }
            }
        }
        Err(e) => {
            let _ = write!(note, "spec-diff skipped: {e}");
        }
    }
    Some(note)
}

/// Finds the committed spec that produced the recorded hash (searching the spec's recent history), falling back
/// to HEAD. Returns (short revision, text, whether the hash matched).
fn find_base(root: &Path, recorded: &str) -> Result<(String, String, bool), String> {
    let log = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["log", "-n", "50", "--format=%h", "--", SPEC_PATH])
        .output()
        .map_err(|e| format!("git is unavailable ({e})"))?;
    if !log.status.success() {
        return Err(format!(
            "git log failed: {}",
            String::from_utf8_lossy(&log.stderr).trim()
        ));
    }
    for rev in String::from_utf8_lossy(&log.stdout).lines() {
        if let Ok(text) = git_show(root, rev)
            && spec_sha256(&text) == recorded
        {
            return Ok((rev.to_string(), text, true));
        }
    }
    git_show(root, "HEAD").map(|text| ("HEAD".to_string(), text, false))
}

// ---------------------------------------------------------------------------------------------------------------
// The model: only what shapes the generated Rust.

#[derive(Debug, Default)]
struct Api {
    info_version: Option<String>,
    info_docs: String,
    /// Values and default of each schema behind an `api-version` parameter, by the component schema's name
    /// (`ApiVersion` for the 6.4 operations, `ApiVersion60` for GetServiceInfoList); an inline schema is keyed
    /// by the parameter's name. Changes to these schemas are reported as `api-version`, once per schema.
    api_versions: BTreeMap<String, (Vec<String>, Option<String>)>,
    operations: BTreeMap<String, Operation>,
    schemas: BTreeMap<String, Schema>,
}

#[derive(Debug)]
struct Operation {
    method: String,
    path: String,
    docs: String,
    params: Vec<Param>,
    body: Option<Body>,
    responses: BTreeMap<String, Response>,
}

#[derive(Debug, Clone)]
struct Param {
    name: String,
    location: String,
    required: bool,
    ty: Ty,
    docs: String,
}

#[derive(Debug)]
struct Body {
    ty: String,
    required: bool,
    docs: String,
}

#[derive(Debug)]
struct Response {
    ty: Option<String>,
    docs: String,
}

/// A type as the generator sees it: its Rust spelling plus the facts that do not reach the Rust type.
#[derive(Debug, Clone, PartialEq)]
struct Ty {
    rust: String,
    /// `rust` is already `Option<…>` because the schema is `nullable`: typify does not wrap it again when the
    /// property or parameter is optional.
    nullable: bool,
    default: Option<String>,
    minimum: Option<String>,
    maximum: Option<String>,
}

#[derive(Debug)]
struct Schema {
    docs: String,
    /// `nullable: true` on the named schema: typify makes it a newtype around `Option<…>`.
    nullable: bool,
    default: Option<String>,
    /// The schema with every description and title removed: equal signatures mean a rename, not a new type.
    signature: String,
    shape: Shape,
}

#[derive(Debug)]
enum Shape {
    Object(BTreeMap<String, Prop>),
    Enum(Vec<String>),
    /// `oneOf` of inline objects tagged by a one-value enum property: tag value → (docs, properties).
    Tagged {
        tag: String,
        variants: Vec<(String, String, BTreeMap<String, Prop>)>,
    },
    /// Any other `oneOf`: the Rust types of its members.
    Untagged(Vec<String>),
    Other,
}

#[derive(Debug, Clone)]
struct Prop {
    required: bool,
    ty: Ty,
    docs: String,
}

fn text(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_string()
}

fn scalar(v: Option<&Value>) -> Option<String> {
    v.map(|v| match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    })
}

fn ref_name(v: &Value) -> Option<&str> {
    v.get("$ref")?.as_str()?.rsplit('/').next()
}

fn strip_docs(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| *k != "description" && *k != "title")
                .map(|(k, v)| (k.clone(), strip_docs(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip_docs).collect()),
        other => other.clone(),
    }
}

impl Api {
    fn from_doc(doc: &Value) -> Api {
        let mut api = Api {
            info_version: doc
                .pointer("/info/version")
                .and_then(Value::as_str)
                .map(String::from),
            info_docs: format!(
                "{}\n{}",
                text(&doc["info"], "title"),
                text(&doc["info"], "description")
            ),
            ..Api::default()
        };
        for (name, schema) in doc
            .pointer("/components/schemas")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            api.schemas.insert(name.clone(), Schema::from_value(schema));
        }
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                let Some(id) = op.get("operationId").and_then(Value::as_str) else {
                    continue;
                };
                let raw: Vec<&Value> = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| resolve(doc, p))
                    .collect();
                let params: Vec<Param> = raw.iter().map(|p| Param::from_value(p)).collect();
                if let Some(p) = raw.iter().find(|p| p["name"] == "api-version") {
                    let key = ref_name(&p["schema"]).unwrap_or("api-version").to_string();
                    let schema = resolve(doc, &p["schema"]);
                    let values = schema["enum"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect();
                    let default = schema
                        .get("default")
                        .and_then(Value::as_str)
                        .map(String::from);
                    api.api_versions.entry(key).or_insert((values, default));
                }
                let body = op.get("requestBody").map(|b| {
                    let b = resolve(doc, b);
                    Body {
                        ty: content_type(doc, b).unwrap_or_else(|| "(no JSON body)".into()),
                        required: b["required"].as_bool().unwrap_or(false),
                        docs: text(b, "description"),
                    }
                });
                let responses = op["responses"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(status, r)| {
                        let r = resolve(doc, r);
                        (
                            status.clone(),
                            Response {
                                ty: content_type(doc, r),
                                docs: text(r, "description"),
                            },
                        )
                    })
                    .collect();
                api.operations.insert(
                    id.to_string(),
                    Operation {
                        method: method.to_uppercase(),
                        path: path.clone(),
                        docs: format!("{}\n{}", text(op, "summary"), text(op, "description")),
                        params,
                        body,
                        responses,
                    },
                );
            }
        }
        api
    }
}

/// Follows one local `$ref` (parameters, responses, request bodies, schemas).
fn content_type(doc: &Value, holder: &Value) -> Option<String> {
    let content = holder.get("content")?.as_object()?;
    let (media, body) = content.iter().next()?;
    let schema = body.get("schema").map(|s| Ty::from_value(s).rust);
    let _ = doc;
    Some(format!(
        "{} ({media})",
        schema.unwrap_or_else(|| "bytes".into())
    ))
}

impl Param {
    fn from_value(p: &Value) -> Param {
        Param {
            name: text(p, "name"),
            location: text(p, "in"),
            required: p["required"].as_bool().unwrap_or(false),
            ty: Ty::from_value(&p["schema"]),
            docs: text(p, "description"),
        }
    }

    fn rust(&self) -> String {
        self.ty.field(self.required)
    }
}

impl Ty {
    fn from_value(s: &Value) -> Ty {
        Ty {
            rust: rust_type(s),
            nullable: is_nullable(s),
            default: scalar(s.get("default")),
            minimum: scalar(s.get("minimum")),
            maximum: scalar(s.get("maximum")),
        }
    }

    /// The Rust type of a property or parameter of this type: `Option<…>` when optional, unless the type already
    /// is one because it is nullable.
    fn field(&self, required: bool) -> String {
        if required || self.nullable {
            self.rust.clone()
        } else {
            format!("Option<{}>", self.rust)
        }
    }
}

/// `nullable: true` beside an inline schema or a one-part `allOf` (a `$ref` is never nullable by itself: OpenAPI
/// 3.0 ignores its siblings).
fn is_nullable(s: &Value) -> bool {
    s.get("$ref").is_none() && s.get("nullable").and_then(Value::as_bool) == Some(true)
}

/// The Rust type typify 0.8 gives a schema, as far as the report needs it.
fn rust_type(s: &Value) -> String {
    if is_nullable(s) {
        let mut inner = s.clone();
        if let Some(map) = inner.as_object_mut() {
            map.remove("nullable");
        }
        return format!("Option<{}>", rust_type(&inner));
    }
    if let Some(name) = ref_name(s) {
        return REPLACEMENTS
            .iter()
            .find(|r| r.schema == name)
            .map_or(name, |r| r.public_path)
            .to_string();
    }
    // A one-part `allOf` is the schema it names (typify inlines it); a wider one is a merged struct this model
    // does not analyse.
    if let Some(Value::Array(parts)) = s.get("allOf") {
        return match parts.as_slice() {
            [only] => rust_type(only),
            _ => "(allOf struct)".into(),
        };
    }
    let format = s.get("format").and_then(Value::as_str);
    match s.get("type").and_then(Value::as_str) {
        Some("string") if s.get("enum").is_some() => "(inline enum)".into(),
        Some("string") => match format {
            Some("uuid") => "uuid::Uuid".into(),
            Some("date-time") => "chrono::DateTime<Utc>".into(),
            _ => "String".into(),
        },
        Some("integer") => {
            let bits = if format == Some("int32") { 32 } else { 64 };
            match s.get("minimum").and_then(Value::as_f64) {
                Some(m) if m >= 1.0 => format!("NonZeroU{bits}"),
                Some(m) if m >= 0.0 => format!("u{bits}"),
                _ => format!("i{bits}"),
            }
        }
        Some("number") => "f64".into(),
        Some("boolean") => "bool".into(),
        Some("array") => format!("Vec<{}>", rust_type(&s["items"])),
        Some("object") => "(inline struct)".into(),
        _ => "serde_json::Value".into(),
    }
}

impl Schema {
    fn from_value(s: &Value) -> Schema {
        let shape = if let Some(values) = s.get("enum").and_then(Value::as_array) {
            Shape::Enum(
                values
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .map(String::from)
                            .unwrap_or_else(|| v.to_string())
                    })
                    .collect(),
            )
        } else if let Some(members) = s
            .get("oneOf")
            // An open enum is `anyOf` in the spec; codegen hands it to typify as `oneOf` (`open_enums_as_one_of`).
            .or_else(|| s.get("anyOf"))
            .and_then(Value::as_array)
        {
            tagged_union(members)
                .unwrap_or_else(|| Shape::Untagged(members.iter().map(rust_type).collect()))
        } else if s.get("properties").is_some()
            || s.get("type").and_then(Value::as_str) == Some("object")
        {
            Shape::Object(props(s))
        } else {
            Shape::Other
        };
        Schema {
            docs: text(s, "description"),
            nullable: is_nullable(s),
            default: scalar(s.get("default")),
            signature: strip_docs(s).to_string(),
            shape,
        }
    }
}

fn props(s: &Value) -> BTreeMap<String, Prop> {
    let required: BTreeSet<&str> = s["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    s["properties"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, p)| {
            (
                name.clone(),
                Prop {
                    required: required.contains(name.as_str()),
                    ty: Ty::from_value(p),
                    docs: text(p, "description"),
                },
            )
        })
        .collect()
}

/// Recognises the shape typify turns into `#[serde(tag = "...")]`: every member an inline object whose one
/// common required property is a one-value string enum.
fn tagged_union(members: &[Value]) -> Option<Shape> {
    let tag = union_tag(members)?;
    let mut variants = Vec::new();
    for m in members {
        let value = tag_value(m, &tag)?;
        let mut p = props(m);
        p.remove(&tag);
        let docs = format!("{}\n{}", text(m, "title"), text(m, "description"));
        variants.push((value.to_string(), docs, p));
    }
    Some(Shape::Tagged { tag, variants })
}

// ---------------------------------------------------------------------------------------------------------------
// Rust names, as typify/progenitor spell them.

fn words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    for chunk in s
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|c| !c.is_empty())
    {
        let chars: Vec<char> = chunk.chars().collect();
        let mut current = String::new();
        for (i, &c) in chars.iter().enumerate() {
            let prev = i.checked_sub(1).map(|j| chars[j]);
            let next = chars.get(i + 1);
            let boundary = c.is_ascii_uppercase()
                && prev.is_some_and(|p| {
                    p.is_ascii_lowercase()
                        || p.is_ascii_digit()
                        || (p.is_ascii_uppercase() && next.is_some_and(|n| n.is_ascii_lowercase()))
                });
            if boundary && !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            current.push(c);
        }
        if !current.is_empty() {
            words.push(current);
        }
    }
    words
}

/// `FABRIC_E_CERTIFICATE_NOT_FOUND` → `FabricECertificateNotFound`, `6.4` → `X64`.
pub fn variant_name(value: &str) -> String {
    let name: String = words(value)
        .iter()
        .map(|w| {
            let lower = w.to_ascii_lowercase();
            let mut chars = lower.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        format!("X{name}")
    } else {
        name
    }
}

/// `StorageCredentialsSourceLocation` → `storage_credentials_source_location`, `api-version` → `api_version`.
pub fn field_name(name: &str) -> String {
    words(name)
        .iter()
        .map(|w| w.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join("_")
}

// ---------------------------------------------------------------------------------------------------------------
// Comparison.

struct Ctx<'a> {
    old: &'a Api,
    new: &'a Api,
    /// Old schema name → new name, for schemas that only changed their name.
    renames: BTreeMap<String, String>,
    out: Vec<Change>,
}

impl Ctx<'_> {
    fn push(
        &mut self,
        impact: Impact,
        subject: impl Into<String>,
        what: impl Into<String>,
        reason: impl Into<String>,
    ) {
        self.out.push(Change {
            impact,
            subject: subject.into(),
            what: what.into(),
            reason: reason.into(),
        });
    }

    /// An old Rust type spelled with the new names, so a renamed type does not count twice.
    fn renamed(&self, rust: &str) -> String {
        let mut out = String::new();
        let mut ident = String::new();
        for c in rust.chars().chain(std::iter::once(' ')) {
            if c.is_ascii_alphanumeric() || c == '_' {
                ident.push(c);
            } else {
                let word = std::mem::take(&mut ident);
                out.push_str(self.renames.get(&word).map_or(&word, |n| n));
                out.push(c);
            }
        }
        out.pop();
        out
    }

    /// The open untagged enum (`anyOf [Known, string]`) that wraps a closed enum, if any.
    fn open_wrapper(&self, api: &Api, known: &str) -> Option<String> {
        api.schemas.iter().find_map(|(name, s)| match &s.shape {
            Shape::Untagged(members)
                if members.iter().any(|m| m == known) && members.iter().any(|m| m == "String") =>
            {
                Some(name.clone())
            }
            _ => None,
        })
    }
}

fn diff(old: &Api, new: &Api) -> Vec<Change> {
    let mut ctx = Ctx {
        old,
        new,
        renames: BTreeMap::new(),
        out: Vec::new(),
    };
    for (name, s) in &old.schemas {
        if new.schemas.contains_key(name) {
            continue;
        }
        if let Some((new_name, _)) = new
            .schemas
            .iter()
            .find(|(n, t)| !old.schemas.contains_key(*n) && t.signature == s.signature)
        {
            ctx.renames.insert(name.clone(), new_name.clone());
        }
    }
    diff_info(&mut ctx);
    diff_operations(&mut ctx);
    diff_schemas(&mut ctx);
    ctx.out
}

fn diff_info(ctx: &mut Ctx<'_>) {
    if ctx.old.info_version != ctx.new.info_version {
        let (o, n) = (&ctx.old.info_version, &ctx.new.info_version);
        ctx.push(
            Impact::Breaking,
            "info.version",
            format!("{} -> {}", show(o.as_deref()), show(n.as_deref())),
            "ClientInfo::api_version() returns the new value and the generated client sends it as the api-version \
             header (sf-backup-api's hook strips that header): observable behaviour, treated as breaking",
        );
    }
    if ctx.old.info_docs != ctx.new.info_docs {
        ctx.push(
            Impact::DocsOnly,
            "info",
            "title or description changed",
            "not part of the generated code",
        );
    }
    let (old_versions, new_versions) = (&ctx.old.api_versions, &ctx.new.api_versions);
    for (schema, (ov, od)) in old_versions {
        // A schema that appears or disappears is reported as a type added or removed; here only changed values.
        let Some((nv, nd)) = new_versions.get(schema) else {
            continue;
        };
        if (ov, od) == (nv, nd) {
            continue;
        }
        let variants = |vs: &[String]| {
            vs.iter()
                .map(|v| format!("{schema}::{}", variant_name(v)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let gone: Vec<String> = ov.iter().filter(|v| !nv.contains(v)).cloned().collect();
        let added: Vec<String> = nv.iter().filter(|v| !ov.contains(v)).cloned().collect();
        let mut why = Vec::new();
        if !gone.is_empty() {
            why.push(format!(
                "{} is gone: code naming it stops compiling",
                variants(&gone)
            ));
        }
        if !added.is_empty() {
            why.push(format!(
                "{} is new: exhaustive matches on {schema} stop compiling",
                variants(&added)
            ));
        }
        if od != nd {
            why.push(format!(
                "{schema}::default() becomes {}, so requests built with it carry api-version={}, which servers \
                 older than that reject",
                nd.as_deref()
                    .map_or("(none)".into(), |d| format!("{schema}::{}", variant_name(d))),
                show(nd.as_deref())
            ));
        }
        // Any change here either adds or removes a variant of a closed enum or changes what is sent.
        let subject = if old_versions.len() == 1 && new_versions.len() == 1 {
            "api-version".to_string()
        } else {
            format!("api-version ({schema})")
        };
        ctx.push(
            Impact::Breaking,
            subject,
            format!(
                "values [{}] default {} -> values [{}] default {}",
                ov.join(", "),
                show(od.as_deref()),
                nv.join(", "),
                show(nd.as_deref())
            ),
            why.join("; "),
        );
    }
    if old_versions.is_empty() != new_versions.is_empty() {
        ctx.push(
            Impact::Breaking,
            "api-version",
            "parameter appeared or disappeared",
            "every operation method gains or loses its api_version argument",
        );
    }
}

fn diff_operations(ctx: &mut Ctx<'_>) {
    let (old, new) = (ctx.old, ctx.new);
    for (id, o) in &old.operations {
        let method = field_name(id);
        let subject = format!("operation {id}");
        let Some(n) = new.operations.get(id) else {
            ctx.push(
                Impact::Breaking,
                subject,
                "removed",
                format!("Client::{method} is gone: callers stop compiling"),
            );
            continue;
        };
        if (o.method.as_str(), o.path.as_str()) != (n.method.as_str(), n.path.as_str()) {
            ctx.push(
                Impact::Breaking,
                subject.clone(),
                format!("{} {} -> {} {}", o.method, o.path, n.method, n.path),
                format!("Client::{method} keeps its signature but sends a different request"),
            );
        }
        if o.docs != n.docs {
            ctx.push(
                Impact::DocsOnly,
                subject.clone(),
                "summary or description changed",
                format!("rustdoc of Client::{method}"),
            );
        }
        diff_params(ctx, &method, &subject, o, n);
        match (&o.body, &n.body) {
            (None, Some(_)) | (Some(_), None) => ctx.push(
                Impact::Breaking,
                subject.clone(),
                "request body added or removed",
                format!("Client::{method} gains or loses its body argument"),
            ),
            (Some(ob), Some(nb)) => {
                if ctx.renamed(&ob.ty) != nb.ty {
                    ctx.push(
                        Impact::Breaking,
                        subject.clone(),
                        format!("request body {} -> {}", ob.ty, nb.ty),
                        format!("the body argument of Client::{method} changes type"),
                    );
                }
                if ob.required != nb.required {
                    ctx.push(
                        Impact::DocsOnly,
                        subject.clone(),
                        format!("request body required {} -> {}", ob.required, nb.required),
                        "the positional interface takes the body argument either way (`&Default::default()` sends `{}`)",
                    );
                }
                if ob.docs != nb.docs {
                    ctx.push(
                        Impact::DocsOnly,
                        subject.clone(),
                        "request body description changed",
                        "rustdoc only",
                    );
                }
            }
            (None, None) => {}
        }
        let statuses: BTreeSet<&String> = o.responses.keys().chain(n.responses.keys()).collect();
        for status in statuses {
            match (o.responses.get(status), n.responses.get(status)) {
                (Some(or), Some(nr)) => {
                    let old_ty = or.ty.as_deref().map(|t| ctx.renamed(t));
                    if old_ty.as_deref() != nr.ty.as_deref() {
                        ctx.push(
                            Impact::Breaking,
                            subject.clone(),
                            format!("response {status}: {} -> {}", show(or.ty.as_deref()), show(nr.ty.as_deref())),
                            format!("the result type of Client::{method} changes"),
                        );
                    }
                    if or.docs != nr.docs {
                        ctx.push(Impact::DocsOnly, subject.clone(), format!("response {status} description changed"), "rustdoc only");
                    }
                }
                (o_r, _) => ctx.push(
                    Impact::Breaking,
                    subject.clone(),
                    format!("response {status} {}", if o_r.is_some() { "removed" } else { "added" }),
                    format!(
                        "Client::{method} maps that status to a different Result/Error variant than before"
                    ),
                ),
            }
        }
    }
    for id in new
        .operations
        .keys()
        .filter(|id| !old.operations.contains_key(*id))
    {
        ctx.push(
            Impact::Additive,
            format!("operation {id}"),
            "added",
            format!("new method Client::{}", field_name(id)),
        );
    }
}

fn diff_params(ctx: &mut Ctx<'_>, method: &str, subject: &str, o: &Operation, n: &Operation) {
    let key = |p: &Param| (p.name.clone(), p.location.clone());
    let old_keys: Vec<_> = o.params.iter().map(key).collect();
    let new_keys: Vec<_> = n.params.iter().map(key).collect();
    for p in &o.params {
        if !new_keys.contains(&key(p)) {
            ctx.push(
                Impact::Breaking,
                subject,
                format!("parameter {} ({}) removed", p.name, p.location),
                format!(
                    "Client::{method} loses its positional argument {}: every call stops compiling",
                    field_name(&p.name)
                ),
            );
        }
    }
    for p in &n.params {
        if !old_keys.contains(&key(p)) {
            ctx.push(
                Impact::Breaking,
                subject,
                format!("parameter {} ({}, {}) added", p.name, p.location, if p.required { "required" } else { "optional" }),
                format!(
                    "Client::{method} gains a positional argument {}: {}, so every call stops compiling, even for an optional one",
                    field_name(&p.name),
                    p.rust()
                ),
            );
        }
    }
    let shared_old: Vec<_> = old_keys.iter().filter(|k| new_keys.contains(k)).collect();
    let shared_new: Vec<_> = new_keys.iter().filter(|k| old_keys.contains(k)).collect();
    if shared_old != shared_new {
        ctx.push(
            Impact::Breaking,
            subject,
            "parameters reordered",
            format!("the positional arguments of Client::{method} change order"),
        );
    }
    for op in &o.params {
        let Some(np) = n.params.iter().find(|p| key(p) == key(op)) else {
            continue;
        };
        let what = |w: String| format!("parameter {}: {w}", op.name);
        let arg = field_name(&op.name);
        if op.required != np.required || ctx.renamed(&op.ty.rust) != np.ty.rust {
            ctx.push(
                Impact::Breaking,
                subject,
                what(format!(
                    "{} {} -> {} {}",
                    if op.required { "required" } else { "optional" },
                    op.ty.rust,
                    if np.required { "required" } else { "optional" },
                    np.ty.rust
                )),
                format!(
                    "argument {arg} of Client::{method} changes from {} to {}",
                    ctx.renamed(&op.rust()),
                    np.rust()
                ),
            );
        }
        if op.ty.default != np.ty.default {
            ctx.push(
                Impact::DocsOnly,
                subject,
                what(format!("default {} -> {}", show(op.ty.default.as_deref()), show(np.ty.default.as_deref()))),
                format!("not in the Rust signature: passing None for {arg} now gets the server's new default"),
            );
        }
        if op.ty.minimum != np.ty.minimum && ctx.renamed(&op.ty.rust) == np.ty.rust {
            ctx.push(
                Impact::DocsOnly,
                subject,
                what(format!(
                    "minimum {} -> {}",
                    show(op.ty.minimum.as_deref()),
                    show(np.ty.minimum.as_deref())
                )),
                format!(
                    "{} is still the Rust type; range checks live in the facade",
                    np.ty.rust
                ),
            );
        }
        if op.ty.maximum != np.ty.maximum {
            ctx.push(
                Impact::DocsOnly,
                subject,
                what(format!("maximum {} -> {}", show(op.ty.maximum.as_deref()), show(np.ty.maximum.as_deref()))),
                "typify drops `maximum` (typify #975): the facade's range check must follow by hand",
            );
        }
        if op.docs != np.docs {
            ctx.push(
                Impact::DocsOnly,
                subject,
                what("description changed".into()),
                format!("rustdoc of Client::{method}"),
            );
        }
    }
}

fn diff_schemas(ctx: &mut Ctx<'_>) {
    let (old, new) = (ctx.old, ctx.new);
    for (name, o) in &old.schemas {
        if let Some(renamed) = ctx.renames.get(name).cloned() {
            ctx.push(
                Impact::Breaking,
                format!("schema {name}"),
                format!("renamed to {renamed}"),
                format!(
                    "type {name} renamed to {renamed} (same shape): code naming {name} stops compiling{}",
                    referrers(new, &renamed)
                ),
            );
            diff_schema(ctx, &renamed, o, &new.schemas[&renamed]);
            continue;
        }
        match new.schemas.get(name) {
            Some(n) => diff_schema(ctx, name, o, n),
            None => ctx.push(
                Impact::Breaking,
                format!("schema {name}"),
                "removed",
                format!("type {name} is gone"),
            ),
        }
    }
    for (name, s) in &new.schemas {
        if old.schemas.contains_key(name) || ctx.renames.values().any(|r| r == name) {
            continue;
        }
        if let Some(path) = REPLACEMENTS
            .iter()
            .find(|r| r.schema == name)
            .map(|r| r.public_path)
        {
            ctx.push(
                Impact::Additive,
                format!("schema {name}"),
                "added",
                format!("no generated type: codegen replaces it with the hand-written {path}"),
            );
            continue;
        }
        let kind = match s.shape {
            _ if s.nullable => "newtype struct",
            Shape::Enum(_) => "enum",
            Shape::Tagged { .. } | Shape::Untagged(_) => "enum",
            Shape::Object(_) => "struct",
            Shape::Other => "type",
        };
        ctx.push(
            Impact::Additive,
            format!("schema {name}"),
            "added",
            format!("new {kind} {name}"),
        );
    }
}

fn diff_schema(ctx: &mut Ctx<'_>, name: &str, o: &Schema, n: &Schema) {
    let subject = format!("schema {name}");
    if o.docs != n.docs {
        ctx.push(
            Impact::DocsOnly,
            subject.clone(),
            "description changed",
            format!("rustdoc of {name}"),
        );
    }
    if ctx.new.api_versions.contains_key(name) && matches!(o.shape, Shape::Enum(_)) {
        return;
    }
    if o.nullable != n.nullable {
        ctx.push(
            Impact::Breaking,
            subject.clone(),
            format!("nullable {} -> {}", o.nullable, n.nullable),
            if n.nullable {
                format!("{name} becomes a newtype around Option<…>: code building or reading it stops compiling, and null now decodes")
            } else {
                format!("{name} stops being a newtype around Option<…>: code building or reading it stops compiling, and null no longer decodes")
            },
        );
    }
    if o.default != n.default {
        ctx.push(
            Impact::Breaking,
            subject.clone(),
            format!("default {} -> {}", show(o.default.as_deref()), show(n.default.as_deref())),
            format!("{name}::default() returns a different value: code relying on it silently sends something else"),
        );
    }
    match (&o.shape, &n.shape) {
        (Shape::Object(op), Shape::Object(np)) => diff_props(ctx, &subject, name, None, op, np),
        (Shape::Enum(ov), Shape::Enum(nv)) => diff_enum(ctx, &subject, name, ov, nv),
        (
            Shape::Tagged {
                tag: ot,
                variants: ov,
            },
            Shape::Tagged {
                tag: nt,
                variants: nv,
            },
        ) => {
            if ot != nt {
                ctx.push(
                    Impact::Breaking,
                    subject.clone(),
                    format!("tag property {ot} -> {nt}"),
                    format!(
                        "#[serde(tag)] of {name} changes: the wire format of every variant changes"
                    ),
                );
            }
            for (value, _, _) in ov {
                if !nv.iter().any(|(v, _, _)| v == value) {
                    ctx.push(
                        Impact::Breaking,
                        subject.clone(),
                        format!("storage kind removed: {value}"),
                        format!("variant {name}::{} is gone: code building or matching it stops compiling", variant_name(value)),
                    );
                }
            }
            for (value, docs, props) in nv {
                let variant = variant_name(value);
                match ov.iter().find(|(v, _, _)| v == value) {
                    None => {
                        let fields: Vec<String> = props.keys().map(|p| field_name(p)).collect();
                        ctx.push(
                            Impact::Additive,
                            subject.clone(),
                            format!("storage kind added: {value}"),
                            format!(
                                "new variant {name}::{variant} {{ {} }}: {name} is #[non_exhaustive], so matches \
                                 elsewhere already have a `_` arm; servers that predate the kind reject it",
                                fields.join(", ")
                            ),
                        );
                    }
                    Some((_, odocs, oprops)) => {
                        if odocs != docs {
                            ctx.push(
                                Impact::DocsOnly,
                                subject.clone(),
                                format!("variant {value}: title or description changed"),
                                format!("rustdoc of {name}::{variant}"),
                            );
                        }
                        diff_props(ctx, &subject, name, Some(&variant), oprops, props);
                    }
                }
            }
        }
        (Shape::Untagged(om), Shape::Untagged(nm)) => {
            let om: Vec<String> = om.iter().map(|m| ctx.renamed(m)).collect();
            if &om != nm {
                ctx.push(
                    Impact::Breaking,
                    subject,
                    format!("oneOf members {om:?} -> {nm:?}"),
                    format!("the variants of untagged enum {name} change, and with them what each payload decodes to"),
                );
            }
        }
        (Shape::Other, Shape::Other) if o.signature == n.signature => {}
        _ => {
            if o.signature != n.signature {
                ctx.push(
                    Impact::Breaking,
                    subject,
                    "shape changed",
                    format!("{name} becomes a different kind of Rust type (or a shape this tool does not analyse)"),
                );
            }
        }
    }
}

fn diff_enum(ctx: &mut Ctx<'_>, subject: &str, name: &str, ov: &[String], nv: &[String]) {
    let new_wrapper = ctx.open_wrapper(ctx.new, name);
    let old_wrapper = ctx.open_wrapper(ctx.old, name);
    for value in ov.iter().filter(|v| !nv.contains(v)) {
        let variant = variant_name(value);
        let decoding = match &new_wrapper {
            Some(open) => format!("{value:?} now decodes as {open}::String"),
            None => format!("a payload carrying {value:?} no longer decodes"),
        };
        ctx.push(
            Impact::Breaking,
            subject,
            format!("enum value removed: {value}"),
            format!(
                "variant {name}::{variant} is gone: code naming it stops compiling; {decoding}"
            ),
        );
    }
    for value in nv.iter().filter(|v| !ov.contains(v)) {
        let variant = variant_name(value);
        let reason = match &old_wrapper {
            Some(open) => format!(
                "new variant {name}::{variant} of a #[non_exhaustive] enum; {value:?}, which decoded as \
                 {open}::String(..), now decodes as {open}::{name}({name}::{variant}): code comparing the text \
                 should compare the variant too. Nothing that decoded before fails to decode now"
            ),
            None => format!(
                "new variant {name}::{variant} of a #[non_exhaustive] enum; payloads carrying {value:?} now \
                 decode instead of failing"
            ),
        };
        ctx.push(
            Impact::Additive,
            subject,
            format!("enum value added: {value}"),
            reason,
        );
    }
}

fn diff_props(
    ctx: &mut Ctx<'_>,
    subject: &str,
    name: &str,
    variant: Option<&str>,
    op: &BTreeMap<String, Prop>,
    np: &BTreeMap<String, Prop>,
) {
    let owner = match variant {
        Some(v) => format!("{name}::{v}"),
        None => name.to_string(),
    };
    let prefix = variant
        .map(|v| format!("variant {v}: "))
        .unwrap_or_default();
    let rust = |p: &Prop, ty: String| {
        Ty {
            rust: ty,
            ..p.ty.clone()
        }
        .field(p.required)
    };
    for (prop, o) in op {
        let field = field_name(prop);
        let Some(n) = np.get(prop) else {
            ctx.push(
                Impact::Breaking,
                subject,
                format!("{prefix}property {prop} removed"),
                format!(
                    "field {owner}.{field} is gone; code reading or setting it stops compiling"
                ),
            );
            continue;
        };
        let old_ty = rust(o, ctx.renamed(&o.ty.rust));
        let new_ty = rust(n, n.ty.rust.clone());
        if old_ty != new_ty {
            let required = if o.required == n.required {
                String::new()
            } else {
                format!(", {} -> {}", req(o.required), req(n.required))
            };
            ctx.push(
                Impact::Breaking,
                subject,
                format!("{prefix}property {prop}: {old_ty} -> {new_ty}{required}"),
                format!("field {owner}.{field} changes type from {old_ty} to {new_ty}"),
            );
        }
        if o.ty.default != n.ty.default {
            ctx.push(
                Impact::Breaking,
                subject,
                format!("{prefix}property {prop}: default {} -> {}", show(o.ty.default.as_deref()), show(n.ty.default.as_deref())),
                format!("the serde default of {owner}.{field} changes: a payload without it decodes differently"),
            );
        }
        if (o.ty.minimum != n.ty.minimum && old_ty == new_ty) || o.ty.maximum != n.ty.maximum {
            ctx.push(
                Impact::DocsOnly,
                subject,
                format!("{prefix}property {prop}: bounds changed"),
                format!("{owner}.{field} keeps its Rust type; typify does not check these bounds"),
            );
        }
        if o.docs != n.docs {
            ctx.push(
                Impact::DocsOnly,
                subject,
                format!("{prefix}property {prop}: description changed"),
                format!("rustdoc of {owner}.{field}"),
            );
        }
    }
    for (prop, n) in np.iter().filter(|(p, _)| !op.contains_key(*p)) {
        let field = field_name(prop);
        let (impact, reason) = if n.required {
            (
                Impact::Breaking,
                format!(
                    "new required field {owner}.{field}: {}: every construction stops compiling (or its builder \
                     fails), and payloads without it no longer decode",
                    n.ty.rust
                ),
            )
        } else if variant.is_some() {
            (
                Impact::Breaking,
                format!(
                    "new optional field {owner}.{field}: {}: decoding is unaffected, but the variant is built \
                     and matched with every field (only the enum is #[non_exhaustive]), so those stop compiling",
                    n.ty.field(false)
                ),
            )
        } else {
            (
                Impact::Additive,
                format!(
                    "new optional field {owner}.{field}: {}: decoding is unaffected, and {name} is \
                     #[non_exhaustive], so other crates build it with builder() or Default, never a literal",
                    n.ty.field(false)
                ),
            )
        };
        ctx.push(
            impact,
            subject,
            format!("{prefix}property {prop} added ({})", req(n.required)),
            reason,
        );
    }
}

/// `; used by Owner.field, ...` for the properties that refer to schema `name`, or nothing.
fn referrers(api: &Api, name: &str) -> String {
    let mut fields = Vec::new();
    for (owner, s) in &api.schemas {
        let mut scan = |owner: String, props: &BTreeMap<String, Prop>| {
            for (prop, p) in props {
                if p.ty.rust == name {
                    fields.push(format!("{owner}.{}", field_name(prop)));
                }
            }
        };
        match &s.shape {
            Shape::Object(props) => scan(owner.clone(), props),
            Shape::Tagged { variants, .. } => {
                for (value, _, props) in variants {
                    scan(format!("{owner}::{}", variant_name(value)), props);
                }
            }
            _ => {}
        }
    }
    if fields.is_empty() {
        String::new()
    } else {
        format!("; used by {}", fields.join(", "))
    }
}

fn show(v: Option<&str>) -> String {
    v.map_or_else(|| "(none)".to_string(), |v| v.trim_matches('"').to_string())
}

fn req(required: bool) -> &'static str {
    if required { "required" } else { "optional" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codegen::{generate, workspace_root};

    const HISTORY: [&str; 6] = ["6.2-preview", "7.1", "7.2", "8.0", "8.2", "9.0"];

    fn fixture(version: &str) -> String {
        let path = workspace_root().join(format!("xtask/fixtures/spec-history/{version}.yaml"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn live() -> String {
        std::fs::read_to_string(workspace_root().join(SPEC_PATH)).unwrap()
    }

    fn report(old: &str, new: &str) -> Report {
        diff_texts("old", old, "new", new).unwrap()
    }

    #[test]
    fn names_follow_typify() {
        assert_eq!(
            variant_name("FABRIC_E_CERTIFICATE_NOT_FOUND"),
            "FabricECertificateNotFound"
        );
        assert_eq!(variant_name("6.4"), "X64");
        assert_eq!(variant_name("6.2-preview"), "X62Preview");
        assert_eq!(variant_name("VMSS"), "Vmss");
        assert_eq!(variant_name("DsmsAzureBlobStore"), "DsmsAzureBlobStore");
        assert_eq!(
            field_name("StorageCredentialsSourceLocation"),
            "storage_credentials_source_location"
        );
        assert_eq!(field_name("api-version"), "api_version");
        assert_eq!(field_name("partitionId"), "partition_id");
        assert_eq!(field_name("BackupTimeout"), "backup_timeout");
    }

    /// Every Rust name the reports mention between `Type::Variant` must exist in the code generated from the side
    /// that has it, so the reasons cannot name things typify never produces.
    #[test]
    fn rust_names_in_reports_exist_in_generated_code() {
        let steps = [
            ("7.1", "7.2"),
            ("7.2", "8.0"),
            ("8.2", "9.0"),
            ("6.2-preview", "8.2"),
        ];
        for (a, b) in steps {
            let (old, new) = (fixture(a), fixture(b));
            let both = generate(&old, "x").unwrap() + &generate(&new, "x").unwrap();
            let r = report(&old, &new);
            for c in &r.changes {
                for token in c
                    .reason
                    .split(|ch: char| !(ch.is_ascii_alphanumeric() || ch == ':' || ch == '_'))
                {
                    let Some((ty, variant)) = token.split_once("::") else {
                        continue;
                    };
                    if ty.is_empty()
                        || variant.is_empty()
                        || !ty.starts_with(|ch: char| ch.is_ascii_uppercase())
                    {
                        continue;
                    }
                    let variant = variant.trim_end_matches(':');
                    if variant.starts_with(|ch: char| ch.is_ascii_uppercase()) {
                        assert!(
                            both.contains(&format!("enum {ty} ")) && both.contains(variant),
                            "{a}->{b}: {ty}::{variant} not in generated code (reason: {})",
                            c.reason
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn each_historical_fragment_generates_deterministically() {
        for version in HISTORY {
            let spec = fixture(version);
            let first = generate(&spec, "x").unwrap_or_else(|e| panic!("{version}: {e}"));
            assert_eq!(
                first,
                generate(&spec, "x").unwrap(),
                "{version} generates differently twice"
            );
            assert!(
                first.contains("pub enum BackupStorageDescription"),
                "{version}"
            );
        }
    }

    #[test]
    fn identical_fragments_have_no_changes() {
        let r = report(&live(), &live());
        assert!(r.changes.is_empty(), "{r:?}");
        assert!(r.to_text().contains("no changes"));
    }

    #[test]
    fn a_description_change_is_docs_only() {
        let changed = live().replace(
            "The identity of the partition.",
            "The partition's identity.",
        );
        let r = report(&live(), &changed);
        // The parameter is shared by the three partition operations, and each method carries its own rustdoc.
        assert_eq!(r.changes.len(), 3, "{r:?}");
        for c in &r.changes {
            assert_eq!(c.impact, Impact::DocsOnly, "{c:?}");
            assert_eq!(c.what, "parameter partitionId: description changed");
        }
        assert!(!r.has_breaking());
    }

    #[test]
    fn a_new_operation_is_additive_and_a_new_optional_parameter_breaking() {
        let mut doc: Value = serde_yaml_ng::from_str(&live()).unwrap();
        let get = doc["paths"]["/Partitions/{partitionId}/$/GetBackupProgress"]["get"].clone();
        let mut other = get.clone();
        other["operationId"] = "GetPartitionRestoreProgress".into();
        doc["paths"]["/Partitions/{partitionId}/$/GetRestoreProgress"] = json!({ "get": other });
        doc["paths"]["/Partitions/{partitionId}/$/GetBackupProgress"]["get"]["parameters"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "Latest", "in": "query", "required": false, "schema": {"type": "boolean"}}));
        let r = report(&live(), &serde_yaml_ng::to_string(&doc).unwrap());
        let find = |what: &str| {
            r.changes
                .iter()
                .find(|c| c.what.starts_with(what))
                .unwrap_or_else(|| panic!("{what}: {r:?}"))
        };
        assert_eq!(find("added").impact, Impact::Additive);
        assert!(
            find("added")
                .reason
                .contains("Client::get_partition_restore_progress")
        );
        let latest = find("parameter Latest");
        assert_eq!(latest.impact, Impact::Breaking);
        assert!(
            latest.reason.contains("latest: Option<bool>"),
            "{}",
            latest.reason
        );
    }

    #[test]
    fn each_api_version_schema_is_judged_on_its_own() {
        // GetServiceInfoList's 6.0 beside the 6.4 of every other operation: a change to one names that one.
        let changed = spec_support::replace_once(
            &live(),
            "        - \"6.0\"\n      default: \"6.0\"\n",
            "        - \"6.1\"\n      default: \"6.1\"\n",
        )
        .unwrap();
        let r = report(&live(), &changed);
        let versions: Vec<&Change> = r
            .changes
            .iter()
            .filter(|c| c.subject.starts_with("api-version"))
            .collect();
        assert_eq!(versions.len(), 1, "{r:?}");
        assert_eq!(versions[0].subject, "api-version (ApiVersion60)");
        assert_eq!(versions[0].impact, Impact::Breaking);
        assert!(
            versions[0].reason.contains("ApiVersion60::X61 is new"),
            "{}",
            versions[0].reason
        );
        assert!(report(&live(), &live()).changes.is_empty());
    }

    #[test]
    fn parameter_bounds_and_defaults_are_judged_by_the_rust_type() {
        let timeout = "        minimum: 1\n        maximum: 4294967295\n        default: 60\n";
        let relaxed = spec_support::replace_once(
            &live(),
            timeout,
            "        minimum: 0\n        maximum: 65535\n        default: 30\n",
        )
        .unwrap();
        let r = report(&live(), &relaxed);
        let by_what = |prefix: &str| -> Vec<&Change> {
            r.changes
                .iter()
                .filter(|c| c.what.starts_with(&format!("parameter timeout: {prefix}")))
                .collect()
        };
        // minimum 1 -> 0 turns NonZeroU64 into u64: a different argument type, once per operation.
        let ty = by_what("optional NonZeroU64 -> optional u64");
        assert_eq!(ty.len(), 6, "{r:?}");
        assert!(ty.iter().all(|c| c.impact == Impact::Breaking));
        // typify drops `maximum`, and the default is the server's: neither reaches the Rust signature.
        for what in ["maximum 4294967295 -> 65535", "default 60 -> 30"] {
            let found = by_what(what);
            assert_eq!(found.len(), 6, "{what}: {r:?}");
            assert!(found.iter().all(|c| c.impact == Impact::DocsOnly), "{what}");
        }
        // The minimum change is already covered by the type change, not reported twice.
        assert!(by_what("minimum").is_empty(), "{r:?}");
    }

    /// The policy of #[non_exhaustive] types: what other crates can and cannot write decides each verdict.
    #[test]
    fn additions_are_additive_except_required_ones_and_variant_fields() {
        let verdict = |from: &str, to: &str| {
            let changed = spec_support::replace_once(&live(), from, to).unwrap();
            let r = report(&live(), &changed);
            assert_eq!(r.changes.len(), 1, "{r:?}");
            (r.changes[0].impact, r.changes[0].what.clone())
        };
        let epoch =
            "        DataLossVersion:\n          $ref: \"#/components/schemas/Int64Text\"\n";
        assert_eq!(
            verdict(
                epoch,
                &format!("{epoch}        Generation:\n          type: string\n")
            ),
            (
                Impact::Additive,
                "property Generation added (optional)".into()
            )
        );
        assert_eq!(
            verdict(
                "      required:\n        - Code\n      properties:\n",
                "      required:\n        - Code\n        - Source\n      properties:\n        Source:\n          type: string\n"
            ),
            (Impact::Breaking, "property Source added (required)".into())
        );
        assert_eq!(
            verdict(
                "        Message:\n          description: A human readable explanation.\n          type: string\n",
                ""
            ),
            (Impact::Breaking, "property Message removed".into())
        );
        assert_eq!(
            verdict(
                "        - FABRIC_E_IMAGEBUILDER_RESERVED_DIRECTORY_ERROR\n",
                "        - FABRIC_E_IMAGEBUILDER_RESERVED_DIRECTORY_ERROR\n        - FABRIC_E_CERTIFICATE_NOT_FOUND\n"
            ),
            (
                Impact::Additive,
                "enum value added: FABRIC_E_CERTIFICATE_NOT_FOUND".into()
            )
        );
        // A variant of a tagged enum is built with every field in other crates: an optional one is breaking.
        let share = "            Path:\n              description: The UNC path of the share, for example `\\\\\\\\server\\\\share`.\n              type: string\n";
        assert_eq!(
            verdict(
                share,
                &format!("{share}            Domain:\n              type: string\n")
            ),
            (
                Impact::Breaking,
                "variant FileShare: property Domain added (optional)".into()
            )
        );
    }

    #[test]
    fn making_a_property_required_is_breaking() {
        let changed = spec_support::replace_once(
            &live(),
            "      required:\n        - Code\n",
            "      required:\n        - Code\n        - Message\n",
        )
        .unwrap();
        let r = report(&live(), &changed);
        assert_eq!(r.changes.len(), 1, "{r:?}");
        assert_eq!(r.changes[0].impact, Impact::Breaking);
        assert!(
            r.changes[0].what.contains("Option<String> -> String"),
            "{r:?}"
        );
    }

    #[test]
    fn json_format_matches_the_text() {
        let r = report(&fixture("8.2"), &fixture("9.0"));
        let j = r.to_json();
        assert_eq!(j["summary"]["breaking"], 0);
        assert_eq!(j["summary"]["additive"], 1);
        assert_eq!(j["changes"][0]["impact"], "additive");
        assert_eq!(
            j["changes"][0]["what"],
            "enum value added: FABRIC_E_CERTIFICATE_NOT_FOUND"
        );
    }

    /// typify 0.8's `nullable`, as measured on this fragment: the model and the generated code agree.
    #[test]
    fn nullable_is_the_option_typify_makes_of_it() {
        let schema = |name: &str| format!("#/components/schemas/{name}");
        assert_eq!(
            rust_type(
                &json!({"nullable": true, "allOf": [{"$ref": schema("BackupProgressInfo")}]})
            ),
            "Option<BackupProgressInfo>"
        );
        assert_eq!(
            rust_type(&json!({"type": "string", "nullable": true})),
            "Option<String>"
        );
        assert_eq!(
            rust_type(&json!({"allOf": [{"$ref": schema("Epoch")}]})),
            "Epoch"
        );
        // OpenAPI 3.0 ignores the siblings of a `$ref`, and so does typify.
        assert_eq!(
            rust_type(&json!({"$ref": schema("Epoch"), "nullable": true})),
            "Epoch"
        );

        // The live progress response, against the fragment before it became nullable.
        let r = report(&fixture("8.2"), &live());
        assert!(
            r.changes.iter().any(|c| c.what
                == "response 200: BackupProgressInfo (application/json) -> Option<BackupProgressInfo> (application/json)"),
            "{r:?}"
        );
        assert!(
            generate(&live(), "x")
                .unwrap()
                .contains("ResponseValue<::std::option::Option<types::BackupProgressInfo>>")
        );

        // An optional property made nullable keeps its Rust type (typify does not wrap twice); a required one
        // becomes an Option; a nullable named schema is a newtype around an Option.
        let optional = "        BackupLocation:\n          description: Where the backup was written, relative to the root of its storage.\n          type: string\n";
        let required = "            ContainerName:\n              description: The blob container that holds the backups.\n              type: string\n        - title: FileShare\n";
        let edited = live()
            .replacen(
                optional,
                &optional.replace("type: string\n", "type: string\n          nullable: true\n"),
                1,
            )
            .replacen(
                required,
                &required.replacen(
                    "type: string\n",
                    "type: string\n              nullable: true\n",
                    1,
                ),
                1,
            )
            .replacen(
                "\n    Epoch:\n",
                "\n    Note:\n      type: string\n      nullable: true\n    Epoch:\n",
                1,
            );
        let r = report(&live(), &edited);
        let whats: Vec<String> = r
            .changes
            .iter()
            .map(|c| {
                format!(
                    "[{}] {}: {}; {}",
                    c.impact.label(),
                    c.subject,
                    c.what,
                    c.reason
                )
            })
            .collect();
        assert_eq!(
            whats,
            [
                "[breaking] schema BackupStorageDescription: variant AzureBlobStore: property ContainerName: String -> Option<String>; field BackupStorageDescription::AzureBlobStore.container_name changes type from String to Option<String>",
                "[additive] schema Note: added; new newtype struct Note",
            ],
            "{r:?}"
        );
        let code = generate(&edited, "x").unwrap();
        assert!(
            code.contains("pub struct Note(pub ::std::option::Option<::std::string::String>);")
        );
        assert!(
            code.contains("pub backup_location: ::std::option::Option<::std::string::String>,")
        );
        assert_eq!(
            code.matches("container_name: ::std::option::Option<::std::string::String>,")
                .count(),
            1
        );
    }

    /// [`REPLACEMENTS`] is what codegen's settings really replace: no type of the schema's name is generated,
    /// and the fields that refer to it use the hand-written type.
    #[test]
    fn replacements_match_the_generated_code() {
        let code = generate(&live(), "x").unwrap();
        for spec_support::Replacement { schema, path, .. } in REPLACEMENTS {
            assert!(
                live().contains(&format!("\n    {schema}:\n")),
                "{schema} is not a schema of the spec"
            );
            assert!(
                !code.contains(&format!("pub struct {schema}")),
                "{schema} is generated after all"
            );
            assert!(
                !code.contains(&format!("pub enum {schema}")),
                "{schema} is generated after all"
            );
            assert!(code.contains(path), "the generated code never names {path}");
        }
        // Every `crate::` type the generated code names is listed.
        for (i, _) in code.match_indices("crate::") {
            let name: String = code[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            assert!(
                REPLACEMENTS
                    .iter()
                    .any(|r| r.path.ends_with(&format!("::{name}"))),
                "crate::{name} is not in REPLACEMENTS"
            );
        }
    }

    #[test]
    fn the_replayed_update_is_named_for_a_decision_by_hand() {
        let replayed = spec_support::replayed_update(&live()).unwrap();
        let text = report(&live(), &replayed).to_text();
        let decisions = &text[text.find("decide by hand (2)").expect(&text)..];
        assert!(
            decisions.contains(
                "schema BackupPartitionDescription: property BackupRetentionDays added (optional)"
            ) && decisions.contains("schema KnownBackupState: enum value added: Cancelled")
                && decisions.contains("--test regeneration"),
            "{decisions}"
        );
        assert_eq!(report(&live(), &live()).decisions_text(), "");
    }

    #[test]
    fn codegen_notice_only_when_the_hash_differs() {
        let spec = live();
        let header = format!("// Spec SHA-256: {}\n", spec_sha256(&spec));
        assert_eq!(codegen_notice(&workspace_root(), &header, &spec), None);
        // The generated file came from the committed spec; the working spec is now that spec with 9.0's one new
        // error code (the 9.0 fixture itself is upstream-shaped, without the live spec's deviations). Built from
        // the committed spec, not the working one, so an uncommitted spec change does not fail this test.
        let last = "        - FABRIC_E_IMAGEBUILDER_RESERVED_DIRECTORY_ERROR\n";
        let with_new_code = |spec: &str| {
            assert!(
                spec.ends_with(last),
                "KnownFabricErrorCodes is no longer the last list of the spec"
            );
            format!("{spec}        - FABRIC_E_CERTIFICATE_NOT_FOUND\n")
        };
        let Ok(committed) = git_show(&workspace_root(), "HEAD") else {
            let note = codegen_notice(&workspace_root(), &header, &with_new_code(&spec)).unwrap();
            // No git (a source tarball): said, and no base claimed.
            assert!(
                note.contains("spec-diff skipped") && !note.contains("base:"),
                "{note}"
            );
            return;
        };
        let header = format!("// Spec SHA-256: {}\n", spec_sha256(&committed));
        let note = codegen_notice(&workspace_root(), &header, &with_new_code(&committed)).unwrap();
        assert!(note.contains("changed since"), "{note}");
        // HEAD's spec is in the spec's history, so the exact base is found.
        assert!(note.contains("whose hash matches the header"), "{note}");
        assert!(
            note.contains("spec-diff: 0 breaking, 1 additive, 0 docs-only"),
            "{note}"
        );
        assert!(
            note.contains("[additive] schema KnownFabricErrorCodes: enum value added: FABRIC_E_CERTIFICATE_NOT_FOUND"),
            "{note}"
        );
    }
}
