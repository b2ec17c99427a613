//! Domain-separated SHA-256 digests.
//!
//! Every digest is `SHA-256(len(tag) || tag || payload)` where `tag` names the digest
//! kind, so no two kinds can collide and the same value always gives the same digest.

use core::fmt;

use sha2::{Digest as _, Sha256};

/// What a digest is of. Each kind has its own domain tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DigestKind {
    /// `ClusterId` from namespace and genesis.
    ClusterId,
    /// `NodeId` from an ed25519 public key.
    NodeId,
    /// MAC key of the trusted-LAN posture, from cluster id and admission token.
    AdmissionMacKey,
    /// MAC key two nodes share: from their X25519 agreement, cluster id and token.
    PairwiseMacKey,
    /// A simulation trace.
    Trace,
    /// The replicated cluster state.
    ClusterState,
    /// A policy document.
    Policy,
    /// A coordinator's authority stamp.
    Authority,
    /// A snapshot's payload.
    Snapshot,
    /// An operator manifest's canonical form (its rollout digest).
    Manifest,
    /// Members, links and backend readiness: what placement reads of the topology.
    Topology,
    /// Artifact residency on every member.
    Residency,
    /// An execution topology plan.
    Plan,
    /// A request's execution context (evidence).
    Evidence,
    /// What an execution produced.
    Output,
    /// A request's prompt.
    Prompt,
    /// A cluster's genesis: its first voters.
    Genesis,
    /// A vote granted to a candidate, signed.
    LeaderEndorsement,
    /// The trust anchors a node runs under.
    TrustBundle,
    /// A node's published capabilities, signed.
    Capabilities,
    /// An admission token's public name.
    AdmissionToken,
    /// A node's key rotation record, signed by both keys.
    KeyRotation,
    /// A model artifact: its files, each named and length-prefixed, in name order.
    Artifact,
}

impl DigestKind {
    /// The domain-separation tag of this kind.
    pub const fn tag(self) -> &'static [u8] {
        match self {
            DigestKind::ClusterId => b"psionic/cluster-id/v1",
            DigestKind::NodeId => b"psionic/node-id/v1",
            DigestKind::AdmissionMacKey => b"psionic/admission-mac-key/v1",
            DigestKind::PairwiseMacKey => b"psionic/pairwise-mac-key/v1",
            DigestKind::Trace => b"psionic/trace/v1",
            DigestKind::ClusterState => b"psionic/cluster-state/v1",
            DigestKind::Policy => b"psionic/policy/v1",
            DigestKind::Authority => b"psionic/authority/v1",
            DigestKind::Snapshot => b"psionic/snapshot/v1",
            DigestKind::Manifest => b"psionic/manifest/v1",
            DigestKind::Topology => b"psionic/topology/v1",
            DigestKind::Residency => b"psionic/residency/v1",
            DigestKind::Plan => b"psionic/plan/v1",
            DigestKind::Evidence => b"psionic/evidence/v1",
            DigestKind::Output => b"psionic/output/v2",
            DigestKind::Prompt => b"psionic/prompt/v1",
            DigestKind::Genesis => b"psionic/genesis/v1",
            DigestKind::LeaderEndorsement => b"psionic/leader-endorsement/v1",
            DigestKind::TrustBundle => b"psionic/trust-bundle/v1",
            DigestKind::Capabilities => b"psionic/capabilities/v1",
            DigestKind::AdmissionToken => b"psionic/admission-token/v1",
            DigestKind::KeyRotation => b"psionic/key-rotation/v1",
            DigestKind::Artifact => b"psionic/artifact/v1",
        }
    }
}

/// A SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// Digest of raw bytes under a domain tag.
    pub fn of_bytes(kind: DigestKind, payload: &[u8]) -> Self {
        Self::of_parts(kind, &[payload])
    }

    /// Digest of several byte strings, each length-prefixed, under a domain tag.
    pub fn of_parts(kind: DigestKind, parts: &[&[u8]]) -> Self {
        let mut hasher = DigestWriter::new(kind);
        for part in parts {
            hasher.update_prefixed(part);
        }
        hasher.finish()
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.to_hex())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// An incremental domain-separated digest.
#[derive(Debug, Clone)]
pub struct DigestWriter {
    hasher: Sha256,
}

impl DigestWriter {
    /// Starts a digest of `kind`.
    pub fn new(kind: DigestKind) -> Self {
        let mut writer = Self { hasher: Sha256::new() };
        writer.update_prefixed(kind.tag());
        writer
    }

    /// Adds `bytes` preceded by their length.
    pub fn update_prefixed(&mut self, bytes: &[u8]) {
        self.hasher.update((bytes.len() as u64).to_le_bytes());
        self.hasher.update(bytes);
    }

    /// Adds `bytes` as they are (for streams whose framing is already unambiguous).
    pub fn update_raw(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
    }

    /// The digest.
    pub fn finish(self) -> Digest {
        Digest(self.hasher.finalize().into())
    }
}

/// Serialises a `[u8; N]` newtype as hex in human-readable formats (JSON, TOML) and
/// as raw bytes in binary ones (postcard).
macro_rules! hex_serde {
    ($name:ident, $len:literal) => {
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                if serializer.is_human_readable() {
                    serializer.serialize_str(&$crate::digest::to_hex(&self.0))
                } else {
                    serde::Serialize::serialize(&self.0, serializer)
                }
            }
        }
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                if deserializer.is_human_readable() {
                    let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
                    $crate::digest::from_hex::<$len>(&text)
                        .map(Self)
                        .ok_or_else(|| serde::de::Error::custom(concat!("expected ", $len, " bytes of hex")))
                } else {
                    <[u8; $len] as serde::Deserialize>::deserialize(deserializer).map(Self)
                }
            }
        }
    };
}
pub(crate) use hex_serde;

hex_serde!(Digest, 32);

/// Lowercase hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(HEX[usize::from(byte >> 4)] as char);
        out.push(HEX[usize::from(byte & 0x0f)] as char);
    }
    out
}

/// Parses lowercase or uppercase hex into exactly `N` bytes.
pub fn from_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let bytes = text.as_bytes();
    if bytes.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let high = (pair[0] as char).to_digit(16)?;
        let low = (pair[1] as char).to_digit(16)?;
        *slot = u8::try_from(high * 16 + low).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_domain_separated() {
        let a = Digest::of_bytes(DigestKind::ClusterId, b"x");
        let b = Digest::of_bytes(DigestKind::NodeId, b"x");
        assert_ne!(a, b);
    }

    #[test]
    fn parts_are_unambiguous() {
        let a = Digest::of_parts(DigestKind::ClusterId, &[b"ab", b"c"]);
        let b = Digest::of_parts(DigestKind::ClusterId, &[b"a", b"bc"]);
        assert_ne!(a, b);
    }

    #[test]
    fn hex_round_trips() {
        let bytes = [0x00, 0x7f, 0xa5, 0xff];
        assert_eq!(from_hex::<4>(&to_hex(&bytes)), Some(bytes));
        assert_eq!(from_hex::<4>("00"), None);
        assert_eq!(from_hex::<1>("zz"), None);
    }
}
