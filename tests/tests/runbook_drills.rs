//! The runbook's drills, run as written: its backup-and-restore commands on a stopped
//! member of a running cluster, and its leadership hand-over.
#![cfg(not(madsim))]

use std::path::Path;
use std::process::Command;

use psionic_tests::cluster::Cluster;
use psionic_tests::{node_binary, wait_until};

/// The first `sh` block after `heading` in the runbook.
fn runbook_block(heading: &str) -> String {
    let runbook = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/RUNBOOK.md")).unwrap();
    let section = &runbook[runbook.find(heading).expect("the heading")..];
    let start = section.find("```sh\n").expect("an sh block") + "```sh\n".len();
    let end = section[start..].find("```").expect("the block's end");
    section[start..start + end].to_owned()
}

/// Runs `script` with bash in `dir`, where `target/release/psionic-node` is the binary
/// under test.
fn run_as_written(dir: &Path, script: &str) -> String {
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

#[test]
fn the_backup_and_restore_drill_brings_the_node_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::three_voters(dir.path());
    let leader = cluster.await_leader();
    for n in 0..10 {
        cluster.commit(leader, n);
    }
    let block = runbook_block("## Back up and restore a node");
    let (backup, restore) = block.split_once('\n').expect("two commands");
    let n3 = 2;
    cluster.stop(n3);
    run_as_written(dir.path(), backup);
    cluster.start(n3);
    let leader = cluster.await_leader();
    for n in 10..20 {
        cluster.commit(leader, n);
    }
    cluster.stop(n3);
    let said = run_as_written(dir.path(), restore);
    assert!(said.contains("once it has caught up"), "{said}");
    cluster.start(n3);
    let leader = cluster.await_leader();
    let last = cluster.commit(leader, 20);
    cluster.await_converged(last);
    wait_until(psionic_tests::cluster::CONVERGE, "the restored mark to go", || {
        !dir.path().join("n3/restored").exists()
    });
    cluster.assert_history_linearizable();
}

#[test]
fn the_hand_over_drill_moves_leadership_to_the_named_voter() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::three_voters(dir.path());
    let leader = cluster.await_leader();
    let target = (leader + 1) % 3;
    let block = runbook_block("## Hand leadership over");
    let api = cluster.node(leader).listening.operator_addr.to_string();
    let script = block
        .replace("127.0.0.1:7480", &api)
        .replace("<node id>", &cluster.ids[target]);
    let said = run_as_written(dir.path(), &script);
    assert!(said.contains("\"outcome\":\"transferring\""), "{said}");
    wait_until(psionic_tests::cluster::CONVERGE, "the named voter to lead", || {
        cluster.await_leader() == target
    });
    cluster.assert_history_linearizable();
}
