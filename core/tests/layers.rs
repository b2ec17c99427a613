//! The core's layers: consensus is Raft alone and knows nothing of what runs on top of
//! it (serving, planning, dispatch); serving reads consensus but is not driven by it;
//! and no two modules of `core/src` import each other, directly or around a circle.
//!
//! proves: F8

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The Rust sources under `core/src/<module>`, with their text.
fn sources(module: &str) -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(module);
    let mut pending = vec![root];
    let mut found = Vec::new();
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("a source directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|extension| extension == "rs") {
                let text = std::fs::read_to_string(&path).expect("a readable source");
                found.push((path, text));
            }
        }
    }
    assert!(!found.is_empty(), "no sources under {module}");
    found
}

/// Every line of `module`'s sources naming one of `forbidden` (`crate::<name>`).
fn uses_of(module: &str, forbidden: &[&str]) -> Vec<String> {
    let mut uses = Vec::new();
    for (path, text) in sources(module) {
        for (number, line) in text.lines().enumerate() {
            let named = forbidden
                .iter()
                .any(|name| line.contains(&format!("crate::{name}::")) || line.contains(&format!("crate::{name};")));
            if named {
                uses.push(format!("{}:{}: {}", path.display(), number + 1, line.trim()));
            }
        }
    }
    uses
}

#[test]
fn consensus_imports_nothing_from_the_layers_above_it() {
    let uses = uses_of("consensus", &["serving", "plan", "dispatch", "devices", "node"]);
    assert!(uses.is_empty(), "consensus reaches above itself:\n{}", uses.join("\n"));
}

#[test]
fn serving_is_driven_by_the_node_and_does_not_reach_back_into_it() {
    let uses = uses_of("serving", &["node", "wire", "discovery"]);
    assert!(uses.is_empty(), "serving reaches into the node:\n{}", uses.join("\n"));
}

#[test]
fn the_check_finds_a_forbidden_import() {
    let uses = uses_of("serving", &["consensus"]);
    assert!(!uses.is_empty(), "serving reads consensus, so the scan must see it");
}

/// The top-level modules of `core/src` whose imports form the layers (the fuzz harness
/// sits above them all and is left out).
fn modules() -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules = BTreeSet::new();
    for entry in std::fs::read_dir(root).expect("the source directory") {
        let path = entry.expect("a directory entry").path();
        let name = path.file_stem().expect("a name").to_string_lossy().into_owned();
        if name != "lib" && name != "fuzz" && (path.is_dir() || path.extension().is_some_and(|e| e == "rs")) {
            modules.insert(name);
        }
    }
    modules
}

/// Whether a source file is test code (its imports are not a layer's).
fn is_test_source(path: &Path) -> bool {
    path.components().any(|part| part.as_os_str() == "tests") || path.file_name().is_some_and(|name| name == "tests.rs")
}

/// The modules `text` names as `crate::<name>` outside comments, grouped imports included.
fn named_modules(text: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut named = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let names = match rest.strip_prefix('{') {
            Some(group) => group_heads(group),
            None => vec![
                rest.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .next()
                    .unwrap_or(""),
            ],
        };
        named.extend(
            names
                .into_iter()
                .filter(|name| modules.contains(*name))
                .map(str::to_owned),
        );
    }
    named
}

/// The first path segment of each item of a `{...}` import group (`group` starts after
/// its opening brace), nested groups included.
fn group_heads(group: &str) -> Vec<&str> {
    let mut heads = Vec::new();
    let (mut depth, mut item_start) = (0usize, 0usize);
    for (at, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                heads.push(&group[item_start..at]);
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                heads.push(&group[item_start..at]);
                item_start = at + 1;
            }
            _ => {}
        }
    }
    heads
        .into_iter()
        .map(|item| item.trim().split("::").next().unwrap_or(""))
        .collect()
}

/// Each module's imports of the others (test code left out).
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let modules = modules();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph = BTreeMap::new();
    for module in &modules {
        let mut files = Vec::new();
        let file = root.join(format!("{module}.rs"));
        if file.exists() {
            files.push((file.clone(), std::fs::read_to_string(&file).expect("a readable source")));
        }
        if root.join(module).is_dir() {
            files.extend(sources(module));
        }
        let mut imports = BTreeSet::new();
        for (_, text) in files.iter().filter(|(path, _)| !is_test_source(path)) {
            imports.extend(named_modules(text, &modules));
        }
        imports.remove(module);
        graph.insert(module.clone(), imports);
    }
    graph
}

/// The modules reachable from `start` along imports.
fn reachable(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut pending = vec![start.to_owned()];
    while let Some(module) = pending.pop() {
        for next in graph.get(&module).into_iter().flatten() {
            if seen.insert(next.clone()) {
                pending.push(next.clone());
            }
        }
    }
    seen
}

/// Each circle of imports, as the modules on it with the imports that close it.
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut found = Vec::new();
    let mut placed = BTreeSet::new();
    for module in graph.keys() {
        if placed.contains(module) {
            continue;
        }
        let from_module = reachable(graph, module);
        let circle: BTreeSet<String> = from_module
            .iter()
            .filter(|other| reachable(graph, other).contains(module))
            .cloned()
            .collect();
        if circle.is_empty() {
            continue;
        }
        let edges: Vec<String> = circle
            .iter()
            .flat_map(|from| {
                graph[from]
                    .iter()
                    .filter(|to| circle.contains(*to))
                    .map(move |to| format!("{from} -> {to}"))
            })
            .collect();
        placed.extend(circle);
        found.push(edges.join(", "));
    }
    found
}

#[test]
fn no_two_modules_import_each_other_around_a_circle() {
    let graph = import_graph();
    assert!(
        graph["node"].contains("consensus"),
        "the scan must see the node import consensus"
    );
    let circles = circles(&graph);
    assert!(
        circles.is_empty(),
        "modules of core/src import each other:\n{}",
        circles.join("\n")
    );
}

#[test]
fn grouped_imports_name_each_module() {
    let modules = modules();
    let named = named_modules("use crate::{consensus::{Fence, Authority}, io::Event, time};", &modules);
    let expected: BTreeSet<String> = ["consensus", "io", "time"].map(str::to_owned).into();
    assert_eq!(named, expected);
}

#[test]
fn the_circle_check_finds_a_circle() {
    let mut graph = import_graph();
    graph.get_mut("consensus").expect("consensus").insert("node".to_owned());
    assert_eq!(circles(&graph).len(), 1, "consensus -> node -> consensus is one circle");
}
