//! Frame encoding and decoding.

use serde::{Deserialize, Serialize};

use super::{AuthFailure, AuthKind, Authenticator, DecodeError, EncodingFault, Message, Seal, SignedFrame};
use crate::identity::{ClusterId, NodeEpoch, NodeId, NodeIdentity};
use crate::transport::TransportClass;

/// The schema version this build speaks.
pub const SCHEMA_VERSION: u16 = 21;

pub use crate::limits::FRAME_BYTES_MAX;

/// The authenticated part of a frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Body {
    /// Always first on the wire, so other versions can be recognised and refused.
    pub schema_version: u16,
    /// Cluster the sender belongs to.
    pub cluster_id: ClusterId,
    /// Sender's node id.
    pub sender: NodeId,
    /// Sender's ed25519 public key: its id is this key's digest.
    pub sender_key: [u8; 32],
    /// Sender's epoch: advances on every start of the sender.
    pub sender_epoch: NodeEpoch,
    /// The node and life the frame is for; `None` only on an introduction (a hello
    /// to an address whose node is not known yet), which is answered and nothing more.
    pub recipient: Option<Recipient>,
    /// Strictly increasing per (sender, epoch, transport); the receiver's replay
    /// window for that transport checks it.
    pub counter: u64,
    /// The transport the frame was sealed for; a frame arriving on another is refused.
    /// Each transport has its own counters, so a stream queued behind a slow link may
    /// trail the sender's datagrams by any number of frames.
    pub transport: TransportClass,
    /// How the tag that follows the body was made.
    pub auth_kind: AuthKind,
    /// The message.
    pub message: Message,
}

impl Body {
    /// A body of this schema from `sender` (in its current life) for `recipient`
    /// (`None`: an introduction).
    pub fn new(
        cluster_id: ClusterId,
        sender: &NodeIdentity,
        recipient: Option<Recipient>,
        sealed: Sealed,
        message: Message,
    ) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            cluster_id,
            sender: sender.node_id(),
            sender_key: sender.public_key().to_bytes(),
            sender_epoch: sender.epoch(),
            recipient,
            counter: sealed.counter,
            transport: sealed.transport,
            auth_kind: sealed.auth_kind,
            message,
        }
    }
}

/// How a frame is sealed: its counter on its transport, and its tag's kind.
#[derive(Clone, Copy, Debug)]
pub struct Sealed {
    /// The counter.
    pub counter: u64,
    /// The transport.
    pub transport: TransportClass,
    /// The tag's kind.
    pub auth_kind: AuthKind,
}

/// The node, in one life of it, a frame is for: a frame sealed for another node, or
/// for an earlier life of this one (captured before it restarted), is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    /// The recipient's id.
    pub node: NodeId,
    /// Its epoch, as the sender last heard it.
    pub epoch: NodeEpoch,
}

impl Recipient {
    /// The node `identity` names, in its current life.
    pub fn of(identity: &NodeIdentity) -> Self {
        Self {
            node: identity.node_id(),
            epoch: identity.epoch(),
        }
    }
}

/// A decoded frame, borrowing the received bytes for verification.
#[derive(Debug)]
pub struct DecodedFrame<'a> {
    /// The body.
    pub body: Body,
    /// The body bytes exactly as received: what the tag authenticates.
    pub authenticated_bytes: &'a [u8],
    /// The tag.
    pub tag: &'a [u8],
}

impl<'a> DecodedFrame<'a> {
    /// What authenticates the frame, for batch verification.
    pub fn signed(&self) -> SignedFrame<'_> {
        SignedFrame {
            sender: self.body.sender,
            sender_key: &self.body.sender_key,
            addressed: self.body.recipient.is_some(),
            kind: self.body.auth_kind,
            body: self.authenticated_bytes,
            tag: self.tag,
        }
    }
}

/// Bytes reserved for a frame before encoding: a heartbeat, a vote or a small append
/// and its tag fit without growing the buffer.
const FRAME_CAPACITY_HINT: usize = 512;

/// A postcard output that starts with room reserved (postcard's own starts empty and
/// grows byte by byte).
struct Presized(Vec<u8>);

impl postcard::ser_flavors::Flavor for Presized {
    type Output = Vec<u8>;

    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.0.push(byte);
        Ok(())
    }

    fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<Vec<u8>> {
        Ok(self.0)
    }
}

/// Encodes `body`, appends the tag `authenticator` makes for `seal` (which must name
/// the body's recipient, if any), then the message's detached bytes.
pub fn encode_frame(body: &Body, authenticator: &mut Authenticator, seal: Seal) -> Result<Vec<u8>, AuthFailure> {
    debug_assert_eq!(
        body.recipient.map(|recipient| recipient.node),
        match seal {
            Seal::Introduction { .. } => None,
            Seal::To { node, .. } => Some(node),
        }
    );
    let detached = body.message.detached().map_or(&[][..], |detached| detached.as_slice());
    let presized = Presized(Vec::with_capacity(FRAME_CAPACITY_HINT + detached.len()));
    let mut frame =
        postcard::serialize_with_flavor(body, presized).expect("postcard encoding into a Vec is infallible");
    let tag = authenticator.seal(&frame, seal)?;
    frame.extend_from_slice(&tag);
    frame.extend_from_slice(detached);
    Ok(frame)
}

/// Reads the schema version at the start of a frame.
pub fn peek_schema_version(bytes: &[u8]) -> Result<u16, DecodeError> {
    check_size(bytes)?;
    postcard::take_from_bytes::<u16>(bytes)
        .map(|(version, _)| version)
        .map_err(|error| DecodeError::Body {
            fault: EncodingFault::from(error),
        })
}

/// Decodes a frame of the current schema. Allocates at most in proportion to
/// `bytes.len()`, which is capped at [`FRAME_BYTES_MAX`].
pub fn decode_frame(bytes: &[u8]) -> Result<DecodedFrame<'_>, DecodeError> {
    check_size(bytes)?;
    let (mut body, trailer) = postcard::take_from_bytes::<Body>(bytes).map_err(|error| DecodeError::Body {
        fault: EncodingFault::from(error),
    })?;
    let expected = body.auth_kind.tag_len();
    let has_detached = body.message.detached().is_some();
    if trailer.len() < expected || (!has_detached && trailer.len() != expected) {
        return Err(DecodeError::TagLength {
            kind: body.auth_kind,
            expected,
            got: trailer.len(),
        });
    }
    let (tag, detached) = trailer.split_at(expected);
    if let Some(slot) = body.message.detached_mut() {
        slot.attach(detached).map_err(|mismatch| DecodeError::DetachedLength {
            expected: mismatch.expected,
            got: mismatch.got,
        })?;
    }
    body.message.validate()?;
    let authenticated_bytes = &bytes[..bytes.len() - trailer.len()];
    Ok(DecodedFrame {
        body,
        authenticated_bytes,
        tag,
    })
}

fn check_size(bytes: &[u8]) -> Result<(), DecodeError> {
    if bytes.len() > FRAME_BYTES_MAX {
        return Err(DecodeError::Oversize {
            len: bytes.len(),
            max: FRAME_BYTES_MAX,
        });
    }
    if bytes.is_empty() {
        return Err(DecodeError::Body {
            fault: EncodingFault::UnexpectedEnd,
        });
    }
    Ok(())
}
