//! A tiny in-memory stepping harness: N real cores, a virtual clock that jumps to the
//! earliest deadline, configurable loss, reordering, duplication and partitions, crashes
//! (also between a persist and the sends after it), and a record of every event.

#![allow(dead_code)]

pub mod checks;
pub mod keys;
pub mod serving;
pub mod staging;

use psionic_core::ConsensusEvent;
use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;

use psionic_core::memory_disk::MemoryDisk;
use psionic_core::wire::{AuthKind, Authenticator, Body, Message, Recipient, Seal, Sealed, encode_frame};
use psionic_core::{
    AdmissionToken, ClusterCommand, ClusterId, ClusterNamespace, ConsensusConfig, DiscoveryConfig, Durable, Event,
    Input, Instant, Node, NodeConfig, NodeEpoch, NodeId, NodeIdentity, NodeRole, Output, TransportClass, TrustPosture,
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
    pub class: TransportClass,
    pub bytes: Vec<u8>,
    /// What the sender said its tag covers.
    pub authenticated_len: usize,
}

/// What a node made durable: survives `restart`.
pub type Disk = MemoryDisk;

/// Longest a reordered packet is held back, in milliseconds (a heartbeat is 100 ms:
/// packets sent after it, and elections, overtake it).
pub const REORDER_HOLD_MS_MAX: u64 = 300;

/// How often each network fault fired.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Packets dropped by `loss_ppm`.
    pub lost: u64,
    /// Packets held back by `reorder_ppm`.
    pub reordered: u64,
    /// Packets copied by `duplicate_ppm`.
    pub duplicated: u64,
}

/// A crash that cut one `handle` call's outputs short (see
/// [`Harness::crash_after_persist`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrashCut {
    /// The node that crashed.
    pub node: usize,
    /// When.
    pub at: Instant,
    /// Persist outputs carried out before the crash.
    pub persists: usize,
    /// Outputs dropped: transmits, events and later persists.
    pub dropped: usize,
    /// Transmits among them.
    pub dropped_transmits: usize,
}

/// A job order a node gave its executor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobOrder {
    /// Run it.
    Run(psionic_core::serving::Job),
    /// Stop the job of this request.
    Stop(psionic_core::RequestId),
}

pub struct Harness {
    pub now: Instant,
    pub disks: Vec<Disk>,
    /// Each node's artifact disk, answering its staging work at once.
    pub artifact_disks: Vec<psionic_core::staging::MemoryArtifacts>,
    /// Chunk writes each node's artifact disk carries out before it stalls (none:
    /// no limit); stalled writes wait in `staging_stalled`.
    pub staging_writes_left: Vec<Option<u32>>,
    /// Staging work a stalled disk has not carried out, by node.
    pub staging_stalled: Vec<(usize, psionic_core::staging::StagingIo)>,
    /// Nodes that are crashed: they neither send nor receive.
    pub down: BTreeSet<usize>,
    pub nodes: Vec<Node>,
    pub addrs: Vec<SocketAddr>,
    pub configs: Vec<NodeConfig>,
    pub events: Vec<(usize, Instant, Event)>,
    /// Jobs each node was told to run or stop, in order (the test plays the executor).
    pub jobs: Vec<(usize, JobOrder)>,
    /// Every packet ever sent, for replay tests.
    pub sent: Vec<Packet>,
    in_flight: VecDeque<Packet>,
    /// Directed links that drop everything: (from, to) node indexes.
    blocked: BTreeSet<(usize, usize)>,
    /// Probability of loss in parts per million.
    pub loss_ppm: u32,
    /// Probability (parts per million) that a packet is held back for up to
    /// [`REORDER_HOLD_MS_MAX`], so that packets sent after it arrive first.
    pub reorder_ppm: u32,
    /// Probability (parts per million) that a packet is delivered twice: the copy
    /// arrives after the packets already in flight.
    pub duplicate_ppm: u32,
    /// How often loss, reordering and duplication fired.
    pub faults: FaultCounts,
    /// Crashes that cut a node's outputs after a persist, in order.
    pub crash_cuts: Vec<CrashCut>,
    /// Packets held back by reordering, with the instant they arrive.
    held: Vec<(Instant, Packet)>,
    /// The armed crash cut: node and persists carried out before it.
    armed_cut: Option<(usize, usize)>,
    rng: ChaCha8Rng,
}

pub fn addr(index: usize) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, index as u8 + 1], 7400))
}

pub fn namespace() -> ClusterNamespace {
    ClusterNamespace::new("lab").unwrap()
}

/// The harness cluster's id.
pub fn cluster_id() -> ClusterId {
    ClusterId::derive(&namespace(), b"genesis")
}

/// `identity`'s authenticator under the trusted-LAN posture with the harness token.
pub fn lan_authenticator(identity: &NodeIdentity) -> Authenticator {
    let token = AdmissionToken::new(TOKEN.to_vec()).unwrap();
    Authenticator::new(&TrustPosture::TrustedLan { token, next: None }, cluster_id(), identity)
}

/// A datagram carrying `message` from `identity` to harness node `to` (epoch 1),
/// MAC'd with the key the two share under the harness token.
pub fn sealed(identity: &NodeIdentity, to: usize, counter: u64, message: Message) -> Vec<u8> {
    sealed_for(identity, to, TransportClass::Datagram, counter, message)
}

/// The identity of harness node `index` in its first life.
pub fn identity(index: usize) -> NodeIdentity {
    NodeIdentity::new([index as u8 + 1; 32], NodeEpoch(1))
}

/// A frame for `transport` carrying `message` from `identity` to harness node `to`
/// (epoch 1), MAC'd with the key the two share under the harness token.
pub fn sealed_for(
    identity: &NodeIdentity,
    to: usize,
    transport: TransportClass,
    counter: u64,
    message: Message,
) -> Vec<u8> {
    let recipient = self::identity(to);
    let sealed = Sealed {
        counter,
        transport,
        auth_kind: AuthKind::Mac,
    };
    let body = Body::new(cluster_id(), identity, Some(Recipient::of(&recipient)), sealed, message);
    encode_frame(&body, &mut lan_authenticator(identity), Seal::to(&recipient)).unwrap()
}

/// Honest nodes a harness cluster may hold: all of them are admitted without an
/// operator, as a manifest's nodes are.
pub const HONEST_NODES_MAX: usize = 32;

/// Config of honest node `index` of a cluster whose nodes are seeded with node 0 only.
pub fn config(index: usize, epoch: u64) -> NodeConfig {
    NodeConfig {
        namespace: namespace(),
        cluster_id: ClusterId::derive(&namespace(), b"genesis"),
        identity: NodeIdentity::new([index as u8 + 1; 32], NodeEpoch(epoch)),
        role: NodeRole::Both,
        posture: TrustPosture::TrustedLan {
            token: AdmissionToken::new(TOKEN.to_vec()).unwrap(),
            next: None,
        },
        seeds: if index == 0 { vec![] } else { vec![addr(0)] },
        discovery: DiscoveryConfig::default(),
        rng_seed: index as u64,
        stream_port: None,
        consensus: ConsensusConfig {
            admit_only: (0..HONEST_NODES_MAX).map(node_id).collect(),
            ..ConsensusConfig::default()
        },
        durable: Durable::default(),
        binary: None,
    }
}

/// The id of honest node `index`.
pub fn node_id(index: usize) -> NodeId {
    NodeIdentity::new([index as u8 + 1; 32], NodeEpoch(0)).node_id()
}

/// Configs of `count` nodes whose first `voters` are the genesis voters.
pub fn consensus_configs(count: usize, voters: usize) -> Vec<NodeConfig> {
    let initial_voters: Vec<(NodeId, NodeRole)> = (0..voters).map(|index| (node_id(index), NodeRole::Both)).collect();
    (0..count)
        .map(|index| {
            let mut config = config(index, 1);
            config.consensus.initial_voters = initial_voters.clone();
            config
        })
        .collect()
}

/// Configs of `count` genesis voters, each seeded with every other node, so that any
/// set of restarted nodes finds each other without node 0.
pub fn mesh_configs(count: usize) -> Vec<NodeConfig> {
    let mut configs = consensus_configs(count, count);
    for (index, config) in configs.iter_mut().enumerate() {
        config.seeds = (0..count).filter(|other| *other != index).map(addr).collect();
    }
    configs
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
            disks: vec![Disk::default(); configs.len()],
            artifact_disks: vec![Default::default(); configs.len()],
            staging_writes_left: vec![None; configs.len()],
            staging_stalled: Vec::new(),
            down: BTreeSet::new(),
            nodes,
            addrs,
            configs,
            events: Vec::new(),
            jobs: Vec::new(),
            sent: Vec::new(),
            in_flight: VecDeque::new(),
            blocked: BTreeSet::new(),
            loss_ppm: 0,
            reorder_ppm: 0,
            duplicate_ppm: 0,
            faults: FaultCounts::default(),
            crash_cuts: Vec::new(),
            held: Vec::new(),
            armed_cut: None,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// `count` honest nodes, every one seeded with node 0, which founds a cluster but
    /// admits no one (discovery alone).
    pub fn cluster(count: usize) -> Self {
        let configs = (0..count)
            .map(|index| {
                let mut config = config(index, 1);
                config.consensus.admit_only.clear();
                config
            })
            .collect();
        Self::new(configs, 7)
    }

    pub fn index_of(&self, addr: SocketAddr) -> Option<usize> {
        // Streams listen on the node's IP at another port.
        self.addrs.iter().position(|candidate| candidate.ip() == addr.ip())
    }

    /// Runs until the virtual clock passes `until_ms`.
    pub fn run_until_ms(&mut self, until_ms: u64) {
        let until = Instant::from_millis(until_ms);
        let mut deliveries_at_this_instant = 0u32;
        let mut timer_steps_at_this_instant = 0u32;
        loop {
            self.drain_outputs();
            if let Some(packet) = self.in_flight.pop_front() {
                deliveries_at_this_instant += 1;
                if deliveries_at_this_instant > 100_000 {
                    let frame = psionic_core::wire::decode_frame(&packet.bytes).map(|frame| frame.body.message);
                    panic!("livelock at {}: {packet:?} carrying {frame:?}", self.now);
                }
                self.deliver(packet);
                continue;
            }
            if self.release_held() {
                continue;
            }
            deliveries_at_this_instant = 0;
            let live = self
                .nodes
                .iter()
                .enumerate()
                .filter(|(index, _)| !self.down.contains(index));
            let next_timer = live.filter_map(|(_, node)| node.poll_timeout()).min();
            let next_held = self.held.iter().map(|(at, _)| *at).min();
            let Some(next) = next_timer.into_iter().chain(next_held).min() else {
                break;
            };
            if next > until {
                break;
            }
            if next <= self.now {
                timer_steps_at_this_instant += 1;
                let stuck: Vec<_> = self.nodes.iter().map(Node::poll_timeout).collect();
                assert!(
                    timer_steps_at_this_instant < 10_000,
                    "timer livelock at {}: {stuck:?}",
                    self.now
                );
            } else {
                timer_steps_at_this_instant = 0;
            }
            self.now = self.now.max(next);
            for (index, node) in self.nodes.iter_mut().enumerate() {
                if !self.down.contains(&index) && node.poll_timeout().is_some_and(|at| at <= self.now) {
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

    /// Delivers `frames` to node `to` as frames that arrived together on streams.
    pub fn inject_streams(&mut self, to: usize, frames: Vec<(SocketAddr, Vec<u8>)>) {
        self.nodes[to].handle(self.now, Input::Streams { frames });
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

    /// Drops every message from node `from` to node `to` (the other way still flows).
    pub fn block_one_way(&mut self, from: usize, to: usize) {
        self.blocked.insert((from, to));
    }

    pub fn heal(&mut self) {
        self.blocked.clear();
    }

    /// Restores every link of node `index` (the links between other nodes stay as
    /// they are).
    pub fn reconnect(&mut self, index: usize) {
        self.blocked.retain(|(from, to)| *from != index && *to != index);
    }

    /// Restarts node `index` from its disk in its next epoch.
    pub fn reboot(&mut self, index: usize) {
        let epoch = self.nodes[index].epoch().0 + 1;
        self.restart(index, epoch);
    }

    /// Arms a crash of node `index` between a persist and the sends after it: the next
    /// time one input (or proposal) makes it emit at least `persists` persist outputs
    /// followed by a transmit, its outputs are carried out up to and including the
    /// `persists`-th persist, the rest (transmits, events, later persists) are dropped,
    /// and the node crashes. Recorded in `crash_cuts` when it fires.
    pub fn crash_after_persist(&mut self, index: usize, persists: usize) {
        assert!(persists >= 1, "a cut falls after at least one persist");
        assert!(self.armed_cut.is_none(), "one crash cut at a time");
        self.armed_cut = Some((index, persists));
    }

    /// Disarms the crash cut if it has not fired; whether one was armed.
    pub fn disarm_crash_cut(&mut self) -> bool {
        self.armed_cut.take().is_some()
    }

    /// Replaces node `index` by a fresh core with its configured key and `epoch`,
    /// recovered from its disk.
    pub fn restart(&mut self, index: usize, epoch: u64) {
        let mut config = self.configs[index].clone();
        let identity = &config.identity;
        config.identity =
            NodeIdentity::of_node(identity.node_id(), identity.signing_key().to_bytes(), NodeEpoch(epoch));
        config.durable = self.disks[index].durable();
        self.nodes[index] = Node::new(config, self.now).unwrap();
        self.down.remove(&index);
    }

    /// Crashes node `index`: it stops; its disk keeps what it persisted.
    pub fn crash(&mut self, index: usize) {
        self.down.insert(index);
    }

    /// Cuts every link between the two groups (both directions).
    pub fn partition(&mut self, left: &[usize], right: &[usize]) {
        for a in left {
            for b in right {
                self.blocked.insert((*a, *b));
                self.blocked.insert((*b, *a));
            }
        }
    }

    /// The live nodes that believe they lead.
    pub fn leaders(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|index| !self.down.contains(index) && self.nodes[*index].consensus().is_leader())
            .collect()
    }

    /// Runs until exactly one live node leads (and returns it), at most `within_ms` more.
    pub fn await_leader(&mut self, within_ms: u64) -> usize {
        let deadline = self.now.as_millis() + within_ms;
        loop {
            let leaders = self.leaders();
            if leaders.len() == 1 {
                return leaders[0];
            }
            assert!(
                self.now.as_millis() < deadline,
                "no single leader by {deadline} ms: {leaders:?}"
            );
            let next = self.now.as_millis() + 10;
            self.run_until_ms(next);
        }
    }

    /// Tries one proposal on node `index`; a rejection reported at once is the error.
    pub fn propose_on(
        &mut self,
        index: usize,
    ) -> Result<psionic_core::ProposalId, psionic_core::consensus::ProposalRejection> {
        let command = ClusterCommand::SetPolicy {
            name: "probe".into(),
            document: Vec::new(),
        };
        let id = self.nodes[index].propose(self.now, command);
        self.drain_outputs();
        match self.outcome_of(index, id) {
            Some(Err(reason)) => Err(reason),
            _ => Ok(id),
        }
    }

    /// The outcome event node `index` reported for proposal `id`, if any yet.
    pub fn outcome_of(
        &self,
        index: usize,
        id: psionic_core::ProposalId,
    ) -> Option<Result<u64, psionic_core::consensus::ProposalRejection>> {
        self.events_of(index).find_map(|event| match event {
            Event::Consensus(ConsensusEvent::ProposalCommitted {
                id: committed, index, ..
            }) if *committed == id => Some(Ok(*index)),
            Event::Consensus(ConsensusEvent::ProposalRejected { id: rejected, reason }) if *rejected == id => {
                Some(Err(*reason))
            }
            _ => None,
        })
    }

    /// Proposes `count` policy commands on node `index` as one batch.
    pub fn propose(&mut self, index: usize, count: usize) -> Vec<psionic_core::ProposalId> {
        let commands = (0..count)
            .map(|n| ClusterCommand::SetPolicy {
                name: format!("p{}", n % 8),
                document: format!("doc {n}").into_bytes(),
            })
            .collect();
        let ids = self.nodes[index].propose_batch(self.now, commands);
        self.drain_outputs();
        ids
    }

    pub fn events_of(&self, index: usize) -> impl Iterator<Item = &Event> {
        self.events
            .iter()
            .filter(move |(node, _, _)| *node == index)
            .map(|(_, _, event)| event)
    }

    /// The jobs node `index` was told to run, in order.
    pub fn runs_of(&self, index: usize) -> Vec<psionic_core::serving::Job> {
        let runs = self.jobs.iter().filter(move |(node, _)| *node == index);
        runs.filter_map(|(_, order)| match order {
            JobOrder::Run(job) => Some(job.clone()),
            JobOrder::Stop(_) => None,
        })
        .collect()
    }

    /// The requests node `index` was told to stop, in order.
    pub fn stops_of(&self, index: usize) -> Vec<psionic_core::RequestId> {
        let stops = self.jobs.iter().filter(move |(node, _)| *node == index);
        stops
            .filter_map(|(_, order)| match order {
                JobOrder::Stop(request) => Some(*request),
                JobOrder::Run(_) => None,
            })
            .collect()
    }

    fn drain_outputs(&mut self) {
        for index in 0..self.nodes.len() {
            match self.armed_cut {
                Some((node, persists)) if node == index => self.drain_cutting(index, persists),
                _ => {
                    while let Some(output) = self.nodes[index].poll_output() {
                        self.carry_out(index, output);
                    }
                }
            }
        }
    }

    /// Drains node `index` under an armed crash cut: fires it if these outputs hold
    /// `persists` persists followed by a transmit, else carries them all out.
    fn drain_cutting(&mut self, index: usize, persists: usize) {
        let outputs: Vec<Output> = std::iter::from_fn(|| self.nodes[index].poll_output()).collect();
        let is_persist = |output: &Output| {
            matches!(
                output,
                Output::PersistHardState(_) | Output::PersistEntries { .. } | Output::PersistSnapshot(_)
            )
        };
        let cut = outputs
            .iter()
            .enumerate()
            .filter(|(_, output)| is_persist(output))
            .nth(persists - 1)
            .map(|(position, _)| position + 1)
            .filter(|&kept| {
                outputs[kept..]
                    .iter()
                    .any(|output| matches!(output, Output::Transmit(_)))
            });
        let kept = cut.unwrap_or(outputs.len());
        let dropped: Vec<Output> = outputs.iter().skip(kept).cloned().collect();
        for output in outputs.into_iter().take(kept) {
            self.carry_out(index, output);
        }
        if cut.is_some() {
            self.armed_cut = None;
            self.crash(index);
            self.crash_cuts.push(CrashCut {
                node: index,
                at: self.now,
                persists,
                dropped: dropped.len(),
                dropped_transmits: dropped
                    .iter()
                    .filter(|output| matches!(output, Output::Transmit(_)))
                    .count(),
            });
        }
    }

    /// Carries out one output of node `index`: persists it, sends it, or records it.
    fn carry_out(&mut self, index: usize, output: Output) {
        self.disks[index].persist(&output);
        match output {
            Output::Transmit(transmit) => {
                let packet = Packet {
                    from: self.addrs[index],
                    to: transmit.to,
                    class: transmit.class,
                    bytes: transmit.bytes,
                    authenticated_len: transmit.authenticated_len,
                };
                self.sent.push(packet.clone());
                self.in_flight.push_back(packet);
            }
            Output::Event(event) => self.events.push((index, self.now, event)),
            Output::RunJob(job) => self.jobs.push((index, JobOrder::Run(job))),
            Output::StopJob { request } => self.jobs.push((index, JobOrder::Stop(request))),
            Output::Staging(io) => self.carry_out_staging(index, io),
            Output::PersistHardState(_) | Output::PersistEntries { .. } | Output::PersistSnapshot(_) => {}
        }
    }

    /// Draws whether a fault of probability `ppm` fires (no draw when it is 0, so a
    /// harness without that fault sees the same random sequence as before).
    fn chance(&mut self, ppm: u32) -> bool {
        ppm > 0 && (self.rng.next_u32() % 1_000_000) < ppm
    }

    /// Moves the held-back packets that are due into the in-flight queue, oldest due
    /// first; whether there were any.
    fn release_held(&mut self) -> bool {
        if !self.held.iter().any(|(at, _)| *at <= self.now) {
            return false;
        }
        let now = self.now;
        let (mut due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|(at, _)| *at <= now);
        self.held = later;
        due.sort_by_key(|(at, _)| *at);
        self.in_flight.extend(due.into_iter().map(|(_, packet)| packet));
        true
    }

    fn deliver(&mut self, packet: Packet) {
        let (Some(from), Some(to)) = (self.index_of(packet.from), self.index_of(packet.to)) else {
            return;
        };
        if self.chance(self.duplicate_ppm) {
            self.faults.duplicated += 1;
            self.in_flight.push_back(packet.clone());
        }
        if self.chance(self.reorder_ppm) {
            self.faults.reordered += 1;
            let hold_ms = 1 + self.rng.next_u64() % REORDER_HOLD_MS_MAX;
            let at = self.now + psionic_core::time::ms(hold_ms);
            self.held.push((at, packet));
            return;
        }
        let lost = self.chance(self.loss_ppm);
        self.faults.lost += u64::from(lost);
        if lost || self.blocked.contains(&(from, to)) || self.down.contains(&from) || self.down.contains(&to) {
            return;
        }
        let input = match packet.class {
            TransportClass::Datagram => Input::Datagram {
                from: packet.from,
                bytes: packet.bytes,
            },
            // A stream's remote end is an ephemeral port, not the sender's address.
            TransportClass::Stream => Input::Stream {
                from: SocketAddr::new(packet.from.ip(), 50_000),
                bytes: packet.bytes,
            },
        };
        self.nodes[to].handle(self.now, input);
    }
}
