//! Control messages carried inside an envelope.

use core::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::{DecodeError, Detached};
use crate::consensus::RaftMessage;
use crate::digest::Digest;
use crate::identity::{ClusterNamespace, NodeId, NodeRole};

/// Most peers one hello may gossip.
pub const GOSSIP_PEERS_MAX: usize = 64;

/// Every control message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// A discovery probe. The receiver answers with [`Message::HelloAck`].
    Hello(Hello),
    /// The answer to a probe. Never answered.
    HelloAck(Hello),
    /// A consensus message.
    Raft(RaftMessage),
    /// A dispatch message: a decision under a leadership's authority, or an executing
    /// node's report on one.
    Dispatch(crate::serving::DispatchMessage),
    /// One frame of a bandwidth probe, sent on the peer stream. The receiver answers
    /// the last frame of a burst with [`Message::LinkProbeAck`].
    LinkProbe(LinkProbe),
    /// The answer to the last frame of a bandwidth probe. Never answered.
    LinkProbeAck(LinkProbeAck),
    /// A message of an artifact copy, on the peer stream.
    Staging(crate::staging::StagingMessage),
}

impl Message {
    /// Checks the limits postcard cannot express.
    pub fn validate(&self) -> Result<(), DecodeError> {
        match self {
            Message::Hello(hello) | Message::HelloAck(hello) => hello.validate(),
            Message::Raft(message) => {
                message
                    .within_limits()
                    .map_err(|(len, max)| DecodeError::TooManyItems { len, max })?;
                message.check_values().map_err(|fault| DecodeError::Values { fault })
            }
            Message::Dispatch(message) => message.check_values().map_err(|fault| DecodeError::Values { fault }),
            Message::LinkProbe(probe) => probe.validate(),
            Message::LinkProbeAck(_) => Ok(()),
            Message::Staging(message) => message.validate().map_err(|fault| DecodeError::Staging { fault }),
        }
    }

    /// The bytes this message carries after the frame's tag, if it has such a field.
    pub fn detached(&self) -> Option<&Detached> {
        match self {
            Message::Raft(RaftMessage::SnapshotChunk { data, .. }) => Some(data),
            Message::LinkProbe(probe) => Some(&probe.payload),
            Message::Staging(crate::staging::StagingMessage::Chunk { bytes, .. }) => Some(bytes),
            _ => None,
        }
    }

    pub(super) fn detached_mut(&mut self) -> Option<&mut Detached> {
        match self {
            Message::Raft(RaftMessage::SnapshotChunk { data, .. }) => Some(data),
            Message::LinkProbe(probe) => Some(&mut probe.payload),
            Message::Staging(crate::staging::StagingMessage::Chunk { bytes, .. }) => Some(bytes),
            _ => None,
        }
    }
}

pub use crate::limits::LINK_PROBE_PAYLOAD_BYTES_MAX;

/// One frame of a burst that measures a link's bandwidth.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkProbe {
    /// The prober's clock (microseconds) when it sent the burst; names the burst.
    pub burst_sent_us: u64,
    /// This frame's place in the burst, from 0.
    pub index: u16,
    /// Frames in the burst.
    pub count: u16,
    /// Filler, at most [`LINK_PROBE_PAYLOAD_BYTES_MAX`]; detached (never read).
    pub payload: Detached,
}

impl LinkProbe {
    /// Whether this frame ends its burst (and is answered).
    pub fn is_last(&self) -> bool {
        self.index.saturating_add(1) >= self.count
    }

    fn validate(&self) -> Result<(), DecodeError> {
        if self.payload.len() > LINK_PROBE_PAYLOAD_BYTES_MAX {
            return Err(DecodeError::TooManyItems {
                len: self.payload.len(),
                max: LINK_PROBE_PAYLOAD_BYTES_MAX,
            });
        }
        Ok(())
    }
}

/// The answer to the last frame of a bandwidth probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkProbeAck {
    /// The `burst_sent_us` of the burst answered.
    pub burst_sent_us: u64,
}

/// What a node says of itself, and which peers it can reach.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The sender's namespace (also bound into the cluster id; carried to tell a
    /// namespace mismatch from a genesis mismatch).
    pub namespace: ClusterNamespace,
    /// The sender's role.
    pub role: NodeRole,
    /// Peers the sender currently reaches, at most [`GOSSIP_PEERS_MAX`].
    pub peers: Vec<PeerRecord>,
    /// Port of the sender's peer-stream listener (on its discovery IP), if it has one.
    pub stream_port: Option<u16>,
    /// On a hello, the sender's clock (microseconds) when it sent it; on an ack, the
    /// value of the hello answered: the prober's round trip is its clock now less this.
    pub probe_sent_us: u64,
    /// The sender's genesis, once it has one: a node of another genesis is refused and
    /// never enters the peer table (so it is never admitted).
    pub genesis: Option<Digest>,
    /// The SHA-256 of the executable the sender runs, as it measured itself.
    pub binary: Option<crate::attestation::BinaryDigest>,
    /// Public digests of the admission tokens the sender holds (trusted LAN), at most
    /// [`HELLO_TOKENS_MAX`].
    pub tokens: Vec<Digest>,
    /// The digest of the sender's trust bundle ([`crate::trust::TrustBundle`]).
    pub trust: Option<Digest>,
    /// The sender's latest key rotations, as its state holds them, at most
    /// [`crate::limits::KEY_HISTORY_MAX`]: a receiver whose log is behind follows them
    /// from a key it knows to the key the frame carries.
    pub key_history: Vec<crate::state::KeyRotation>,
}

/// Most admission token digests one hello carries: the token in force and the next.
pub const HELLO_TOKENS_MAX: usize = 2;

impl Hello {
    fn validate(&self) -> Result<(), DecodeError> {
        if self.peers.len() > GOSSIP_PEERS_MAX {
            return Err(DecodeError::TooManyItems {
                len: self.peers.len(),
                max: GOSSIP_PEERS_MAX,
            });
        }
        if self.tokens.len() > HELLO_TOKENS_MAX {
            return Err(DecodeError::TooManyItems {
                len: self.tokens.len(),
                max: HELLO_TOKENS_MAX,
            });
        }
        if self.key_history.len() > crate::limits::KEY_HISTORY_MAX {
            return Err(DecodeError::TooManyItems {
                len: self.key_history.len(),
                max: crate::limits::KEY_HISTORY_MAX,
            });
        }
        Ok(())
    }
}

/// A gossiped peer: a hint to dial, never a membership claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PeerRecord {
    /// The peer's id.
    pub node_id: NodeId,
    /// Where the sender reaches it.
    pub addr: SocketAddr,
    /// Its role.
    pub role: NodeRole,
}
