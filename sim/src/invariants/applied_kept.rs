//! A node never truncates an entry it has applied: an applied entry is committed, and
//! Raft overwrites only uncommitted suffixes (§5.3: a follower deletes an existing
//! entry only when it conflicts with a new one; committed entries never conflict).
//! Damage the harness does to a disk, and restores from a backup, reset what a node is
//! known to have applied.

use psionic_core::ConsensusEvent;
use std::collections::BTreeMap;

use psionic_core::Event;

use crate::report::Violation;

/// The highest index each node applied (from its events).
#[derive(Debug, Default)]
pub struct AppliedKept {
    applied: BTreeMap<String, u64>,
}

impl AppliedKept {
    pub(super) fn on_event(&mut self, node: &str, event: &Event) {
        let index = match event {
            Event::Consensus(ConsensusEvent::Applied { index, .. })
            | Event::Consensus(ConsensusEvent::SnapshotInstalled { index, .. }) => *index,
            _ => return,
        };
        let applied = self.applied.entry(node.to_owned()).or_default();
        *applied = (*applied).max(index);
    }

    pub(super) fn check(&self, node: &str, at_ms: u64, first_index: u64, found: &mut Vec<Violation>) {
        if let Some(&applied) = self.applied.get(node)
            && first_index <= applied
        {
            found.push(Violation::AppliedEntryTruncated {
                node: node.to_owned(),
                index: first_index,
                applied,
                at_ms,
            });
        }
    }

    /// Forgets what `node` applied (its disk was damaged or restored).
    pub fn forget(&mut self, node: &str) {
        self.applied.remove(node);
    }
}
