//! What goes into a core and what comes out.

use core::net::SocketAddr;

use serde::{Deserialize, Serialize};

pub use crate::consensus::ConsensusEvent;
use crate::consensus::{Entry, HardState, StoredSnapshot};
pub use crate::discovery::DiscoveryEvent;
use crate::identity::RequestId;
use crate::refusal::Refusal;
pub use crate::serving::ServingEvent;
pub use crate::transport::TransportClass;

/// An input to [`crate::Node::handle`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A datagram arrived from `from`.
    Datagram {
        /// Source address.
        from: SocketAddr,
        /// Its bytes.
        bytes: Vec<u8>,
    },
    /// A frame arrived on a peer stream whose remote end is `from` (not the peer's
    /// discovery address: it is not used to reach the sender).
    Stream {
        /// Remote end of the stream.
        from: SocketAddr,
        /// The frame.
        bytes: Vec<u8>,
    },
    /// Frames that arrived on peer streams since the last input, in arrival order:
    /// handled as that many [`Input::Stream`]s, with their signatures verified as one
    /// batch where the posture allows.
    Streams {
        /// Remote end of each frame's stream, and the frame.
        frames: Vec<(SocketAddr, Vec<u8>)>,
    },
    /// The deadline returned by [`crate::Node::poll_timeout`] was reached.
    Timeout,
}

impl Input {
    /// What `transmit`, sent from `from`, is at its receiver when a transport hands
    /// the bytes over unchanged (in-memory clusters, tests).
    pub fn delivered(from: SocketAddr, transmit: Transmit) -> Self {
        match transmit.class {
            TransportClass::Datagram => Input::Datagram {
                from,
                bytes: transmit.bytes,
            },
            TransportClass::Stream => Input::Stream {
                from,
                bytes: transmit.bytes,
            },
        }
    }
}

/// An output from [`crate::Node::poll_output`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use = "outputs must be carried out by the driver"]
pub enum Output {
    /// Send bytes to a peer.
    Transmit(Transmit),
    /// Something happened that the application may want to know.
    Event(Event),
    /// Make the term and vote durable. Must complete before any transmit that follows.
    PersistHardState(HardState),
    /// Make entries durable: drop stored entries from `first_index` on, then append
    /// `entries` (which start at `first_index`). Must complete before any transmit
    /// that follows.
    PersistEntries {
        /// Index of the first entry.
        first_index: u64,
        /// The entries.
        entries: Vec<Entry>,
    },
    /// Make a snapshot durable; stored entries up to its index may then be dropped (all
    /// of them, if the log disagrees with the snapshot at its index). Must complete
    /// before any transmit that follows.
    PersistSnapshot(StoredSnapshot),
    /// Run a job on this node's executor; hand its outcome back with
    /// [`crate::Node::execution_ended`].
    RunJob(crate::serving::Job),
    /// Stop the job of `request` (its coordinator cancelled it, gave it up, or was
    /// deposed): its outcome is no longer wanted.
    StopJob {
        /// The request.
        request: RequestId,
    },
    /// Work on this node's artifact disk for a copy; its answer goes back through
    /// [`crate::Node::staging_done`].
    Staging(crate::staging::StagingIo),
}

/// Bytes to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Destination.
    pub to: SocketAddr,
    /// Transport.
    pub class: TransportClass,
    /// A complete authenticated frame.
    pub bytes: Vec<u8>,
    /// Length of the prefix of `bytes` its tag authenticates (the encoded body); the
    /// tag and any detached bytes follow it.
    pub authenticated_len: usize,
}

/// Observable facts, in the order they happened: the node's own, and each subsystem's
/// (encoded as the subsystem's event itself, tagged by its `event` name).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// A frame was refused.
    Refused {
        /// Source address of the frame.
        from: SocketAddr,
        /// Why.
        refusal: Refusal,
    },
    /// This node's key rotation applied: from now on it seals frames and signs votes
    /// and evidence with `key` (the staged key; the driver keeps it as the node's key).
    KeyRotated {
        /// The key in force.
        key: crate::identity::PublicKey,
    },
    /// Discovery's.
    #[serde(untagged)]
    Discovery(DiscoveryEvent),
    /// Consensus's.
    #[serde(untagged)]
    Consensus(ConsensusEvent),
    /// Serving's.
    #[serde(untagged)]
    Serving(ServingEvent),
    /// Staging's.
    #[serde(untagged)]
    Staging(crate::staging::StagingEvent),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::{ConsensusMessageKind, ConsensusRefusal};
    use crate::identity::NodeId;
    use crate::refusal::FrameRefusal;

    fn round_trip(event: &Event) -> serde_json::Value {
        let json = serde_json::to_value(event).expect("encodes");
        let back: Event = serde_json::from_value(json.clone()).expect("decodes");
        assert_eq!(&back, event, "{json}");
        json
    }

    #[test]
    fn a_subsystem_event_is_encoded_as_itself_and_decodes_to_its_subsystem() {
        let elected = Event::Consensus(ConsensusEvent::LeaderElected {
            term: 3,
            leader: NodeId([7; 16]),
        });
        let json = round_trip(&elected);
        assert_eq!(json["event"], "leader-elected");
        assert_eq!(json["term"], 3);
        round_trip(&Event::Discovery(DiscoveryEvent::PeerExpired {
            peer: NodeId([1; 16]),
            silent_ms: 9,
        }));
    }

    #[test]
    fn a_refusal_of_any_layer_reads_the_same_under_its_name() {
        let from: SocketAddr = "10.0.0.1:7400".parse().expect("an address");
        let consensus = Event::Refused {
            from,
            refusal: Refusal::Consensus(ConsensusRefusal::NotAMember {
                sender: NodeId([2; 16]),
                message: ConsensusMessageKind::Append,
            }),
        };
        let json = round_trip(&consensus);
        assert_eq!(json["refusal"]["not-a-member"]["message"], "append");
        let frame = Event::Refused {
            from,
            refusal: Refusal::Frame(FrameRefusal::UnsupportedSchemaVersion { ours: 17, theirs: 16 }),
        };
        assert_eq!(
            round_trip(&frame)["refusal"]["unsupported-schema-version"]["theirs"],
            16
        );
    }
}
