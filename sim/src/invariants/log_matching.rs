//! Log matching: if two logs contain an entry with the same index and term, the logs
//! are identical in all entries up through that index.
//! Reference: Raft paper §5.3, figure 3; TLA+ `LogMatching`.

use std::collections::BTreeMap;

use super::logs::Chain;
use crate::report::Violation;

/// The prefix chain first seen at each (index, term), and on which node.
#[derive(Debug, Default)]
pub struct LogMatching {
    chains: BTreeMap<(u64, u64), (Chain, String)>,
}

impl LogMatching {
    /// Checks entries `node` just persisted, as (index, term, chain).
    pub(super) fn check(&mut self, node: &str, at_ms: u64, added: &[(u64, u64, Chain)], found: &mut Vec<Violation>) {
        for (index, term, chain) in added {
            let (first_chain, first_node) = self
                .chains
                .entry((*index, *term))
                .or_insert_with(|| (*chain, node.to_owned()));
            if first_chain != chain {
                found.push(Violation::LogMismatch {
                    index: *index,
                    term: *term,
                    first_node: first_node.clone(),
                    node: node.to_owned(),
                    at_ms,
                });
            }
        }
    }

    /// The chain some node holds at (index, term).
    pub fn chain_at(&self, index: u64, term: u64) -> Option<Chain> {
        self.chains.get(&(index, term)).map(|(chain, _)| *chain)
    }
}
