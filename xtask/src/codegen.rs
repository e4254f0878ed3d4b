//! `cargo xtask codegen [--check]`: the spec fragment in, `crates/sf-backup-api/src/generated.rs` out.
//!
//! Generation is a pure function of the spec's bytes and the pinned generator: [`generate`] takes the spec text and
//! returns the file's text, so `--check` and the drift test compare exactly what a fresh run would write.

use std::fmt::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use progenitor_impl::{
    GenerationSettings, Generator, HooksMode, InterfaceStyle, TagStyle, TypePatch,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The spec, relative to the workspace root.
pub const SPEC_PATH: &str = "spec/servicefabric-backup.openapi.yaml";
/// The generated file, relative to the workspace root.
pub const GENERATED_PATH: &str = "crates/sf-backup-api/src/generated.rs";

/// The workspace root: the parent of this crate's folder.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one folder below the workspace root")
        .to_path_buf()
}

/// Runs `codegen` (write) or `codegen --check` (compare only).
pub fn run(check: bool) -> Result<(), String> {
    let root = workspace_root();
    let spec = read(&root.join(SPEC_PATH))?;
    let version = progenitor_version(&read(&root.join("Cargo.lock"))?)?;
    let fresh = generate(&spec, &version)?;
    let target = root.join(GENERATED_PATH);
    let current = std::fs::read_to_string(&target).ok();
    // Before regenerating, say what the spec change does to the Rust API, so the maintainer reviews it knowingly.
    let notice = current
        .as_deref()
        .and_then(|c| crate::spec_diff::codegen_notice(&root, c, &spec));

    if check {
        if let Some(notice) = &notice {
            eprintln!("{notice}\n");
        }
        return match current {
            Some(current) if current == fresh => Ok(()),
            Some(current) => Err(stale_report(&current, &fresh, &spec)),
            None => Err(format!(
                "{GENERATED_PATH} is missing: run `cargo xtask codegen`"
            )),
        };
    }
    if let Some(notice) = &notice {
        println!("{notice}\n");
    }
    if current.as_deref() != Some(fresh.as_str()) {
        std::fs::write(&target, &fresh)
            .map_err(|e| format!("cannot write {GENERATED_PATH}: {e}"))?;
        println!("wrote {GENERATED_PATH}");
    } else {
        println!("{GENERATED_PATH} is up to date");
    }
    Ok(())
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// The progenitor-impl version that Cargo.lock resolved; it goes into the header because it shapes the output.
pub fn progenitor_version(lock: &str) -> Result<String, String> {
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == r#"name = "progenitor-impl""#
            && let Some(version) = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = "))
        {
            return Ok(version.trim_matches('"').to_string());
        }
    }
    Err("Cargo.lock names no progenitor-impl package: is xtask still a workspace member?".into())
}

/// SHA-256 of the spec's bytes, lower-case hex.
pub fn spec_sha256(spec: &str) -> String {
    Sha256::digest(spec.as_bytes())
        .iter()
        .fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The header line that records which spec bytes a generated file came from.
const HASH_PREFIX: &str = "// Spec SHA-256: ";

/// Turns the spec text into the generated file's text.
pub fn generate(spec_text: &str, progenitor_version: &str) -> Result<String, String> {
    let mut doc: Value = serde_yaml_ng::from_str(spec_text)
        .map_err(|e| format!("{SPEC_PATH} is not valid YAML: {e}"))?;
    apply_fixups(&mut doc)?;
    let api: openapiv3::OpenAPI = serde_json::from_value(doc.clone())
        .map_err(|e| format!("{SPEC_PATH} is not an OpenAPI 3.0 document: {e}"))?;

    let extensible = extensible_types(&doc);
    let mut generated = Vec::new();
    for interface in [InterfaceStyle::Positional, InterfaceStyle::Builder] {
        let tokens = match run_generator(&api, &settings(interface, &extensible)) {
            Ok(result) => result?,
            Err(panic_message) => return Err(explain_panic(&doc, &panic_message)),
        };
        let file: syn::File = syn::parse2(tokens)
            .map_err(|e| format!("progenitor produced tokens that are not a Rust file: {e}"))?;
        generated.push(file);
    }
    let with_builders = generated.pop().expect("two runs");
    let mut file = generated.pop().expect("two runs");
    types_with_builders(&mut file, with_builders)?;
    no_api_version_header(&mut file)?;
    check_non_exhaustive(&file)?;
    let body = progenitor_impl::space_out_items(prettyplease::unparse(&file))
        .map_err(|e| format!("cannot space out the generated items: {e}"))?;

    Ok(format!(
        "// Generated by `cargo xtask codegen`; do not edit by hand.\n\
         // Spec: {SPEC_PATH}\n\
         {HASH_PREFIX}{}\n\
         // Generator: progenitor-impl {progenitor_version}\n\
         \n{body}",
        spec_sha256(spec_text)
    ))
}

/// The generator's settings. `interface` is [`InterfaceStyle::Positional`] for the client the api crate ships;
/// the [`InterfaceStyle::Builder`] run only lends its `types` module (see [`types_with_builders`]). `extensible`
/// names the types that get `#[non_exhaustive]`.
fn settings(interface: InterfaceStyle, extensible: &[String]) -> GenerationSettings {
    let mut settings = GenerationSettings::new();
    // A later spec may add a property to any model or a value to any enum (upstream marks every enum
    // `modelAsString`), so every generated type is `#[non_exhaustive]`: adding either is then additive for code in
    // other crates, which must match enums with a `_` arm and build structs through `builder()` (or `Default` and
    // field assignment), never with a struct literal. `cargo xtask spec-diff`'s policy follows from this.
    let mut non_exhaustive = TypePatch::default();
    non_exhaustive.with_attr("#[non_exhaustive]");
    for name in extensible {
        settings.with_patch(name, &non_exhaustive);
    }
    settings
        .with_interface(interface)
        .with_tag(TagStyle::Merged)
        // The api crate's hand-written hooks must exist; a missing impl is then one clear compile error.
        .with_hooks(HooksMode::Expected)
        .with_derive("PartialEq")
        // Lets `cargo xtask conformance` compare the JSON Schema of the Rust types with the spec's schemas.
        .with_derive("schemars::JsonSchema")
        // Every generated type derives `Debug`; a secret must not print. The api crate's hand-written
        // `SecretString` serialises as the plain string and prints `<redacted>`.
        .with_replacement(
            "SecretString",
            "crate::SecretString",
            [progenitor_impl::TypeImpl::FromStringIrrefutable].into_iter(),
        );
    settings
}

/// Runs progenitor, turning its panics (it asserts instead of returning errors on shapes it does not support)
/// into `Err(panic message)`.
fn run_generator(
    api: &openapiv3::OpenAPI,
    settings: &GenerationSettings,
) -> Result<Result<proc_macro2::TokenStream, String>, String> {
    let previous_hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        Generator::new(settings)
            .generate_tokens(api)
            .map_err(|e| format!("progenitor rejected {SPEC_PATH}: {e}"))
    }));
    panic::set_hook(previous_hook);
    outcome.map_err(|payload| {
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "(no message)".into())
    })
}

/// Names the spec construct behind a generator panic by generating from smaller documents: the components alone,
/// then each operation alone.
fn explain_panic(doc: &Value, message: &str) -> String {
    let mut culprits = Vec::new();
    let mut components_only = doc.clone();
    components_only["paths"] = Value::Object(Default::default());
    if panics(&components_only) {
        culprits
            .push("the schemas under `components` (generated even with no operation)".to_string());
    } else if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            for (method, operation) in item.as_object().into_iter().flatten() {
                let mut single = components_only.clone();
                single["paths"] = serde_json::json!({ path: { method: operation } });
                if panics(&single) {
                    let id = operation["operationId"]
                        .as_str()
                        .unwrap_or("(no operationId)");
                    culprits.push(format!("operation {id} ({} {path})", method.to_uppercase()));
                }
            }
        }
    }
    if culprits.is_empty() {
        culprits.push("the combination of operations (each one alone generates)".into());
    }
    format!(
        "progenitor panicked while generating from {SPEC_PATH}: {message}\n  caused by: {}\n  \
         see ../shared/notes/progenitor.md for the shapes progenitor 0.15 does not support",
        culprits.join("; ")
    )
}

fn panics(doc: &Value) -> bool {
    match serde_json::from_value::<openapiv3::OpenAPI>(doc.clone()) {
        Ok(api) => [InterfaceStyle::Positional, InterfaceStyle::Builder]
            .into_iter()
            .any(|interface| {
                run_generator(&api, &settings(interface, &extensible_types(doc))).is_err()
            }),
        Err(_) => false,
    }
}

/// The generated types that get `#[non_exhaustive]`: every schema under `components/schemas` except the ones
/// replaced by a hand-written type (`SecretString`). typify names each type after its schema.
fn extensible_types(doc: &Value) -> Vec<String> {
    doc.pointer("/components/schemas")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(name, _)| name.clone())
        .filter(|name| name != "SecretString")
        .collect()
}

/// Named fix-up: the `types` module of the builder-interface run, with the client of the positional run.
///
/// typify writes a builder for every struct (`types::builder::X`, `X::builder()`, `TryFrom<builder::X> for X`)
/// only when progenitor's interface is [`InterfaceStyle::Builder`], which would also turn every client method
/// into a request builder. A `#[non_exhaustive]` struct cannot be built with a struct literal in another crate,
/// so the builders are how users and the workspace's other crates build one. Both runs see the same schemas and
/// settings apart from the interface, so the two `types` modules declare the same types; this fails if the
/// positional run's module is not the builder run's minus the builders.
fn types_with_builders(file: &mut syn::File, with_builders: syn::File) -> Result<(), String> {
    let is_types = |item: &syn::Item| matches!(item, syn::Item::Mod(m) if m.ident == "types");
    let types = with_builders
        .items
        .into_iter()
        .find(is_types)
        .ok_or("fix-up types_with_builders: the builder run has no `mod types`")?;
    let slot = file
        .items
        .iter_mut()
        .find(|item| is_types(item))
        .ok_or("fix-up types_with_builders: the positional run has no `mod types`")?;
    let declared = |item: &syn::Item| -> Vec<String> {
        let syn::Item::Mod(module) = item else {
            return Vec::new();
        };
        module
            .content
            .iter()
            .flat_map(|(_, items)| items)
            .filter_map(|item| match item {
                syn::Item::Struct(s) => Some(format!("struct {}", s.ident)),
                syn::Item::Enum(e) => Some(format!("enum {}", e.ident)),
                _ => None,
            })
            .collect()
    };
    if declared(slot) != declared(&types) {
        return Err(format!(
            "fix-up types_with_builders: the two runs declare different types:\n  positional: {:?}\n  builder: {:?}",
            declared(slot),
            declared(&types)
        ));
    }
    *slot = types;
    Ok(())
}

/// Every struct and enum of `types` (not the builders, not `error::ConversionError`) carries `#[non_exhaustive]`:
/// a type typify names differently from its schema would otherwise slip through `extensible_types` unnoticed.
fn check_non_exhaustive(file: &syn::File) -> Result<(), String> {
    let Some(syn::Item::Mod(types)) = file
        .items
        .iter()
        .find(|item| matches!(item, syn::Item::Mod(m) if m.ident == "types"))
    else {
        return Err("the generated file has no `mod types`".into());
    };
    let marked =
        |attrs: &[syn::Attribute]| attrs.iter().any(|a| a.path().is_ident("non_exhaustive"));
    let missing: Vec<String> = types
        .content
        .iter()
        .flat_map(|(_, items)| items)
        .filter_map(|item| match item {
            syn::Item::Struct(s) if !marked(&s.attrs) => Some(s.ident.to_string()),
            syn::Item::Enum(e) if !marked(&e.attrs) => Some(e.ident.to_string()),
            _ => None,
        })
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "generated types without #[non_exhaustive]: {missing:?} (typify named them differently from their \
             schema, or they are inline types: give them a schema of their own)"
        ))
    }
}

/// Every change made to the spec for the generator only. Each is a named function that fails when its target
/// has gone, so a workaround never outlives its reason.
fn apply_fixups(doc: &mut Value) -> Result<(), String> {
    error_bodies_as_raw_bytes(doc)?;
    open_enums_as_one_of(doc)
}

/// Named fix-up: every open enum, written `anyOf: [{$ref: <known values enum>}, {type: string}, …]` in the spec,
/// reaches the generator as `oneOf`.
///
/// The spec says `anyOf` because a known value matches both branches, so under JSON Schema `oneOf` would reject
/// every known value (Schemathesis, openapi-core and Prism read it that way). typify makes an untagged enum
/// (`Known…(…) | String(…)`, tried in order, so a known value decodes as its variant) only of a `oneOf`; of an
/// `anyOf` it makes a struct of optional flattened members. Fails when the spec has no open enum, and on any other
/// `anyOf`, which would silently become such a struct.
fn open_enums_as_one_of(doc: &mut Value) -> Result<(), String> {
    const FIXUP: &str = "fix-up open_enums_as_one_of";
    let known_enums: Vec<String> = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(_, schema)| schema.get("enum").is_some())
        .map(|(name, _)| format!("#/components/schemas/{name}"))
        .collect();
    let mut rewritten = Vec::new();
    let mut refused = Vec::new();
    rewrite_any_of(doc, "", &known_enums, &mut rewritten, &mut refused);
    if !refused.is_empty() {
        return Err(format!(
            "{FIXUP}: `anyOf` that is not an open enum (one `$ref` to an `enum` schema, one plain `{{type: string}}`, \
             other branches of another JSON type) at {}: typify would make a struct of optional members of it",
            refused.join(", ")
        ));
    }
    if rewritten.is_empty() {
        return Err(format!(
            "{FIXUP}: the spec has no open enum (`anyOf: [{{$ref: Known…}}, {{type: string}}]`) any more"
        ));
    }
    Ok(())
}

fn rewrite_any_of(
    value: &mut Value,
    at: &str,
    known_enums: &[String],
    rewritten: &mut Vec<String>,
    refused: &mut Vec<String>,
) {
    match value {
        Value::Object(map) => {
            if let Some(branches) = map.remove("anyOf") {
                if is_open_enum(&branches, known_enums) {
                    map.insert("oneOf".into(), branches);
                    rewritten.push(at.to_owned());
                } else {
                    refused.push(at.to_owned());
                    map.insert("anyOf".into(), branches);
                }
            }
            for (key, child) in map.iter_mut() {
                rewrite_any_of(
                    child,
                    &format!("{at}/{key}"),
                    known_enums,
                    rewritten,
                    refused,
                );
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter_mut().enumerate() {
                rewrite_any_of(child, &format!("{at}/{i}"), known_enums, rewritten, refused);
            }
        }
        _ => {}
    }
}

/// `[{$ref: <an enum schema>}, {type: string}, …]` where every further branch has another JSON type than string:
/// the branches can overlap only on the known values, which the untagged enum tries first.
fn is_open_enum(branches: &Value, known_enums: &[String]) -> bool {
    let Some(branches) = branches.as_array() else {
        return false;
    };
    let is_known = |b: &Value| {
        b["$ref"]
            .as_str()
            .is_some_and(|r| known_enums.iter().any(|k| k == r))
    };
    let is_string = |b: &Value| {
        b["type"] == "string"
            && ["enum", "format", "pattern"]
                .iter()
                .all(|k| b.get(*k).is_none())
    };
    let other_type = |b: &Value| b["type"].as_str().is_some_and(|t| t != "string");
    branches.len() >= 2
        && is_known(&branches[0])
        && is_string(&branches[1])
        && branches[2..].iter().all(other_type)
}

/// Named fix-up: the `api-version` request header progenitor adds to every request (from `info.version`,
/// progenitor #564, unconditionally) is not generated.
///
/// The contract is the query parameter; the documented requests carry no such header, and the api crate's hook
/// used to remove it again from each request. Here the statement that appends it goes from each method, and the
/// method's header map, when nothing else appends to it, becomes an immutable `HeaderMap::new()` (which does not
/// allocate). Fails when no client method has such a statement.
fn no_api_version_header(file: &mut syn::File) -> Result<(), String> {
    const FIXUP: &str = "fix-up no_api_version_header";
    let appends_api_version = |stmt: &syn::Stmt| {
        let text = quote::ToTokens::to_token_stream(stmt).to_string();
        text.starts_with("header_map . append (") && text.contains("\"api-version\"")
    };
    let mut methods = 0;
    for item in &mut file.items {
        let syn::Item::Impl(block) = item else {
            continue;
        };
        if block.trait_.is_some() {
            continue;
        }
        for member in &mut block.items {
            let syn::ImplItem::Fn(method) = member else {
                continue;
            };
            let before = method.block.stmts.len();
            method.block.stmts.retain(|stmt| !appends_api_version(stmt));
            match before - method.block.stmts.len() {
                0 => continue,
                1 => methods += 1,
                n => {
                    return Err(format!(
                        "{FIXUP}: {} appends the header {n} times",
                        method.sig.ident
                    ));
                }
            }
            let appends_more = method.block.stmts.iter().any(|stmt| {
                quote::ToTokens::to_token_stream(stmt)
                    .to_string()
                    .contains("header_map . append")
            });
            if appends_more {
                continue;
            }
            for stmt in &mut method.block.stmts {
                if let syn::Stmt::Local(local) = stmt
                    && let syn::Pat::Ident(binding) = &mut local.pat
                    && binding.ident == "header_map"
                {
                    binding.mutability = None;
                    // Empty for good: `HeaderMap::new()` does not allocate, `with_capacity(1)` did.
                    if let Some(init) = &mut local.init {
                        *init.expr = syn::parse_quote!(::reqwest::header::HeaderMap::new());
                    }
                }
            }
        }
    }
    if methods == 0 {
        return Err(format!(
            "{FIXUP}: no client method appends an api-version header"
        ));
    }
    Ok(())
}

/// The spec says error responses carry FabricError JSON, and the api crate decodes them as such. But a typed error
/// body makes the generated client turn a non-JSON error body (an HTML page from a proxy, an empty 500) into
/// `InvalidResponsePayload`, which has lost the HTTP status. As raw bytes, every error response reaches the caller
/// as `Error::ErrorResponse` with status, headers and body, and `sf_backup_api::ErrorResponse` decodes it.
fn error_bodies_as_raw_bytes(doc: &mut Value) -> Result<(), String> {
    let content = doc
        .pointer_mut("/components/responses/FabricErrorResponse/content")
        .and_then(Value::as_object_mut)
        .ok_or("fix-up error_bodies_as_raw_bytes: components/responses/FabricErrorResponse has no content")?;
    let json = content.remove("application/json").ok_or(
        "fix-up error_bodies_as_raw_bytes: FabricErrorResponse is no longer application/json",
    )?;
    content.insert("*/*".into(), json);
    Ok(())
}

/// Explains a `--check` failure: whether the spec changed or the file was edited, and a diff.
fn stale_report(current: &str, fresh: &str, spec: &str) -> String {
    let recorded = current
        .lines()
        .find_map(|l| l.strip_prefix(HASH_PREFIX))
        .unwrap_or("(none)");
    let cause = if recorded == spec_sha256(spec) {
        format!(
            "{GENERATED_PATH} differs from what the spec generates: it was edited by hand, or the generator changed"
        )
    } else {
        format!("{SPEC_PATH} changed since {GENERATED_PATH} was generated")
    };
    let diff = similar::TextDiff::from_lines(current, fresh)
        .unified_diff()
        .context_radius(2)
        .header("committed", "fresh")
        .to_string();
    let shown: String = diff.lines().take(200).map(|l| format!("{l}\n")).collect();
    format!("{cause}.\nRun `cargo xtask codegen` and commit the result.\n\n{shown}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> String {
        read(&workspace_root().join(SPEC_PATH)).unwrap()
    }

    fn version() -> String {
        progenitor_version(&read(&workspace_root().join("Cargo.lock")).unwrap()).unwrap()
    }

    /// The drift check as a test, so plain `cargo test` refuses stale generated code.
    #[test]
    fn committed_generated_code_is_fresh() {
        let committed = read(&workspace_root().join(GENERATED_PATH)).unwrap();
        let fresh = generate(&spec(), &version()).unwrap();
        if committed != fresh {
            panic!("{}", stale_report(&committed, &fresh, &spec()));
        }
    }

    #[test]
    fn generation_is_deterministic() {
        assert_eq!(
            generate(&spec(), "x").unwrap(),
            generate(&spec(), "x").unwrap()
        );
    }

    #[test]
    fn header_names_command_spec_hash_and_generator() {
        let out = generate(&spec(), "9.9.9").unwrap();
        let header: Vec<&str> = out.lines().take(4).collect();
        assert_eq!(
            header[0],
            "// Generated by `cargo xtask codegen`; do not edit by hand."
        );
        assert_eq!(header[2], format!("{HASH_PREFIX}{}", spec_sha256(&spec())));
        assert_eq!(header[3], "// Generator: progenitor-impl 9.9.9");
    }

    #[test]
    fn a_description_change_changes_only_its_doc_lines() {
        let original = spec();
        let changed = original.replace(
            "The identity of the partition.",
            "The partition's identity.",
        );
        assert_ne!(original, changed);
        let (a, b) = (
            generate(&original, "x").unwrap(),
            generate(&changed, "x").unwrap(),
        );
        let diff = similar::TextDiff::from_lines(&a, &b);
        let changed_lines: Vec<String> = diff
            .iter_all_changes()
            .filter(|c| c.tag() != similar::ChangeTag::Equal)
            .map(|c| c.value().trim().to_string())
            .collect();
        assert!(!changed_lines.is_empty());
        for line in changed_lines {
            assert!(
                line.starts_with("// Spec SHA-256")
                    || line.contains("identity of the partition")
                    || line.contains("partition's identity"),
                "unexpected changed line: {line}"
            );
        }
    }

    #[test]
    fn a_hand_edit_is_reported_as_such() {
        let fresh = generate(&spec(), "x").unwrap();
        let edited = fresh.replacen(
            "pub struct BackupPartitionDescription",
            "pub  struct BackupPartitionDescription",
            1,
        );
        let report = stale_report(&edited, &fresh, &spec());
        assert!(report.contains("edited by hand"), "{report}");
        assert!(
            report.contains("-    pub  struct BackupPartitionDescription"),
            "{report}"
        );
        assert!(
            report.contains("+    pub struct BackupPartitionDescription"),
            "{report}"
        );
    }

    #[test]
    fn a_spec_change_is_reported_as_such() {
        let fresh = generate(&spec(), "x").unwrap();
        let report = stale_report(&fresh, &fresh, &format!("{}\n", spec()));
        assert!(report.contains("changed since"), "{report}");
    }

    #[test]
    fn a_generator_panic_names_the_operation() {
        // A `default` response beside a differently shaped 2xx trips an assert in progenitor 0.15.
        let broken = spec().replacen(
            "        \"4XX\":\n          $ref: \"#/components/responses/FabricErrorResponse\"\n",
            "        default:\n          description: anything\n          content:\n            application/json:\n              schema:\n                type: object\n",
            1,
        );
        assert_ne!(broken, spec());
        let err = generate(&broken, "x").unwrap_err();
        assert!(err.contains("progenitor panicked"), "{err}");
        assert!(err.contains("operation BackupPartition"), "{err}");
        assert!(!err.contains("GetPartitionBackupProgress"), "{err}");
    }

    #[test]
    fn every_generated_type_is_non_exhaustive_and_every_struct_has_a_builder() {
        let out = generate(&spec(), "x").unwrap();
        let file: syn::File = syn::parse_str(&out).unwrap();
        check_non_exhaustive(&file).unwrap();
        for name in [
            "BackupPartitionDescription",
            "GetBackupByStorageQueryDescription",
            "FabricError",
        ] {
            assert!(out.contains(&format!("pub struct {name} {{")), "{name}");
            assert!(
                out.contains(&format!("impl ::std::convert::TryFrom<{name}>"))
                    && out.contains(&format!("pub fn builder() -> builder::{name} {{")),
                "no builder for {name}"
            );
        }
        // The client stays positional: no request builders.
        assert!(out.contains(
            "pub async fn backup_partition<'a>(\n        &'a self,\n        partition_id:"
        ));
        // A type without the attribute is named.
        let marked = "    #[non_exhaustive]\n    #[derive(\n        ::serde::Deserialize,\n        ::serde::Serialize,\n        Clone,\n        Debug,\n        Default,\n        PartialEq,\n        schemars::JsonSchema\n    )]\n    pub struct Epoch {";
        let unmarked = out.replacen(
            marked,
            &marked.replacen("    #[non_exhaustive]\n", "", 1),
            1,
        );
        assert_ne!(unmarked, out);
        let err = check_non_exhaustive(&syn::parse_str(&unmarked).unwrap()).unwrap_err();
        assert!(err.contains("[\"Epoch\"]"), "{err}");
    }

    #[test]
    fn no_api_version_header_is_generated() {
        let out = generate(&spec(), "x").unwrap();
        assert!(!out.contains("from_static(\"api-version\")"));
        assert_eq!(
            out.matches("let header_map = ::reqwest::header::HeaderMap::new();")
                .count(),
            6
        );
        // The query parameter stays: the documented contract.
        assert_eq!(
            out.matches("QueryParam::new(\"api-version\", &api_version)")
                .count(),
            6
        );

        let mut file: syn::File =
            syn::parse_str("impl Client { fn f() { let mut header_map = 1; } }").unwrap();
        let err = no_api_version_header(&mut file).unwrap_err();
        assert!(err.contains("fix-up no_api_version_header"), "{err}");
    }

    #[test]
    fn the_types_of_the_two_runs_must_agree() {
        let out = generate(&spec(), "x").unwrap();
        let mut file: syn::File = syn::parse_str(&out).unwrap();
        let other: syn::File =
            syn::parse_str(&out.replacen("pub struct Epoch {", "pub struct Epoch2 {", 1)).unwrap();
        let err = types_with_builders(&mut file, other).unwrap_err();
        assert!(err.contains("declare different types"), "{err}");
    }

    #[test]
    fn a_vanished_fixup_target_fails_loudly() {
        let broken = spec().replace("FabricErrorResponse", "ErrorResponse");
        let err = generate(&broken, "x").unwrap_err();
        assert!(err.contains("fix-up error_bodies_as_raw_bytes"), "{err}");

        // Open enums written as the generator wants them (`oneOf`) are no open enums for the fix-up.
        let one_of = spec().replace(
            "anyOf:\n        - $ref: \"#/components/schemas/Known",
            "oneOf:\n        - $ref: \"#/components/schemas/Known",
        );
        assert_ne!(one_of, spec());
        let err = generate(&one_of, "x").unwrap_err();
        assert!(
            err.contains("fix-up open_enums_as_one_of: the spec has no open enum"),
            "{err}"
        );
    }

    #[test]
    fn open_enums_reach_the_generator_as_one_of_and_other_any_of_fails() {
        let mut doc: Value = serde_yaml_ng::from_str(&spec()).unwrap();
        open_enums_as_one_of(&mut doc).unwrap();
        let state = &doc["components"]["schemas"]["BackupState"];
        assert!(
            state.get("anyOf").is_none() && state["oneOf"].is_array(),
            "{state}"
        );
        assert_eq!(
            doc["components"]["schemas"]["FabricErrorCodes"]["oneOf"]
                .as_array()
                .unwrap()
                .len(),
            3
        );

        // A second string branch overlaps the open one: not an open enum, so not rewritten silently.
        let overlapping = spec().replacen(
            "        - description: A backup state this document does not list.\n          type: string\n",
            "        - description: A backup state this document does not list.\n          type: string\n        - type: string\n          format: uuid\n",
            1,
        );
        assert_ne!(overlapping, spec());
        let err = generate(&overlapping, "x").unwrap_err();
        assert!(err.contains("/components/schemas/BackupState"), "{err}");
    }
}
