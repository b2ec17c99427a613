//! The runbook's commands, run as written.

use std::path::Path;
use std::process::Command;

use crate::node_binary;

/// The first `sh` block after `heading` in the runbook.
pub fn runbook_block(heading: &str) -> String {
    runbook_blocks(heading).swap_remove(0)
}

/// The `sh` blocks of the runbook's section `heading`, in order.
pub fn runbook_blocks(heading: &str) -> Vec<String> {
    let runbook = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/RUNBOOK.md")).unwrap();
    let mut section = &runbook[runbook.find(heading).expect("the heading") + heading.len()..];
    if let Some(next) = section.find("\n## ") {
        section = &section[..next];
    }
    let mut blocks = Vec::new();
    while let Some(found) = section.find("```sh\n") {
        let start = found + "```sh\n".len();
        let end = section[start..].find("```").expect("the block's end");
        blocks.push(section[start..start + end].to_owned());
        section = &section[start + end + 3..];
    }
    assert!(!blocks.is_empty(), "{heading}: no sh block");
    blocks
}

/// Runs `script` with bash in `dir`, where `target/release/psionic-node` is the binary
/// under test.
pub fn run_as_written(dir: &Path, script: &str) -> String {
    match try_run_as_written(dir, script) {
        Ok(stdout) => stdout,
        Err(said) => panic!("{script}\n{said}"),
    }
}

/// [`run_as_written`], answering what the script printed (stdout and stderr) when it
/// fails instead of panicking: for a step the runbook says to ask again.
pub fn try_run_as_written(dir: &Path, script: &str) -> Result<String, String> {
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
    if output.status.success() {
        Ok(stdout)
    } else {
        Err(format!("{stdout}\n{}", String::from_utf8_lossy(&output.stderr)))
    }
}
