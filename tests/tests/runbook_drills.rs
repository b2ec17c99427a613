//! The runbook's drills, run as written: its backup-and-restore commands on a stopped
//! member of a running cluster, and its leadership hand-over.
//!
//! proves: F12, F4, D2
#![cfg(not(madsim))]

use psionic_tests::cluster::Cluster;
use psionic_tests::runbook::{run_as_written, runbook_block};
use psionic_tests::wait_until;

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

#[test]
fn the_streaming_request_of_the_runbook_answers_its_tokens_as_events() {
    use psionic_tests::runbook::runbook_blocks;

    const MODEL: &str = "1bbb359a3a13fa3ccdac3a469a16b364a1a88b5ae48c7ea37254dd22dc3c6ef9";
    let dir = tempfile::tempdir().unwrap();
    let model = psionic_core::Digest(psionic_core::digest::from_hex::<32>(MODEL).unwrap());
    let cluster = Cluster::three_voters_holding(dir.path(), &[model]);
    let leader_index = cluster.await_leader();
    let leader = cluster.node(leader_index);
    cluster.serve_everywhere(leader_index, model);
    let blocks = runbook_blocks("## Serve a request");
    let streaming = blocks
        .iter()
        .find(|block| block.contains("\"stream\":true"))
        .expect("the streaming block");
    let script = streaming
        .replace("127.0.0.1:7480", &leader.listening.operator_addr.to_string())
        .replace("<model digest>", MODEL);
    let said = run_as_written(dir.path(), &script);
    let names: Vec<&str> = said.lines().filter_map(|line| line.strip_prefix("event: ")).collect();
    assert_eq!(names.first(), Some(&"placed"), "{said}");
    assert_eq!(names.last(), Some(&"ended"), "{said}");
    assert!(names.contains(&"tokens"), "{said}");
}
