//! A node restored from a backup leaves recovery only once its log holds an entry of
//! its leader's term (the leader's whole prefix), not merely the leader's commit index.

use super::{consensus, entry};
use crate::consensus::NoTelemetry;
use crate::consensus::follower::Append;
use crate::time::Instant;

fn append(term: u64, prev: (u64, u64), entries: Vec<crate::consensus::Entry>, leader_commit: u64) -> Append {
    Append {
        term,
        prev_index: prev.0,
        prev_term: prev.1,
        entries,
        leader_commit,
        genesis: crate::state::ClusterState::genesis_digest(
            &(1..=3)
                .map(|n| (super::id(n), crate::identity::NodeRole::Both))
                .collect::<Vec<_>>(),
        ),
        sent_us: 0,
    }
}

#[test]
fn a_leader_whose_commit_index_lags_does_not_end_recovery_before_its_own_term() {
    let mut restored = consensus(3, vec![entry(1, 2), entry(2, 2)], 2);
    restored.recovering = true;
    let now = Instant::from_millis(1_000);
    // Leader of term 3, commit index lagging at 2 after its election: entries of term 2.
    restored.on_append(
        now,
        super::id(2),
        append(3, (2, 2), vec![entry(3, 2), entry(4, 2)], 2),
        &mut NoTelemetry,
    );
    assert_eq!(restored.log().last_index(), 4);
    assert!(restored.is_recovering(), "no entry of term 3 held yet");
    restored.on_append(
        now,
        super::id(2),
        append(3, (4, 2), vec![entry(5, 3)], 4),
        &mut NoTelemetry,
    );
    assert!(!restored.is_recovering(), "the leader's first entry of term 3 is held");
    assert_eq!(restored.hard_state().voted_for, Some(super::id(2)));
}
