//! The in-memory Raft log: a compacted prefix (up to the snapshot) and the retained
//! entries after it.
//!
//! Invariant: `entries[k].index == snapshot_index + 1 + k`; terms never decrease along
//! the log.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::state::EntryPayload;

/// One log entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Its position (from 1).
    pub index: u64,
    /// The term of the leader that created it.
    pub term: u64,
    /// What it carries, shared by the log, persist outputs and appends (cloning an
    /// entry copies no command).
    #[serde(deserialize_with = "payload_in_place")]
    pub payload: Arc<EntryPayload>,
}

/// Decodes a payload straight into its `Arc` (serde's own goes through a `Box`: one
/// more allocation and copy per entry).
fn payload_in_place<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Arc<EntryPayload>, D::Error> {
    EntryPayload::deserialize(deserializer).map(Arc::new)
}

/// An entry offered to the log at another index than the next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("entry {got} offered where {expected} is next")]
pub struct LogGap {
    /// The next index.
    pub expected: u64,
    /// The index offered.
    pub got: u64,
}

/// The log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RaftLog {
    snapshot_index: u64,
    snapshot_term: u64,
    entries: Vec<Entry>,
    /// Indexes of the retained entries whose command changes seats (membership, voters,
    /// roles): always exactly those of `entries`.
    seat_changes: BTreeSet<u64>,
    /// Indexes of the retained entries that rotate or retire a node's key: always
    /// exactly those of `entries`.
    key_rotations: BTreeSet<u64>,
}

fn changes_seats(entry: &Entry) -> bool {
    matches!(&*entry.payload, EntryPayload::Proposal(proposal) if proposal.command.changes_seats())
}

/// Whether `entry` rotates or retires a node's key.
pub(crate) fn rotates_key(entry: &Entry) -> bool {
    use crate::state::ClusterCommand::{RetireNodeKey, RotateNodeKey};
    matches!(&*entry.payload, EntryPayload::Proposal(proposal)
        if matches!(*proposal.command, RotateNodeKey { .. } | RetireNodeKey { .. }))
}

impl RaftLog {
    /// A log whose prefix up to `snapshot_index` (of `snapshot_term`) is compacted,
    /// followed by `entries`. Entries at or before the snapshot are dropped, and so is
    /// every later one unless they follow it without a gap from a history that agrees
    /// with it (a crash between writing a snapshot and compacting the log behind it
    /// can leave a tail from another history).
    pub fn new(snapshot_index: u64, snapshot_term: u64, entries: Vec<Entry>) -> Self {
        let mut log = Self {
            snapshot_index,
            snapshot_term,
            ..Self::default()
        };
        let contradicts = entries
            .iter()
            .any(|entry| entry.index == snapshot_index && entry.term != snapshot_term);
        if !contradicts {
            let tail = entries.into_iter().filter(|entry| entry.index > snapshot_index);
            if log.append(tail).is_err() {
                log.entries.clear();
                log.seat_changes.clear();
                log.key_rotations.clear();
            }
        }
        log
    }

    /// Index of the last compacted entry (0: nothing compacted).
    pub fn snapshot_index(&self) -> u64 {
        self.snapshot_index
    }

    /// Term of the last compacted entry.
    pub fn snapshot_term(&self) -> u64 {
        self.snapshot_term
    }

    /// Index of the last entry (the snapshot index if none is retained).
    pub fn last_index(&self) -> u64 {
        self.snapshot_index + self.entries.len() as u64
    }

    /// Term of the last entry.
    pub fn last_term(&self) -> u64 {
        self.entries.last().map_or(self.snapshot_term, |entry| entry.term)
    }

    /// Term of the entry at `index`: `None` if beyond the log or compacted away (the
    /// snapshot index itself is known).
    pub fn term_at(&self, index: u64) -> Option<u64> {
        if index == self.snapshot_index {
            return Some(self.snapshot_term);
        }
        self.get(index).map(|entry| entry.term)
    }

    /// The retained entry at `index`.
    pub fn get(&self, index: u64) -> Option<&Entry> {
        let offset = index.checked_sub(self.snapshot_index + 1)?;
        self.entries.get(usize::try_from(offset).ok()?)
    }

    /// Retained entries from `from` on, at most `count_max` and `bytes_max` (at least
    /// one if any).
    pub fn slice(&self, from: u64, count_max: usize, bytes_max: usize) -> Vec<Entry> {
        let Some(start) = from.checked_sub(self.snapshot_index + 1) else {
            return Vec::new();
        };
        let mut bytes = 0usize;
        let mut out = Vec::new();
        for entry in self.entries.iter().skip(start as usize).take(count_max) {
            bytes += entry_size_bytes(entry);
            if !out.is_empty() && bytes > bytes_max {
                break;
            }
            out.push(entry.clone());
        }
        out
    }

    /// Appends entries that follow the last one; stops at the first that does not
    /// (keeping those before it).
    pub fn append(&mut self, entries: impl IntoIterator<Item = Entry>) -> Result<(), LogGap> {
        for entry in entries {
            let expected = self.last_index() + 1;
            if entry.index != expected {
                return Err(LogGap {
                    expected,
                    got: entry.index,
                });
            }
            if changes_seats(&entry) {
                self.seat_changes.insert(entry.index);
            }
            if rotates_key(&entry) {
                self.key_rotations.insert(entry.index);
            }
            self.entries.push(entry);
        }
        Ok(())
    }

    /// Removes the entries from `index` on.
    pub fn truncate_from(&mut self, index: u64) {
        let keep = index.saturating_sub(self.snapshot_index + 1);
        self.entries.truncate(keep as usize);
        self.seat_changes.split_off(&index);
        self.key_rotations.split_off(&index);
    }

    /// Indexes after `index` of the retained entries that change seats, in order.
    pub fn seat_changes_after(&self, index: u64) -> impl DoubleEndedIterator<Item = u64> + '_ {
        self.seat_changes.range(index.saturating_add(1)..).copied()
    }

    /// Indexes after `index` of the retained entries that rotate or retire a key, in
    /// order.
    pub fn key_rotations_after(&self, index: u64) -> impl DoubleEndedIterator<Item = u64> + '_ {
        self.key_rotations.range(index.saturating_add(1)..).copied()
    }

    /// Forgets entries up to `index` (of `term`); keeps later ones only if the log
    /// agrees with the snapshot at `index`, else discards the whole log.
    pub fn compact_to(&mut self, index: u64, term: u64) {
        if index <= self.snapshot_index {
            return;
        }
        if self.term_at(index) == Some(term) {
            let drop = (index - self.snapshot_index) as usize;
            self.entries.drain(..drop);
            self.seat_changes = self.seat_changes.split_off(&(index + 1));
            self.key_rotations = self.key_rotations.split_off(&(index + 1));
        } else {
            self.entries.clear();
            self.seat_changes.clear();
            self.key_rotations.clear();
        }
        self.snapshot_index = index;
        self.snapshot_term = term;
    }

    /// First index of the term of the entry at `index`, walking back (a conflict hint).
    pub fn first_index_of_term_at(&self, index: u64) -> u64 {
        let Some(term) = self.term_at(index) else { return index };
        let mut first = index;
        while first > self.snapshot_index + 1 && self.term_at(first - 1) == Some(term) {
            first -= 1;
        }
        first
    }

    /// Every retained entry.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }
}

/// Encoded size of an entry, for batching limits.
pub fn entry_size_bytes(entry: &Entry) -> usize {
    postcard::experimental::serialized_size(entry).unwrap_or(usize::MAX / 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::NodeId;

    fn entry(index: u64, term: u64) -> Entry {
        Entry {
            index,
            term,
            payload: EntryPayload::Noop {
                leader: NodeId([0; 16]),
            }
            .into(),
        }
    }

    #[test]
    fn indexes_terms_and_truncation() {
        let mut log = RaftLog::default();
        log.append([entry(1, 1), entry(2, 1), entry(3, 2)]).unwrap();
        assert_eq!((log.last_index(), log.last_term()), (3, 2));
        assert_eq!(log.term_at(0), Some(0));
        assert_eq!(log.term_at(4), None);
        assert_eq!(log.first_index_of_term_at(2), 1);
        log.truncate_from(3);
        assert_eq!(log.last_index(), 2);
    }

    #[test]
    fn compaction_keeps_a_matching_tail_and_drops_a_diverging_one() {
        let mut log = RaftLog::default();
        log.append([entry(1, 1), entry(2, 1), entry(3, 2)]).unwrap();
        log.compact_to(2, 1);
        assert_eq!((log.snapshot_index(), log.last_index()), (2, 3));
        assert_eq!(log.get(2), None);
        assert_eq!(log.term_at(2), Some(1));
        log.compact_to(3, 9);
        assert_eq!((log.snapshot_index(), log.last_index(), log.last_term()), (3, 3, 9));
    }

    fn promotion(index: u64, term: u64) -> Entry {
        let proposal = crate::state::Proposal {
            id: crate::state::ProposalId {
                node: NodeId([0; 16]),
                epoch: crate::identity::NodeEpoch(1),
                seq: index,
            },
            command: crate::state::ClusterCommand::PromoteVoter { node: NodeId([1; 16]) }.into(),
            origin: crate::state::Origin::Leader,
        };
        Entry {
            index,
            term,
            payload: EntryPayload::Proposal(proposal).into(),
        }
    }

    #[test]
    fn seat_changes_follow_appends_truncation_and_compaction() {
        let mut log = RaftLog::new(0, 0, vec![entry(1, 1), promotion(2, 1), entry(3, 1), promotion(4, 1)]);
        let after = |log: &RaftLog, index| log.seat_changes_after(index).collect::<Vec<_>>();
        assert_eq!(after(&log, 0), [2, 4]);
        assert_eq!(after(&log, 2), [4]);
        log.truncate_from(4);
        assert_eq!(after(&log, 0), [2]);
        log.append([promotion(4, 2)]).unwrap();
        log.compact_to(2, 1);
        assert_eq!(after(&log, 0), [4]);
        log.compact_to(4, 9);
        assert_eq!(after(&log, 0), Vec::<u64>::new());
    }

    #[test]
    fn slices_respect_count_and_size_but_never_return_nothing() {
        let mut log = RaftLog::default();
        log.append((1..=10).map(|index| entry(index, 1))).unwrap();
        assert_eq!(log.slice(3, 4, usize::MAX).len(), 4);
        assert_eq!(log.slice(3, 100, 1).len(), 1);
        assert!(log.slice(11, 100, usize::MAX).is_empty());
    }

    #[test]
    fn a_tail_left_behind_by_a_crash_before_compaction_is_kept_only_if_it_agrees() {
        // The snapshot (index 2, term 3) was written; the log behind it was not yet
        // compacted and holds another history's entries 1..=4.
        let stale = vec![entry(1, 1), entry(2, 1), entry(3, 1), entry(4, 1)];
        assert_eq!(
            RaftLog::new(2, 3, stale).last_index(),
            2,
            "a contradicting tail is dropped"
        );
        let agreeing = vec![entry(1, 1), entry(2, 3), entry(3, 3)];
        assert_eq!(RaftLog::new(2, 3, agreeing).last_index(), 3);
        let gapped = vec![entry(4, 3), entry(5, 3)];
        assert_eq!(
            RaftLog::new(2, 3, gapped).last_index(),
            2,
            "a tail with a gap is dropped"
        );
    }

    #[test]
    fn an_entry_at_another_index_than_the_next_is_refused() {
        let mut log = RaftLog::default();
        assert_eq!(log.append([entry(2, 1)]), Err(LogGap { expected: 1, got: 2 }));
        assert_eq!(log.last_index(), 0);
    }
}
