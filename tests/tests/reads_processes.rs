//! Reads of the replicated state from real processes: linearizable by default (on a
//! follower too, through the leader), serializable when asked, and refused rather
//! than stale when no quorum answers.
#![cfg(not(madsim))]

use std::time::Duration;

use psionic_net::Consistency;
use psionic_net::api::{self, Failure, Method, ReadFailure, StateAnswer};
use psionic_tests::cluster::{Cluster, commit};
use psionic_tests::{answered, failed, node_cli};

fn read(node: &psionic_tests::NodeProcess, consistency: Consistency) -> (u16, StateAnswer) {
    answered(node.client().state(consistency))
}

#[test]
fn a_follower_reads_every_write_committed_before_the_read_began() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::three_voters(dir.path());
    let leader = cluster.await_leader();
    let follower = cluster.node((leader + 1) % 3);
    for n in 0..20 {
        let committed = commit(cluster.node(leader), n);
        let (code, StateAnswer::Read(state)) = read(follower, Consistency::Linearizable) else {
            panic!("not read");
        };
        assert_eq!((code, state.consistency), (200, Consistency::Linearizable));
        let applied = state.report.applied_index;
        assert!(
            applied >= committed,
            "read {applied} after a write committed at {committed}"
        );
    }
    let (code, StateAnswer::Read(state)) = read(follower, Consistency::Serializable) else {
        panic!("not read");
    };
    assert_eq!((code, state.consistency), (200, Consistency::Serializable));
    let eventually =
        follower
            .client()
            .call::<StateAnswer>(Method::GET, &format!("{}?consistency=eventually", api::STATE), None);
    let (code, failure) = failed(eventually);
    assert!(
        code == 400 && matches!(failure, Failure::BadRequest { .. }),
        "{code} {failure:?}"
    );
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
    let (code, answer) = read(node, Consistency::Linearizable);
    assert!(
        code == 503
            && matches!(
                answer,
                StateAnswer::NotRead(ReadFailure::ReadRefused { .. } | ReadFailure::Unknown)
            ),
        "{code} {answer:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "answered within the read bound"
    );
    let (code, StateAnswer::Read(state)) = read(node, Consistency::Serializable) else {
        panic!("not read");
    };
    assert_eq!(
        (code, state.consistency),
        (200, Consistency::Serializable),
        "its own view"
    );
}
