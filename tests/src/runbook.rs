//! The runbook's commands, run as written.

use std::path::Path;
use std::process::Command;

use crate::node_binary;

/// The first `sh` block after `heading` in the runbook.
pub fn runbook_block(heading: &str) -> String {
    let runbook = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/RUNBOOK.md")).unwrap();
    let section = &runbook[runbook.find(heading).expect("the heading")..];
    let start = section.find("```sh\n").expect("an sh block") + "```sh\n".len();
    let end = section[start..].find("```").expect("the block's end");
    section[start..start + end].to_owned()
}

/// Runs `script` with bash in `dir`, where `target/release/psionic-node` is the binary
/// under test.
pub fn run_as_written(dir: &Path, script: &str) -> String {
    let release = dir.join("target/release");
    std::fs::create_dir_all(&release).unwrap();
    let binary = release.join("psionic-node");
    if !binary.exists() {
        std::os::unix::fs::symlink(node_binary(), &binary).unwrap();
    }
    let output = Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{script}\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}
