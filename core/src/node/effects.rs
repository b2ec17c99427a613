//! Turning consensus effects into outputs, in order.

use core::net::SocketAddr;

use super::Node;
use crate::consensus::Effect;
use crate::io::{Event, Output, TransportClass};
use crate::wire::Message;

impl Node {
    /// Carries out consensus effects in the order they were produced, so every persist
    /// output precedes the transmits that depend on it.
    pub(super) fn drain_consensus(&mut self) {
        // The buffer goes back empty, keeping its capacity for the next input.
        let mut effects = std::mem::take(&mut self.consensus.effects);
        for effect in effects.drain(..) {
            match effect {
                Effect::Send { to, message } => self.send_to_peer(to, Message::Raft(message)),
                Effect::PersistHardState(hard_state) => self.outputs.push_back(Output::PersistHardState(hard_state)),
                Effect::PersistEntries { first_index, entries } => {
                    self.outputs.push_back(Output::PersistEntries { first_index, entries });
                }
                Effect::PersistSnapshot(snapshot) => self.outputs.push_back(Output::PersistSnapshot(snapshot)),
                Effect::Event(event) => self.outputs.push_back(Output::Event(Event::Consensus(event))),
                Effect::Refuse(refusal) => self.refuse_from(refusal),
            }
        }
        if self.consensus.effects.is_empty() {
            self.consensus.effects = effects;
        }
    }

    /// Sends on the peer's stream when it has one, as a datagram otherwise.
    pub(super) fn send_to_peer(&mut self, to: crate::identity::NodeId, message: Message) {
        if let Some(stream) = self.discovery.peer(to).and_then(|peer| peer.stream_addr()) {
            self.send_addressed(stream, TransportClass::Stream, to, message);
        } else if let Some(addr) = self.addr_of(to) {
            self.send_addressed(addr, TransportClass::Datagram, to, message);
        }
    }

    pub(super) fn addr_of(&self, node: crate::identity::NodeId) -> Option<SocketAddr> {
        self.discovery
            .peer(node)
            .map(|peer| peer.addr)
            .or_else(|| self.addrs.get(&node).copied())
    }
}
