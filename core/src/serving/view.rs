//! What serving reads of the node: consensus (state, leadership, authority) and the
//! device telemetry kept beside it. Serving never changes either.

use std::collections::BTreeMap;

use crate::backend::{LinkTelemetry, ReadinessByBackend};
use crate::consensus::Consensus;
use crate::devices::{Devices, TelemetrySeen};
use crate::identity::NodeId;

/// Consensus and the device telemetry, borrowed for one call.
#[derive(Clone, Copy, Debug)]
pub struct ClusterView<'a> {
    /// Consensus.
    pub raft: &'a Consensus,
    /// The device telemetry.
    pub devices: &'a Devices,
}

impl<'a> ClusterView<'a> {
    /// Latest telemetry per node, as known here.
    pub fn telemetry(&self) -> &'a BTreeMap<NodeId, TelemetrySeen> {
        self.devices.telemetry()
    }

    /// Measured links keyed by (smaller id, larger id).
    pub fn links_measured(&self) -> &'a BTreeMap<(NodeId, NodeId), LinkTelemetry> {
        self.devices.links_measured()
    }

    /// This node's own backend readiness, as its driver reported it.
    pub fn local_readiness(&self) -> &'a ReadinessByBackend {
        self.devices.local_readiness()
    }
}

impl std::ops::Deref for ClusterView<'_> {
    type Target = Consensus;

    fn deref(&self) -> &Consensus {
        self.raft
    }
}
