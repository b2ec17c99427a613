//! The checkers fire on the histories they forbid, and stay quiet on legal ones.

use psionic_core::ConsensusEvent;
use psionic_core::DiscoveryEvent;
use psionic_core::consensus::{Entry, EntryPayload};
use psionic_core::{ClusterEvent, Event, NodeId};

use super::Invariants;
use crate::report::Violation;

fn noop(index: u64, term: u64, leader: u8) -> Entry {
    Entry {
        index,
        term,
        payload: EntryPayload::Noop {
            leader: NodeId([leader; 16]),
        }
        .into(),
    }
}

fn applied(index: u64, term: u64, leader: u8) -> Event {
    Event::Consensus(ConsensusEvent::Applied {
        index,
        term,
        fact: ClusterEvent::LeaderNoop {
            term,
            leader: NodeId([leader; 16]),
        },
        state_digest: None,
    })
}

#[test]
fn equal_index_and_term_over_different_prefixes_is_a_log_mismatch() {
    let mut invariants = Invariants::default();
    let first = invariants.log_persisted("n1", 0, 1, &[noop(1, 1, 1), noop(2, 2, 2)]);
    assert!(first.is_empty());
    let same = invariants.log_persisted("n2", 0, 1, &[noop(1, 1, 1), noop(2, 2, 2)]);
    assert!(same.is_empty(), "identical prefixes agree");
    // Entry 1 differs in content: it and everything after it mismatch, even where the
    // later entry itself is identical.
    let forked = invariants.log_persisted("n3", 5, 1, &[noop(1, 1, 9), noop(2, 2, 2)]);
    let indexes: Vec<u64> = forked
        .iter()
        .map(|violation| match violation {
            Violation::LogMismatch { index, node, .. } if node == "n3" => *index,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(indexes, [1, 2]);
}

#[test]
fn a_truncated_and_rewritten_suffix_is_legal() {
    let mut invariants = Invariants::default();
    invariants.log_persisted("n1", 0, 1, &[noop(1, 1, 1), noop(2, 1, 1)]);
    invariants.log_persisted("n2", 0, 1, &[noop(1, 1, 1), noop(2, 2, 2)]);
    let rewritten = invariants.log_persisted("n1", 1, 2, &[noop(2, 2, 2), noop(3, 2, 2)]);
    assert!(rewritten.is_empty(), "{rewritten:?}");
}

#[test]
fn a_leader_missing_a_committed_entry_is_incomplete() {
    let mut invariants = Invariants::default();
    invariants.log_persisted("n1", 0, 1, &[noop(1, 1, 1), noop(2, 1, 1)]);
    invariants.check("n1", NodeId([1; 16]), 1, &applied(1, 1, 1));
    invariants.check("n1", NodeId([1; 16]), 1, &applied(2, 1, 1));
    invariants.log_persisted("n2", 1, 1, &[noop(1, 1, 1)]);
    let elected = Event::Consensus(ConsensusEvent::LeaderElected {
        term: 2,
        leader: NodeId([2; 16]),
    });
    let found = invariants.check("n2", NodeId([2; 16]), 3, &elected);
    assert!(
        matches!(
            found.as_slice(),
            [Violation::LeaderIncomplete {
                index: 2,
                committed_term: 1,
                held_term: None,
                ..
            }]
        ),
        "{found:?}"
    );
    invariants.log_persisted("n3", 1, 1, &[noop(1, 1, 1), noop(2, 1, 1)]);
    let complete = Event::Consensus(ConsensusEvent::LeaderElected {
        term: 3,
        leader: NodeId([3; 16]),
    });
    assert!(invariants.check("n3", NodeId([3; 16]), 4, &complete).is_empty());
}

fn admission_of(node: NodeId) -> Event {
    Event::Consensus(ConsensusEvent::Applied {
        index: 4,
        term: 1,
        fact: ClusterEvent::Applied {
            proposal: psionic_core::ProposalId {
                node: NodeId([1; 16]),
                epoch: psionic_core::NodeEpoch(1),
                seq: 0,
            },
            command: psionic_core::ClusterCommand::AdmitMember {
                node,
                role: psionic_core::NodeRole::Both,
                stream_addr: None,
            }
            .into(),
        },
        state_digest: None,
    })
}

fn discovery_of(peer: NodeId) -> Event {
    Event::Discovery(DiscoveryEvent::PeerDiscovered {
        peer,
        addr: "10.0.0.6:7400".parse().unwrap(),
        role: psionic_core::NodeRole::Both,
        epoch: psionic_core::NodeEpoch(1),
    })
}

#[test]
fn a_banned_peer_listed_or_admitted_is_caught() {
    let mut invariants = Invariants::default();
    let intruder = NodeId([6; 16]);
    invariants.banned.insert(intruder);
    let found = invariants.check("n1", NodeId([1; 16]), 9, &admission_of(intruder));
    assert!(
        matches!(found.as_slice(), [Violation::RefusedPeerAdmitted { index: 4, .. }]),
        "{found:?}"
    );
    let found = invariants.check("n1", NodeId([1; 16]), 9, &discovery_of(intruder));
    assert!(
        matches!(found.as_slice(), [Violation::RefusedPeerListed { .. }]),
        "{found:?}"
    );
}

#[test]
fn an_unlisted_token_holder_may_be_listed_but_not_admitted() {
    let mut invariants = Invariants::default();
    let puppet = NodeId([7; 16]);
    invariants.unlisted.insert(puppet);
    assert!(
        invariants
            .check("n1", NodeId([1; 16]), 9, &discovery_of(puppet))
            .is_empty()
    );
    let found = invariants.check("n1", NodeId([1; 16]), 9, &admission_of(puppet));
    assert!(
        matches!(found.as_slice(), [Violation::RefusedPeerAdmitted { index: 4, .. }]),
        "{found:?}"
    );
}

fn snapshot_at(last_index: u64, last_term: u64) -> psionic_core::consensus::SnapshotMeta {
    psionic_core::consensus::SnapshotMeta {
        last_index,
        last_term,
        size_bytes: 0,
        digest: psionic_core::Digest([0; 32]),
        state_digest: psionic_core::Digest([0; 32]),
        state_schema: psionic_core::state::STATE_SCHEMA_VERSION,
        genesis: None,
    }
}

/// A node reports at start the snapshot it recovered: one already reported changes
/// nothing (the entries after it stay in the model), and one the model missed (the
/// node stopped before reporting it) is taken, so what it appends next matches.
#[test]
fn a_snapshot_reported_again_at_start_keeps_the_log_and_a_missed_one_is_taken() {
    let mut invariants = Invariants::default();
    let log = [noop(1, 1, 1), noop(2, 1, 1), noop(3, 1, 1), noop(4, 1, 1)];
    invariants.log_persisted("n1", 0, 1, &log);
    let mut whole = log.to_vec();
    whole.push(noop(5, 1, 1));
    invariants.log_persisted("n2", 0, 1, &whole);
    invariants.snapshot_persisted("n1", &snapshot_at(2, 1));
    invariants.snapshot_persisted("n1", &snapshot_at(2, 1));
    let appended = invariants.log_persisted("n1", 1, 5, &[noop(5, 1, 1)]);
    assert!(appended.is_empty(), "{appended:?}");
    invariants.snapshot_persisted("n3", &snapshot_at(4, 1));
    let caught_up = invariants.log_persisted("n3", 2, 5, &[noop(5, 1, 1)]);
    assert!(caught_up.is_empty(), "{caught_up:?}");
}
