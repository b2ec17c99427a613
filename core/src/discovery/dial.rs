//! Addresses to probe whose node is not (yet) an authenticated peer.

use super::DiscoveryConfig;
use crate::discovery::Introducer;
use crate::identity::NodeId;
use crate::time::Instant;

/// Where a dial target came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialOrigin {
    /// Configured seed address: probed for ever, with backoff while silent.
    Seed,
    /// Gossiped by a peer (or a node that spoke to an earlier life of this one):
    /// dropped once it authenticates or stays silent.
    Gossip {
        /// The id the gossip named.
        node_id: NodeId,
        /// The authenticated peer that named it.
        from: NodeId,
    },
}

impl DialOrigin {
    /// Who introduced the node that answers at this address, `answering`.
    pub fn introducer(self, answering: NodeId) -> Introducer {
        match self {
            DialOrigin::Seed => Introducer::Seed,
            DialOrigin::Gossip { from, .. } if from != answering => Introducer::Peer(from),
            DialOrigin::Gossip { .. } => Introducer::Itself,
        }
    }
}

/// A dial target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dial {
    /// Origin.
    pub origin: DialOrigin,
    /// Probes sent without an authenticated answer from this address.
    pub unanswered_probes: u32,
    /// When it is next probed.
    pub next_probe_at: Instant,
}

impl Dial {
    pub(super) fn new(origin: DialOrigin, now: Instant) -> Self {
        Self {
            origin,
            unanswered_probes: 0,
            next_probe_at: now,
        }
    }

    /// A gossiped address that never answered is dropped after as many probes as make
    /// a peer unreachable; seeds are never dropped.
    pub(super) fn is_exhausted(&self, config: &DiscoveryConfig) -> bool {
        matches!(self.origin, DialOrigin::Gossip { .. })
            && self.unanswered_probes >= config.unreachable_after_missed_probes
    }
}
