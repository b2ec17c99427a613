//! The runbook's everyday operations, run as written against a running cluster:
//! checking health and GPUs, submitting a command, removing a member.
//!
//! proves: F12
#![cfg(not(madsim))]

use psionic_net::Consistency;
use psionic_net::api::MembersAnswer;
use psionic_tests::answered;
use psionic_tests::cluster::{CONVERGE, Cluster};
use psionic_tests::runbook::{run_as_written, runbook_block};
use psionic_tests::wait_until;

/// `heading`'s first block, pointed at the node whose operator API is `api`.
fn block_for(heading: &str, api: std::net::SocketAddr) -> String {
    runbook_block(heading).replace("127.0.0.1:7480", &api.to_string())
}

#[test]
fn health_gpus_and_commands_are_checked_and_submitted_as_the_runbook_says() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::three_voters(dir.path());
    let leader_index = cluster.await_leader();
    let leader = cluster.node(leader_index);
    let api = leader.listening.operator_addr;

    let health = run_as_written(dir.path(), &block_for("## Check health", api));
    let leader_id = &cluster.ids[leader_index];
    assert!(
        health.contains("role      leader") && health.contains(&format!("leader    {leader_id}")),
        "{health}"
    );
    assert!(
        health.contains("voter") && health.contains("this node"),
        "the members table: {health}"
    );
    assert!(health.contains("# TYPE psionic_term gauge"), "the metrics: {health}");

    let gpus = run_as_written(dir.path(), &block_for("## Check GPUs", api));
    assert!(gpus.contains("cpu       ready"), "{gpus}");
    assert!(
        gpus.contains(&format!("\"node_id\": \"{leader_id}\"")),
        "each member's backends: {gpus}"
    );

    let submitted = run_as_written(dir.path(), &block_for("## Submit a command", api));
    assert!(submitted.starts_with("committed at index "), "{submitted}");
    cluster.assert_history_linearizable();
}

#[test]
fn a_member_is_removed_as_the_runbook_says() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::three_voters(dir.path());
    let leader = cluster.await_leader();
    let removed = (leader + 1) % 3;
    let api = cluster.node(leader).listening.operator_addr;
    let script = block_for("## Remove a node, or rotate it out", api).replace("<node id>", &cluster.ids[removed]);
    let said = run_as_written(dir.path(), &script);
    assert!(said.starts_with("committed at index "), "{said}");
    cluster.stop(removed);
    wait_until(CONVERGE, "the members to leave the removed node out", || {
        let (_, answer) = answered(cluster.node(leader).client().members(Consistency::Linearizable));
        matches!(answer, MembersAnswer::Members(members)
            if members.len() == 2 && members.iter().all(|member| member.node_id.to_string() != cluster.ids[removed]))
    });
    let last = cluster.commit(leader, 1);
    assert!(last > 0, "two voters of two commit");
}
