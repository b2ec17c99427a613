//! State-machine safety, as seen from applied entries: every node that applies index i
//! applies the same entry (same term, same fact) and reaches the same state digest; a
//! committed entry never changes.
//! Reference: Raft paper §5.4.3 (state machine safety), figure 3.

use psionic_core::ConsensusEvent;
use std::collections::BTreeMap;

use psionic_core::{ClusterEvent, Digest, Event};

use crate::report::Violation;

#[derive(Debug, Clone)]
struct FirstApply {
    node: String,
    term: u64,
    fact: ClusterEvent,
    state_digest: Option<Digest>,
}

/// What was first applied at each index.
#[derive(Debug, Default)]
pub struct CommittedEntries {
    applied: BTreeMap<u64, FirstApply>,
}

impl CommittedEntries {
    pub(super) fn check(&mut self, node: &str, at_ms: u64, event: &Event, found: &mut Vec<Violation>) {
        let (index, term, fact, state_digest) = match event {
            Event::Consensus(ConsensusEvent::Applied {
                index,
                term,
                fact,
                state_digest,
            }) => (*index, *term, fact, *state_digest),
            Event::Consensus(ConsensusEvent::CommittedEntryConflict { index }) => {
                found.push(Violation::CommittedEntryChanged {
                    index: *index,
                    first_node: String::new(),
                    node: node.to_owned(),
                    at_ms,
                });
                return;
            }
            _ => return,
        };
        let Some(first) = self.applied.get(&index) else {
            let first = FirstApply {
                node: node.to_owned(),
                term,
                fact: fact.clone(),
                state_digest,
            };
            self.applied.insert(index, first);
            return;
        };
        if first.term != term || first.fact != *fact {
            found.push(Violation::CommittedEntryChanged {
                index,
                first_node: first.node.clone(),
                node: node.to_owned(),
                at_ms,
            });
        } else if first.state_digest.is_some() && state_digest.is_some() && first.state_digest != state_digest {
            found.push(Violation::StateDivergence {
                index,
                first_node: first.node.clone(),
                node: node.to_owned(),
                at_ms,
            });
        }
    }

    /// The state digest the first node to apply `index` reached, if it said.
    pub fn state_digest_at(&self, index: u64) -> Option<Digest> {
        self.applied.get(&index).and_then(|first| first.state_digest)
    }

    /// Highest index applied anywhere.
    pub fn highest(&self) -> u64 {
        self.applied.keys().next_back().copied().unwrap_or(0)
    }

    /// (index, term) of every entry applied anywhere, in index order.
    pub fn terms(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.applied.iter().map(|(index, first)| (*index, first.term))
    }

    /// The fact applied at `index`, if any node applied it.
    pub fn fact_at(&self, index: u64) -> Option<&ClusterEvent> {
        self.applied.get(&index).map(|first| &first.fact)
    }
}
