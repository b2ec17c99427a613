//! The safety invariants checked after every fuzzed operation (Raft paper, Ongaro &
//! Ousterhout 2014): election safety (§5.2), log matching (§5.3), state-machine
//! safety and committed entries never changing (§5.4.3).

use std::collections::BTreeMap;

use crate::consensus::{Entry, RoleKind};
use crate::digest::Digest;
use crate::identity::NodeId;
use crate::memory_disk::MemoryDisk;
use crate::node::Node;

/// What the invariants remember across operations.
#[derive(Debug, Default)]
pub(super) struct Invariants {
    /// The leader of each term.
    leaders: BTreeMap<u64, NodeId>,
    /// The state digest after applying each index.
    digests: BTreeMap<u64, Digest>,
    /// The term of each committed index.
    committed: BTreeMap<u64, u64>,
}

impl Invariants {
    /// Panics with the broken invariant, if any.
    pub fn check(&mut self, nodes: &[&Node], disks: &[&MemoryDisk]) {
        for node in nodes {
            self.election_safety(node);
            self.state_machine_safety(node);
            self.committed_entries_stay(node);
        }
        for (position, left) in nodes.iter().enumerate() {
            for right in &nodes[position + 1..] {
                log_matching(left.consensus().log().entries(), right.consensus().log().entries());
            }
        }
        for (position, left) in disks.iter().enumerate() {
            for right in &disks[position + 1..] {
                log_matching(&left.entries, &right.entries);
            }
        }
    }

    fn election_safety(&mut self, node: &Node) {
        let consensus = node.consensus();
        if consensus.role_kind() != RoleKind::Leader {
            return;
        }
        let term = consensus.hard_state().term;
        let leader = *self.leaders.entry(term).or_insert(node.node_id());
        assert_eq!(leader, node.node_id(), "two leaders in term {term}");
    }

    fn state_machine_safety(&mut self, node: &Node) {
        let applied = node.consensus().state().applied_index;
        let digest = node.consensus().state_digest();
        let first = *self.digests.entry(applied).or_insert(digest);
        assert_eq!(first, digest, "two states after applying index {applied}");
    }

    fn committed_entries_stay(&mut self, node: &Node) {
        let consensus = node.consensus();
        for entry in consensus.log().entries() {
            if entry.index > consensus.commit_index() {
                break;
            }
            let term = *self.committed.entry(entry.index).or_insert(entry.term);
            assert_eq!(term, entry.term, "committed index {} changed its term", entry.index);
        }
    }
}

/// If two logs hold an entry with the same index and term, they hold the same entries
/// up to it.
fn log_matching(left: &[Entry], right: &[Entry]) {
    let by_index: BTreeMap<u64, &Entry> = right.iter().map(|entry| (entry.index, entry)).collect();
    let Some(highest_match) = left
        .iter()
        .rev()
        .find(|entry| by_index.get(&entry.index).is_some_and(|other| other.term == entry.term))
    else {
        return;
    };
    for entry in left.iter().take_while(|entry| entry.index <= highest_match.index) {
        if let Some(other) = by_index.get(&entry.index) {
            assert_eq!(*other, entry, "logs differ at index {} below a match", entry.index);
        }
    }
}
