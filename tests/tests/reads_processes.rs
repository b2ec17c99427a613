//! Reads of the replicated state from real processes: linearizable by default (on a
//! follower too, through the leader), serializable when asked, and refused rather
//! than stale when no quorum answers.
#![cfg(not(madsim))]

use std::time::Duration;

use psionic_tests::cluster::{Cluster, commit};
use psionic_tests::{http_get, node_cli};
use serde_json::Value;

fn get(node: &psionic_tests::NodeProcess, path: &str) -> (u16, Value) {
    let (code, body) = http_get(node.listening.operator_addr, path);
    (code, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[test]
fn a_follower_reads_every_write_committed_before_the_read_began() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::three_voters(dir.path());
    let leader = cluster.await_leader();
    let follower = cluster.node((leader + 1) % 3);
    for n in 0..20 {
        let committed = commit(cluster.node(leader), n);
        let (code, read) = get(follower, "/v1/state");
        assert_eq!(code, 200, "{read}");
        assert_eq!(read["consistency"], "linearizable");
        let applied = read["applied_index"].as_u64().unwrap();
        assert!(
            applied >= committed,
            "read {applied} after a write committed at {committed}"
        );
    }
    let (code, read) = get(follower, "/v1/state?consistency=serializable");
    assert_eq!((code, &read["consistency"]), (200, &Value::from("serializable")));
    let (code, answer) = get(follower, "/v1/state?consistency=eventually");
    assert_eq!(code, 400, "{answer}");
    let (code, stdout, stderr) = node_cli(&[
        "members",
        "--operator",
        &follower.listening.operator_addr.to_string(),
        "--consistency",
        "linearizable",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
}

#[test]
fn a_node_cut_off_from_its_quorum_refuses_linearizable_reads_and_serves_its_own_view() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::three_voters(dir.path());
    let leader = cluster.await_leader();
    commit(cluster.node(leader), 1);
    let alone = (leader + 1) % 3;
    for other in (0..3).filter(|index| *index != alone) {
        cluster.kill(other);
    }
    let node = cluster.node(alone);
    let started = std::time::Instant::now();
    let (code, answer) = get(node, "/v1/state");
    assert_eq!(code, 503, "{answer}");
    assert!(
        matches!(answer["outcome"].as_str(), Some("read-refused" | "unknown")),
        "{answer}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "answered within the read bound"
    );
    let (code, read) = get(node, "/v1/state?consistency=serializable");
    assert_eq!(
        (code, &read["consistency"]),
        (200, &Value::from("serializable")),
        "{read}"
    );
}
