//! What goes into a core and what comes out.

use core::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::discovery::PeerHealth;
use crate::identity::{NodeEpoch, NodeId, NodeRole};
use crate::refusal::Refusal;

/// An input to [`crate::Node::handle`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A datagram arrived from `from`.
    Datagram {
        /// Source address.
        from: SocketAddr,
        /// Its bytes.
        bytes: Vec<u8>,
    },
    /// The deadline returned by [`crate::Node::poll_timeout`] was reached.
    Timeout,
}

/// An output from [`crate::Node::poll_output`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use = "outputs must be carried out by the driver"]
pub enum Output {
    /// Send bytes to a peer.
    Transmit(Transmit),
    /// Something happened that the application may want to know.
    Event(Event),
}

/// How a transmit must travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransportClass {
    /// One UDP datagram, best effort.
    Datagram,
}

/// Bytes to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Destination.
    pub to: SocketAddr,
    /// Transport.
    pub class: TransportClass,
    /// A complete authenticated frame.
    pub bytes: Vec<u8>,
}

/// Observable facts, in the order they happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
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
    /// A frame was refused.
    Refused {
        /// Source address of the frame.
        from: SocketAddr,
        /// Why.
        refusal: Refusal,
    },
}
