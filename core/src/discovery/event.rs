//! What discovery reports to the node's driver.

use core::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::PeerHealth;
use crate::identity::{NodeEpoch, NodeId, NodeRole};

/// What discovery observed, in the order it happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum DiscoveryEvent {
    /// A peer authenticated for the first time (or again after it expired).
    PeerDiscovered {
        /// The peer.
        peer: NodeId,
        /// Where it speaks from.
        addr: SocketAddr,
        /// Its role.
        role: NodeRole,
        /// Its epoch.
        epoch: NodeEpoch,
    },
    /// A peer's health changed.
    PeerHealthChanged {
        /// The peer.
        peer: NodeId,
        /// Before.
        from: PeerHealth,
        /// After.
        to: PeerHealth,
    },
    /// A known peer came back with a newer epoch.
    PeerRestarted {
        /// The peer.
        peer: NodeId,
        /// Epoch before.
        from: NodeEpoch,
        /// Epoch now.
        to: NodeEpoch,
    },
    /// A known peer now speaks from another address.
    PeerAddressChanged {
        /// The peer.
        peer: NodeId,
        /// Before.
        from: SocketAddr,
        /// After.
        to: SocketAddr,
    },
    /// A peer was silent for `peer_expiry_ms` and left the peer table.
    PeerExpired {
        /// The peer.
        peer: NodeId,
        /// How long it had been silent.
        silent_ms: u64,
    },
}
