//! The wire: a versioned, authenticated envelope around every control message.
//!
//! A frame is `postcard(Body) || tag || detached`, where `tag` authenticates the body
//! bytes exactly as they were received (no re-encoding on verify):
//! - trusted-LAN posture: HMAC-SHA256 (32 bytes) under the key the sender and the
//!   recipient share (see `pairwise`), or under the group key for an introduction;
//! - configured-peer posture: ed25519 signature (64 bytes) by the sender's pinned key.
//!
//! The body names its sender and the sender's key, and its recipient and the
//! recipient's epoch, so a frame proves who sent it to whom, in which lives.
//!
//! `detached` is empty except for the bulk bytes of a snapshot chunk or a bandwidth
//! probe, which the body declares by length and which are authenticated otherwise
//! (see [`Detached`]).
//!
//! The body starts with the schema version, so a frame from another version is refused
//! as such before the rest is decoded.

mod auth;
mod error;
mod frame;
mod lan;
mod message;
mod pairwise;

pub use crate::detached::Detached;
pub use auth::{AuthFailure, AuthKind, Authenticator, Seal, SignedFrame, TrustPosture};
pub use error::{DecodeError, EncodingFault};
pub use frame::{
    Body, DecodedFrame, FRAME_BYTES_MAX, Recipient, SCHEMA_VERSION, Sealed, decode_frame, encode_frame,
    peek_schema_version,
};
pub use lan::AdmissionStatus;
pub use message::{
    GOSSIP_PEERS_MAX, HELLO_TOKENS_MAX, Hello, LINK_PROBE_PAYLOAD_BYTES_MAX, LinkProbe, LinkProbeAck, Message,
    PeerRecord,
};
