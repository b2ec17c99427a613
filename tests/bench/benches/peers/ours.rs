//! Whole psionic nodes in memory, messages delivered in lockstep: every frame encoded,
//! authenticated, decoded and verified, every persist kept in a `MemoryDisk`.

use std::net::SocketAddr;

use psionic_core::memory_disk::MemoryDisk;
use psionic_core::{
    AdmissionToken, ClusterCommand, ClusterId, ClusterNamespace, ConsensusConfig, DiscoveryConfig, Input, Instant,
    Node, NodeConfig, NodeEpoch, NodeIdentity, NodeRole, Output, RoleKind, TrustPosture,
};

/// How frames are authenticated.
#[derive(Clone, Copy, Debug)]
pub enum Posture {
    /// HMAC-SHA-256 with the shared admission token.
    Mac,
    /// ed25519 signatures, every key pinned.
    Ed25519,
}

/// A cluster with an elected leader.
pub struct OursCluster {
    nodes: Vec<Node>,
    disks: Vec<MemoryDisk>,
    addrs: Vec<SocketAddr>,
    now: Instant,
    leader: usize,
    /// Frames delivered since the cluster was built.
    pub frames: u64,
}

pub fn identity(index: usize) -> NodeIdentity {
    NodeIdentity::new([index as u8 + 1; 32], NodeEpoch(1))
}

pub fn config(index: usize, size: usize, posture: Posture) -> NodeConfig {
    let namespace = ClusterNamespace::new("bench").unwrap();
    let posture = match posture {
        Posture::Mac => TrustPosture::TrustedLan {
            token: AdmissionToken::new(b"benchmark admission token".to_vec()).unwrap(),
            next: None,
        },
        Posture::Ed25519 => TrustPosture::ConfiguredPeers {
            peers: (0..size).map(|peer| identity(peer).public_key()).collect(),
        },
    };
    NodeConfig {
        cluster_id: ClusterId::derive(&namespace, b"genesis"),
        namespace,
        identity: identity(index),
        role: NodeRole::Both,
        posture,
        seeds: (0..size).filter(|peer| *peer != index).map(addr).collect(),
        discovery: DiscoveryConfig::default(),
        rng_seed: index as u64,
        stream_port: None,
        consensus: ConsensusConfig {
            initial_voters: (0..size)
                .map(|voter| (identity(voter).node_id(), NodeRole::Both))
                .collect(),
            snapshot_after_entries: u64::MAX / 2,
            snapshot_after_bytes: u64::MAX / 2,
            ..ConsensusConfig::default()
        },
        durable: Default::default(),
        binary: None,
    }
}

pub fn addr(index: usize) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, index as u8 + 1], 7400))
}

/// A 64-byte command.
pub fn command() -> ClusterCommand {
    ClusterCommand::SetPolicy {
        name: "bench".into(),
        document: vec![7; 64],
    }
}

impl OursCluster {
    /// `size` voters; returns once one leads and applied its first entry.
    pub fn new(size: usize, posture: Posture) -> Self {
        let mut cluster = Self {
            nodes: (0..size)
                .map(|index| Node::new(config(index, size, posture), Instant::ZERO).unwrap())
                .collect(),
            disks: vec![MemoryDisk::default(); size],
            addrs: (0..size).map(addr).collect(),
            now: Instant::ZERO,
            leader: 0,
            frames: 0,
        };
        loop {
            while cluster.pump() {}
            let leader = cluster.nodes.iter().position(|node| {
                node.consensus().role_kind() == RoleKind::Leader && node.consensus().state().applied_index >= 1
            });
            if let Some(leader) = leader {
                cluster.leader = leader;
                cluster.frames = 0;
                return cluster;
            }
            cluster.now = cluster.nodes.iter().filter_map(Node::poll_timeout).min().unwrap();
            let now = cluster.now;
            for node in &mut cluster.nodes {
                if node.poll_timeout().is_some_and(|at| at <= now) {
                    node.handle(now, Input::Timeout);
                }
            }
        }
    }

    /// Proposes `batch` commands at the leader and delivers messages in lockstep until
    /// the leader applied them.
    pub fn commit_batch(&mut self, batch: usize) {
        let leader = self.leader;
        let target = self.nodes[leader].consensus().log().last_index() + batch as u64;
        self.nodes[leader].propose_batch(self.now, vec![command(); batch]);
        while self.nodes[leader].consensus().state().applied_index < target {
            assert!(self.pump(), "the cluster stalled");
        }
    }

    /// One lockstep round: every node's outputs carried out, every frame delivered.
    /// Returns whether anything was delivered.
    fn pump(&mut self) -> bool {
        let mut in_flight = Vec::new();
        for (index, node) in self.nodes.iter_mut().enumerate() {
            while let Some(output) = node.poll_output() {
                match output {
                    Output::Transmit(transmit) => in_flight.push((self.addrs[index], transmit)),
                    Output::Event(_) => {}
                    persist => self.disks[index].persist(&persist),
                }
            }
        }
        let delivered = !in_flight.is_empty();
        for (from, transmit) in in_flight {
            let Some(target) = self.addrs.iter().position(|addr| *addr == transmit.to) else {
                continue;
            };
            let input = Input::delivered(from, transmit);
            self.nodes[target].handle(self.now, input);
            self.frames += 1;
        }
        delivered
    }
}
