//! `cargo xtask spec-diff <OLD> <NEW>`: what changed between two versions of the OpenAPI fragment, item by item.
//!
//! Both documents are flattened into items (the info block, each operation, each of its parameters, each schema,
//! each property, each variant of a tagged union and each enum value) and compared as text: an item is added,
//! removed, changed (its schema text differs once descriptions and titles are dropped) or has only new docs.
//! Each change gets the impact of a short rule ([`POLICY`]); the rules know nothing of what the generator makes
//! of a schema, so any changed schema text counts as breaking. `cargo xtask semver <OLD> <NEW>` builds the
//! generated crate from both sides and lets cargo-semver-checks decide.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use serde_json::{Map, Value, json};

use crate::codegen::{GENERATED_PATH, SPEC_PATH, spec_sha256};
use spec_support::{HASH_PREFIX, resolve, tag_value, union_tag};

/// The classification rules, printed at the top of every report.
pub const POLICY: &str = "\
policy: text-level rules over the generated code's semver; codegen marks every generated type #[non_exhaustive].
  additive  = a new operation, schema, enum value, storage kind (tagged-union variant), or optional property of
              a struct (not of a tagged-union variant: other crates build and match those with every field)
  breaking  = anything removed; a new parameter (a positional argument) or required property; any other change
              to an item's schema text (it may change a Rust type: `cargo xtask semver <OLD> <NEW>` checks it)
  docs-only = only descriptions or titles change";

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
    /// What part of the spec: `info`, `operation X`, `schema Y`.
    pub subject: String,
    /// The change itself, e.g. `variant DsmsAzureBlobStore added`.
    pub what: String,
    /// The rule of [`POLICY`] that gave the impact.
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
    let parse = |label: &str, text: &str| -> Result<Doc, String> {
        let doc: Value =
            serde_yaml_ng::from_str(text).map_err(|e| format!("{label} is not valid YAML: {e}"))?;
        Ok(Doc::new(&doc))
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
// The items.

/// One comparable item: its text as written (descriptions included) and whether its owner requires it.
#[derive(Debug)]
struct Item {
    text: Value,
    required: bool,
}

/// A fragment flattened: (subject, part) → item, where the subject is `info`, `operation X` or `schema Y` and
/// the part is `""` (the subject itself), `parameter P (in)`, `property P`, `variant V`, `variant V: property P`
/// or `enum value V`; and each operation's parameter parts in their order (the generated method's arguments).
#[derive(Debug, Default)]
struct Doc {
    items: BTreeMap<(String, String), Item>,
    orders: BTreeMap<String, Vec<String>>,
}

impl Doc {
    fn new(doc: &Value) -> Doc {
        let mut out = Doc::default();
        out.insert("info", String::new(), doc["info"].clone(), false);
        for (path, methods) in doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in methods.as_object().into_iter().flatten() {
                let Some(id) = op["operationId"].as_str() else {
                    continue;
                };
                let subject = format!("operation {id}");
                let mut text = op.as_object().cloned().unwrap_or_default();
                text.remove("parameters");
                text.insert("method".into(), method.to_uppercase().into());
                text.insert("path".into(), path.clone().into());
                // Shared request bodies and responses are compared where they are used.
                if let Some(body) = text.get_mut("requestBody") {
                    *body = resolve(doc, body).clone();
                }
                if let Some(Value::Object(responses)) = text.get_mut("responses") {
                    for response in responses.values_mut() {
                        *response = resolve(doc, response).clone();
                    }
                }
                out.insert(&subject, String::new(), Value::Object(text), false);
                let mut order = Vec::new();
                for p in op["parameters"].as_array().into_iter().flatten() {
                    let p = resolve(doc, p);
                    let part = format!("parameter {} ({})", str_of(&p["name"]), str_of(&p["in"]));
                    order.push(part.clone());
                    out.insert(&subject, part, p.clone(), p["required"] == true);
                }
                out.orders.insert(subject, order);
            }
        }
        for (name, schema) in doc
            .pointer("/components/schemas")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            out.schema(&format!("schema {name}"), String::new(), schema);
        }
        out
    }

    fn insert(&mut self, subject: &str, part: String, text: Value, required: bool) {
        self.items
            .insert((subject.to_string(), part), Item { text, required });
    }

    /// A schema's items: its properties, enum values and tagged-union variants each on their own, and the rest.
    fn schema(&mut self, subject: &str, part: String, schema: &Value) {
        let prefix = if part.is_empty() {
            String::new()
        } else {
            format!("{part}: ")
        };
        let mut text = schema.as_object().cloned().unwrap_or_default();
        let required: Vec<&str> = schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if let Some(Value::Object(props)) = text.remove("properties") {
            text.remove("required");
            for (name, p) in props {
                let required = required.contains(&name.as_str());
                self.insert(subject, format!("{prefix}property {name}"), p, required);
            }
        }
        if let Some(Value::Array(values)) = text.remove("enum") {
            for v in values {
                let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                self.insert(
                    subject,
                    format!("{prefix}enum value {v}"),
                    Value::Null,
                    false,
                );
            }
        }
        if let Some(members) = schema["oneOf"].as_array()
            && let Some(tag) = union_tag(members)
        {
            text.remove("oneOf");
            for m in members {
                let mut variant = m.clone();
                if let Some(Value::Object(props)) = variant.get_mut("properties") {
                    props.remove(&tag);
                }
                let value = tag_value(m, &tag).unwrap_or_default();
                self.schema(subject, format!("{prefix}variant {value}"), &variant);
            }
            // The tag's name is not in any variant's part: it stays in the union's text.
            text.insert("x-tag".into(), tag.into());
        }
        self.insert(subject, part, Value::Object(text), false);
    }
}

/// The item a part belongs to: `variant V` for `variant V: property P`, the subject for any other part, none for
/// the subject itself.
fn owner((subject, part): &(String, String)) -> Option<(String, String)> {
    let owner = part.rsplit_once(": ").map_or("", |(owner, _)| owner);
    (!part.is_empty()).then(|| (subject.clone(), owner.to_string()))
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// The text without descriptions and titles: what the generated code is made of.
fn strip_docs(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| *k != "description" && *k != "title" && *k != "summary")
                .map(|(k, v)| (k.clone(), strip_docs(v)))
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip_docs).collect()),
        other => other.clone(),
    }
}

/// `key old -> new` for each member that differs, members of members (and array items by index) joined with `.`;
/// absent is `(none)`.
fn delta(path: &str, old: &Value, new: &Value, out: &mut Vec<String>) {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            for key in o.keys().chain(n.keys().filter(|k| !o.contains_key(*k))) {
                let path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                let absent = Value::Null;
                delta(
                    &path,
                    o.get(key).unwrap_or(&absent),
                    n.get(key).unwrap_or(&absent),
                    out,
                );
            }
        }
        (Value::Array(o), Value::Array(n)) if o != n => {
            for i in 0..o.len().max(n.len()) {
                let absent = Value::Null;
                let (a, b) = (o.get(i).unwrap_or(&absent), n.get(i).unwrap_or(&absent));
                delta(&format!("{path}.{i}"), a, b, out);
            }
        }
        _ if old == new => {}
        _ => out.push(format!("{path} {} -> {}", short(old), short(new))),
    }
}

fn short(v: &Value) -> String {
    let text = match v {
        Value::Null => "(none)".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The rules.

const REMOVED: &str =
    "removed: code naming it stops compiling, and payloads carrying it may stop decoding";
const CHANGED: &str = "schema text changed: the generated type may change (`cargo xtask semver <OLD> <NEW>` checks it)";
const NEW: &str = "new, and every generated type is #[non_exhaustive]";
const NEW_PARAMETER: &str = "a new parameter is a new positional argument of the generated method";
const NEW_REQUIRED: &str = "a new required property: constructions and payloads without it fail";
const NEW_VARIANT_PROPERTY: &str = "a new property of a tagged-union variant: other crates build and match a variant with every field";
const DOCS: &str = "rustdoc only";

fn diff(old: &Doc, new: &Doc) -> Vec<Change> {
    let mut out = Vec::new();
    let mut push = |impact, (subject, part): &(String, String), what: &str, reason: &str| {
        let what = match (part.as_str(), part.rsplit_once("enum value ")) {
            ("", _) => what.trim_start_matches(": ").to_string(),
            (_, Some((prefix, value))) => format!("{prefix}enum value {what}: {value}"),
            (part, None) if what.starts_with(':') => format!("{part}{what}"),
            (part, None) => format!("{part} {what}"),
        };
        out.push(Change {
            impact,
            subject: subject.clone(),
            what,
            reason: reason.into(),
        });
    };
    // The parts of a new subject or variant come with it, and go with a removed one.
    let has_owner =
        |doc: &Doc, key: &(String, String)| owner(key).is_none_or(|o| doc.items.contains_key(&o));
    for (key, o) in &old.items {
        let Some(n) = new.items.get(key) else {
            if has_owner(new, key) {
                push(Impact::Breaking, key, "removed", REMOVED);
            }
            continue;
        };
        let mut changed = Vec::new();
        if o.required != n.required {
            changed.push(format!("required {} -> {}", o.required, n.required));
        }
        delta("", &strip_docs(&o.text), &strip_docs(&n.text), &mut changed);
        if !changed.is_empty() {
            let what = format!(": {}", changed.join("; "));
            push(Impact::Breaking, key, &what, CHANGED);
        } else if o.text != n.text {
            push(Impact::DocsOnly, key, ": description changed", DOCS);
        }
    }
    for (key, n) in new
        .items
        .iter()
        .filter(|(k, _)| !old.items.contains_key(*k) && has_owner(old, k))
    {
        let part = key.1.as_str();
        let requirement = if n.required { "required" } else { "optional" };
        let (impact, what, reason) = if part.starts_with("parameter ") {
            (
                Impact::Breaking,
                format!("added ({requirement})"),
                NEW_PARAMETER,
            )
        } else if part.contains("property ") && n.required {
            (
                Impact::Breaking,
                format!("added ({requirement})"),
                NEW_REQUIRED,
            )
        } else if part.starts_with("variant ") && part.contains(": property ") {
            (
                Impact::Breaking,
                format!("added ({requirement})"),
                NEW_VARIANT_PROPERTY,
            )
        } else if part.contains("property ") {
            (Impact::Additive, format!("added ({requirement})"), NEW)
        } else {
            (Impact::Additive, "added".to_string(), NEW)
        };
        push(impact, key, &what, reason);
    }
    for (subject, o) in &old.orders {
        let Some(n) = new.orders.get(subject) else {
            continue;
        };
        let shared_old: Vec<&String> = o.iter().filter(|p| n.contains(p)).collect();
        let shared_new: Vec<&String> = n.iter().filter(|p| o.contains(p)).collect();
        if shared_old != shared_new {
            let key = (subject.clone(), String::new());
            push(
                Impact::Breaking,
                &key,
                "parameters reordered",
                "the positional arguments of the generated method change order",
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codegen::{generate, workspace_root};

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

    fn edited(from: &str, to: &str) -> Report {
        report(
            &live(),
            &spec_support::replace_once(&live(), from, to).unwrap(),
        )
    }

    /// `[impact] subject: what` of every change.
    fn lines(r: &Report) -> Vec<String> {
        r.changes
            .iter()
            .map(|c| format!("[{}] {}: {}", c.impact.label(), c.subject, c.what))
            .collect()
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
        // The parameter is shared by the partition operations, and each method carries its own rustdoc.
        assert!(r.changes.len() >= 3, "{r:?}");
        for c in &r.changes {
            assert_eq!(c.impact, Impact::DocsOnly, "{c:?}");
            assert_eq!(c.what, "parameter partitionId (path): description changed");
        }
    }

    #[test]
    fn a_new_operation_is_additive_and_a_new_optional_parameter_breaking() {
        let mut doc: Value = serde_yaml_ng::from_str(&live()).unwrap();
        let get = doc["paths"]["/Partitions/{partitionId}/$/GetBackupProgress"]["get"].clone();
        let mut other = get.clone();
        other["operationId"] = "GetPartitionBackupProgressCopy".into();
        doc["paths"]["/Partitions/{partitionId}/$/GetBackupProgressCopy"] = json!({ "get": other });
        doc["paths"]["/Partitions/{partitionId}/$/GetBackupProgress"]["get"]["parameters"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "Latest", "in": "query", "required": false, "schema": {"type": "boolean"}}));
        let r = report(&live(), &serde_yaml_ng::to_string(&doc).unwrap());
        let operation = "operation GetPartitionBackupProgressCopy: added".to_string();
        let parameter =
            "operation GetPartitionBackupProgress: parameter Latest (query) added (optional)"
                .to_string();
        assert!(
            lines(&r).contains(&format!("[additive] {operation}")),
            "{r:?}"
        );
        assert!(
            lines(&r).contains(&format!("[breaking] {parameter}")),
            "{r:?}"
        );
        // The new operation's parameters come with it: listed, but the operation is what is additive.
        assert_eq!(r.count(Impact::Breaking), 1, "{r:?}");
    }

    /// A change of the schema text is breaking whatever it is: here `maximum` alone turns the generated
    /// argument from i64 into i32, which a model of the generator once called docs-only.
    #[test]
    fn any_schema_change_is_breaking() {
        // BackupTimeout's schema (RestoreTimeout's has the same text after another description).
        let with_format = "the request arrives, so progress turns `Timeout` at once.\n      schema:\n        \
                           type: integer\n        format: int64\n        minimum: -2147483648\n";
        let without_format = "the request arrives, so progress turns `Timeout` at once.\n      schema:\n        \
                              type: integer\n        minimum: -2147483648\n";
        let r = edited(with_format, without_format);
        assert_eq!(
            lines(&r),
            [
                "[breaking] operation BackupPartition: parameter BackupTimeout (query): schema.format int64 -> (none)"
            ]
        );
        let before = generate(&live(), "x").unwrap();
        let after = generate(
            &spec_support::replace_once(&live(), with_format, without_format).unwrap(),
            "x",
        )
        .unwrap();
        assert!(
            before.contains("backup_timeout: Option<i64>"),
            "the live spec's BackupTimeout is no longer i64"
        );
        assert!(
            after.contains("backup_timeout: Option<i32>"),
            "without format the bounds no longer make it i32"
        );

        // A default is part of the text as well.
        let at = "the request arrives, so progress turns `Timeout` at once.\n      schema:\n        type: integer\n        \
                  format: int64\n        minimum: -2147483648\n        maximum: 2147483647\n";
        let r = edited(
            &format!("{at}        default: 10\n"),
            &format!("{at}        default: 30\n"),
        );
        assert_eq!(
            lines(&r),
            [
                "[breaking] operation BackupPartition: parameter BackupTimeout (query): schema.default 10 -> 30"
            ]
        );
    }

    #[test]
    fn each_api_version_schema_is_judged_on_its_own() {
        // GetServiceInfoList's 6.0 beside the 6.4 of every other operation: a change to one names that one.
        let r = edited(
            "        - \"6.0\"\n      default: \"6.0\"\n",
            "        - \"6.1\"\n      default: \"6.1\"\n",
        );
        assert_eq!(
            lines(&r),
            [
                "[breaking] schema ApiVersion60: default 6.0 -> 6.1",
                "[breaking] schema ApiVersion60: enum value removed: 6.0",
                "[additive] schema ApiVersion60: enum value added: 6.1",
            ]
        );
    }

    #[test]
    fn reordered_parameters_are_breaking() {
        let (timeout, version) = (
            "        - $ref: \"#/components/parameters/BackupTimeout\"\n",
            "        - $ref: \"#/components/parameters/ApiVersion\"\n",
        );
        let r = edited(
            &format!("{timeout}{version}"),
            &format!("{version}{timeout}"),
        );
        assert_eq!(
            lines(&r),
            ["[breaking] operation BackupPartition: parameters reordered"]
        );
    }

    /// What other crates can and cannot write decides each verdict.
    #[test]
    fn additions_are_additive_except_required_ones_parameters_and_variant_fields() {
        let one = |from: &str, to: &str| {
            let r = edited(from, to);
            assert_eq!(r.changes.len(), 1, "{r:?}");
            lines(&r).remove(0)
        };
        let epoch =
            "        DataLossVersion:\n          $ref: \"#/components/schemas/Int64Text\"\n";
        assert_eq!(
            one(
                epoch,
                &format!("{epoch}        Generation:\n          type: string\n")
            ),
            "[additive] schema Epoch: property Generation added (optional)"
        );
        assert_eq!(
            one(
                "      required:\n        - Code\n      properties:\n",
                "      required:\n        - Code\n        - Source\n      properties:\n        Source:\n          type: string\n"
            ),
            "[breaking] schema FabricErrorError: property Source added (required)"
        );
        assert_eq!(
            one(
                "        Message:\n          description: A human readable explanation.\n          type: string\n",
                ""
            ),
            "[breaking] schema FabricErrorError: property Message removed"
        );
        assert_eq!(
            one(
                "        - FABRIC_E_IMAGEBUILDER_RESERVED_DIRECTORY_ERROR\n",
                "        - FABRIC_E_IMAGEBUILDER_RESERVED_DIRECTORY_ERROR\n        - FABRIC_E_CERTIFICATE_NOT_FOUND\n"
            ),
            "[additive] schema KnownFabricErrorCodes: enum value added: FABRIC_E_CERTIFICATE_NOT_FOUND"
        );
        let share = "            Path:\n              description: The UNC path of the share, for example `\\\\\\\\server\\\\share`.\n              type: string\n";
        assert_eq!(
            one(
                share,
                &format!("{share}            Domain:\n              type: string\n")
            ),
            "[breaking] schema BackupStorageDescription: variant FileShare: property Domain added (optional)"
        );
        assert_eq!(
            one(
                "      required:\n        - Code\n",
                "      required:\n        - Code\n        - Message\n"
            ),
            "[breaking] schema FabricErrorError: property Message: required false -> true"
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
        assert_eq!(j["decide_by_hand"].as_array().unwrap().len(), 1);
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
        let header = format!("{HASH_PREFIX}{}\n", spec_sha256(&spec));
        assert_eq!(codegen_notice(&workspace_root(), &header, &spec), None);
        // The generated file came from the committed spec; the working spec is now that spec with 9.0's one new
        // error code. Built from the committed spec, not the working one, so an uncommitted spec change does not
        // fail this test.
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
        let header = format!("{HASH_PREFIX}{}\n", spec_sha256(&committed));
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
