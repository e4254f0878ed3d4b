//! `cargo xtask semver [<OLD> <NEW>]`: cargo-semver-checks on the generated crate itself, the judge of what a spec
//! change does to the Rust API (`cargo xtask spec-diff` lists the changes by text-level rules).
//!
//! With two sides (each a path or `git:<rev>`, as for spec-diff), the api crate is generated from each and
//! cargo-semver-checks says whether the second is a breaking release of the first. Without, it checks the
//! generated code's promise on three fixed variants of the live spec:
//!
//! The api crate is copied three times into `target/xtask-semver/` (each copy a one-member workspace with the
//! real workspace's manifest sections and `Cargo.lock`), and its `generated.rs` is regenerated in each copy from a
//! variant of the live spec ([`variants`]):
//!
//! - `base`: the live spec, version 0.1.0;
//! - `additive`: the live spec plus a new optional response property and a new enum value, version 0.1.1: what
//!   a later upstream version typically adds (9.0 added exactly this error code). cargo-semver-checks must find
//!   no breaking change, because every generated type is `#[non_exhaustive]`;
//! - `removed`: the live spec without one response property, version 0.1.1: cargo-semver-checks must report it.
//!
//! For 0.y.z, cargo-semver-checks reads 0.1.0 → 0.1.1 as a release that may add but not break. Each case also
//! prints spec-diff's list beside the verdict. The copies share one target directory, so a
//! second run rebuilds only the api crate. Needs `cargo-semver-checks` on `PATH` (`cargo install
//! cargo-semver-checks --locked`) and the dependencies in the local cargo registry (it runs `--offline`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::codegen::{self, GENERATED_PATH, SPEC_PATH, workspace_root};
use crate::spec_diff;

/// Where the copies go, under the workspace's target directory.
const WORK_DIR: &str = "xtask-semver";

/// One spec variant: its name, the version its copy of the crate gets, and, for the fixed variants, whether
/// cargo-semver-checks must find it breaking.
struct Variant {
    name: &'static str,
    version: &'static str,
    spec: String,
    breaking: Option<bool>,
}

/// The three spec variants (see the module docs). Each edit must match exactly once.
fn variants(live: &str) -> Result<Vec<Variant>, String> {
    let once = |text: &str, from: &str, to: &str| {
        spec_support::replace_once(text, from, to)
            .map_err(|e| format!("semver: {e} in {SPEC_PATH}: adapt xtask/src/semver.rs"))
    };
    let progress_state = "    BackupProgressInfo:\n";
    let state_property = "      properties:\n        BackupState:\n          $ref: \"#/components/schemas/BackupState\"\n";
    let location = "        BackupLocation:\n          description: Where the backup was written, relative to the root of its storage.\n          type: string\n";
    let last_code = "        - FABRIC_E_IMAGEBUILDER_RESERVED_DIRECTORY_ERROR\n";

    let added_property = once(
        live,
        state_property,
        &format!(
            "{state_property}        BackupChainId:\n          description: The chain the backup belongs to.\n          \
             type: string\n          format: uuid\n"
        ),
    )?;
    let additive = once(
        &added_property,
        last_code,
        &format!("{last_code}        - FABRIC_E_CERTIFICATE_NOT_FOUND\n"),
    )?;
    let removed = once(live, location, "")?;
    // The property edits are meant for BackupProgressInfo: fail if its properties moved.
    if !live.contains(&format!("{progress_state}      description:")) {
        return Err(format!(
            "semver: {SPEC_PATH} no longer has BackupProgressInfo where this check expects it"
        ));
    }
    Ok(vec![
        Variant {
            name: "base",
            version: "0.1.0",
            spec: live.to_owned(),
            breaking: Some(false),
        },
        Variant {
            name: "additive",
            version: "0.1.1",
            spec: additive,
            breaking: Some(false),
        },
        Variant {
            name: "removed",
            version: "0.1.1",
            spec: removed,
            breaking: Some(true),
        },
    ])
}

/// The two sides of `semver <OLD> <NEW>`, with no expected verdict.
fn sides(root: &Path, old: &str, new: &str) -> Result<Vec<Variant>, String> {
    let side = |name, version, path: &str| -> Result<Variant, String> {
        Ok(Variant {
            name,
            version,
            spec: spec_diff::load_side(root, path)?,
            breaking: None,
        })
    };
    Ok(vec![
        side("base", "0.1.0", old)?,
        side("new", "0.1.1", new)?,
    ])
}

/// Runs the check and prints one line per case; fails when a verdict is not the expected one, or, for two
/// sides, when the second breaks the first.
pub fn run(args: &[&str]) -> Result<(), String> {
    let root = workspace_root();
    let variants = match args {
        [] => variants(&read(&root.join(SPEC_PATH))?)?,
        [old, new] => sides(&root, old, new)?,
        _ => {
            return Err(format!(
                "semver takes no arguments, or <OLD> <NEW> (a path or git:<rev> each), got {args:?}"
            ));
        }
    };
    let version = codegen::progenitor_version(&read(&root.join("Cargo.lock"))?)?;
    let target = target_dir(&root);
    let work = target.join(WORK_DIR);
    for variant in &variants {
        write_copy(&root, &work.join(variant.name), variant, &version)?;
    }

    let base = variants.first().expect("base comes first");
    let mut failures = Vec::new();
    for variant in variants.iter().skip(1) {
        let report = spec_diff::diff_texts("base", &base.spec, variant.name, &variant.spec)?;
        let started = Instant::now();
        let (passed, output) = semver_checks(&work, &target, variant.name)?;
        let seconds = started.elapsed().as_secs_f64();
        let verdict = if passed {
            "no breaking change"
        } else {
            "breaking"
        };
        println!(
            "{:<9} spec-diff: {:<40} cargo-semver-checks: {verdict} ({seconds:.0} s)",
            variant.name,
            report.summary_line()
        );
        for change in &report.changes {
            println!(
                "            [{}] {} {}",
                change.impact.label(),
                change.subject,
                change.what
            );
        }
        match variant.breaking {
            Some(breaking) if passed == breaking => failures.push(format!(
                "{}: cargo-semver-checks says {verdict}, expected the opposite:\n{output}",
                variant.name
            )),
            Some(breaking) if report.has_breaking() != breaking => failures.push(format!(
                "{}: spec-diff says {}, expected the opposite",
                variant.name,
                report.summary_line()
            )),
            Some(_) => {}
            None if passed => {}
            None => failures.push(format!("{}: breaking:\n{output}", variant.name)),
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The workspace's target directory: `CARGO_TARGET_DIR` when set, else `target/`.
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                root.join(dir)
            }
        })
        .unwrap_or_else(|| root.join("target"))
}

/// A one-member workspace holding a copy of the api crate generated from `variant.spec`.
fn write_copy(root: &Path, dir: &Path, variant: &Variant, version: &str) -> Result<(), String> {
    let manifest = read(&root.join("Cargo.toml"))?;
    let mut workspace = String::new();
    let mut in_members = false;
    for line in manifest.lines() {
        if line.starts_with("members = [") {
            in_members = true;
            workspace.push_str("members = [\"sf-backup-api\"]\n");
            continue;
        }
        if in_members {
            in_members = line != "]";
            continue;
        }
        // The workspace's path dependencies on its own crates: only the api crate exists here.
        if line.starts_with("sf-backup") && line.contains("path = ") {
            continue;
        }
        workspace.push_str(line);
        workspace.push('\n');
    }
    write(&dir.join("Cargo.toml"), &workspace)?;
    write(&dir.join("Cargo.lock"), &read(&root.join("Cargo.lock"))?)?;

    let api = root.join("crates/sf-backup-api");
    let crate_manifest = read(&api.join("Cargo.toml"))?;
    let crate_manifest =
        match crate_manifest
            .matches("\nversion.workspace = true\n")
            .count()
        {
            1 => crate_manifest.replacen(
                "\nversion.workspace = true\n",
                &format!("\nversion = \"{}\"\n", variant.version),
                1,
            ),
            _ => return Err(
                "semver: crates/sf-backup-api/Cargo.toml no longer says `version.workspace = true`"
                    .into(),
            ),
        };
    let copy = dir.join("sf-backup-api");
    write(&copy.join("Cargo.toml"), &crate_manifest)?;
    for file in ["README.md", "LICENSE-MIT", "LICENSE-APACHE", "src/lib.rs"] {
        write(&copy.join(file), &read(&api.join(file))?)?;
    }
    let generated = codegen::generate(&variant.spec, version).map_err(|e| {
        format!(
            "semver: the {} variant does not generate: {e}",
            variant.name
        )
    })?;
    let relative = GENERATED_PATH
        .strip_prefix("crates/sf-backup-api/")
        .expect("the generated file is in the api crate");
    write(&copy.join(relative), &generated)
}

/// Runs cargo-semver-checks on the `name` copy against `base`: whether it passed, and what it printed.
fn semver_checks(work: &Path, target: &Path, name: &str) -> Result<(bool, String), String> {
    let output = Command::new("cargo")
        .args([
            "semver-checks",
            "check-release",
            "--package",
            "sf-backup-api",
        ])
        .arg("--manifest-path")
        .arg(work.join(name).join("Cargo.toml"))
        .arg("--baseline-root")
        .arg(work.join("base"))
        .args(["--color", "never"])
        .env("CARGO_TARGET_DIR", target.join(WORK_DIR).join("target"))
        .env("CARGO_NET_OFFLINE", "true")
        .output()
        .map_err(|e| format!("cannot run cargo semver-checks: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if text.contains("no such command") || text.contains("no such subcommand") {
        return Err(
            "cargo-semver-checks is not installed: cargo install cargo-semver-checks --locked"
                .into(),
        );
    }
    // A failure to build either copy is not a verdict.
    if !output.status.success() && !text.contains("semver requires new") {
        return Err(format!(
            "cargo semver-checks failed on the {name} copy:\n{text}"
        ));
    }
    Ok((output.status.success(), text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variants_apply_to_the_live_spec_and_spec_diff_judges_them() {
        let live = read(&workspace_root().join(SPEC_PATH)).unwrap();
        let variants = variants(&live).unwrap();
        let names: Vec<&str> = variants.iter().map(|v| v.name).collect();
        assert_eq!(names, ["base", "additive", "removed"]);
        let additive = spec_diff::diff_texts("base", &live, "additive", &variants[1].spec).unwrap();
        assert!(!additive.has_breaking(), "{}", additive.summary_line());
        let whats: Vec<&str> = additive.changes.iter().map(|c| c.what.as_str()).collect();
        assert_eq!(
            whats,
            [
                "property BackupChainId added (optional)",
                "enum value added: FABRIC_E_CERTIFICATE_NOT_FOUND"
            ]
        );
        let removed = spec_diff::diff_texts("base", &live, "removed", &variants[2].spec).unwrap();
        assert!(removed.has_breaking(), "{}", removed.summary_line());
        // Each variant still generates.
        for variant in &variants {
            codegen::generate(&variant.spec, "x").unwrap();
        }
    }

    #[test]
    fn the_copy_is_a_one_member_workspace() {
        let root = workspace_root();
        let dir = std::env::temp_dir().join(format!("xtask-semver-test-{}", std::process::id()));
        let live = read(&root.join(SPEC_PATH)).unwrap();
        let variant = variants(&live).unwrap().remove(1);
        write_copy(&root, &dir, &variant, "x").unwrap();
        let manifest = read(&dir.join("Cargo.toml")).unwrap();
        assert!(
            manifest.contains("members = [\"sf-backup-api\"]\n"),
            "{manifest}"
        );
        assert!(!manifest.contains("path = \"crates/"), "{manifest}");
        let crate_manifest = read(&dir.join("sf-backup-api/Cargo.toml")).unwrap();
        assert!(crate_manifest.contains("version = \"0.1.1\"\n"));
        let generated = read(&dir.join("sf-backup-api/src/generated.rs")).unwrap();
        assert!(generated.contains("FabricECertificateNotFound"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn two_sides_are_read_like_spec_diff_reads_them() {
        let root = workspace_root();
        let fixture = "xtask/fixtures/spec-history/9.0.yaml";
        let sides = sides(
            &root,
            &root.join(fixture).to_string_lossy(),
            &root.join(SPEC_PATH).to_string_lossy(),
        )
        .unwrap();
        assert_eq!(
            sides
                .iter()
                .map(|s| (s.name, s.version))
                .collect::<Vec<_>>(),
            [("base", "0.1.0"), ("new", "0.1.1")]
        );
        assert!(sides.iter().all(|s| s.breaking.is_none()));
        assert_eq!(sides[0].spec, read(&root.join(fixture)).unwrap());
        assert!(super::sides(&root, "no/such.yaml", fixture).is_err());
    }
}
