//! The core's layers: consensus is Raft alone and knows nothing of what runs on top of
//! it (serving, planning, dispatch); serving reads consensus but is not driven by it.

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
    let uses = uses_of("consensus", &["serving", "plan", "dispatch", "node"]);
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
