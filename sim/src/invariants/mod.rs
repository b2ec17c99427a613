//! Safety invariants, checked on every event and every persisted log change as it
//! happens. One file each, citing its source; a broken invariant is a typed
//! [`crate::Violation`].

mod applied_kept;
mod committed_entries;
mod election_safety;
mod fencing;
mod leader_completeness;
mod log_matching;
mod logs;
mod refused_peers;
mod streamed;
#[cfg(test)]
mod tests;

use psionic_core::ConsensusEvent;
use std::collections::BTreeSet;

use psionic_core::consensus::{Entry, SnapshotMeta};
use psionic_core::{Event, NodeId};

pub use applied_kept::AppliedKept;
pub use committed_entries::CommittedEntries;
pub use election_safety::ElectionSafety;
pub use fencing::Fencing;
pub use log_matching::LogMatching;
pub use logs::LogModels;
pub use streamed::StreamedTokens;

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
    /// Same (index, term), same prefix.
    pub log_matching: LogMatching,
    /// Every node's durable log.
    pub logs: LogModels,
    /// Ids without valid credentials, or speaking as another: never listed as peers,
    /// never members, never followed.
    pub banned: BTreeSet<NodeId>,
    /// Token holders with keys of their own that no listing names and no operator
    /// admits: they may be peers (candidates), never members, never followed.
    pub unlisted: BTreeSet<NodeId>,
    /// No applied entry is truncated.
    pub applied_kept: AppliedKept,
    /// Streamed tokens are the answer's.
    pub streamed: StreamedTokens,
}

impl Invariants {
    /// Checks one event of node `node` (whose id is `node_id`) at `at_ms`.
    pub fn check(&mut self, node: &str, node_id: NodeId, at_ms: u64, event: &Event) -> Vec<Violation> {
        let mut found = Vec::new();
        if let Event::Consensus(ConsensusEvent::LeaderElected { term, leader }) = event
            && *leader == node_id
        {
            let committed = self.committed.terms();
            leader_completeness::check(node, *term, self.logs.of(node), committed, at_ms, &mut found);
        }
        self.election.check(node, node_id, at_ms, event, &mut found);
        self.committed.check(node, at_ms, event, &mut found);
        self.fencing.check(node, at_ms, event, &mut found);
        self.streamed.check(node, at_ms, event, &mut found);
        self.applied_kept.on_event(node, event);
        let outsiders = refused_peers::Outsiders {
            banned: &self.banned,
            unlisted: &self.unlisted,
        };
        refused_peers::check(node, &outsiders, at_ms, event, &mut found);
        found
    }

    /// Checks entries `node` made durable from `first_index`.
    pub fn log_persisted(&mut self, node: &str, at_ms: u64, first_index: u64, entries: &[Entry]) -> Vec<Violation> {
        let mut found = Vec::new();
        self.applied_kept.check(node, at_ms, first_index, &mut found);
        let added = self.logs.persisted(node, first_index, entries);
        self.log_matching.check(node, at_ms, &added, &mut found);
        found
    }

    /// Records a snapshot `node` made durable.
    pub fn snapshot_persisted(&mut self, node: &str, meta: &SnapshotMeta) {
        let known = self.log_matching.chain_at(meta.last_index, meta.last_term);
        self.logs.snapshotted(node, meta, known);
    }
}
