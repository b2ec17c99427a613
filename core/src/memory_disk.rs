//! Durable consensus state held in memory, persisted exactly as a driver would persist
//! it: for in-memory clusters (tests, fuzzing) that crash and restart nodes.

use crate::consensus::ConsensusEvent;
use crate::consensus::{Durable, Entry, HardState, StoredSnapshot};
use crate::io::{Event, Output};

/// What a node made durable; survives a simulated crash. Entries stay in index order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryDisk {
    /// Term and vote.
    pub hard_state: HardState,
    /// Entries after the snapshot, in order.
    pub entries: Vec<Entry>,
    /// Latest snapshot.
    pub snapshot: Option<StoredSnapshot>,
    /// Restored from a backup, until the node reports it recovered.
    pub restored: bool,
}

impl MemoryDisk {
    /// Carries out a persist output (other outputs are ignored).
    pub fn persist(&mut self, output: &Output) {
        match output {
            Output::PersistHardState(hard_state) => self.hard_state = *hard_state,
            Output::PersistEntries { first_index, entries } => {
                if self.entries.last().is_some_and(|last| last.index >= *first_index) {
                    let kept = self.entries.partition_point(|entry| entry.index < *first_index);
                    self.entries.truncate(kept);
                }
                self.entries.extend(entries.iter().cloned());
            }
            Output::PersistSnapshot(snapshot) => {
                let (index, term) = (snapshot.meta.last_index, snapshot.meta.last_term);
                let agrees = (index, term) == (0, 0)
                    || self
                        .entries
                        .iter()
                        .any(|entry| entry.index == index && entry.term == term);
                self.entries.retain(|entry| agrees && entry.index > index);
                self.snapshot = Some(snapshot.clone());
            }
            Output::Event(Event::Consensus(ConsensusEvent::Recovered { .. })) => self.restored = false,
            Output::Transmit(_)
            | Output::Event(_)
            | Output::RunJob(_)
            | Output::StopJob { .. }
            | Output::Staging(_) => {}
        }
    }

    /// The state a restarted node recovers.
    pub fn durable(&self) -> Durable {
        Durable {
            hard_state: self.hard_state,
            snapshot: self.snapshot.clone(),
            entries: self.entries.clone(),
            restored: self.restored,
        }
    }
}
