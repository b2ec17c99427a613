//! A model of every node's durable log, built from what the driver persisted: for each
//! entry its term and a chain digest over the whole prefix up to it.

use std::collections::BTreeMap;

use psionic_core::consensus::{Entry, SnapshotMeta};
use sha2::{Digest as _, Sha256};

/// A digest of a log prefix: equal chains, equal prefixes.
pub type Chain = [u8; 32];

/// One node's log as persisted.
#[derive(Debug, Default, Clone)]
pub struct LogModel {
    /// Index and term of the last entry folded into a snapshot (0, 0 for none).
    pub base: (u64, u64),
    base_chain: Chain,
    /// (term, chain) of entries base+1, base+2, ...
    entries: Vec<(u64, Chain)>,
}

impl LogModel {
    /// The (term, chain) at `index`, if held.
    pub fn at(&self, index: u64) -> Option<(u64, Chain)> {
        let offset = index.checked_sub(self.base.0 + 1)?;
        self.entries.get(usize::try_from(offset).ok()?).copied()
    }

    /// Index of the last entry.
    pub fn last_index(&self) -> u64 {
        self.base.0 + self.entries.len() as u64
    }

    fn chain_before(&self, index: u64) -> Chain {
        if index <= self.base.0 + 1 {
            self.base_chain
        } else {
            self.at(index - 1).map_or(self.base_chain, |(_, chain)| chain)
        }
    }
}

/// Every node's log.
#[derive(Debug, Default)]
pub struct LogModels {
    nodes: BTreeMap<String, LogModel>,
}

impl LogModels {
    /// `node` persisted `entries` from `first_index`, cutting anything after. Returns
    /// each new entry's (index, term, chain).
    pub fn persisted(&mut self, node: &str, first_index: u64, entries: &[Entry]) -> Vec<(u64, u64, Chain)> {
        let model = self.nodes.entry(node.to_owned()).or_default();
        let keep = first_index.saturating_sub(model.base.0 + 1);
        model.entries.truncate(usize::try_from(keep).unwrap_or(usize::MAX));
        let mut chain = model.chain_before(first_index);
        let mut added = Vec::with_capacity(entries.len());
        for entry in entries {
            chain = link(&chain, entry);
            model.entries.push((entry.term, chain));
            added.push((entry.index, entry.term, chain));
        }
        added
    }

    /// `node` persisted a snapshot: the log up to its last index is folded into it.
    /// `known_chain` is the chain another node holds at that (index, term), if any. A
    /// snapshot no newer than the one the model holds changes nothing (a node reports
    /// the snapshot it recovered at start, usually one already reported).
    pub fn snapshotted(&mut self, node: &str, meta: &SnapshotMeta, known_chain: Option<Chain>) {
        let model = self.nodes.entry(node.to_owned()).or_default();
        if meta.last_index <= model.base.0 {
            return;
        }
        let own = model.at(meta.last_index).filter(|(term, _)| *term == meta.last_term);
        let base_chain = own.map(|(_, chain)| chain).or(known_chain).unwrap_or_else(|| {
            let mut hasher = Sha256::new();
            hasher.update(meta.last_index.to_le_bytes());
            hasher.update(meta.last_term.to_le_bytes());
            hasher.finalize().into()
        });
        let dropped = meta.last_index.saturating_sub(model.base.0);
        let tail = if own.is_some() {
            model
                .entries
                .split_off(usize::try_from(dropped).unwrap_or(usize::MAX).min(model.entries.len()))
        } else {
            Vec::new()
        };
        *model = LogModel {
            base: (meta.last_index, meta.last_term),
            base_chain,
            entries: tail,
        };
    }

    /// The log of `node`.
    pub fn of(&self, node: &str) -> Option<&LogModel> {
        self.nodes.get(node)
    }
}

fn link(previous: &Chain, entry: &Entry) -> Chain {
    let mut hasher = Sha256::new();
    hasher.update(previous);
    hasher.update(postcard::to_allocvec(entry).expect("entries encode"));
    hasher.finalize().into()
}
