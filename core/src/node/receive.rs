//! Receiving a frame: every check in order, then dispatch.

use core::net::SocketAddr;

use super::Node;
use crate::discovery::Heard;
use crate::identity::NodeId;
use crate::io::Event;
use crate::refusal::Refusal;
use crate::replay::{EpochChange, ReplayRefusal};
use crate::time::Instant;
use crate::wire::{AuthFailure, Body, Hello, LinkProbeAck, Message, SCHEMA_VERSION, decode_frame, peek_schema_version};

/// A frame that passed every check.
struct Accepted {
    body: Body,
    epoch_change: EpochChange,
}

impl Node {
    /// A frame from `from`; `via_stream` when it came on a peer stream, whose remote
    /// address is not the sender's discovery address.
    pub(super) fn on_frame(&mut self, now: Instant, from: SocketAddr, bytes: &[u8], via_stream: bool) {
        let accepted = match self.accept_frame(bytes) {
            Ok(accepted) => accepted,
            Err(refusal) => return self.refuse(from, refusal),
        };
        let body = accepted.body;
        let sender = body.sender;
        let (role, stream_port) = match &body.message {
            Message::Hello(hello) | Message::HelloAck(hello) => (Some(hello.role), hello.stream_port),
            Message::Raft(_) | Message::LinkProbe(_) | Message::LinkProbeAck(_) => (None, None),
        };
        let discovery_addr = if via_stream {
            self.discovery.peer(sender).map(|peer| peer.addr)
        } else {
            Some(from)
        };
        let mut events = Vec::new();
        if let Some(addr) = discovery_addr {
            self.addrs.insert(sender, addr);
            let epoch = body.sender_epoch;
            let heard = Heard {
                peer: sender,
                addr,
                role,
                stream_port,
                epoch,
                epoch_change: accepted.epoch_change,
            };
            self.discovery.on_heard(now, heard, &mut events);
        }
        match body.message {
            Message::Hello(hello) => {
                self.discovery.on_gossip(now, self.node_id, &hello.peers);
                self.push_events(events);
                let ack = self.hello_for(from, hello.probe_sent_us);
                self.send(from, Message::HelloAck(ack));
            }
            Message::HelloAck(hello) => {
                self.discovery.on_gossip(now, self.node_id, &hello.peers);
                self.discovery.on_probe_answered(now, sender, hello.probe_sent_us);
                self.push_events(events);
            }
            Message::LinkProbe(probe) => {
                self.push_events(events);
                if probe.is_last() {
                    let ack = Message::LinkProbeAck(LinkProbeAck {
                        burst_sent_us: probe.burst_sent_us,
                    });
                    self.send_to_peer(sender, ack);
                }
            }
            Message::LinkProbeAck(ack) => {
                self.push_events(events);
                self.discovery.on_burst_answered(now, sender, ack.burst_sent_us);
            }
            Message::Raft(message) => {
                self.push_events(events);
                self.consensus.on_message(now, sender, message);
            }
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
        self.check_room_for(sender)?;
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
            return Err(Refusal::PeerTableFull { sender, capacity });
        }
        Ok(())
    }

    fn check_cluster(&self, body: &Body) -> Result<(), Refusal> {
        if let Message::Hello(hello) | Message::HelloAck(hello) = &body.message
            && hello.namespace != self.namespace
        {
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

    /// A hello for `recipient`: a probe sent at `probe_sent_us`, or an ack echoing it.
    pub(super) fn hello_for(&self, recipient: SocketAddr, probe_sent_us: u64) -> Hello {
        Hello {
            probe_sent_us,
            stream_port: self.stream_port,
            namespace: self.namespace.clone(),
            role: self.role,
            peers: self.discovery.gossip_for(recipient),
        }
    }

    pub(super) fn refuse(&mut self, from: SocketAddr, refusal: Refusal) {
        self.refusals.record(refusal.kind());
        self.outputs
            .push_back(crate::io::Output::Event(Event::Refused { from, refusal }));
    }

    pub(super) fn push_events(&mut self, events: Vec<Event>) {
        self.outputs.extend(events.into_iter().map(crate::io::Output::Event));
    }
}
