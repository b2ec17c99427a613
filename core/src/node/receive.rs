//! Receiving a frame: every check in order, then dispatch.

use crate::discovery::DiscoveryEvent;
use crate::refusal::FrameRefusal;
use core::net::SocketAddr;

use super::Node;
use crate::discovery::Heard;
use crate::identity::NodeId;
use crate::io::{Event, TransportClass};
use crate::refusal::Refusal;
use crate::replay::{EpochChange, ReplayRefusal};
use crate::time::Instant;
use crate::wire::{
    AuthFailure, Body, DecodedFrame, Hello, LinkProbeAck, Message, Recipient, SCHEMA_VERSION, SignedFrame,
    decode_frame, peek_schema_version,
};

/// What admission made of a frame.
enum Admitted {
    /// An introduction: answered, and nothing more (it proves only the token).
    Introduction,
    /// A frame from its sender to this node in this life.
    Addressed(EpochChange),
}

/// The first checks of a frame, in order: size and version, then decoding.
fn decode_checked(bytes: &[u8]) -> Result<DecodedFrame<'_>, Refusal> {
    let malformed = |error| Refusal::Frame(FrameRefusal::MalformedFrame { error });
    let version = peek_schema_version(bytes).map_err(malformed)?;
    if version != SCHEMA_VERSION {
        return Err(Refusal::Frame(FrameRefusal::UnsupportedSchemaVersion {
            ours: SCHEMA_VERSION,
            theirs: version,
        }));
    }
    decode_frame(bytes).map_err(malformed)
}

impl Node {
    /// A frame from `from` that `arrived_on` a transport (a peer stream's remote
    /// address is not the sender's discovery address).
    pub(super) fn on_frame(&mut self, now: Instant, from: SocketAddr, bytes: &[u8], arrived_on: TransportClass) {
        match decode_checked(bytes) {
            Ok(frame) => self.on_decoded(now, from, frame, arrived_on, false),
            Err(refusal) => self.refuse(from, refusal),
        }
    }

    /// Frames that arrived together on peer streams: their signatures are verified as
    /// one batch where the posture allows, then each frame is handled in order
    /// exactly as if it had come alone (any frame of a batch that fails is verified
    /// on its own).
    pub(super) fn on_stream_frames(&mut self, now: Instant, frames: &[(SocketAddr, Vec<u8>)]) {
        let decoded: Vec<_> = frames
            .iter()
            .map(|(from, bytes)| (*from, decode_checked(bytes)))
            .collect();
        let signed: Vec<SignedFrame<'_>> = decoded
            .iter()
            .filter_map(|(_, frame)| frame.as_ref().ok())
            .map(DecodedFrame::signed)
            .collect();
        let verified = self.authenticator.verify_batch(&signed);
        // A frame of the batch may apply a key rotation or retirement: the frames
        // after it are verified on their own against the keys then in force.
        let keys_verified_under = self.consensus.key_generation;
        for (from, frame) in decoded {
            let verified = verified && self.consensus.key_generation == keys_verified_under;
            match frame {
                Ok(frame) => self.on_decoded(now, from, frame, TransportClass::Stream, verified),
                Err(refusal) => self.refuse(from, refusal),
            }
        }
    }

    /// A decoded frame; `verified` when its tag was already checked in a batch.
    fn on_decoded(
        &mut self,
        now: Instant,
        from: SocketAddr,
        frame: DecodedFrame<'_>,
        arrived_on: TransportClass,
        verified: bool,
    ) {
        let epoch_change = match self.admit(now, &frame, arrived_on, verified) {
            Ok(Admitted::Addressed(epoch_change)) => epoch_change,
            Ok(Admitted::Introduction) => return self.answer_introduction(from, frame.body),
            Err(refusal) => {
                if let Refusal::Frame(FrameRefusal::WrongRecipient { sender, .. }) = refusal
                    && arrived_on == TransportClass::Datagram
                {
                    self.discovery.redial(now, from, sender);
                }
                return self.refuse(from, refusal);
            }
        };
        let body = frame.body;
        let sender = body.sender;
        if let Message::Hello(hello) | Message::HelloAck(hello) = &body.message
            && let Err(refusal) = self.consensus.same_genesis(sender, hello.genesis)
        {
            return self.refuse(from, refusal);
        }
        let (role, stream_port) = match &body.message {
            Message::Hello(hello) | Message::HelloAck(hello) => {
                let claims = crate::consensus::PeerClaims {
                    binary: hello.binary,
                    tokens: hello.tokens.clone(),
                    trust: hello.trust,
                };
                self.consensus.record_claims(sender, claims);
                (Some(hello.role), hello.stream_port)
            }
            Message::Raft(_)
            | Message::Dispatch(_)
            | Message::LinkProbe(_)
            | Message::LinkProbeAck(_)
            | Message::Staging(_) => (None, None),
        };
        let discovery_addr = if arrived_on == TransportClass::Stream {
            self.discovery.peer(sender).map(|peer| peer.addr)
        } else {
            Some(from)
        };
        let mut events = Vec::new();
        self.keys.insert(sender, body.sender_key);
        if let Some(addr) = discovery_addr {
            self.addrs.insert(sender, addr);
            let heard = Heard {
                peer: sender,
                addr,
                role,
                stream_port,
                epoch: body.sender_epoch,
                epoch_change,
            };
            self.discovery.on_heard(now, heard, &mut events);
        }
        self.push_discovery_events(events);
        let introduced = matches!(epoch_change, EpochChange::FirstSeen | EpochChange::Advanced { .. });
        self.dispatch_message(now, from, sender, body.message, introduced);
    }

    /// Answers an introduction with a hello addressed to the node and life it claims:
    /// only that node can read it as authentic, and only then does it speak to us as
    /// itself. Nothing of the introduction is recorded.
    fn answer_introduction(&mut self, from: SocketAddr, body: Body) {
        let Message::Hello(hello) = body.message else {
            return;
        };
        let recipient = Recipient {
            node: body.sender,
            epoch: body.sender_epoch,
        };
        let ack = self.hello_for(from, hello.probe_sent_us);
        self.send_on(
            from,
            TransportClass::Datagram,
            Some((recipient, body.sender_key)),
            Message::HelloAck(ack),
        );
    }

    /// A message admitted from `sender`; `introduced` when this is the first frame of
    /// its life heard here (a hello answered at once, so it learns this node's life).
    fn dispatch_message(&mut self, now: Instant, from: SocketAddr, sender: NodeId, message: Message, introduced: bool) {
        match message {
            Message::Hello(hello) => {
                self.discovery.on_gossip(now, self.node_id, sender, &hello.peers);
                let ack = self.hello_for(from, hello.probe_sent_us);
                self.send_addressed(from, TransportClass::Datagram, sender, Message::HelloAck(ack));
            }
            Message::HelloAck(hello) => {
                self.discovery.on_gossip(now, self.node_id, sender, &hello.peers);
                self.discovery.on_probe_answered(now, sender, hello.probe_sent_us);
                if introduced {
                    let hello = self.hello_for(from, now.as_micros());
                    self.send_addressed(from, TransportClass::Datagram, sender, Message::Hello(hello));
                }
            }
            Message::LinkProbe(probe) => {
                if probe.is_last() {
                    let ack = Message::LinkProbeAck(LinkProbeAck {
                        burst_sent_us: probe.burst_sent_us,
                    });
                    self.send_to_peer(sender, ack);
                }
            }
            Message::LinkProbeAck(ack) => self.discovery.on_burst_answered(now, sender, ack.burst_sent_us),
            Message::Raft(message) => self.consensus.on_message(now, sender, message, &mut self.devices),
            Message::Dispatch(message) => self.on_dispatch(now, sender, message),
            Message::Staging(message) => self.on_staging(now, sender, message),
        }
    }

    /// The checks after decoding, in order: cluster, sender, authentication (unless
    /// `verified`), transport, recipient, then (addressed frames only) room and replay.
    /// Only the last step changes state.
    fn admit(
        &mut self,
        now: Instant,
        frame: &DecodedFrame<'_>,
        arrived_on: TransportClass,
        verified: bool,
    ) -> Result<Admitted, Refusal> {
        let body = &frame.body;
        self.check_cluster(body)?;
        let sender = body.sender;
        if sender == self.node_id {
            return Err(Refusal::Frame(FrameRefusal::OwnIdentity { sender }));
        }
        // An earlier frame of the same input may have applied a cut-over or a key
        // rotation or retirement.
        self.authenticator.set_committed_token(self.committed_token());
        self.sync_node_keys(now);
        let learnt = if verified {
            None
        } else {
            self.verify_tag(frame).map_err(|failure| match failure {
                AuthFailure::UnknownPeer => Refusal::Frame(FrameRefusal::UnknownPeer { sender }),
                failure => Refusal::Frame(FrameRefusal::AuthenticationFailed { sender, failure }),
            })?
        };
        if body.transport != arrived_on {
            return Err(Refusal::Frame(FrameRefusal::WrongTransport {
                sender,
                sealed_for: body.transport,
                arrived_on,
            }));
        }
        let Some(recipient) = body.recipient else {
            return self.admit_introduction(body, arrived_on);
        };
        if recipient.node != self.node_id || recipient.epoch != self.epoch {
            return Err(Refusal::Frame(FrameRefusal::WrongRecipient {
                sender,
                addressed: recipient,
                ours: Recipient {
                    node: self.node_id,
                    epoch: self.epoch,
                },
            }));
        }
        self.check_room_for(sender)?;
        let admitted = self
            .replay
            .admit(sender, body.sender_epoch, body.transport, body.counter)
            .map(Admitted::Addressed)
            .map_err(|refusal| match refusal {
                ReplayRefusal::StaleEpoch { seen, got } => {
                    Refusal::Frame(FrameRefusal::StaleEpoch { sender, seen, got })
                }
                ReplayRefusal::Replayed { counter, highest } => Refusal::Frame(FrameRefusal::Replay {
                    sender,
                    epoch: body.sender_epoch,
                    counter,
                    highest,
                }),
            })?;
        if let Some(start) = learnt {
            self.consensus.learn_key(sender, body.sender_key, start);
        }
        Ok(admitted)
    }

    /// An unaddressed frame is an introduction only as a hello on a datagram, and
    /// from a life of its sender no older than the newest heard (checked without
    /// moving the replay window: an introduction proves only the token).
    fn admit_introduction(&self, body: &Body, arrived_on: TransportClass) -> Result<Admitted, Refusal> {
        let sender = body.sender;
        if !matches!(body.message, Message::Hello(_)) || arrived_on != TransportClass::Datagram {
            return Err(Refusal::Frame(FrameRefusal::Unaddressed { sender }));
        }
        match self.replay.epoch_of(sender) {
            Some(seen) if seen > body.sender_epoch => Err(Refusal::Frame(FrameRefusal::StaleEpoch {
                sender,
                seen,
                got: body.sender_epoch,
            })),
            _ => Ok(Admitted::Introduction),
        }
    }

    /// A new sender that is not a member is tracked only while there is room: the
    /// replay windows and the peer table stay bounded under a flood of fresh ids.
    fn check_room_for(&self, sender: NodeId) -> Result<(), Refusal> {
        if self.replay.epoch_of(sender).is_some() {
            return Ok(());
        }
        let members = self.consensus.effective_members();
        if members.contains_key(&sender) {
            return Ok(());
        }
        let capacity = self.discovery.config().non_member_senders_max;
        let tracked = self.replay.senders().filter(|id| !members.contains_key(id)).count();
        if tracked >= capacity {
            return Err(Refusal::Frame(FrameRefusal::PeerTableFull { sender, capacity }));
        }
        Ok(())
    }

    fn check_cluster(&self, body: &Body) -> Result<(), Refusal> {
        if let Message::Hello(hello) | Message::HelloAck(hello) = &body.message
            && hello.namespace != self.namespace
        {
            return Err(Refusal::Frame(FrameRefusal::NamespaceMismatch {
                ours: self.namespace.clone(),
                theirs: hello.namespace.clone(),
            }));
        }
        if body.cluster_id != self.cluster_id {
            return Err(Refusal::Frame(FrameRefusal::ClusterMismatch {
                ours: self.cluster_id,
                theirs: body.cluster_id,
            }));
        }
        Ok(())
    }

    /// A hello for `recipient`: a probe sent at `probe_sent_us`, or an ack echoing it.
    pub(super) fn hello_for(&self, recipient: SocketAddr, probe_sent_us: u64) -> Hello {
        Hello {
            probe_sent_us,
            stream_port: self.stream_port,
            namespace: self.namespace.clone(),
            role: self.role,
            peers: self.discovery.gossip_for(recipient),
            genesis: self.consensus.state().genesis,
            binary: self.binary,
            tokens: self.consensus.admission_tokens.clone(),
            trust: self.consensus.trust,
            key_history: self
                .consensus
                .state()
                .node_keys
                .get(&self.node_id)
                .map(|keys| keys.history.clone())
                .unwrap_or_default(),
        }
    }

    pub(super) fn refuse(&mut self, from: SocketAddr, refusal: impl Into<Refusal>) {
        let refusal = refusal.into();
        self.refusals.record(refusal.kind());
        self.outputs
            .push_back(crate::io::Output::Event(Event::Refused { from, refusal }));
    }

    pub(super) fn push_discovery_events(&mut self, events: Vec<DiscoveryEvent>) {
        for event in &events {
            if let DiscoveryEvent::PeerHealthChanged { peer, to, .. } = event
                && *to != crate::discovery::PeerHealth::Reachable
            {
                self.authenticator.doubt(*peer);
            }
        }
        self.outputs.extend(
            events
                .into_iter()
                .map(|event| crate::io::Output::Event(Event::Discovery(event))),
        );
    }
}
