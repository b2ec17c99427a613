//! Psionic consensus driven on its own, in the harness shape of raft-rs's `RawNode`:
//! messages handed over in lockstep as values, every persist kept in a `MemoryDisk`,
//! every committed entry applied to the cluster state on every node.

use psionic_core::consensus::{Consensus, Effect};
use psionic_core::memory_disk::MemoryDisk;
use psionic_core::{ConsensusConfig, Durable, Instant, NodeId, Output, RoleKind};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

use crate::ours::{command, config};

/// A cluster with an elected leader.
pub struct ConsensusCluster {
    nodes: Vec<Consensus>,
    ids: Vec<NodeId>,
    disks: Vec<MemoryDisk>,
    now: Instant,
    leader: usize,
}

impl ConsensusCluster {
    /// `size` voters; returns once one leads and applied its first entry.
    pub fn new(size: usize) -> Self {
        let configs: Vec<_> = (0..size)
            .map(|index| config(index, size, crate::ours::Posture::Mac))
            .collect();
        let nodes = configs
            .iter()
            .map(|node| {
                let identity = (node.identity.node_id(), node.identity.epoch(), node.cluster_id);
                let consensus: ConsensusConfig = node.consensus.clone();
                let rng = ChaCha8Rng::seed_from_u64(node.rng_seed);
                Consensus::new(identity, consensus, Durable::default(), rng, Instant::ZERO).unwrap()
            })
            .collect();
        let mut cluster = Self {
            nodes,
            ids: configs.iter().map(|node| node.identity.node_id()).collect(),
            disks: vec![MemoryDisk::default(); size],
            now: Instant::ZERO,
            leader: 0,
        };
        loop {
            while cluster.pump() {}
            let leader = cluster
                .nodes
                .iter()
                .position(|node| node.role_kind() == RoleKind::Leader && node.state().applied_index >= 1);
            if let Some(leader) = leader {
                cluster.leader = leader;
                return cluster;
            }
            cluster.now = cluster.nodes.iter().filter_map(Consensus::poll_timeout).min().unwrap();
            let now = cluster.now;
            for node in &mut cluster.nodes {
                node.handle_timeout(now);
            }
        }
    }

    /// Proposes `batch` commands at the leader and delivers messages in lockstep until
    /// the leader applied them.
    pub fn commit_batch(&mut self, batch: usize) {
        let leader = self.leader;
        let target = self.nodes[leader].log().last_index() + batch as u64;
        let origin = psionic_core::state::Origin::operator("bench", &command());
        self.nodes[leader].propose(self.now, vec![(origin, command()); batch]);
        while self.nodes[leader].state().applied_index < target {
            assert!(self.pump(), "the cluster stalled");
        }
    }

    /// One lockstep round: every node's effects carried out, every message delivered.
    /// Returns whether anything was delivered.
    fn pump(&mut self) -> bool {
        let mut in_flight = Vec::new();
        for (index, node) in self.nodes.iter_mut().enumerate() {
            for effect in node.drain_effects() {
                match effect {
                    Effect::Send { to, message } => in_flight.push((self.ids[index], to, message)),
                    Effect::PersistHardState(hard_state) => {
                        self.disks[index].persist(&Output::PersistHardState(hard_state))
                    }
                    Effect::PersistEntries { first_index, entries } => {
                        self.disks[index].persist(&Output::PersistEntries { first_index, entries })
                    }
                    Effect::PersistSnapshot(snapshot) => self.disks[index].persist(&Output::PersistSnapshot(snapshot)),
                    Effect::Event(_) | Effect::Refuse(_) => {}
                }
            }
        }
        let delivered = !in_flight.is_empty();
        for (from, to, message) in in_flight {
            let Some(target) = self.ids.iter().position(|id| *id == to) else {
                continue;
            };
            self.nodes[target].step(self.now, from, message);
        }
        delivered
    }
}
