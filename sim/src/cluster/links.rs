//! What the leader holds of measured links at the end of a run.

use std::collections::BTreeMap;

use psionic_core::NodeId;
use psionic_core::backend::LinkTelemetry;

use super::SimCluster;
use crate::report::LinkCounts;

impl SimCluster {
    /// The links a live leader holds measurements of (none without a leader): each
    /// member pair once, with the worse of the two ends' reports.
    pub async fn link_counts(&self) -> Option<LinkCounts> {
        let live: Vec<String> = self
            .nodes
            .keys()
            .filter(|name| !self.killed.contains(*name))
            .cloned()
            .collect();
        let leader_state = self
            .state_reports(&live)
            .await
            .into_iter()
            .map(|(name, state)| (self.node(&name).node_id, state))
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
