//! Election safety: at most one leader can be elected in a given term.
//! Reference: Raft paper §5.2, figure 3; TLA+ `ElectionSafety`.

use psionic_core::ConsensusEvent;
use std::collections::BTreeMap;

use psionic_core::{Event, NodeId};

use crate::report::Violation;

/// The leader each term had, and who saw it first.
#[derive(Debug, Default)]
pub struct ElectionSafety {
    leaders: BTreeMap<u64, NodeId>,
}

impl ElectionSafety {
    pub(super) fn check(&mut self, node: &str, node_id: NodeId, at_ms: u64, event: &Event, found: &mut Vec<Violation>) {
        match event {
            Event::Consensus(ConsensusEvent::LeaderElected { term, leader }) if *leader == node_id => {
                let first = *self.leaders.entry(*term).or_insert(*leader);
                if first != *leader {
                    found.push(Violation::TwoLeaders {
                        term: *term,
                        first,
                        second: *leader,
                        at_ms,
                    });
                }
            }
            Event::Consensus(ConsensusEvent::SplitBrain { term, first, second }) => {
                let _ = node;
                found.push(Violation::TwoLeaders {
                    term: *term,
                    first: *first,
                    second: *second,
                    at_ms,
                });
            }
            _ => {}
        }
    }

    /// Terms that had a leader.
    pub fn terms(&self) -> usize {
        self.leaders.len()
    }
}
