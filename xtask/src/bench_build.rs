//! `cargo xtask bench-build`: what a clean debug build of `sf-backup` costs a user, against the two alternatives
//! that matter, and how long `cargo xtask codegen` takes.
//!
//! - (a) `cargo build -p sf-backup` in this workspace: the committed generated code.
//! - (b) a scratch crate that runs `progenitor::generate_api!` on the same spec, with only the dependencies the
//!   generated code needs: what committing the code avoids, for a user without TLS.
//! - (b+) the same macro crate with sf-backup's dependencies as well (TLS included): the like-for-like comparison,
//!   since (a) always builds rustls, aws-lc-rs, the platform verifier and x509-parser.
//! - (c) a scratch crate with an empty lib and only the external dependencies of sf-backup (and of sf-backup-api,
//!   its generated-code crate): the floor no client of this API can go below with these dependencies.
//!
//! Each build gets a fresh target directory under a temporary folder; the registry is shared and the builds run
//! `--offline` after one `cargo fetch`, so no figure includes a download. Scratch crates start from a copy of the
//! workspace Cargo.lock, so the crates they share with (a) resolve to the same versions.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::codegen;

/// The progenitor release the macro crate uses: the one the committed code was generated with.
const PROGENITOR: &str = "=0.15.1";
const DEFAULT_CODEGEN_RUNS: usize = 21;

const USAGE: &str = "usage: cargo xtask bench-build [--repeat N] [--features-only] [--codegen-runs N] \
     [--codegen-only]";

/// sf-backup's feature sets, built side by side: what TLS and its provider cost a user. The no-TLS build is the
/// baseline of their ratios.
const FEATURE_BUILDS: [(&str, &[&str]); 4] = [
    (
        "(f1) sf-backup, default features (tls, pkcs12)",
        &["-p", "sf-backup"],
    ),
    (
        "(f2) sf-backup --features tls (aws-lc-rs, no pkcs12)",
        &[
            "-p",
            "sf-backup",
            "--no-default-features",
            "--features",
            "tls",
        ],
    ),
    (
        "(f3) sf-backup --features tls-ring (ring, no pkcs12)",
        &[
            "-p",
            "sf-backup",
            "--no-default-features",
            "--features",
            "tls-ring",
        ],
    ),
    (
        "(f0) sf-backup --no-default-features (no TLS)",
        &["-p", "sf-backup", "--no-default-features"],
    ),
];

/// Runs the task; `args` follow `bench-build`.
pub fn run(args: &[&str]) -> Result<(), String> {
    let mut codegen_runs = DEFAULT_CODEGEN_RUNS;
    let mut builds = true;
    let mut repeats = 1;
    let mut features_only = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match *arg {
            "--codegen-runs" => {
                codegen_runs = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n >= 2)
                    .ok_or("--codegen-runs takes a number of at least 2")?;
            }
            "--codegen-only" => builds = false,
            "--features-only" => features_only = true,
            "--repeat" => {
                repeats = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n >= 1)
                    .ok_or("--repeat takes a number of at least 1")?;
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }

    let root = codegen::workspace_root();
    if builds {
        build_costs(&root, repeats, features_only)?;
        println!();
    }
    codegen_cost(&root, codegen_runs)
}

/// One clean build's outcome.
struct Build {
    wall: Duration,
    /// User plus system CPU time of cargo and everything it ran (Linux only).
    cpu: Option<Duration>,
    /// Units cargo compiled (its `Compiling` lines): crates, plus build scripts counted once per package.
    compiled: usize,
}

fn build_costs(root: &Path, repeats: usize, features_only: bool) -> Result<(), String> {
    let scratch = TempDir::new("sf-backup-bench-build")?;
    let lock = root.join("Cargo.lock");

    let macro_crate = scratch.path().join("macro-crate");
    let macro_plus_crate = scratch.path().join("macro-plus-crate");
    let floor_crate = scratch.path().join("floor-crate");
    let mut configs: Vec<(&str, &Path, &[&str])> = FEATURE_BUILDS
        .iter()
        .map(|(label, args)| (*label, root, *args))
        .collect();
    if !features_only {
        write_crate(
            &macro_crate,
            "bench-build-macro",
            &macro_dependencies(),
            &macro_lib(&root.join(codegen::SPEC_PATH)),
            &lock,
        )?;
        let floor = floor_dependencies(root)?;
        // The floor already names progenitor-client and every crate the generated code uses; only the macro is
        // added.
        write_crate(
            &macro_plus_crate,
            "bench-build-macro-plus",
            &format!("{floor}progenitor = \"{PROGENITOR}\"\n"),
            &macro_lib(&root.join(codegen::SPEC_PATH)),
            &lock,
        )?;
        write_crate(
            &floor_crate,
            "bench-build-floor",
            &floor,
            "//! Empty: only the dependencies are built.\n",
            &lock,
        )?;
        configs.extend([
            (
                "(b) progenitor::generate_api! on the same spec",
                macro_crate.as_path(),
                &[][..],
            ),
            (
                "(b+) the same, with sf-backup's dependencies too",
                macro_plus_crate.as_path(),
                &[][..],
            ),
            (
                "(c) floor: sf-backup's external dependencies only",
                floor_crate.as_path(),
                &[][..],
            ),
        ]);
    }

    // Downloads (if any) happen here, never inside a timed build.
    let mut fetched: Vec<&Path> = Vec::new();
    for (_, dir, _) in &configs {
        if !fetched.contains(dir) {
            cargo(dir, &["fetch"])?;
            fetched.push(dir);
        }
    }

    println!(
        "clean debug builds, each in a fresh target directory (registry shared, --offline), {repeats} round(s), \
         the fastest kept; load average before: {}",
        load_average()
    );
    // Rounds run the builds in turn rather than one build several times, so a burst of load from other work
    // on the machine lands on one round of every build instead of on all rounds of one.
    let mut best: Vec<Option<Build>> = configs.iter().map(|_| None).collect();
    for round in 0..repeats {
        for (index, (label, dir, args)) in configs.iter().enumerate() {
            let target = scratch.path().join(format!("target-{index}-{round}"));
            let build = timed_build(dir, args, &target)?;
            // Each target directory is a few hundred megabytes; keep only one at a time.
            let _ = std::fs::remove_dir_all(&target);
            report(label, &build);
            let slot = &mut best[index];
            if slot.as_ref().is_none_or(|b| build.wall < b.wall) {
                *slot = Some(build);
            }
        }
    }
    println!("load average after: {}", load_average());
    let best: Vec<Build> = best.into_iter().flatten().collect();
    if best.len() != configs.len() {
        return Err("--repeat must be at least 1".into());
    }
    if repeats > 1 {
        println!("fastest of {repeats}:");
        for ((label, ..), build) in configs.iter().zip(&best) {
            report(label, build);
        }
    }

    let wall = |x: &Build, y: &Build| x.wall.as_secs_f64() / y.wall.as_secs_f64();
    let cpu = |x: &Build, y: &Build| match (x.cpu, y.cpu) {
        (Some(x), Some(y)) => format!("{:.2}", x.as_secs_f64() / y.as_secs_f64()),
        _ => "n/a".into(),
    };
    println!(
        "ratios (wall clock; CPU time, which other load on the machine inflates less, in brackets):"
    );
    let [f1, f2, f3, f0] = &best[..4] else {
        unreachable!("the feature builds come first")
    };
    for (name, build) in [
        ("f1/f0 (default / no TLS)", f1),
        ("f2/f0 (aws-lc-rs / no TLS)", f2),
        ("f3/f0 (ring / no TLS)", f3),
    ] {
        println!("  {name:<28} = {:.2} [{}]", wall(build, f0), cpu(build, f0));
    }
    println!(
        "  {:<28} = {:.2} [{}]",
        "f3/f2 (ring / aws-lc-rs)",
        wall(f3, f2),
        cpu(f3, f2)
    );
    if let [_, _, _, _, b, b_plus, c] = &best[..] {
        let a = f1;
        println!(
            "  a/b  = {:.2} [{}]   (a = f1; target <= 0.50)",
            wall(a, b),
            cpu(a, b)
        );
        println!(
            "  a/b+ = {:.2} [{}]   (like for like)",
            wall(a, b_plus),
            cpu(a, b_plus)
        );
        println!(
            "  a/c  = {:.2} [{}]   (target <= 1.20)",
            wall(a, c),
            cpu(a, c)
        );
    }
    Ok(())
}

/// The 1, 5 and 15 minute load averages, to record how busy the machine was (Linux only).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| {
            let fields: Vec<&str> = text.split_whitespace().take(3).collect();
            (fields.len() == 3).then(|| fields.join(" "))
        })
        .unwrap_or_else(|| "n/a".into())
}

fn report(label: &str, build: &Build) {
    let cpu = build
        .cpu
        .map_or_else(|| "n/a".into(), |cpu| format!("{:.1} s", cpu.as_secs_f64()));
    println!(
        "  {label:<52} {:>7.1} s wall  {cpu:>8} CPU  {:>4} units compiled",
        build.wall.as_secs_f64(),
        build.compiled
    );
}

/// The macro crate's dependencies: what the generated code refers to, with the features it needs.
fn macro_dependencies() -> String {
    format!(
        r#"progenitor = "{PROGENITOR}"
progenitor-client = "{PROGENITOR}"
reqwest = {{ version = "0.13", default-features = false, features = ["json", "query"] }}
serde = {{ version = "1", features = ["derive"] }}
serde_json = "1"
uuid = {{ version = "1", features = ["serde", "v4"] }}
chrono = {{ version = "0.4", default-features = false, features = ["serde", "std", "clock"] }}
# The generated types derive JsonSchema, as sf-backup-api's do.
schemars = {{ version = "0.8", features = ["uuid1", "chrono"] }}
"#
    )
}

/// The same generator settings as `cargo xtask codegen`, except the hooks: the committed code expects a
/// hand-written `ClientHooks` impl, which the macro crate does not need to be a fair build-cost comparison.
fn macro_lib(spec: &Path) -> String {
    format!(
        "//! The client generated at build time.\n\
         progenitor::generate_api!(\n    \
             spec = {:?},\n    \
             interface = Positional,\n    \
             tags = Merged,\n    \
             derives = [PartialEq, schemars::JsonSchema],\n\
         );\n",
        spec.display().to_string()
    )
}

/// sf-backup's normal dependencies as `cargo metadata` reports them, with each path dependency (sf-backup-api)
/// replaced by its own normal dependencies, merged per crate (features united, default features if any asks).
fn floor_dependencies(root: &Path) -> Result<String, String> {
    let output = cargo_output(
        root,
        &[
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ],
    )?;
    let metadata: Value =
        serde_json::from_str(&output).map_err(|e| format!("cargo metadata: {e}"))?;
    let packages = metadata["packages"]
        .as_array()
        .ok_or("cargo metadata: no packages")?;
    let package = |name: &str| {
        packages
            .iter()
            .find(|p| p["name"] == name)
            .ok_or_else(|| format!("cargo metadata: no package {name}"))
    };

    // name -> (version requirement, default features, features)
    let mut merged: std::collections::BTreeMap<String, (String, bool, Vec<String>)> =
        Default::default();
    let mut pending = vec!["sf-backup".to_owned()];
    while let Some(name) = pending.pop() {
        let package = package(&name)?;
        // What the default features turn on, followed through the features they name (sf-backup's `tls` and
        // `pkcs12`): `dep:x` makes an optional dependency part of a user's build, `x/f` or `x?/f` adds feature f.
        let enabled = default_feature_closure(&package["features"]);
        let on_by_default =
            |dep: &str| enabled.contains(&format!("dep:{dep}")) || enabled.contains(dep);
        for dep in package["dependencies"].as_array().into_iter().flatten() {
            let dep_name = dep["name"].as_str().unwrap_or_default().to_owned();
            if !dep["kind"].is_null() || (dep["optional"] == true && !on_by_default(&dep_name)) {
                continue; // dev and build dependencies are not part of a user's build
            }
            let added_features: Vec<String> = enabled
                .iter()
                .filter_map(|entry| {
                    let (name, feature) = entry.split_once('/')?;
                    (name.trim_end_matches('?') == dep_name).then(|| feature.to_owned())
                })
                .collect();
            if dep["path"].is_string() {
                pending.push(dep_name);
                continue;
            }
            let entry = merged
                .entry(dep_name)
                .or_insert_with(|| (dep["req"].as_str().unwrap_or("*").to_owned(), false, vec![]));
            entry.1 |= dep["uses_default_features"] != false;
            let listed = dep["features"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|feature| feature.as_str().unwrap_or_default().to_owned());
            for feature in listed.chain(added_features) {
                if !entry.2.contains(&feature) {
                    entry.2.push(feature);
                }
            }
        }
    }
    Ok(merged
        .into_iter()
        .map(|(name, (req, default, features))| {
            format!(
                "{name} = {{ version = {req:?}, default-features = {default}, features = {features:?} }}\n"
            )
        })
        .collect())
}

/// Every entry the `default` feature reaches in a package's feature table (`cargo metadata`'s `features`),
/// feature names and `dep:`/`x/f` entries alike.
fn default_feature_closure(features: &Value) -> std::collections::BTreeSet<String> {
    let mut enabled = std::collections::BTreeSet::new();
    let mut pending = vec!["default".to_owned()];
    while let Some(feature) = pending.pop() {
        for entry in features[feature.as_str()]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if enabled.insert(entry.to_owned()) && features.get(entry).is_some() {
                pending.push(entry.to_owned());
            }
        }
    }
    enabled
}

fn write_crate(
    dir: &Path,
    name: &str,
    dependencies: &str,
    lib: &str,
    lock: &Path,
) -> Result<(), String> {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).map_err(|e| format!("cannot create {}: {e}", src.display()))?;
    let manifest = format!(
        "[package]\nname = {name:?}\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
         # Not part of the sf-backup workspace above it (if the temporary folder is inside it).\n\
         [workspace]\n\n[dependencies]\n{dependencies}"
    );
    write(&dir.join("Cargo.toml"), &manifest)?;
    write(&src.join("lib.rs"), lib)?;
    std::fs::copy(lock, dir.join("Cargo.lock"))
        .map(drop)
        .map_err(|e| format!("cannot copy Cargo.lock: {e}"))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn timed_build(dir: &Path, args: &[&str], target_dir: &Path) -> Result<Build, String> {
    let mut command = cargo_command(dir);
    command
        .args(["build", "--offline", "--target-dir"])
        .arg(target_dir)
        .args(args);
    let cpu_before = children_cpu();
    let start = Instant::now();
    let output = command
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    let wall = start.elapsed();
    let cpu = children_cpu()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!(
            "cargo build in {} failed:\n{stderr}",
            dir.display()
        ));
    }
    let compiled = stderr
        .lines()
        .filter(|l| l.trim_start().starts_with("Compiling "))
        .count();
    Ok(Build {
        wall,
        cpu,
        compiled,
    })
}

/// CPU time of this process's finished children and their waited-for descendants (`cutime` + `cstime` in
/// /proc/self/stat), read without libc. `None` off Linux.
fn children_cpu() -> Option<Duration> {
    // USER_HZ: the unit of these fields is fixed at 100 per second in the Linux user-space ABI.
    const TICKS_PER_SECOND: u64 = 100;
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis start at field 3.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let field = |number: usize| fields.get(number - 3)?.parse::<u64>().ok();
    let ticks = field(16)? + field(17)?;
    Some(Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND))
}

fn cargo(dir: &Path, args: &[&str]) -> Result<(), String> {
    cargo_output(dir, args).map(drop)
}

fn cargo_output(dir: &Path, args: &[&str]) -> Result<String, String> {
    let output = cargo_command(dir)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo {} in {} failed:\n{}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The cargo that runs this task, without the settings `cargo run` passed down that would change a build
/// (a target directory in the environment would override nothing, as `--target-dir` wins, but is dropped anyway
/// so a reader of this code need not know that).
pub(crate) fn cargo_command(dir: &Path) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(dir)
        .env_remove("CARGO_TARGET_DIR")
        .env("CARGO_TERM_COLOR", "never");
    command
}

/// Times [`codegen::generate`] in this process (warm: the spec is read once, the first run is not counted), and
/// checks that two runs give the same bytes.
fn codegen_cost(root: &Path, runs: usize) -> Result<(), String> {
    let read = |path: PathBuf| {
        std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    let spec = read(root.join(codegen::SPEC_PATH))?;
    let version = codegen::progenitor_version(&read(root.join("Cargo.lock"))?)?;

    let first = codegen::generate(&spec, &version)?;
    let mut times = Vec::with_capacity(runs);
    let mut outputs_match = true;
    for _ in 0..runs {
        let start = Instant::now();
        let output = codegen::generate(&spec, &version)?;
        times.push(start.elapsed());
        outputs_match &= output == first;
    }
    times.sort();
    let median = times[times.len() / 2];
    let fresh = read(root.join(codegen::GENERATED_PATH))? == first;
    println!(
        "cargo xtask codegen (codegen::generate in-process, warm, {runs} runs): median {:.1} ms, \
         min {:.1} ms, max {:.1} ms   (target < 50 ms)",
        ms(median),
        ms(times[0]),
        ms(times[times.len() - 1])
    );
    println!(
        "deterministic: {}   committed {} matches: {}",
        if outputs_match {
            "yes, every run byte-identical"
        } else {
            "NO"
        },
        codegen::GENERATED_PATH,
        if fresh { "yes" } else { "no" }
    );
    if !outputs_match {
        return Err("codegen::generate gave different bytes on two runs".into());
    }
    Ok(())
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// A temporary folder removed when dropped, so the gigabytes of target directories never outlive the task.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(prefix: &str) -> Result<Self, String> {
        let path = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
        // A folder left by a killed run with the same process id would skew nothing but waste space.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        Ok(Self(path))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_holds_what_a_default_build_of_sf_backup_compiles() {
        let floor = floor_dependencies(&codegen::workspace_root()).unwrap();
        // A direct dependency, one of sf-backup-api's, the optional one the default `pkcs12` feature enables and
        // those `tls` (itself enabled by `default`) enables through the private `__tls`.
        for name in [
            "reqwest =",
            "progenitor-client =",
            "p12-keystore =",
            "rustls =",
            "aws-lc-rs =",
            "x509-parser =",
        ] {
            assert!(floor.contains(name), "{name} missing from:\n{floor}");
        }
        // `tls` turns on reqwest's own `rustls` feature; ring is only for `tls-ring`.
        let reqwest = floor.lines().find(|l| l.starts_with("reqwest =")).unwrap();
        assert!(reqwest.contains("\"rustls\""), "{reqwest}");
        assert!(!floor.lines().any(|l| l.starts_with("ring =")), "{floor}");
        // Dev-dependencies are not part of a user's build.
        assert!(!floor.contains("rcgen ="), "{floor}");
        assert!(!floor.contains("sf-backup-testkit"), "{floor}");
    }
}
