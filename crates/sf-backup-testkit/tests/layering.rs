//! The library's modules depend downwards only, so that each can be read without the ones above it: every
//! `crate::…` path in `src/` (outside comments) is an edge from its file to the module it names, and every edge
//! must go to a lower layer. Run with `--nocapture` to print the edges.

use std::collections::BTreeSet;
use std::path::Path;

/// The layers, lowest first; a module may use only modules of lower layers.
const LAYERS: [&[&str]; 6] = [
    &["cluster"],
    &["wire"],
    &["config", "gateway"],
    &["journal", "tls"],
    &["brs"],
    &["server"],
];

fn layer(module: &str) -> usize {
    LAYERS
        .iter()
        .position(|layer| layer.contains(&module))
        .unwrap_or_else(|| panic!("module {module} is in no layer; add it to LAYERS"))
}

/// Every `.rs` file under `dir`, as a path relative to `src/` with `/` separators.
fn sources(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.push((relative, std::fs::read_to_string(&path).unwrap()));
        }
    }
}

/// The top-level module of a source file (`brs/service.rs` → `brs`, `wire.rs` → `wire`).
fn top(file: &str) -> &str {
    file.split('/').next().unwrap().trim_end_matches(".rs")
}

/// The modules a source file's code names through `crate::`, `crate::{…}` included.
fn uses(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
    for (index, _) in code.match_indices("crate::") {
        let rest = &code[index + "crate::".len()..];
        let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
            group[..group.find('}').unwrap()]
                .split(',')
                .map(|item| item.trim().split("::").next().unwrap_or_default())
                .collect()
        } else {
            vec![
                rest.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .next()
                    .unwrap(),
            ]
        };
        found.extend(
            names
                .into_iter()
                .filter(|n| !n.is_empty())
                .map(str::to_owned),
        );
    }
    found
}

#[test]
fn the_modules_depend_downwards_only() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &root, &mut files);
    let modules: BTreeSet<&str> = files
        .iter()
        .map(|(file, _)| top(file))
        .filter(|m| *m != "lib" && *m != "main")
        .collect();
    let mut edges = BTreeSet::new();
    for (file, text) in &files {
        let from = top(file);
        if from == "lib" || from == "main" {
            continue;
        }
        for to in uses(text) {
            // `crate::Gateway` and the like: an item of the crate root, above every module.
            let to = if modules.contains(to.as_str()) {
                to
            } else {
                "lib".to_owned()
            };
            if to != from {
                edges.insert((from.to_owned(), to));
            }
        }
    }
    for (from, to) in &edges {
        println!("{from} -> {to}");
    }
    let upward: Vec<_> = edges
        .iter()
        .filter(|(from, to)| to == "lib" || layer(to) >= layer(from))
        .collect();
    assert!(
        upward.is_empty(),
        "edges that do not point downwards: {upward:?}"
    );
}
