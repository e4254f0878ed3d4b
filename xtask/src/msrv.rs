//! `cargo xtask msrv`: checks that the workspace's declared `rust-version` (its minimum supported Rust version)
//! holds for its dependencies. No second toolchain is needed: every package's own `rust-version` is in
//! `cargo metadata`, and a dependency that declares a newer one than ours would not build with our minimum.
//!
//! Two dependency trees are read:
//! - **locked**: the committed `Cargo.lock`, what `cargo test --workspace --locked` and
//!   `cargo install --locked` build;
//! - **fresh**: a lock file resolved anew in a temporary copy of the workspace with
//!   `CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=allow`, i.e. the newest versions the requirements allow whatever
//!   Rust they need. That is what a project gets that adds sf-backup without an MSRV-aware resolver, or whose own
//!   `rust-version` is newer than ours; the resolver's default (`fallback`) would pick older versions for us
//!   here and hide the problem.
//!
//! Each tree is read in two scopes: `workspace`, every package `cargo test --workspace` builds (dev-dependencies,
//! xtask and the tests package included), and `published`, the normal and build dependencies of the publishable
//! crates, which is what a dependent compiles. Both with all features and for every target platform, so that an
//! optional or platform-specific dependency is not missed. The task fails when the highest `rust-version` in any
//! of them is newer than the declared one. Packages that declare no `rust-version` cannot be checked; the report
//! counts them.
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::path::Path;

use serde_json::Value;

use crate::bench_build::{TempDir, cargo_command};
use crate::codegen::workspace_root;

const USAGE: &str = "usage: cargo xtask msrv";

/// Runs the task; `args` follow `msrv`.
pub fn run(args: &[&str]) -> Result<(), String> {
    if !args.is_empty() {
        return Err(format!("unknown arguments {args:?}\n{USAGE}"));
    }
    let root = workspace_root();

    let locked = Tree::from_metadata(&metadata(&root)?)?;
    let declared = locked.declared_rust_version()?;

    let scratch = TempDir::new("sf-backup-msrv")?;
    copy_workspace(&root, scratch.path())?;
    // The copy's lock file is resolved anew; the workspace's own is never touched.
    std::fs::remove_file(scratch.path().join("Cargo.lock"))
        .map_err(|e| format!("cannot remove the copied Cargo.lock: {e}"))?;
    let resolve = cargo_command(scratch.path())
        .args(["generate-lockfile", "--quiet"])
        .env("CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS", "allow")
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !resolve.status.success() {
        return Err(format!(
            "cargo generate-lockfile in a copy of the workspace failed:\n{}",
            String::from_utf8_lossy(&resolve.stderr)
        ));
    }
    let fresh = Tree::from_metadata(&metadata(scratch.path())?)?;

    let checks: Vec<Check> = [("locked", &locked), ("fresh", &fresh)]
        .into_iter()
        .flat_map(|(name, tree)| {
            [Scope::Workspace, Scope::Published].map(|scope| tree.check(name, scope, &declared))
        })
        .collect();
    print!("{}", report(&declared, &checks));

    let failed: Vec<&Check> = checks.iter().filter(|check| !check.holds()).collect();
    if failed.is_empty() {
        Ok(())
    } else {
        let trees: Vec<String> = failed
            .iter()
            .map(|check| format!("{} {}", check.tree, check.scope))
            .collect();
        Err(format!(
            "the declared rust-version {declared} does not hold for {}: raise `rust-version` in the root \
             Cargo.toml to the highest value above, or keep the dependencies that need a newer Rust out",
            trees.join(", ")
        ))
    }
}

/// A Rust version as manifests write it (`1.88`, `1.88.0`), compared numerically: `1.88` equals `1.88.0`.
#[derive(Clone, Debug)]
pub struct RustVersion {
    parts: [u64; 3],
    text: String,
}

impl RustVersion {
    /// Parses `major.minor[.patch]`; a missing patch counts as 0.
    pub fn parse(text: &str) -> Result<Self, String> {
        let numbers: Vec<&str> = text.split('.').collect();
        if !(2..=3).contains(&numbers.len()) {
            return Err(format!(
                "{text:?} is not a rust-version (major.minor[.patch])"
            ));
        }
        let mut parts = [0; 3];
        for (part, number) in parts.iter_mut().zip(&numbers) {
            *part = number
                .parse()
                .map_err(|_| format!("{text:?} is not a rust-version (major.minor[.patch])"))?;
        }
        Ok(Self {
            parts,
            text: text.to_owned(),
        })
    }
}

impl PartialEq for RustVersion {
    fn eq(&self, other: &Self) -> bool {
        self.parts == other.parts
    }
}

impl Eq for RustVersion {}

impl PartialOrd for RustVersion {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for RustVersion {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.parts.cmp(&other.parts)
    }
}

impl fmt::Display for RustVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Which part of a tree a check covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Everything the workspace builds, dev-dependencies included.
    Workspace,
    /// What a dependent of the publishable crates builds: their normal and build dependencies.
    Published,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scope::Workspace => "workspace",
            Scope::Published => "published",
        })
    }
}

/// One package of a resolved tree.
#[derive(Debug)]
struct Package {
    name: String,
    version: String,
    rust_version: Option<RustVersion>,
    /// `publish = false` shows in metadata as an empty list of registries.
    publishable: bool,
}

/// An edge of the resolve graph: the dependency's id, and whether any of its kinds is normal or build.
#[derive(Debug)]
struct Edge {
    to: String,
    beyond_dev: bool,
}

/// A resolved dependency graph, as `cargo metadata` describes it.
#[derive(Debug)]
pub struct Tree {
    packages: BTreeMap<String, Package>,
    members: Vec<String>,
    edges: BTreeMap<String, Vec<Edge>>,
}

/// The outcome for one tree in one scope.
#[derive(Debug)]
pub struct Check {
    tree: &'static str,
    scope: Scope,
    /// Dependencies in scope (workspace members not counted).
    packages: usize,
    /// Those that declare no rust-version.
    undeclared: usize,
    /// The highest rust-version declared in scope, with the packages (`name version`) that declare it.
    highest: Option<(RustVersion, Vec<String>)>,
    /// Every package in scope whose rust-version is newer than the declared one: `name version (rust-version)`.
    too_new: Vec<String>,
}

impl Check {
    /// Whether the declared rust-version holds for this tree and scope.
    pub fn holds(&self) -> bool {
        self.too_new.is_empty()
    }
}

impl Tree {
    /// Reads the output of `cargo metadata --format-version 1` (which must include the resolve graph).
    pub fn from_metadata(metadata: &Value) -> Result<Self, String> {
        let missing = |what: &str| format!("cargo metadata has no {what}");
        let string = |value: &Value, what: &str| {
            value
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| missing(what))
        };
        let mut packages = BTreeMap::new();
        for package in metadata["packages"]
            .as_array()
            .ok_or_else(|| missing("packages"))?
        {
            let rust_version = match package["rust_version"].as_str() {
                Some(text) => Some(RustVersion::parse(text)?),
                None => None,
            };
            packages.insert(
                string(&package["id"], "package id")?,
                Package {
                    name: string(&package["name"], "package name")?,
                    version: string(&package["version"], "package version")?,
                    rust_version,
                    publishable: package["publish"]
                        .as_array()
                        .is_none_or(|registries| !registries.is_empty()),
                },
            );
        }
        let members = metadata["workspace_members"]
            .as_array()
            .ok_or_else(|| missing("workspace_members"))?
            .iter()
            .map(|id| string(id, "workspace member id"))
            .collect::<Result<Vec<_>, _>>()?;
        let mut edges = BTreeMap::new();
        for node in metadata["resolve"]["nodes"]
            .as_array()
            .ok_or_else(|| missing("resolve graph"))?
        {
            let mut out = Vec::new();
            for dep in node["deps"]
                .as_array()
                .ok_or_else(|| missing("node deps"))?
            {
                let kinds = dep["dep_kinds"]
                    .as_array()
                    .ok_or_else(|| missing("dep_kinds"))?;
                out.push(Edge {
                    to: string(&dep["pkg"], "dependency id")?,
                    beyond_dev: kinds
                        .iter()
                        .any(|kind| kind["kind"].as_str() != Some("dev")),
                });
            }
            edges.insert(string(&node["id"], "node id")?, out);
        }
        Ok(Self {
            packages,
            members,
            edges,
        })
    }

    /// The rust-version the workspace members declare (they inherit one value from the root manifest).
    pub fn declared_rust_version(&self) -> Result<RustVersion, String> {
        let declared: BTreeSet<Option<&RustVersion>> = self
            .members
            .iter()
            .filter_map(|id| self.packages.get(id))
            .map(|package| package.rust_version.as_ref())
            .collect();
        match declared.into_iter().collect::<Vec<_>>().as_slice() {
            [Some(version)] => Ok((*version).clone()),
            [None] => Err("the workspace members declare no rust-version".to_owned()),
            several => Err(format!(
                "the workspace members declare different rust-versions ({several:?}); this check expects the \
                 one value of `workspace.package.rust-version`"
            )),
        }
    }

    /// The ids of the packages in `scope`, workspace members included.
    fn reachable(&self, scope: Scope) -> BTreeSet<&str> {
        let starts = self.members.iter().filter(|id| match scope {
            Scope::Workspace => true,
            Scope::Published => self.packages.get(*id).is_some_and(|p| p.publishable),
        });
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        let mut queue: VecDeque<&str> = starts.map(String::as_str).collect();
        while let Some(id) = queue.pop_front() {
            if !seen.insert(id) {
                continue;
            }
            for edge in self.edges.get(id).into_iter().flatten() {
                if scope == Scope::Workspace || edge.beyond_dev {
                    queue.push_back(&edge.to);
                }
            }
        }
        seen
    }

    /// Compares every dependency in `scope` with `declared`; `tree` names this tree in the report.
    pub fn check(&self, tree: &'static str, scope: Scope, declared: &RustVersion) -> Check {
        let mut check = Check {
            tree,
            scope,
            packages: 0,
            undeclared: 0,
            highest: None,
            too_new: Vec::new(),
        };
        for id in self.reachable(scope) {
            if self.members.iter().any(|member| member == id) {
                continue;
            }
            let Some(package) = self.packages.get(id) else {
                continue;
            };
            check.packages += 1;
            let Some(version) = &package.rust_version else {
                check.undeclared += 1;
                continue;
            };
            let named = format!("{} {}", package.name, package.version);
            if version > declared {
                check.too_new.push(format!("{named} ({version})"));
            }
            match &mut check.highest {
                Some((highest, names)) if version == highest => names.push(named),
                Some((highest, _)) if version < highest => {}
                _ => check.highest = Some((version.clone(), vec![named])),
            }
        }
        check
    }
}

/// The table the task prints, then every package that needs a newer Rust than declared.
fn report(declared: &RustVersion, checks: &[Check]) -> String {
    const SHOWN: usize = 3;
    let mut out = format!("declared rust-version: {declared}\n\n");
    out.push_str(&format!(
        "{:<7} {:<10} {:>8} {:>10}  {:<8} {:<6} declared by\n",
        "tree", "scope", "packages", "undeclared", "highest", "holds"
    ));
    for check in checks {
        let (highest, by) = match &check.highest {
            Some((version, names)) => {
                let mut by = names[..names.len().min(SHOWN)].join(", ");
                if names.len() > SHOWN {
                    by.push_str(&format!(" and {} more", names.len() - SHOWN));
                }
                (version.to_string(), by)
            }
            None => ("-".to_owned(), String::new()),
        };
        out.push_str(&format!(
            "{:<7} {:<10} {:>8} {:>10}  {:<8} {:<6} {by}\n",
            check.tree,
            check.scope.to_string(),
            check.packages,
            check.undeclared,
            highest,
            if check.holds() { "yes" } else { "NO" },
        ));
    }
    for check in checks.iter().filter(|check| !check.holds()) {
        out.push_str(&format!(
            "\n{} {}: newer than {declared}:\n",
            check.tree, check.scope
        ));
        for package in &check.too_new {
            out.push_str(&format!("  {package}\n"));
        }
    }
    out
}

/// `cargo metadata` of the workspace at `dir`: all features, every platform, the lock file as it is.
fn metadata(dir: &Path) -> Result<Value, String> {
    let output = cargo_command(dir)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--all-features",
            "--locked",
        ])
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo metadata in {} failed:\n{}",
            dir.display(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| format!("cargo metadata output: {e}"))
}

/// Copies the workspace's files to `to`, without version control data and build output (`target`, `target-*`,
/// and the target directory in `CARGO_TARGET_DIR` when it lies inside the workspace). Symbolic links are
/// copied as the files they point to.
fn copy_workspace(root: &Path, to: &Path) -> Result<(), String> {
    let target_dir = std::env::var_os("CARGO_TARGET_DIR").map(std::path::PathBuf::from);
    let skipped = |path: &Path| {
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or("");
        name == ".git"
            || (path.parent() == Some(root) && (name == "target" || name.starts_with("target-")))
            || target_dir.as_deref() == Some(path)
    };
    copy_dir(root, to, &skipped)
}

fn copy_dir(from: &Path, to: &Path, skipped: &dyn Fn(&Path) -> bool) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("cannot create {}: {e}", to.display()))?;
    let entries =
        std::fs::read_dir(from).map_err(|e| format!("cannot read {}: {e}", from.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read {}: {e}", from.display()))?;
        let path = entry.path();
        if skipped(&path) {
            continue;
        }
        let destination = to.join(entry.file_name());
        if path.is_dir() {
            copy_dir(&path, &destination, skipped)?;
        } else {
            std::fs::copy(&path, &destination).map_err(|e| {
                format!(
                    "cannot copy {} to {}: {e}",
                    path.display(),
                    destination.display()
                )
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn version(text: &str) -> RustVersion {
        RustVersion::parse(text).unwrap()
    }

    /// A workspace of a publishable `lib` (normal dependency `a`, dev-dependency `d`) and an unpublished `tool`
    /// (normal dependency `t`); `a` has the build dependency `b`.
    fn tree(versions: [(&str, Option<&str>); 4]) -> Tree {
        let package = |name: &str, rust_version: Option<&str>, publish: Value| {
            json!({ "id": name, "name": name, "version": "1.0.0", "rust_version": rust_version,
                    "publish": publish })
        };
        let dep = |to: &str, kind: Value| json!({ "pkg": to, "dep_kinds": [{ "kind": kind, "target": null }] });
        let mut packages = vec![
            package("lib", Some("1.80"), Value::Null),
            package("tool", Some("1.80"), json!([])),
        ];
        packages.extend(
            versions
                .iter()
                .map(|(name, rust_version)| package(name, *rust_version, Value::Null)),
        );
        Tree::from_metadata(&json!({
            "packages": packages,
            "workspace_members": ["lib", "tool"],
            "resolve": { "nodes": [
                { "id": "lib", "deps": [dep("a", Value::Null), dep("d", json!("dev"))] },
                { "id": "tool", "deps": [dep("t", Value::Null)] },
                { "id": "a", "deps": [dep("b", json!("build"))] },
                { "id": "b", "deps": [] },
                { "id": "d", "deps": [] },
                { "id": "t", "deps": [] },
            ]},
        }))
        .unwrap()
    }

    #[test]
    fn versions_compare_numerically_and_a_missing_patch_is_zero() {
        assert!(version("1.9") < version("1.10"));
        assert!(version("1.88") < version("1.88.1"));
        assert_eq!(version("1.88"), version("1.88.0"));
        assert!(version("1.88.0") <= version("1.88"));
        assert_eq!(version("1.88").to_string(), "1.88");
        for bad in ["1", "1.x", "1.2.3.4", ""] {
            assert!(RustVersion::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_declared_version_is_the_members_one() {
        let tree = tree([("a", None), ("b", None), ("d", None), ("t", None)]);
        assert_eq!(tree.declared_rust_version().unwrap(), version("1.80"));
    }

    #[test]
    fn the_published_scope_follows_normal_and_build_edges_of_publishable_members_only() {
        let tree = tree([
            ("a", Some("1.70")),
            ("b", Some("1.80")),
            ("d", Some("1.90")),
            ("t", Some("1.91")),
        ]);
        let declared = version("1.80");

        let published = tree.check("locked", Scope::Published, &declared);
        assert!(published.holds());
        assert_eq!(published.packages, 2);
        assert_eq!(
            published.highest,
            Some((version("1.80"), vec!["b 1.0.0".to_owned()]))
        );

        let workspace = tree.check("locked", Scope::Workspace, &declared);
        assert!(!workspace.holds());
        assert_eq!(workspace.packages, 4);
        assert_eq!(
            workspace.too_new,
            ["d 1.0.0 (1.90)", "t 1.0.0 (1.91)"].map(String::from)
        );
        assert_eq!(
            workspace.highest,
            Some((version("1.91"), vec!["t 1.0.0".to_owned()]))
        );
        let text = report(&declared, &[published, workspace]);
        assert!(
            text.contains(
                "locked workspace: newer than 1.80:\n  d 1.0.0 (1.90)\n  t 1.0.0 (1.91)\n"
            )
        );
    }

    #[test]
    fn packages_without_a_rust_version_are_counted_not_failed() {
        let tree = tree([("a", None), ("b", Some("1.60")), ("d", None), ("t", None)]);
        let check = tree.check("fresh", Scope::Workspace, &version("1.80"));
        assert!(check.holds());
        assert_eq!((check.packages, check.undeclared), (4, 3));
    }
}
