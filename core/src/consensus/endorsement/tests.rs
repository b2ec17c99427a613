use std::collections::{BTreeMap, BTreeSet};

use super::{Endorsement, LeadershipCertificate, LeadershipRefusal};
use crate::identity::{ClusterId, ClusterNamespace, NodeEpoch, NodeId, NodeIdentity};

fn cluster() -> ClusterId {
    ClusterId::derive(&ClusterNamespace::new("lab").unwrap(), b"genesis")
}

fn voter(n: u8) -> NodeIdentity {
    NodeIdentity::new([n; 32], NodeEpoch(1))
}

fn certificate(term: u64, leader: NodeId, endorsers: &[u8]) -> LeadershipCertificate {
    LeadershipCertificate {
        term,
        leader,
        endorsements: endorsers
            .iter()
            .map(|n| Endorsement::sign(&voter(*n), cluster(), term, leader))
            .collect(),
    }
}

fn voters(ns: &[u8]) -> BTreeSet<NodeId> {
    ns.iter().map(|n| voter(*n).node_id()).collect()
}

#[test]
fn a_majority_of_trusted_voters_proves_leadership_and_nothing_less_does() {
    let leader = voter(1).node_id();
    let trusted = voters(&[1, 2, 3, 4, 5]);
    assert_eq!(
        certificate(7, leader, &[1, 2, 3]).check(cluster(), (7, leader), (&trusted, &BTreeMap::new())),
        Ok(())
    );
    let two = certificate(7, leader, &[1, 2]).check(cluster(), (7, leader), (&trusted, &BTreeMap::new()));
    assert!(matches!(
        two,
        Err(LeadershipRefusal::NoMajority {
            endorsed: 2,
            voters: 5,
            ..
        })
    ));

    // Votes of unknown keys, repeated votes, and votes for another term do not count.
    let mut padded = certificate(7, leader, &[1, 2, 9, 9]);
    padded
        .endorsements
        .push(Endorsement::sign(&voter(2), cluster(), 7, leader));
    padded
        .endorsements
        .push(Endorsement::sign(&voter(3), cluster(), 6, leader));
    let refused = padded.check(cluster(), (7, leader), (&trusted, &BTreeMap::new()));
    assert!(
        matches!(refused, Err(LeadershipRefusal::NoMajority { endorsed: 2, .. })),
        "{refused:?}"
    );
}

#[test]
fn a_certificate_for_another_election_or_with_a_forged_signature_is_refused() {
    let leader = voter(1).node_id();
    let trusted = voters(&[1, 2, 3]);
    let other_term = certificate(6, leader, &[1, 2, 3]).check(cluster(), (7, leader), (&trusted, &BTreeMap::new()));
    assert!(matches!(
        other_term,
        Err(LeadershipRefusal::OtherElection { term: 6, .. })
    ));

    let mut forged = certificate(7, leader, &[1, 2, 3]);
    for endorsement in &mut forged.endorsements[1..] {
        endorsement.signature[0] ^= 1;
    }
    let refused = forged.check(cluster(), (7, leader), (&trusted, &BTreeMap::new()));
    assert!(
        matches!(refused, Err(LeadershipRefusal::NoMajority { endorsed: 1, .. })),
        "{refused:?}"
    );
}
