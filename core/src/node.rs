//! The node: one sans-IO state machine per cluster member.

use std::collections::VecDeque;

use core::net::SocketAddr;

use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use crate::config::{ConfigError, NodeConfig};
use crate::discovery::{Discovery, Heard};
use crate::identity::{ClusterId, ClusterNamespace, NodeEpoch, NodeId, NodeRole};
use crate::io::{Event, Input, Output, Transmit, TransportClass};
use crate::refusal::{Refusal, RefusalCounters};
use crate::replay::{EpochChange, ReplayGuard, ReplayRefusal};
use crate::status::{NodeStatus, PeerStatus};
use crate::time::Instant;
use crate::timer::{Timer, TimerTable};
use crate::wire::{
    AuthFailure, Authenticator, Body, Hello, Message, SCHEMA_VERSION, decode_frame, encode_frame, peek_schema_version,
};

/// One node's core. See the crate documentation for the driver loop.
#[derive(Debug)]
pub struct Node {
    namespace: ClusterNamespace,
    cluster_id: ClusterId,
    node_id: NodeId,
    epoch: NodeEpoch,
    role: NodeRole,
    authenticator: Authenticator,
    replay: ReplayGuard,
    discovery: Discovery,
    refusals: RefusalCounters,
    timers: TimerTable,
    rng: ChaCha8Rng,
    next_counter: u64,
    outputs: VecDeque<Output>,
}

/// A frame that passed every check.
struct Accepted {
    body: Body,
    epoch_change: EpochChange,
}

impl Node {
    /// A node configured by `config`, starting at `now`. Its first probes are due at `now`.
    pub fn new(config: NodeConfig, now: Instant) -> Result<Self, ConfigError> {
        config.discovery.validate()?;
        let mut node = Self {
            authenticator: Authenticator::new(&config.posture, config.cluster_id, &config.identity),
            node_id: config.identity.node_id(),
            epoch: config.identity.epoch(),
            namespace: config.namespace,
            cluster_id: config.cluster_id,
            role: config.role,
            replay: ReplayGuard::default(),
            discovery: Discovery::new(config.discovery, &config.seeds, now),
            refusals: RefusalCounters::default(),
            timers: TimerTable::default(),
            rng: ChaCha8Rng::seed_from_u64(config.rng_seed),
            next_counter: 0,
            outputs: VecDeque::new(),
        };
        node.rearm_timers();
        Ok(node)
    }

    /// Feeds one input. `now` must not go backwards between calls.
    pub fn handle(&mut self, now: Instant, input: Input) {
        match input {
            Input::Datagram { from, bytes } => self.on_datagram(now, from, &bytes),
            Input::Timeout => self.on_timeout(now),
        }
        self.rearm_timers();
    }

    /// The next output to carry out, in order. Call until `None` after every
    /// [`Node::handle`].
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`Node::handle`] must next be called with [`Input::Timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.earliest()
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// This node's epoch.
    pub fn epoch(&self) -> NodeEpoch {
        self.epoch
    }

    /// The discovery table.
    pub fn discovery(&self) -> &Discovery {
        &self.discovery
    }

    /// Refusals so far, by kind.
    pub fn refusals(&self) -> &RefusalCounters {
        &self.refusals
    }

    /// A serialisable snapshot of this node's view.
    pub fn status(&self) -> NodeStatus {
        NodeStatus {
            node_id: self.node_id,
            epoch: self.epoch,
            cluster_id: self.cluster_id,
            namespace: self.namespace.clone(),
            role: self.role,
            peers: self
                .discovery
                .peers()
                .map(|(id, peer)| PeerStatus::of(id, peer))
                .collect(),
            refusals: self.refusals.clone(),
        }
    }

    fn on_timeout(&mut self, now: Instant) {
        let mut events = Vec::new();
        if self.timers.is_due(Timer::PeerExpiry, now) {
            self.discovery.expire(now, &mut events);
        }
        if self.timers.is_due(Timer::DiscoveryProbe, now) {
            for addr in self.discovery.due_probes(now, &mut self.rng, &mut events) {
                let hello = self.hello_for(addr);
                self.send(addr, Message::Hello(hello));
            }
        }
        self.push_events(events);
    }

    fn on_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        let accepted = match self.accept_frame(bytes) {
            Ok(accepted) => accepted,
            Err(refusal) => return self.refuse(from, refusal),
        };
        let body = accepted.body;
        let (Message::Hello(hello) | Message::HelloAck(hello)) = &body.message;
        let heard = Heard {
            peer: body.sender,
            addr: from,
            role: hello.role,
            epoch: body.sender_epoch,
            epoch_change: accepted.epoch_change,
        };
        let mut events = Vec::new();
        self.discovery.on_heard(now, heard, &mut events);
        self.discovery.on_gossip(now, self.node_id, &hello.peers);
        self.push_events(events);
        if matches!(body.message, Message::Hello(_)) {
            let ack = self.hello_for(from);
            self.send(from, Message::HelloAck(ack));
        }
    }

    /// Runs every check on a frame, in order: size and version, decoding, cluster,
    /// sender, authentication, replay. Only the last step changes state.
    fn accept_frame(&mut self, bytes: &[u8]) -> Result<Accepted, Refusal> {
        let malformed = |error| Refusal::MalformedFrame { error };
        let version = peek_schema_version(bytes).map_err(malformed)?;
        if version != SCHEMA_VERSION {
            return Err(Refusal::UnsupportedSchemaVersion {
                ours: SCHEMA_VERSION,
                theirs: version,
            });
        }
        let frame = decode_frame(bytes).map_err(malformed)?;
        let body = &frame.body;
        self.check_cluster(body)?;
        let sender = body.sender;
        if sender == self.node_id {
            return Err(Refusal::OwnIdentity { sender });
        }
        self.authenticator
            .verify(sender, body.auth_kind, frame.authenticated_bytes, frame.tag)
            .map_err(|failure| match failure {
                AuthFailure::UnknownPeer => Refusal::UnknownPeer { sender },
                failure => Refusal::AuthenticationFailed { sender, failure },
            })?;
        let epoch_change =
            self.replay
                .admit(sender, body.sender_epoch, body.counter)
                .map_err(|refusal| match refusal {
                    ReplayRefusal::StaleEpoch { seen, got } => Refusal::StaleEpoch { sender, seen, got },
                    ReplayRefusal::Replayed { counter, highest } => Refusal::Replay {
                        sender,
                        epoch: body.sender_epoch,
                        counter,
                        highest,
                    },
                })?;
        Ok(Accepted {
            body: frame.body,
            epoch_change,
        })
    }

    fn check_cluster(&self, body: &Body) -> Result<(), Refusal> {
        let (Message::Hello(hello) | Message::HelloAck(hello)) = &body.message;
        if hello.namespace != self.namespace {
            return Err(Refusal::NamespaceMismatch {
                ours: self.namespace.clone(),
                theirs: hello.namespace.clone(),
            });
        }
        if body.cluster_id != self.cluster_id {
            return Err(Refusal::ClusterMismatch {
                ours: self.cluster_id,
                theirs: body.cluster_id,
            });
        }
        Ok(())
    }

    fn hello_for(&self, recipient: SocketAddr) -> Hello {
        Hello {
            namespace: self.namespace.clone(),
            role: self.role,
            peers: self.discovery.gossip_for(recipient),
        }
    }

    fn send(&mut self, to: SocketAddr, message: Message) {
        let body = Body {
            schema_version: SCHEMA_VERSION,
            cluster_id: self.cluster_id,
            sender: self.node_id,
            sender_epoch: self.epoch,
            counter: self.next_counter,
            auth_kind: self.authenticator.kind(),
            message,
        };
        self.next_counter += 1;
        let bytes = encode_frame(&body, &self.authenticator);
        self.outputs.push_back(Output::Transmit(Transmit {
            to,
            class: TransportClass::Datagram,
            bytes,
        }));
    }

    fn refuse(&mut self, from: SocketAddr, refusal: Refusal) {
        self.refusals.record(refusal.kind());
        self.outputs.push_back(Output::Event(Event::Refused { from, refusal }));
    }

    fn push_events(&mut self, events: Vec<Event>) {
        self.outputs.extend(events.into_iter().map(Output::Event));
    }

    fn rearm_timers(&mut self) {
        self.timers.set(Timer::DiscoveryProbe, self.discovery.next_probe_at());
        self.timers.set(Timer::PeerExpiry, self.discovery.next_expiry_at());
    }
}
