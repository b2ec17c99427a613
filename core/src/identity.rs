//! Who a cluster and a node are: namespace, cluster id, node id, epoch, role, token.

use core::fmt;

use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::digest::{Digest, DigestKind, to_hex};

/// Longest namespace accepted, in bytes.
pub const NAMESPACE_LEN_MAX: usize = 64;

/// Why a namespace string was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NamespaceError {
    /// The namespace is empty.
    #[error("namespace is empty")]
    Empty,
    /// The namespace is longer than [`NAMESPACE_LEN_MAX`].
    #[error("namespace is {len} bytes, the limit is {max}")]
    TooLong {
        /// Length given.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// The namespace holds a character other than `[a-z0-9._-]`.
    #[error("namespace holds {character:?}; allowed are a-z, 0-9, '.', '_' and '-'")]
    BadCharacter {
        /// The first character refused.
        character: char,
    },
}

/// The operator-chosen name of a cluster (for example `lab-rack-1`).
///
/// Invariant: 1 to [`NAMESPACE_LEN_MAX`] bytes of `[a-z0-9._-]`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ClusterNamespace(String);

impl ClusterNamespace {
    /// Validates `name`.
    pub fn new(name: &str) -> Result<Self, NamespaceError> {
        if name.is_empty() {
            return Err(NamespaceError::Empty);
        }
        if name.len() > NAMESPACE_LEN_MAX {
            return Err(NamespaceError::TooLong {
                len: name.len(),
                max: NAMESPACE_LEN_MAX,
            });
        }
        let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c);
        if let Some(character) = name.chars().find(|c| !allowed(*c)) {
            return Err(NamespaceError::BadCharacter { character });
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for ClusterNamespace {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        ClusterNamespace::new(&text).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for ClusterNamespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Identity of one cluster: a digest of its namespace and genesis value.
///
/// Two clusters with the same namespace but different genesis values never accept
/// each other's traffic.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClusterId(pub [u8; 16]);

impl ClusterId {
    /// Derives the id of the cluster named `namespace`, created with `genesis`.
    pub fn derive(namespace: &ClusterNamespace, genesis: &[u8]) -> Self {
        let digest = Digest::of_parts(DigestKind::ClusterId, &[namespace.as_str().as_bytes(), genesis]);
        Self(truncate16(&digest))
    }
}

/// Identity of one node: a digest of its ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub [u8; 16]);

impl NodeId {
    /// The id of the node whose public key is `key`.
    pub fn from_public_key(key: &VerifyingKey) -> Self {
        Self::from_key_bytes(key.as_bytes())
    }

    /// The id of the node whose public key's bytes are `key` (a point or not).
    pub fn from_key_bytes(key: &[u8; 32]) -> Self {
        Self(truncate16(&Digest::of_bytes(DigestKind::NodeId, key)))
    }

    /// Lowercase hex of the whole id.
    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }
}

/// An ed25519 public key, hex in JSON.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicKey(pub [u8; 32]);

crate::digest::hex_serde!(PublicKey, 32);

fn truncate16(digest: &Digest) -> [u8; 16] {
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest.0[..16]);
    out
}

/// Display (whole hex) and Debug (`Prefix(first 8 bytes)`) for a `[u8; N]` newtype.
macro_rules! hex_display {
    ($name:ident, $prefix:literal) => {
        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(&$crate::digest::to_hex(&self.0))
            }
        }
        impl core::fmt::Debug for $name {
            /// Short form: the first 8 bytes in hex.
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, concat!($prefix, "({})"), $crate::digest::to_hex(&self.0[..8]))
            }
        }
    };
}
pub(crate) use hex_display;

/// Identity of one inference request, chosen by its client: a request runs at most
/// once per id.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub [u8; 16]);

hex_display!(RequestId, "RequestId");
hex_display!(PublicKey, "PublicKey");
crate::digest::hex_serde!(RequestId, 16);
hex_display!(ClusterId, "ClusterId");
hex_display!(NodeId, "NodeId");
crate::digest::hex_serde!(ClusterId, 16);
crate::digest::hex_serde!(NodeId, 16);

/// How many times a node has started. Advances and is persisted before a node speaks,
/// so that messages of an earlier life can be told apart and refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeEpoch(pub u64);

impl NodeEpoch {
    /// The epoch after this one.
    pub fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }
}

impl fmt::Display for NodeEpoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a node may do in the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeRole {
    /// Takes part in coordination (votes, may lead) but never executes work.
    Coordinator,
    /// Executes work; never votes or leads.
    Executor,
    /// Both.
    Both,
}

impl NodeRole {
    /// Whether the node may vote and lead.
    pub fn is_coordinator_capable(self) -> bool {
        matches!(self, NodeRole::Coordinator | NodeRole::Both)
    }

    /// Whether the node may execute work.
    pub fn is_executor(self) -> bool {
        matches!(self, NodeRole::Executor | NodeRole::Both)
    }
}

/// The shared secret of the trusted-LAN posture. It never leaves the node: only MACs
/// keyed from it travel.
#[derive(Clone, PartialEq, Eq)]
pub struct AdmissionToken(Vec<u8>);

impl AdmissionToken {
    /// Shortest token accepted, in bytes.
    pub const LEN_MIN: usize = 16;

    /// Wraps `secret`; `None` if it is shorter than [`AdmissionToken::LEN_MIN`].
    pub fn new(secret: Vec<u8>) -> Option<Self> {
        (secret.len() >= Self::LEN_MIN).then_some(Self(secret))
    }

    /// The secret bytes.
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }

    /// The token's public name in cluster `cluster_id`: what status, the log's
    /// cut-over and trust bundles show of it. A one-way digest: the token stays secret
    /// as long as it is not guessable (generate it at random).
    pub fn digest(&self, cluster_id: ClusterId) -> Digest {
        Digest::of_parts(DigestKind::AdmissionToken, &[&cluster_id.0, &self.0])
    }
}

impl fmt::Debug for AdmissionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdmissionToken(<redacted>)")
    }
}

/// A node's own identity: its signing key, its id (the digest of its first key: a
/// rotated key keeps the id), and this life's epoch.
#[derive(Clone)]
pub struct NodeIdentity {
    signing_key: SigningKey,
    node_id: NodeId,
    epoch: NodeEpoch,
}

impl NodeIdentity {
    /// Builds the identity of the node holding `secret_key`, living its `epoch`.
    pub fn new(secret_key: [u8; 32], epoch: NodeEpoch) -> Self {
        let signing_key = SigningKey::from_bytes(&secret_key);
        let node_id = NodeId::from_public_key(&signing_key.verifying_key());
        Self {
            signing_key,
            node_id,
            epoch,
        }
    }

    /// The identity of node `node_id` holding `secret_key` (a key rotated to since the
    /// node's first), living its `epoch`.
    pub fn of_node(node_id: NodeId, secret_key: [u8; 32], epoch: NodeEpoch) -> Self {
        Self {
            signing_key: SigningKey::from_bytes(&secret_key),
            node_id,
            epoch,
        }
    }

    /// The same node and life, holding `secret_key` instead.
    pub fn rotated_to(&self, secret_key: [u8; 32]) -> Self {
        Self::of_node(self.node_id, secret_key, self.epoch)
    }

    /// The node id.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// The current epoch.
    pub fn epoch(&self) -> NodeEpoch {
        self.epoch
    }

    /// The public key others pin.
    pub fn public_key(&self) -> VerifyingKey {
        self.signing_key.verifying_key()
    }

    /// The signing key.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing_key
    }
}

impl fmt::Debug for NodeIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeIdentity")
            .field("node_id", &self.node_id)
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_is_validated() {
        assert!(ClusterNamespace::new("lab-rack.1_a").is_ok());
        assert_eq!(ClusterNamespace::new(""), Err(NamespaceError::Empty));
        assert_eq!(
            ClusterNamespace::new("Lab"),
            Err(NamespaceError::BadCharacter { character: 'L' })
        );
        assert_eq!(
            ClusterNamespace::new(&"a".repeat(65)),
            Err(NamespaceError::TooLong {
                len: 65,
                max: NAMESPACE_LEN_MAX
            })
        );
    }

    #[test]
    fn cluster_id_depends_on_namespace_and_genesis() {
        let lab = ClusterNamespace::new("lab").unwrap();
        let other = ClusterNamespace::new("other").unwrap();
        assert_eq!(ClusterId::derive(&lab, b"g1"), ClusterId::derive(&lab, b"g1"));
        assert_ne!(ClusterId::derive(&lab, b"g1"), ClusterId::derive(&lab, b"g2"));
        assert_ne!(ClusterId::derive(&lab, b"g1"), ClusterId::derive(&other, b"g1"));
    }

    #[test]
    fn node_id_follows_the_key_not_the_epoch() {
        let first = NodeIdentity::new([7; 32], NodeEpoch(1));
        let later = NodeIdentity::new([7; 32], NodeEpoch(9));
        let other = NodeIdentity::new([8; 32], NodeEpoch(1));
        assert_eq!(first.node_id(), later.node_id());
        assert_ne!(first.node_id(), other.node_id());
    }

    #[test]
    fn token_is_never_printed() {
        let token = AdmissionToken::new(b"0123456789abcdef".to_vec()).unwrap();
        assert!(!format!("{token:?}").contains("0123"));
        assert!(AdmissionToken::new(b"short".to_vec()).is_none());
    }
}
