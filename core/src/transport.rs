//! The two ways a frame travels between nodes.

use serde::{Deserialize, Serialize};

/// How a transmit must travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransportClass {
    /// One UDP datagram, best effort.
    Datagram,
    /// One length-prefixed frame on a TCP stream to the peer (consensus traffic).
    Stream,
}
