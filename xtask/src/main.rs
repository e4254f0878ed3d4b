//! Maintainer tasks for the sf-backup workspace. Run through the cargo alias: `cargo xtask <task>`.

mod bench_build;
mod codegen;
mod conformance;
mod msrv;
mod schemathesis;
mod semver;
mod spec_diff;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  bench-build [--repeat N] [--codegen-runs N] [--codegen-only]
                     clean debug build times of sf-backup against a progenitor::generate_api! crate on the same
                     spec and against its dependencies alone (ratios), then the time of codegen (median) and a
                     check that it is deterministic; see BENCHMARKS.md
  codegen            regenerate crates/sf-backup-api/src/generated.rs from the spec
  codegen --check    fail, with a diff, when the committed generated code is stale or edited
  spec-diff <OLD> <NEW> [--format text|json] [--deny-breaking]
                     list what changed between two spec versions (operations, parameters, schemas, properties,
                     variants, enum values), each breaking, additive or docs-only by text-level rules (any
                     changed schema text is breaking: semver <OLD> <NEW> decides); each side is a fragment path
                     or git:<rev> (the committed spec at <rev>); --deny-breaking exits non-zero on a breaking one
  msrv               check that the declared rust-version holds for the locked dependency tree and for a freshly
                     resolved one (newest versions, whatever Rust they need); reads rust-versions from cargo
                     metadata and resolves in a temporary copy of the workspace (needs the crates.io index)
  semver [<OLD> <NEW>]
                     build the api crate from OLD and NEW (paths or git:<rev>) in copies under target/xtask-semver
                     and fail when cargo-semver-checks finds NEW breaking; without sides, from the live spec, from
                     it plus a new optional response property and a new enum value, and from it minus a property,
                     checking that the first change is not breaking and the second is (needs cargo-semver-checks
                     installed; see spec/README.md)
  schemathesis [--url URL] [--dialect service|documented]
                     Schemathesis (pinned; `.ci/spec-tools` installs it) sends requests generated from the spec to
                     URL, or to the testkit in both dialects, and fails on any 5xx, undeclared status or answer
                     that violates the spec (bounded: fixed seed and case count)
  conformance        check the spec against the seed page's parameters, validate and round-trip the examples,
                     compare the generated types' JSON Schema with the spec; prints a table, exits non-zero on any
                     failure (the document itself: openapi-spec-validator; freshness: codegen --check)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["codegen"] => codegen::run(false),
        ["codegen", "--check"] => codegen::run(true),
        ["conformance"] => conformance::run(),
        ["msrv", rest @ ..] => msrv::run(rest),
        ["semver", rest @ ..] => semver::run(rest),
        ["bench-build", rest @ ..] => bench_build::run(rest),
        ["spec-diff", rest @ ..] => spec_diff::run(rest),
        ["schemathesis", rest @ ..] => schemathesis::run(rest),
        ["help" | "--help" | "-h"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(format!("unknown arguments {args:?}\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
