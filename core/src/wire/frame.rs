//! Frame encoding and decoding.

use serde::{Deserialize, Serialize};

use super::{AuthKind, Authenticator, DecodeError, EncodingFault, Message, SignedFrame};
use crate::identity::{ClusterId, NodeEpoch, NodeId};
use crate::io::TransportClass;

/// The schema version this build speaks.
pub const SCHEMA_VERSION: u16 = 8;

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
    /// Sender's epoch: advances on every start of the sender.
    pub sender_epoch: NodeEpoch,
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
    pub fn signed(&self) -> SignedFrame<'a> {
        SignedFrame {
            sender: self.body.sender,
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

/// Encodes `body`, appends the tag made by `authenticator`, then the message's
/// detached bytes.
pub fn encode_frame(body: &Body, authenticator: &Authenticator) -> Vec<u8> {
    let detached = body.message.detached().map_or(&[][..], |detached| detached.as_slice());
    let presized = Presized(Vec::with_capacity(FRAME_CAPACITY_HINT + detached.len()));
    let mut frame =
        postcard::serialize_with_flavor(body, presized).expect("postcard encoding into a Vec is infallible");
    let tag = authenticator.seal(&frame);
    frame.extend_from_slice(&tag);
    frame.extend_from_slice(detached);
    frame
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
        slot.attach(detached)?;
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
