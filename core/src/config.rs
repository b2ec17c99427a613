//! Configuration of one node's core. Built by the driver (from a file or a scenario);
//! the core only validates it.

use core::net::SocketAddr;

use crate::consensus::{ConsensusConfig, Durable, SnapshotFault};
use crate::digest::Digest;
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

/// Discovery timing and limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiscoveryConfig {
    /// Time between probes of a healthy peer.
    pub probe_interval_ms: u64,
    /// Missed probes after which a peer is degraded.
    pub degraded_after_missed_probes: u32,
    /// Missed probes after which a peer is unreachable (and dialled with backoff).
    pub unreachable_after_missed_probes: u32,
    /// Silence after which a peer is dropped from the peer table.
    pub peer_expiry_ms: u64,
    /// Cap of the dial backoff for unreachable peers and silent seeds.
    pub dial_backoff_ms_max: u64,
    /// Most peers gossiped in one hello.
    pub gossip_peers_max: usize,
    /// Most gossiped addresses waiting to be dialled.
    pub dial_candidates_max: usize,
    /// Most authenticated senders that are not members tracked at once (replay
    /// windows and peer table); a new one past the cap is refused until one expires.
    pub non_member_senders_max: usize,
    /// Time between two bandwidth probes of a peer on its stream.
    pub link_probe_interval_ms: u64,
    /// Frames in one bandwidth probe (0: links are not probed for bandwidth).
    pub link_probe_frames: u16,
    /// Filler bytes in each frame of a bandwidth probe, at most
    /// [`crate::wire::LINK_PROBE_PAYLOAD_BYTES_MAX`].
    pub link_probe_frame_bytes: u32,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        Self {
            probe_interval_ms: 500,
            degraded_after_missed_probes: 2,
            unreachable_after_missed_probes: 4,
            peer_expiry_ms: 60_000,
            dial_backoff_ms_max: 8_000,
            gossip_peers_max: 32,
            dial_candidates_max: 256,
            non_member_senders_max: 256,
            link_probe_interval_ms: 30_000,
            link_probe_frames: 8,
            link_probe_frame_bytes: crate::wire::LINK_PROBE_PAYLOAD_BYTES_MAX as u32,
        }
    }
}

/// A configuration value that breaks a rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A value is below its minimum.
    #[error("{field} is {value}, the minimum is {min}")]
    TooSmall {
        /// Field name.
        field: &'static str,
        /// Value given.
        value: u64,
        /// Minimum.
        min: u64,
    },
    /// A value is above its maximum.
    #[error("{field} is {value}, the maximum is {max}")]
    TooLarge {
        /// Field name.
        field: &'static str,
        /// Value given.
        value: u64,
        /// Maximum.
        max: u64,
    },
    /// The recovered snapshot does not verify.
    #[error("recovered snapshot is corrupt: {fault}")]
    Snapshot {
        /// What is wrong with it.
        fault: SnapshotFault,
    },
    /// The configured genesis voters are not those of the cluster this node's data
    /// records (its state came from them, or from its cluster's leader).
    #[error(
        "consensus.initial_voters give genesis {configured}, but this node's data records genesis {recorded:?}: list the voters the cluster was founded with, or none"
    )]
    GenesisMismatch {
        /// Digest of the configured voters.
        configured: Digest,
        /// Digest recorded in the data directory.
        recorded: Option<Digest>,
    },
    /// A node with no seeds, no genesis voters and no data has no cluster to join, and
    /// its role cannot found one.
    #[error("no seeds and no initial voters: a {role:?} node cannot found a cluster alone; give it a seed")]
    NoClusterToJoin {
        /// Its role.
        role: NodeRole,
    },
    /// Two values are in the wrong order.
    #[error("{smaller} ({smaller_value}) must be less than {larger} ({larger_value})")]
    Order {
        /// Field that must be smaller.
        smaller: &'static str,
        /// Its value.
        smaller_value: u64,
        /// Field that must be larger.
        larger: &'static str,
        /// Its value.
        larger_value: u64,
    },
}

impl ConsensusConfig {
    /// Checks the rules between fields.
    pub fn validate(&self) -> Result<(), ConfigError> {
        at_least("consensus.heartbeat_interval_ms", self.heartbeat_interval_ms, 1)?;
        at_least("consensus.append_entries_max", self.append_entries_max as u64, 1)?;
        at_most(
            "consensus.append_entries_max",
            self.append_entries_max as u64,
            crate::limits::APPEND_ENTRIES_MAX as u64,
        )?;
        at_least("consensus.append_bytes_max", self.append_bytes_max as u64, 1)?;
        at_most(
            "consensus.append_bytes_max",
            self.append_bytes_max as u64,
            crate::limits::ENTRY_BYTES_MAX as u64,
        )?;
        at_least("consensus.snapshot_chunk_bytes", self.snapshot_chunk_bytes as u64, 1)?;
        at_most(
            "consensus.snapshot_chunk_bytes",
            self.snapshot_chunk_bytes as u64,
            crate::limits::SNAPSHOT_CHUNK_BYTES_MAX as u64,
        )?;
        ordered(
            ("consensus.heartbeat_interval_ms", self.heartbeat_interval_ms),
            ("consensus.election_timeout_ms_min", self.election_timeout_ms_min),
        )?;
        ordered(
            ("consensus.election_timeout_ms_min", self.election_timeout_ms_min),
            ("consensus.election_timeout_ms_max", self.election_timeout_ms_max),
        )
    }
}

impl DiscoveryConfig {
    /// Checks the rules between fields.
    pub fn validate(&self) -> Result<(), ConfigError> {
        at_least("discovery.probe_interval_ms", self.probe_interval_ms, 10)?;
        at_least(
            "discovery.degraded_after_missed_probes",
            self.degraded_after_missed_probes.into(),
            1,
        )?;
        at_least("discovery.gossip_peers_max", self.gossip_peers_max as u64, 1)?;
        at_least("discovery.link_probe_interval_ms", self.link_probe_interval_ms, 100)?;
        at_least(
            "discovery.link_probe_frame_bytes",
            self.link_probe_frame_bytes.into(),
            1,
        )?;
        at_most(
            "discovery.link_probe_frame_bytes",
            self.link_probe_frame_bytes.into(),
            crate::wire::LINK_PROBE_PAYLOAD_BYTES_MAX as u64,
        )?;
        ordered(
            (
                "discovery.degraded_after_missed_probes",
                self.degraded_after_missed_probes.into(),
            ),
            (
                "discovery.unreachable_after_missed_probes",
                self.unreachable_after_missed_probes.into(),
            ),
        )?;
        ordered(
            ("discovery.probe_interval_ms", self.probe_interval_ms),
            ("discovery.dial_backoff_ms_max", self.dial_backoff_ms_max + 1),
        )?;
        let unreachable_ms = self.probe_interval_ms * u64::from(self.unreachable_after_missed_probes);
        ordered(
            ("probe_interval_ms x unreachable_after_missed_probes", unreachable_ms),
            ("discovery.peer_expiry_ms", self.peer_expiry_ms),
        )
    }
}

fn at_least(field: &'static str, value: u64, min: u64) -> Result<(), ConfigError> {
    if value < min {
        return Err(ConfigError::TooSmall { field, value, min });
    }
    Ok(())
}

fn at_most(field: &'static str, value: u64, max: u64) -> Result<(), ConfigError> {
    if value > max {
        return Err(ConfigError::TooLarge { field, value, max });
    }
    Ok(())
}

fn ordered(smaller: (&'static str, u64), larger: (&'static str, u64)) -> Result<(), ConfigError> {
    if smaller.1 >= larger.1 {
        return Err(ConfigError::Order {
            smaller: smaller.0,
            smaller_value: smaller.1,
            larger: larger.0,
            larger_value: larger.1,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(DiscoveryConfig::default().validate(), Ok(()));
    }

    #[test]
    fn bandwidth_probe_frames_hold_one_to_the_frame_maximum_of_filler() {
        let with_bytes = |link_probe_frame_bytes| DiscoveryConfig {
            link_probe_frame_bytes,
            ..DiscoveryConfig::default()
        };
        let max = crate::wire::LINK_PROBE_PAYLOAD_BYTES_MAX as u64;
        assert_eq!(with_bytes(1).validate(), Ok(()));
        assert_eq!(with_bytes(max as u32).validate(), Ok(()));
        assert_eq!(
            with_bytes(0).validate(),
            Err(ConfigError::TooSmall {
                field: "discovery.link_probe_frame_bytes",
                value: 0,
                min: 1
            })
        );
        assert_eq!(
            with_bytes(max as u32 + 1).validate(),
            Err(ConfigError::TooLarge {
                field: "discovery.link_probe_frame_bytes",
                value: max + 1,
                max
            })
        );
    }

    #[test]
    fn thresholds_must_be_ordered() {
        let config = DiscoveryConfig {
            unreachable_after_missed_probes: 2,
            ..DiscoveryConfig::default()
        };
        assert!(matches!(
            config.validate(),
            Err(ConfigError::Order {
                smaller: "discovery.degraded_after_missed_probes",
                ..
            })
        ));
        let config = DiscoveryConfig {
            peer_expiry_ms: 1_000,
            ..DiscoveryConfig::default()
        };
        assert!(matches!(
            config.validate(),
            Err(ConfigError::Order {
                larger: "discovery.peer_expiry_ms",
                ..
            })
        ));
    }
}
