//! Configuration of one node's core. Built by the driver (from a file or a scenario);
//! the core only validates it.

use core::net::SocketAddr;

pub use crate::discovery::DiscoveryConfig;

use crate::bounds::BoundError;
use crate::consensus::{ConsensusConfig, Durable, RecoveryError};
use crate::identity::{ClusterId, ClusterNamespace, NodeIdentity, NodeRole};
use crate::wire::TrustPosture;

/// Everything a core needs to start.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Cluster namespace.
    pub namespace: ClusterNamespace,
    /// Cluster id (derived from the namespace and genesis).
    pub cluster_id: ClusterId,
    /// This node's key, id and current epoch (already advanced and persisted).
    pub identity: NodeIdentity,
    /// This node's role.
    pub role: NodeRole,
    /// Who may speak and how they prove it.
    pub posture: TrustPosture,
    /// Discovery addresses to probe until they answer (and with backoff after).
    pub seeds: Vec<SocketAddr>,
    /// Port of this node's peer-stream listener on its discovery IP, if it has one;
    /// consensus traffic then travels on streams.
    pub stream_port: Option<u16>,
    /// Discovery timing and limits.
    pub discovery: DiscoveryConfig,
    /// Seed of this node's ChaCha streams (jitter, backoff, election timeouts).
    pub rng_seed: u64,
    /// Consensus timing, limits and genesis voters.
    pub consensus: ConsensusConfig,
    /// Consensus state recovered from disk (empty on first start).
    pub durable: Durable,
    /// The SHA-256 of the executable this node runs, carried in its hellos (none: not
    /// measured; a leader with an allowlist of binaries then never admits it).
    pub binary: Option<crate::attestation::BinaryDigest>,
}

/// Why a node cannot start under its configuration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A value breaks its bounds.
    #[error(transparent)]
    Bound(#[from] BoundError),
    /// The recorded consensus data does not recover under this configuration.
    #[error(transparent)]
    Recovery(#[from] RecoveryError),
    /// A node with no seeds, no genesis voters and no data has no cluster to join, and
    /// its role cannot found one.
    #[error("no seeds and no initial voters: a {role:?} node cannot found a cluster alone; give it a seed")]
    NoClusterToJoin {
        /// Its role.
        role: NodeRole,
    },
}
