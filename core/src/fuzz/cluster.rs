//! An in-memory cluster of 3 to 5 real cores driven by fuzz input: deliver, drop,
//! duplicate or reorder a message, fire timers, crash and restart a node, propose.
//! The safety invariants are checked after every operation.

use core::net::SocketAddr;

use super::Draw;
use super::invariants::Invariants;
use crate::config::{DiscoveryConfig, NodeConfig};
use crate::consensus::ConsensusConfig;
use crate::identity::{AdmissionToken, ClusterId, ClusterNamespace, NodeEpoch, NodeIdentity, NodeRole};
use crate::io::{Input, Output, Transmit};
use crate::memory_disk::MemoryDisk;
use crate::node::Node;
use crate::state::ClusterCommand;
use crate::time::{Instant, ms};
use crate::wire::TrustPosture;

/// Most messages kept in flight; older ones are dropped first.
const IN_FLIGHT_MAX: usize = 256;

pub(super) struct Member {
    pub node: Option<Node>,
    pub disk: MemoryDisk,
    pub epoch: u64,
}

pub(super) struct Cluster {
    pub now: Instant,
    pub members: Vec<Member>,
    addrs: Vec<SocketAddr>,
    in_flight: Vec<(SocketAddr, Transmit)>,
    invariants: Invariants,
    /// Serving outputs (jobs to run or stop, events) by node, since last taken.
    pub served: Vec<(usize, Output)>,
}

/// Runs the operations `bytes` encode; panics on a broken invariant. Returns the
/// highest commit index any node reached.
pub fn core_sequence(bytes: &[u8]) -> u64 {
    let mut draw = Draw::new(bytes);
    let size = 3 + draw.below(3);
    let mut cluster = Cluster::new(size);
    let mut commit_index_max = 0;
    while !draw.is_empty() {
        cluster.step(&mut draw);
        cluster.served.clear();
        cluster.check();
        let highest = cluster.live_nodes().map(|node| node.consensus().commit_index()).max();
        commit_index_max = commit_index_max.max(highest.unwrap_or(0));
    }
    commit_index_max
}

fn config(index: usize, size: usize, epoch: u64, disk: &MemoryDisk) -> NodeConfig {
    let namespace = ClusterNamespace::new("fuzz").expect("valid namespace");
    let voters = (0..size)
        .map(|voter| (identity(voter, 0).node_id(), NodeRole::Both))
        .collect();
    let token = AdmissionToken::new(b"fuzzing admission token".to_vec()).expect("long enough");
    NodeConfig {
        cluster_id: ClusterId::derive(&namespace, b"genesis"),
        namespace,
        identity: identity(index, epoch),
        role: NodeRole::Both,
        posture: TrustPosture::TrustedLan { token, next: None },
        seeds: (0..size).filter(|other| *other != index).map(addr).collect(),
        discovery: DiscoveryConfig::default(),
        rng_seed: index as u64,
        stream_port: None,
        consensus: ConsensusConfig {
            initial_voters: voters,
            snapshot_after_entries: 8,
            snapshot_chunk_bytes: 64,
            ..ConsensusConfig::default()
        },
        durable: disk.durable(),
        binary: None,
    }
}

fn identity(index: usize, epoch: u64) -> NodeIdentity {
    NodeIdentity::new([index as u8 + 1; 32], NodeEpoch(epoch))
}

fn addr(index: usize) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, index as u8 + 1], 7400))
}

impl Cluster {
    pub fn new(size: usize) -> Self {
        let members = (0..size)
            .map(|index| {
                let disk = MemoryDisk::default();
                let node = Node::new(config(index, size, 1, &disk), Instant::ZERO).expect("valid configuration");
                Member {
                    node: Some(node),
                    disk,
                    epoch: 1,
                }
            })
            .collect();
        let mut cluster = Self {
            now: Instant::ZERO,
            members,
            addrs: (0..size).map(addr).collect(),
            in_flight: Vec::new(),
            invariants: Invariants::default(),
            served: Vec::new(),
        };
        cluster.drain();
        cluster
    }

    pub fn step(&mut self, draw: &mut Draw<'_>) {
        let size = self.members.len();
        match draw.u8() % 8 {
            0 | 1 => self.deliver(draw.below(self.in_flight.len())),
            2 => {
                if !self.in_flight.is_empty() {
                    self.in_flight.remove(draw.below(self.in_flight.len()));
                }
            }
            3 => {
                if let Some(packet) = self.in_flight.get(draw.below(self.in_flight.len())).cloned() {
                    self.in_flight.push(packet);
                }
            }
            4 => self.fire_timers(),
            5 => self.advance(u64::from(draw.u8()) * 10),
            6 => self.crash_or_restart(draw.below(size)),
            _ => self.propose(draw.below(size), draw.u8()),
        }
        self.drain();
    }

    /// Messages in flight.
    pub fn in_flight_len(&self) -> usize {
        self.in_flight.len()
    }

    pub fn deliver(&mut self, at: usize) {
        if at >= self.in_flight.len() {
            return;
        }
        let (from, transmit) = self.in_flight.remove(at);
        let Some(target) = self.addrs.iter().position(|addr| *addr == transmit.to) else {
            return;
        };
        let now = self.now;
        if let Some(node) = self.members[target].node.as_mut() {
            let input = Input::delivered(from, transmit);
            node.handle(now, input);
        }
    }

    /// Delivers every message in flight, oldest first, and those they cause, up to
    /// `most` deliveries.
    pub fn deliver_all(&mut self, most: usize) {
        self.drain();
        for _ in 0..most {
            if self.in_flight.is_empty() {
                return;
            }
            self.deliver(0);
            self.drain();
        }
    }

    /// Jumps to the earliest deadline and fires every timer due.
    pub fn fire_timers(&mut self) {
        let earliest = self.live_nodes().filter_map(Node::poll_timeout).min();
        if let Some(at) = earliest {
            self.now = self.now.max(at);
            self.handle_due_timers();
        }
    }

    fn advance(&mut self, by_ms: u64) {
        self.now = self.now + ms(by_ms);
        self.handle_due_timers();
    }

    fn handle_due_timers(&mut self) {
        let now = self.now;
        for node in self.members.iter_mut().filter_map(|member| member.node.as_mut()) {
            if node.poll_timeout().is_some_and(|at| at <= now) {
                node.handle(now, Input::Timeout);
            }
        }
    }

    pub fn crash_or_restart(&mut self, index: usize) {
        let size = self.members.len();
        let member = &mut self.members[index];
        if member.node.take().is_some() {
            return;
        }
        member.epoch += 1;
        let config = config(index, size, member.epoch, &member.disk);
        member.node = Some(Node::new(config, self.now).expect("a persisted state restarts"));
    }

    fn propose(&mut self, index: usize, value: u8) {
        let now = self.now;
        if let Some(node) = self.members[index].node.as_mut() {
            let command = ClusterCommand::SetPolicy {
                name: "fuzz".into(),
                document: vec![value],
            };
            node.propose(now, command);
        }
    }

    /// Carries out every output: persists at once, transmits into the network.
    pub fn drain(&mut self) {
        for (index, member) in self.members.iter_mut().enumerate() {
            let Some(node) = member.node.as_mut() else { continue };
            while let Some(output) = node.poll_output() {
                match output {
                    Output::Transmit(transmit) => self.in_flight.push((self.addrs[index], transmit)),
                    served @ (Output::Event(_) | Output::RunJob(_) | Output::StopJob { .. }) => {
                        self.served.push((index, served));
                    }
                    persist => member.disk.persist(&persist),
                }
            }
        }
        let excess = self.in_flight.len().saturating_sub(IN_FLIGHT_MAX);
        self.in_flight.drain(..excess);
    }

    pub fn live_nodes(&self) -> impl Iterator<Item = &Node> {
        self.members.iter().filter_map(|member| member.node.as_ref())
    }

    pub fn check(&mut self) {
        let nodes: Vec<&Node> = self.members.iter().filter_map(|member| member.node.as_ref()).collect();
        let disks: Vec<&MemoryDisk> = self.members.iter().map(|member| &member.disk).collect();
        self.invariants.check(&nodes, &disks);
    }
}

#[cfg(test)]
mod tests {
    use super::core_sequence;

    /// Fire timers, then deliver the oldest message twenty times; `rounds` times.
    fn rounds(rounds: usize) -> Vec<u8> {
        let round = std::iter::once(4).chain([0, 0, 0].repeat(20));
        round.cycle().take(rounds * 61).collect()
    }

    #[test]
    fn a_scripted_sequence_elects_commits_and_survives_a_crash() {
        let mut script = vec![0, 0];
        script.extend(rounds(40));
        for node in 0..3 {
            script.extend([7, node, 0, 42]);
        }
        script.extend(rounds(20));
        let committed = core_sequence(&script);
        assert!(
            committed >= 2,
            "a leader's no-op and a proposal commit (got {committed})"
        );
        for node in 0..3 {
            script.extend([6, node, 0]);
            script.extend(rounds(30));
            script.extend([6, node, 0]);
        }
        for node in 0..3 {
            script.extend([7, node, 0, 43]);
        }
        script.extend(rounds(30));
        assert!(
            core_sequence(&script) > committed,
            "commits go on after crashes and restarts"
        );
    }
}
