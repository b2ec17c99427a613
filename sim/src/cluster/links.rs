//! What the leader holds of measured links at the end of a run.

use std::collections::BTreeMap;

use psionic_core::NodeId;
use psionic_core::backend::LinkTelemetry;

use super::SimCluster;
use crate::report::LinkCounts;

impl SimCluster {
    /// The links a live leader holds measurements of (none without a leader): each
    /// member pair once, with the worse of the two ends' reports.
    pub fn link_counts(&self) -> Option<LinkCounts> {
        let shared = self.shared.state();
        let leader_state = self
            .nodes
            .iter()
            .filter(|(name, _)| !self.killed.contains(*name))
            .filter_map(|(name, node)| Some((node.node_id, shared.states.get(name)?.borrow().clone())))
            .find(|(node_id, state)| state.coordinator.leader == Some(*node_id))
            .map(|(_, state)| state)?;
        let mut pairs: BTreeMap<(NodeId, NodeId), LinkTelemetry> = BTreeMap::new();
        for member in &leader_state.members {
            let Some(telemetry) = &member.telemetry else { continue };
            for (peer, link) in &telemetry.links {
                let pair = if member.node_id < *peer {
                    (member.node_id, *peer)
                } else {
                    (*peer, member.node_id)
                };
                pairs
                    .entry(pair)
                    .and_modify(|seen| seen.rtt_us = seen.rtt_us.max(link.rtt_us))
                    .or_insert(*link);
            }
        }
        Some(LinkCounts::of(pairs.values()))
    }
}
