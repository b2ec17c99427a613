//! Safety invariants, checked on every event as it happens. One file each, citing
//! its source; a broken invariant is a typed [`crate::Violation`].

mod committed_entries;
mod election_safety;
mod fencing;

use psionic_core::{Event, NodeId};

pub use committed_entries::CommittedEntries;
pub use election_safety::ElectionSafety;
pub use fencing::Fencing;

use crate::report::Violation;

/// Every continuous checker.
#[derive(Debug, Default)]
pub struct Invariants {
    /// At most one leader per term.
    pub election: ElectionSafety,
    /// Same index, same entry and same state everywhere; nothing committed changes.
    pub committed: CommittedEntries,
    /// No decision accepted under a fence older than one seen.
    pub fencing: Fencing,
}

impl Invariants {
    /// Checks one event of node `node` (whose id is `node_id`) at `at_ms`.
    pub fn check(&mut self, node: &str, node_id: NodeId, at_ms: u64, event: &Event) -> Vec<Violation> {
        let mut found = Vec::new();
        self.election.check(node, node_id, at_ms, event, &mut found);
        self.committed.check(node, at_ms, event, &mut found);
        self.fencing.check(node, at_ms, event, &mut found);
        found
    }
}
