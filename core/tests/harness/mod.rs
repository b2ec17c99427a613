//! A tiny in-memory stepping harness: N real cores, a virtual clock that jumps to the
//! earliest deadline, configurable loss and partitions, and a record of every event.

#![allow(dead_code)]

use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;

use psionic_core::{
    AdmissionToken, ClusterId, ClusterNamespace, DiscoveryConfig, Event, Input, Instant, Node, NodeConfig, NodeEpoch,
    NodeIdentity, NodeRole, Output, TrustPosture,
};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// The token every honest harness node holds.
pub const TOKEN: &[u8] = b"harness admission token";

/// One datagram on the simulated wire.
#[derive(Clone, Debug)]
pub struct Packet {
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub bytes: Vec<u8>,
}

pub struct Harness {
    pub now: Instant,
    pub nodes: Vec<Node>,
    pub addrs: Vec<SocketAddr>,
    pub configs: Vec<NodeConfig>,
    pub events: Vec<(usize, Instant, Event)>,
    /// Every packet ever sent, for replay tests.
    pub sent: Vec<Packet>,
    in_flight: VecDeque<Packet>,
    /// Directed links that drop everything: (from, to) node indexes.
    blocked: BTreeSet<(usize, usize)>,
    /// Probability of loss in parts per million.
    pub loss_ppm: u32,
    rng: ChaCha8Rng,
}

pub fn addr(index: usize) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, index as u8 + 1], 7400))
}

pub fn namespace() -> ClusterNamespace {
    ClusterNamespace::new("lab").unwrap()
}

/// Config of honest node `index` of a cluster whose nodes are seeded with node 0 only.
pub fn config(index: usize, epoch: u64) -> NodeConfig {
    NodeConfig {
        namespace: namespace(),
        cluster_id: ClusterId::derive(&namespace(), b"genesis"),
        identity: NodeIdentity::new([index as u8 + 1; 32], NodeEpoch(epoch)),
        role: NodeRole::Both,
        posture: TrustPosture::TrustedLan {
            token: AdmissionToken::new(TOKEN.to_vec()).unwrap(),
        },
        seeds: if index == 0 { vec![] } else { vec![addr(0)] },
        discovery: DiscoveryConfig::default(),
        rng_seed: index as u64,
    }
}

impl Harness {
    pub fn new(configs: Vec<NodeConfig>, seed: u64) -> Self {
        let addrs = (0..configs.len()).map(addr).collect();
        let nodes = configs
            .iter()
            .map(|config| Node::new(config.clone(), Instant::ZERO).unwrap())
            .collect();
        Self {
            now: Instant::ZERO,
            nodes,
            addrs,
            configs,
            events: Vec::new(),
            sent: Vec::new(),
            in_flight: VecDeque::new(),
            blocked: BTreeSet::new(),
            loss_ppm: 0,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// `count` honest nodes, every one seeded with node 0.
    pub fn cluster(count: usize) -> Self {
        Self::new((0..count).map(|index| config(index, 1)).collect(), 7)
    }

    pub fn index_of(&self, addr: SocketAddr) -> Option<usize> {
        self.addrs.iter().position(|candidate| *candidate == addr)
    }

    /// Runs until the virtual clock passes `until_ms`.
    pub fn run_until_ms(&mut self, until_ms: u64) {
        let until = Instant::from_millis(until_ms);
        loop {
            self.drain_outputs();
            if let Some(packet) = self.in_flight.pop_front() {
                self.deliver(packet);
                continue;
            }
            let Some(next) = self.nodes.iter().filter_map(Node::poll_timeout).min() else {
                break;
            };
            if next > until {
                break;
            }
            self.now = self.now.max(next);
            for node in &mut self.nodes {
                if node.poll_timeout().is_some_and(|at| at <= self.now) {
                    node.handle(self.now, Input::Timeout);
                }
            }
        }
        self.now = self.now.max(until);
    }

    /// Delivers raw bytes to node `to` as if sent from `from`.
    pub fn inject(&mut self, from: SocketAddr, to: usize, bytes: Vec<u8>) {
        self.nodes[to].handle(self.now, Input::Datagram { from, bytes });
        self.drain_outputs();
    }

    pub fn isolate(&mut self, index: usize) {
        for other in 0..self.nodes.len() {
            if other != index {
                self.blocked.insert((index, other));
                self.blocked.insert((other, index));
            }
        }
    }

    pub fn heal(&mut self) {
        self.blocked.clear();
    }

    /// Replaces node `index` by a fresh core with the same key and `epoch`.
    pub fn restart(&mut self, index: usize, epoch: u64) {
        let mut config = self.configs[index].clone();
        config.identity = NodeIdentity::new([index as u8 + 1; 32], NodeEpoch(epoch));
        self.nodes[index] = Node::new(config, self.now).unwrap();
    }

    pub fn events_of(&self, index: usize) -> impl Iterator<Item = &Event> {
        self.events
            .iter()
            .filter(move |(node, _, _)| *node == index)
            .map(|(_, _, event)| event)
    }

    fn drain_outputs(&mut self) {
        for (index, node) in self.nodes.iter_mut().enumerate() {
            while let Some(output) = node.poll_output() {
                match output {
                    Output::Transmit(transmit) => {
                        let packet = Packet {
                            from: self.addrs[index],
                            to: transmit.to,
                            bytes: transmit.bytes,
                        };
                        self.sent.push(packet.clone());
                        self.in_flight.push_back(packet);
                    }
                    Output::Event(event) => self.events.push((index, self.now, event)),
                }
            }
        }
    }

    fn deliver(&mut self, packet: Packet) {
        let (Some(from), Some(to)) = (self.index_of(packet.from), self.index_of(packet.to)) else {
            return;
        };
        let lost = self.loss_ppm > 0 && (self.rng.next_u32() % 1_000_000) < self.loss_ppm;
        if lost || self.blocked.contains(&(from, to)) {
            return;
        }
        self.nodes[to].handle(
            self.now,
            Input::Datagram {
                from: packet.from,
                bytes: packet.bytes,
            },
        );
    }
}
