//! Control messages carried inside an envelope.

use core::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::DecodeError;
use crate::consensus::RaftMessage;
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
}

impl Message {
    /// Checks the limits postcard cannot express.
    pub fn validate(&self) -> Result<(), DecodeError> {
        match self {
            Message::Hello(hello) | Message::HelloAck(hello) => hello.validate(),
            Message::Raft(message) => message
                .within_limits()
                .map_err(|(len, max)| DecodeError::TooManyItems { len, max }),
        }
    }
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
}

impl Hello {
    fn validate(&self) -> Result<(), DecodeError> {
        if self.peers.len() > GOSSIP_PEERS_MAX {
            return Err(DecodeError::TooManyItems {
                len: self.peers.len(),
                max: GOSSIP_PEERS_MAX,
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
