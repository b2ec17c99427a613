//! Sending: every frame is sealed for the node and life it goes to, or is an
//! introduction to an address whose node is not known yet.

use core::net::SocketAddr;

use super::Node;
use crate::discovery::BurstDue;
use crate::identity::NodeId;
use crate::io::{Output, Transmit, TransportClass};
use crate::wire::{Body, LinkProbe, Message, Recipient, SCHEMA_VERSION, Seal, encode_frame};

impl Node {
    /// The frames of one bandwidth probe, back to back on `stream`.
    pub(super) fn send_burst(&mut self, peer: NodeId, stream: SocketAddr, burst: BurstDue) {
        for index in 0..burst.frames {
            let probe = LinkProbe {
                burst_sent_us: burst.sent_at.as_micros(),
                index,
                count: burst.frames,
                payload: vec![0; burst.payload_bytes].into(),
            };
            self.send_addressed(stream, TransportClass::Stream, peer, Message::LinkProbe(probe));
        }
    }

    /// Sends to `peer` at `to`, sealed for the life of it last heard; dropped when
    /// none was (its frames will introduce it).
    pub(super) fn send_addressed(&mut self, to: SocketAddr, class: TransportClass, peer: NodeId, message: Message) {
        let (Some(key), Some(epoch)) = (self.sealing_key_of(peer), self.replay.epoch_of(peer)) else {
            return;
        };
        self.send_on(to, class, Some((Recipient { node: peer, epoch }, key)), message);
    }

    /// Sends `message` to `to` on `class`, for `recipient` (with its public key), or
    /// as an introduction.
    pub(super) fn send_on(
        &mut self,
        to: SocketAddr,
        class: TransportClass,
        recipient: Option<(Recipient, [u8; 32])>,
        message: Message,
    ) {
        let addressed = recipient.is_some();
        let next_counter = &mut self.next_counters[class as usize];
        let body = Body {
            schema_version: SCHEMA_VERSION,
            cluster_id: self.cluster_id,
            sender: self.node_id,
            sender_key: self.public_key,
            sender_epoch: self.epoch,
            recipient: recipient.map(|(recipient, _)| recipient),
            counter: *next_counter,
            transport: class,
            auth_kind: self.authenticator.kind_for(addressed),
            message,
        };
        *next_counter += 1;
        let seal = match &recipient {
            Some((recipient, key)) => Seal::To {
                node: recipient.node,
                key: *key,
            },
            None => Seal::Introduction { to },
        };
        let Ok(bytes) = encode_frame(&body, &mut self.authenticator, seal) else {
            return;
        };
        let detached_len = body.message.detached().map_or(0, |detached| detached.as_slice().len());
        let authenticated_len = bytes.len() - body.auth_kind.tag_len() - detached_len;
        self.outputs.push_back(Output::Transmit(Transmit {
            to,
            class,
            bytes,
            authenticated_len,
        }));
    }
}
