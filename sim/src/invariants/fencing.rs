//! Fencing: fences only grow, and no node accepts a decision whose fence is older
//! than the newest leadership it has seen. (The seed's commit-authority rule, made
//! enforceable by Raft terms: a fence is its leadership's term.)

use psionic_core::ConsensusEvent;
use psionic_core::ServingEvent;
use std::collections::BTreeMap;

use psionic_core::Event;

use crate::report::Violation;

/// The newest leadership term each node has seen.
#[derive(Debug, Default)]
pub struct Fencing {
    newest_seen: BTreeMap<String, u64>,
}

impl Fencing {
    pub(super) fn check(&mut self, node: &str, at_ms: u64, event: &Event, found: &mut Vec<Violation>) {
        match event {
            Event::Consensus(ConsensusEvent::LeaderElected { term, .. }) => {
                let newest = self.newest_seen.entry(node.to_owned()).or_default();
                *newest = (*newest).max(*term);
            }
            Event::Serving(ServingEvent::DecisionAccepted { authority, .. }) => {
                let newest = self.newest_seen.get(node).copied().unwrap_or(0);
                if authority.fence.0 < newest {
                    found.push(Violation::StaleDecisionAccepted {
                        node: node.to_owned(),
                        fence: authority.fence.0,
                        seen: newest,
                        at_ms,
                    });
                }
            }
            _ => {}
        }
    }
}
