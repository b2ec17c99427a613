//! Checks over a harness run, shared by the MIT 6.824-style tests: applied histories
//! agree (state-machine safety, Raft §5.4.3), acknowledged proposals survive, live
//! nodes converge, and no node raised a safety alarm. Also `commit_one`, the harness's
//! counterpart of 6.824's `one()`.

use psionic_core::ConsensusEvent;
use std::collections::BTreeMap;

use psionic_core::{ClusterEvent, Event, ProposalId};

use super::Harness;

/// What was applied at one index, as the first node to apply it reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedEntry {
    /// The node that reported it first.
    pub node: usize,
    /// The entry's term.
    pub term: u64,
    /// The fact it became.
    pub fact: ClusterEvent,
}

/// Every index any node applied (in any of its lives), with what was applied there.
/// Panics where two applications of one index differ in term or fact.
pub fn agreed_history(harness: &Harness) -> BTreeMap<u64, AppliedEntry> {
    let mut history: BTreeMap<u64, AppliedEntry> = BTreeMap::new();
    for (node, at, event) in &harness.events {
        let Event::Consensus(ConsensusEvent::Applied { index, term, fact, .. }) = event else {
            continue;
        };
        let first = history.entry(*index).or_insert_with(|| AppliedEntry {
            node: *node,
            term: *term,
            fact: fact.clone(),
        });
        assert!(
            (first.term, &first.fact) == (*term, fact),
            "index {index}: node {} applied term {} {:?}, node {node} applied term {term} {fact:?} at {at}",
            first.node,
            first.term,
            first.fact,
        );
    }
    history
}

/// Panics unless every application of every index agrees; returns the highest index
/// applied anywhere.
pub fn assert_applied_histories_agree(harness: &Harness) -> u64 {
    agreed_history(harness).keys().last().copied().unwrap_or(0)
}

/// The indexes node `index` applied one by one, in order (over all its lives).
pub fn applied_indexes(harness: &Harness, index: usize) -> Vec<u64> {
    harness
        .events_of(index)
        .filter_map(|event| match event {
            Event::Consensus(ConsensusEvent::Applied { index, .. }) => Some(*index),
            _ => None,
        })
        .collect()
}

/// Every acknowledged proposal (`ProposalCommitted` on the node it was made on), with
/// its index.
pub fn acknowledged(harness: &Harness) -> Vec<(ProposalId, u64)> {
    harness
        .events
        .iter()
        .filter_map(|(_, _, event)| match event {
            Event::Consensus(ConsensusEvent::ProposalCommitted { id, index, .. }) => Some((*id, *index)),
            _ => None,
        })
        .collect()
}

/// The proposal a fact carries, if any.
fn proposal_of(fact: &ClusterEvent) -> Option<ProposalId> {
    match fact {
        ClusterEvent::Applied { proposal, .. } | ClusterEvent::Refused { proposal, .. } => Some(*proposal),
        ClusterEvent::LeaderNoop { .. } => None,
    }
}

/// Panics unless every acknowledged proposal is what every node applied at its index,
/// and every live node's state covers it; returns how many were acknowledged.
pub fn assert_acknowledged_entries_kept(harness: &Harness) -> usize {
    let history = agreed_history(harness);
    let acknowledged = acknowledged(harness);
    let live_applied = live_nodes(harness)
        .map(|index| harness.nodes[index].consensus().state().applied_index)
        .min()
        .unwrap_or(0);
    for (id, index) in &acknowledged {
        let applied = history.get(index).and_then(|entry| proposal_of(&entry.fact));
        assert_eq!(applied, Some(*id), "acknowledged proposal {id:?} lost at index {index}");
        assert!(
            live_applied >= *index,
            "a live node applied only up to {live_applied}, before acknowledged index {index}"
        );
    }
    acknowledged.len()
}

/// The nodes that are not crashed.
pub fn live_nodes(harness: &Harness) -> impl Iterator<Item = usize> + '_ {
    (0..harness.nodes.len()).filter(|index| !harness.down.contains(index))
}

/// Panics unless every live node holds the same applied index and state digest;
/// returns that index.
pub fn assert_live_nodes_converged(harness: &Harness) -> u64 {
    let states: Vec<(usize, u64, psionic_core::Digest)> = live_nodes(harness)
        .map(|index| {
            let consensus = harness.nodes[index].consensus();
            (index, consensus.state().applied_index, consensus.state_digest())
        })
        .collect();
    let (_, applied, digest) = states[0];
    assert!(
        states.iter().all(|state| (state.1, state.2) == (applied, digest)),
        "live nodes differ: {states:?}"
    );
    applied
}

/// Panics if any node reported two leaders in one term or an append that would have
/// replaced a committed entry.
pub fn assert_no_safety_alarm(harness: &Harness) {
    let alarms: Vec<_> = harness
        .events
        .iter()
        .filter(|(_, _, event)| {
            matches!(
                event,
                Event::Consensus(ConsensusEvent::SplitBrain { .. })
                    | Event::Consensus(ConsensusEvent::CommittedEntryConflict { .. })
            )
        })
        .collect();
    assert!(alarms.is_empty(), "safety alarms: {alarms:?}");
}

/// How many live nodes have applied `index`.
pub fn applied_count(harness: &Harness, index: u64) -> usize {
    live_nodes(harness)
        .filter(|node| harness.nodes[*node].consensus().state().applied_index >= index)
        .count()
}

/// 6.824's `one()`: proposes on every live node that believes it leads until one of
/// those proposals is committed and applied on at least `expected` live nodes; returns
/// its index. Panics if none is within `within_ms`.
pub fn commit_one(harness: &mut Harness, expected: usize, within_ms: u64) -> u64 {
    let deadline = harness.now.as_millis() + within_ms;
    while harness.now.as_millis() < deadline {
        let proposed: Vec<(usize, ProposalId)> = harness
            .leaders()
            .into_iter()
            .filter_map(|leader| harness.propose_on(leader).ok().map(|id| (leader, id)))
            .collect();
        let wait_until = (harness.now.as_millis() + 2_000).min(deadline);
        while !proposed.is_empty() && harness.now.as_millis() < wait_until {
            harness.run_until_ms(harness.now.as_millis() + 10);
            let committed = proposed
                .iter()
                .find_map(|(leader, id)| harness.outcome_of(*leader, *id).and_then(Result::ok));
            if let Some(index) = committed
                && applied_count(harness, index) >= expected
            {
                return index;
            }
            if proposed
                .iter()
                .all(|(leader, id)| matches!(harness.outcome_of(*leader, *id), Some(Err(_))))
            {
                break;
            }
        }
        harness.run_until_ms(harness.now.as_millis() + 50);
    }
    panic!("no proposal applied on {expected} nodes within {within_ms} ms");
}

/// Panics unless every state digest reported at one index (after applying it, with
/// `digest_on_apply`, or by an installed snapshot) is the same; returns how many
/// indexes had one.
pub fn assert_state_digests_agree(harness: &Harness) -> usize {
    let mut digests: BTreeMap<u64, (usize, psionic_core::Digest)> = BTreeMap::new();
    for (node, _, event) in &harness.events {
        let (index, digest) = match event {
            Event::Consensus(ConsensusEvent::Applied {
                index,
                state_digest: Some(digest),
                ..
            }) => (*index, *digest),
            Event::Consensus(ConsensusEvent::SnapshotInstalled {
                index, state_digest, ..
            }) => (*index, *state_digest),
            _ => continue,
        };
        let (first, seen) = *digests.entry(index).or_insert((*node, digest));
        assert_eq!(
            seen, digest,
            "state at index {index}: node {first} and node {node} differ"
        );
    }
    digests.len()
}
